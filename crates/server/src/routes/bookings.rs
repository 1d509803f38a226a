//! Booking, reading, cancelling and changing appointments, for oneself or a family member.

use super::alternatives::with_alternatives;
use super::eligibility::{person_facts, require_eligible};
use super::supply::MoveView;
use super::views::ClinicRef;
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::routes::agent::{AgentActor, audited, mark_audited};
use crate::routes::clinics::parse_date;
use crate::session::Consent;
use crate::state::AppState;
use crate::state::{Authenticated, read_by_key};
use crate::text::{errors, notices};
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::booking::{Appointment, Booking, BookingId, DoseStatus, PersonId};
use domain::clinic::ClinicId;
use domain::ledger::BookRequest;
use domain::product::Product;
use domain::time::seoul_date;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::OutboxMessage;
use store::writer::{Book, Cancel, ChangeBooking, Notify, Refusal};

/// Booking for a family member: their consent token, from `POST /api/v1/family/verify` (their
/// own code on their own phone, typed in by the booker). Name and number alone are not enough.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Family {
    consent: Option<String>,
}

/// People other than themselves one person may hold active bookings for: a household's
/// parents and grandparents, not a neighbourhood.
pub const MAX_FAMILY: usize = 4;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "clinic_id": 1, "date": "2021-07-27", "hour": 10, "product": "moderna" }))]
pub struct CreateRequest {
    clinic_id: u32,
    date: String,
    hour: u8,
    product: String,
    family: Option<Family>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = BookingChangeRequest)]
#[schema(example = json!({ "clinic_id": 1, "date": "2021-07-28", "hour": 14 }))]
pub struct ChangeRequest {
    clinic_id: u32,
    date: String,
    hour: u8,
    /// Defaults to the booking's product; a different one only where the clinic offers it.
    product: Option<String>,
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let valid = (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(ApiError::bad_request(errors::INVALID_IDEMPOTENCY_KEY));
    }
    Ok(Some(key.to_string()))
}

fn appointment(
    clinic_id: u32,
    date: &str,
    hour: u8,
    product: &str,
) -> Result<Appointment, ApiError> {
    let product =
        Product::parse(product).ok_or_else(|| ApiError::bad_request(errors::INVALID_PRODUCT))?;
    Ok(Appointment {
        clinic: ClinicId(clinic_id),
        day: parse_date(date)?,
        hour,
        product,
    })
}

/// A booking as its person (or their booker) reads it. Fields in alphabetical order, as the
/// JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BookingView {
    pub active: bool,
    pub booked_by_self: bool,
    pub doses: Vec<DoseView>,
    pub for_self: bool,
    pub id: u64,
    /// What supply changes did to it and the person has not yet accepted: in the reading
    /// answers (list, show), absent from the answers to a change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<Vec<MoveView>>,
    pub product: ProductView,
}

/// One dose of a booking (1-based `dose`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DoseView {
    pub clinic: ClinicRef,
    /// A Seoul calendar day.
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub dose: usize,
    pub hour: u8,
    /// `booked`, `given` or `cancelled`.
    #[schema(value_type = String)]
    pub status: DoseStatus,
}

/// A product with its names in both languages.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    #[serde(serialize_with = "super::views::product_code")]
    #[schema(value_type = String)]
    pub code: Product,
    #[schema(value_type = String)]
    pub name_en: &'static str,
    #[schema(value_type = String)]
    pub name_ko: &'static str,
}

/// `GET /api/v1/bookings`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BookingsView {
    pub bookings: Vec<BookingView>,
}

pub fn booking_view(state: &AppState, booking: &Booking, viewer: PersonId) -> BookingView {
    let product = booking.first.appointment.product;
    let doses = booking
        .doses()
        .enumerate()
        .map(|(i, dose)| {
            let a = dose.appointment;
            DoseView {
                clinic: ClinicRef::of(state, a.clinic),
                date: a.day,
                dose: i + 1,
                hour: a.hour,
                status: dose.status,
            }
        })
        .collect();
    BookingView {
        active: booking.is_active(),
        booked_by_self: booking.booked_by == viewer,
        doses,
        for_self: booking.person == viewer,
        id: booking.id.0,
        moved: None,
        product: ProductView {
            code: product,
            name_en: product.name_en(),
            name_ko: product.name_ko(),
        },
    }
}

/// Builds the "booked / changed / cancelled" text, written in the same transaction. The name
/// is unsealed here, before the request is submitted; the writer only fills in the doses.
pub fn notify(state: &Arc<AppState>, recipient: Vec<u8>, template: &'static str) -> Notify {
    let notice = BookingNotice::prepare(&state.secrets, recipient, template);
    let state = Arc::clone(state);
    Box::new(move |booking: &Booking| Some(notice.message(&state.world.clinics, booking)))
}

/// The message a booking's person is sent, prepared before the writer decides: their masked
/// name (unsealed from `recipient`) and the template's head, in Korean and English. The doses,
/// with clinic names, are what the writer decided: [`BookingNotice::message`] adds them inside
/// the transaction (`yeyak bench` does the same, so it measures what production does).
pub struct BookingNotice {
    recipient: Vec<u8>,
    template: &'static str,
    head_ko: String,
    head_en: String,
}

impl BookingNotice {
    pub fn prepare(
        secrets: &crate::secrets::Secrets,
        recipient: Vec<u8>,
        template: &'static str,
    ) -> BookingNotice {
        let name = secrets
            .unseal(&recipient)
            .and_then(|p| String::from_utf8(p).ok())
            .and_then(|t| t.split_once('\n').map(|(n, _)| domain::name::masked(n)))
            .unwrap_or_default();
        let (head_ko, head_en) = notices::booking_head(&name, notices::booking_event(template));
        BookingNotice {
            recipient,
            template,
            head_ko,
            head_en,
        }
    }

    /// The message for `booking` as the writer decided it.
    pub fn message(self, clinics: &[domain::clinic::Clinic], booking: &Booking) -> OutboxMessage {
        let describe = |mut text: String, ko: bool| {
            for (i, d) in booking.doses().enumerate() {
                let a = d.appointment;
                let clinic = clinics
                    .get(a.clinic.index())
                    .map_or("", |c| c.name.as_str());
                notices::booking_dose(&mut text, ko, i == 0, i + 1, (a.day, a.hour), clinic);
            }
            text
        };
        OutboxMessage {
            person: Some(booking.person),
            recipient: self.recipient,
            template: self.template.into(),
            body_ko: describe(self.head_ko, true),
            body_en: describe(self.head_en, false),
        }
    }
}

async fn sealed_contact_of(state: &Arc<AppState>, person: PersonId) -> Result<Vec<u8>, ApiError> {
    read_by_key(state, move |r| store::ReadStore::person(r, person))
        .await?
        .map(|p| p.sealed)
        .ok_or_else(ApiError::unauthenticated)
}

/// Counts a booking operation's answer and makes a refusal the API's error.
fn booking_outcome(
    state: &AppState,
    outcome: Result<Booking, Refusal>,
    label: &str,
) -> Result<Booking, ApiError> {
    match outcome {
        Ok(booking) => {
            state.metrics.count_booking(label);
            Ok(booking)
        }
        Err(refusal) => {
            state.metrics.count_booking("refused");
            Err(refusal.into())
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/bookings",
    tags = ["bookings"],
    summary = "Book dose 1 and, with it, dose 2 at the same clinic and product after the product's interval",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
        crate::routes::doc::IdempotencyKey,
    ),
    request_body = crate::routes::bookings::CreateRequest,
    responses(
        (status = 201, description = "Booked: both doses", body = BookingView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 404, response = crate::routes::doc::Refused),
        (status = 409, response = crate::routes::doc::BookingConflict),
        (status = 422, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    agent: Option<Extension<AgentActor>>,
    pass: Option<Extension<queue::Pass>>,
    Authenticated(session): Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let first = appointment(body.clinic_id, &body.date, body.hour, &body.product)?;
    let actor = session.person;
    if let Some(Extension(AgentActor(agent))) = &agent {
        // An agent's caller waits their turn like anyone during an opening.
        super::pass::require_caller_admitted(&state, agent, actor.0)?;
    }
    let now = state.clock.now();
    let (person, recipient) = match &body.family {
        None => {
            let (record, facts) = person_facts(&state, actor).await?;
            require_eligible(&state, facts)?;
            (actor, record.sealed)
        }
        Some(family) => {
            let member = family_member(&state, actor, family).await?;
            super::pass::use_pass(
                &state,
                pass.as_deref(),
                crate::waiting::PassUse::FamilyBooking,
            )?;
            let (record, facts) = person_facts(&state, member).await?;
            require_eligible(&state, facts).map_err(|_| family_not_bookable())?;
            (member, record.sealed)
        }
    };
    let agent = agent.map(|Extension(a)| a);
    let audit = audited(agent.as_ref(), "POST /api/v1/agent/bookings", person);
    let book = Book {
        request: BookRequest {
            person,
            booked_by: actor,
            first,
            today: seoul_date(now),
        },
        idempotency_key: key,
        notify: Some(notify(&state, recipient, "booking_confirmed")),
    };
    let outcome = state.writer.book(book, audit, now.as_millisecond()).await?;
    let booking = match booking_outcome(&state, outcome, "booked") {
        // About someone else, a refusal says nothing of their bookings.
        Err(e) if person != actor && e.code == "already_booked" => {
            return Err(family_not_bookable());
        }
        other => other.map_err(|e| with_alternatives(&state, e, &first, seoul_date(now)))?,
    };
    let response = (
        StatusCode::CREATED,
        Json(booking_view(&state, &booking, actor)),
    )
        .into_response();
    Ok(mark_audited(response, agent.as_ref()))
}

/// The member a family booking is for: their consent must be valid and given to this booker,
/// and the booker must stay within [`MAX_FAMILY`].
async fn family_member(
    state: &Arc<AppState>,
    actor: PersonId,
    family: &Family,
) -> Result<PersonId, ApiError> {
    let consent = family
        .consent
        .as_deref()
        .and_then(|t| Consent::verify(t, &state.secrets, state.clock.now()).ok())
        .filter(|c| c.booker == actor)
        .ok_or_else(|| ApiError::forbidden(errors::FAMILY_CONSENT_REQUIRED))?;
    let bookings = read_by_key(state, move |r| store::ReadStore::bookings_of(r, actor)).await?;
    let mut others: Vec<PersonId> = bookings
        .iter()
        .filter(|b| b.booked_by == actor && b.person != actor && b.is_active())
        .map(|b| b.person)
        .collect();
    others.sort_unstable();
    others.dedup();
    if !others.contains(&consent.member) && others.len() >= MAX_FAMILY {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            errors::FAMILY_LIMIT.fill("max", MAX_FAMILY),
        ));
    }
    Ok(consent.member)
}

/// The one answer about a family member who cannot be booked, whatever the reason (not yet
/// eligible, already booked, …): the booker learns nothing about their records from it.
fn family_not_bookable() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, errors::FAMILY_NOT_BOOKABLE)
}

/// The typed core of `GET /api/v1/bookings`: the person's bookings and those they made for
/// family, each with its unaccepted moves.
pub async fn bookings_of(
    state: &Arc<AppState>,
    person: PersonId,
) -> Result<BookingsView, ApiError> {
    let (bookings, moved) = read_by_key(state, move |r| {
        let bookings = store::ReadStore::bookings_of(r, person)?;
        let ids: Vec<BookingId> = bookings.iter().map(|b| b.id).collect();
        Ok((bookings, store::ReadStore::reschedules_of(r, &ids)?))
    })
    .await?;
    let bookings = bookings
        .iter()
        .map(|b| with_moves(state, booking_view(state, b, person), b.id, &moved))
        .collect();
    Ok(BookingsView { bookings })
}

#[utoipa::path(
    get,
    path = "/api/v1/bookings",
    tags = ["bookings"],
    summary = "My bookings and those I made for family members",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
    ),
    responses(
        (status = 200, description = "OK", body = BookingsView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
) -> Result<Json<BookingsView>, ApiError> {
    Ok(Json(bookings_of(&state, session.person).await?))
}

async fn owned(state: &Arc<AppState>, id: u64, viewer: PersonId) -> Result<Booking, ApiError> {
    read_by_key(state, move |r| store::ReadStore::booking(r, BookingId(id)))
        .await?
        .filter(|booking| viewable(booking, viewer))
        .ok_or_else(ApiError::not_found)
}

/// Whether `viewer` holds or made `booking`. Someone else's booking looks exactly like a missing
/// one: ids reveal nothing.
fn viewable(booking: &Booking, viewer: PersonId) -> bool {
    booking.person == viewer || booking.booked_by == viewer
}

/// The typed core of `GET /api/v1/bookings/{id}`: one booking the viewer holds or made, with
/// its unaccepted moves; someone else's is not found.
pub async fn booking_of(
    state: &Arc<AppState>,
    viewer: PersonId,
    id: u64,
) -> Result<BookingView, ApiError> {
    // One read for the booking and its moves (one trip to the blocking pool on a network store).
    let (booking, moved) = read_by_key(state, move |r| r.booking_with_moves(BookingId(id)))
        .await?
        .filter(|(booking, _)| viewable(booking, viewer))
        .ok_or_else(ApiError::not_found)?;
    let view = booking_view(state, &booking, viewer);
    Ok(with_moves(state, view, booking.id, &moved))
}

#[utoipa::path(
    get,
    path = "/api/v1/bookings/{id}",
    tags = ["bookings"],
    summary = "One booking",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
        ("id" = i64, Path),
    ),
    responses(
        (status = 200, description = "OK", body = BookingView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 404, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
    Path(id): Path<u64>,
) -> Result<Json<BookingView>, ApiError> {
    Ok(Json(booking_of(&state, session.person, id).await?))
}

/// Adds what supply changes did to the booking that its person has not yet accepted.
fn with_moves(
    state: &AppState,
    mut view: BookingView,
    id: BookingId,
    records: &[store::RescheduleRecord],
) -> BookingView {
    let mine: Vec<store::RescheduleRecord> = records
        .iter()
        .filter(|r| r.booking == id)
        .copied()
        .collect();
    view.moved = Some(super::supply::moves(state, &mine));
    view
}

#[utoipa::path(
    post,
    path = "/api/v1/bookings/{id}/cancel",
    tags = ["bookings"],
    summary = "Cancel every dose still to be given",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
        ("id" = i64, Path),
        crate::routes::doc::IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Cancelled: the booking as it now stands", body = BookingView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 404, response = crate::routes::doc::Refused),
        (status = 409, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    agent: Option<Extension<AgentActor>>,
    Authenticated(session): Authenticated,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let agent = agent.map(|Extension(a)| a);
    let key = idempotency_key(&headers)?;
    let booking = owned(&state, id, session.person).await?;
    let recipient = sealed_contact_of(&state, booking.person).await?;
    let cancel = Cancel {
        actor: session.person,
        booking: booking.id,
        idempotency_key: key,
        notify: Some(notify(&state, recipient, "booking_cancelled")),
    };
    let audit = audited(
        agent.as_ref(),
        "POST /api/v1/agent/bookings/{id}/cancel",
        booking.person,
    );
    let outcome = state
        .writer
        .cancel(cancel, audit, state.clock.now().as_millisecond())
        .await?;
    let booking = booking_outcome(&state, outcome, "cancelled")?;
    let response = Json(booking_view(&state, &booking, session.person)).into_response();
    Ok(mark_audited(response, agent.as_ref()))
}

#[utoipa::path(
    post,
    path = "/api/v1/bookings/{id}/change",
    tags = ["bookings"],
    summary = "Move dose 1 (and dose 2 with it) to another day, band or clinic; all or nothing",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
        ("id" = i64, Path),
        crate::routes::doc::IdempotencyKey,
    ),
    request_body = crate::routes::bookings::ChangeRequest,
    responses(
        (status = 200, description = "Changed: the booking as it now stands", body = BookingView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 404, response = crate::routes::doc::Refused),
        (status = 409, response = crate::routes::doc::BookingConflict),
        (status = 422, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn change(
    State(state): State<Arc<AppState>>,
    agent: Option<Extension<AgentActor>>,
    Authenticated(session): Authenticated,
    headers: HeaderMap,
    Path(id): Path<u64>,
    ApiJson(body): ApiJson<ChangeRequest>,
) -> Result<Response, ApiError> {
    let agent = agent.map(|Extension(a)| a);
    let key = idempotency_key(&headers)?;
    let booking = owned(&state, id, session.person).await?;
    let product = body
        .product
        .unwrap_or_else(|| booking.first.appointment.product.code().to_string());
    let first = appointment(body.clinic_id, &body.date, body.hour, &product)?;
    if !state.writer.moves_within_part(booking.id, first.clinic) {
        // The ledger is cut in parts and the clinic is another's (`domain::partition`): one
        // transaction cannot take the place there and give this one back.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            errors::CHANGE_ACROSS_PARTS,
        ));
    }
    let recipient = sealed_contact_of(&state, booking.person).await?;
    let now = state.clock.now();
    let change = ChangeBooking {
        actor: session.person,
        booking: booking.id,
        first,
        today: seoul_date(now),
        idempotency_key: key,
        notify: Some(notify(&state, recipient, "booking_changed")),
    };
    let audit = audited(
        agent.as_ref(),
        "POST /api/v1/agent/bookings/{id}/change",
        booking.person,
    );
    let outcome = state
        .writer
        .change(change, audit, now.as_millisecond())
        .await?;
    let booking = booking_outcome(&state, outcome, "changed")
        .map_err(|e| with_alternatives(&state, e, &first, seoul_date(now)))?;
    let response = Json(booking_view(&state, &booking, session.person)).into_response();
    Ok(mark_audited(response, agent.as_ref()))
}
