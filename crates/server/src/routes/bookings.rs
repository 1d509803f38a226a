//! Booking, reading, cancelling and changing appointments, for oneself or a family member.

use super::alternatives::with_alternatives;
use super::eligibility::{person_record, require_eligible};
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::routes::agent::{AgentActor, audited, mark_audited};
use crate::routes::clinics::parse_date;
use crate::session::Consent;
use crate::state::AppState;
use crate::state::{Authenticated, read};
use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::booking::{Appointment, Booking, BookingId, PersonId};
use domain::clinic::ClinicId;
use domain::ledger::BookRequest;
use domain::product::Product;
use domain::time::seoul_date;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use store::OutboxMessage;
use store::writer::{Command, Notify, Outcome};

/// Booking for a family member: their consent token, from `POST /api/v1/family/verify` (their
/// own code on their own phone, typed in by the booker). Name and number alone are not enough.
#[derive(Deserialize)]
pub struct Family {
    consent: Option<String>,
}

/// People other than themselves one person may hold active bookings for: a household's
/// parents and grandparents, not a neighbourhood.
pub const MAX_FAMILY: usize = 4;

#[derive(Deserialize)]
pub struct CreateRequest {
    clinic_id: u32,
    date: String,
    hour: u8,
    product: String,
    family: Option<Family>,
}

#[derive(Deserialize)]
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
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key 값이 올바르지 않습니다 (영문·숫자 1~128자).",
            "Idempotency-Key must be 1–128 visible ASCII characters.",
        ));
    }
    Ok(Some(key.to_string()))
}

fn appointment(
    clinic_id: u32,
    date: &str,
    hour: u8,
    product: &str,
) -> Result<Appointment, ApiError> {
    let product = Product::parse(product).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_product",
            "백신 종류가 올바르지 않습니다.",
            "Unknown product (use pfizer, moderna, astrazeneca or janssen).",
        )
    })?;
    Ok(Appointment {
        clinic: ClinicId(clinic_id),
        day: parse_date(date)?,
        hour,
        product,
    })
}

pub fn booking_json(state: &AppState, booking: &Booking, viewer: PersonId) -> Value {
    let product = booking.first.appointment.product;
    let doses: Vec<Value> = booking
        .doses()
        .enumerate()
        .map(|(i, dose)| {
            let a = dose.appointment;
            let clinic = state.world.clinics.get(a.clinic.index());
            json!({
                "dose": i + 1,
                "status": dose.status,
                "date": a.day.to_string(),
                "hour": a.hour,
                "clinic": { "id": a.clinic.0, "name": clinic.map(|c| c.name.clone()) },
            })
        })
        .collect();
    json!({
        "id": booking.id.0,
        "for_self": booking.person == viewer,
        "booked_by_self": booking.booked_by == viewer,
        "active": booking.is_active(),
        "product": { "code": product.code(), "name_ko": product.name_ko(), "name_en": product.name_en() },
        "doses": doses,
    })
}

/// Builds the "booked / changed / cancelled" text, written in the same transaction.
pub fn notify(state: &Arc<AppState>, recipient: Vec<u8>, template: &'static str) -> Notify {
    let state = Arc::clone(state);
    Box::new(move |booking: &Booking| {
        Some(booking_message(
            &state.secrets,
            &state.world.clinics,
            recipient,
            template,
            booking,
        ))
    })
}

/// The message a booking's person is sent: their masked name (unsealed from `recipient`), the
/// doses with clinic names, in Korean and English. Runs on the writer, inside the transaction
/// (`yeyak bench` runs it too, so it measures what production does).
pub fn booking_message(
    secrets: &crate::secrets::Secrets,
    clinics: &[domain::clinic::Clinic],
    recipient: Vec<u8>,
    template: &str,
    booking: &Booking,
) -> OutboxMessage {
    let name = secrets
        .unseal(&recipient)
        .and_then(|p| String::from_utf8(p).ok())
        .and_then(|t| t.split_once('\n').map(|(n, _)| domain::name::masked(n)))
        .unwrap_or_default();
    let describe = |ko: bool| {
        booking
            .doses()
            .enumerate()
            .map(|(i, d)| {
                let a = d.appointment;
                let clinic = clinics
                    .get(a.clinic.index())
                    .map_or("", |c| c.name.as_str());
                if ko {
                    format!("{}차 {} {:02}:00 {clinic}", i + 1, a.day, a.hour)
                } else {
                    format!("dose {} {} {:02}:00 {clinic}", i + 1, a.day, a.hour)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (ko, en) = match template {
        "booking_cancelled" => ("예약이 취소되었습니다", "your booking was cancelled"),
        "booking_changed" => ("예약이 변경되었습니다", "your booking was changed"),
        "leftover_claimed" => (
            "오늘 잔여백신 접종이 예약되었습니다",
            "a leftover dose is booked for you today",
        ),
        _ => (
            "코로나19 예방접종 예약이 완료되었습니다",
            "your COVID-19 vaccination is booked",
        ),
    };
    OutboxMessage {
        person: Some(booking.person),
        recipient,
        template: template.into(),
        body_ko: format!("[예약] {name}님, {ko}. {}", describe(true)),
        body_en: format!("[yeyak] {name}: {en}. {}", describe(false)),
    }
}

async fn sealed_contact_of(state: &Arc<AppState>, person: PersonId) -> Result<Vec<u8>, ApiError> {
    read(state, move |r| store::ReadStore::person(r, person))
        .await?
        .map(|p| p.sealed)
        .ok_or_else(ApiError::unauthenticated)
}

fn booking_outcome(state: &AppState, outcome: Outcome, label: &str) -> Result<Booking, ApiError> {
    match outcome {
        Outcome::Booking(Ok(booking)) => {
            state.metrics.count_booking(label);
            Ok(booking)
        }
        Outcome::Booking(Err(refusal)) => {
            state.metrics.count_booking("refused");
            Err(refusal.into())
        }
        _ => Err(ApiError::internal()),
    }
}

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
            let record = person_record(&state, actor).await?;
            require_eligible(&state, actor, record.birth_date, record.rrn_hash).await?;
            (actor, record.sealed)
        }
        Some(family) => {
            let member = family_member(&state, actor, family).await?;
            super::pass::use_pass(
                &state,
                pass.as_deref(),
                crate::waiting::PassUse::FamilyBooking,
            )?;
            let record = person_record(&state, member).await?;
            require_eligible(&state, member, record.birth_date, record.rrn_hash)
                .await
                .map_err(|_| family_not_bookable())?;
            (member, record.sealed)
        }
    };
    let agent = agent.map(|Extension(a)| a);
    let command = audited(
        agent.as_ref(),
        "POST /api/v1/agent/bookings",
        person,
        Command::Book {
            request: BookRequest {
                person,
                booked_by: actor,
                first,
                today: seoul_date(now),
            },
            idempotency_key: key,
            notify: Some(notify(&state, recipient, "booking_confirmed")),
        },
    );
    let outcome = state.writer.execute(command, now.as_millisecond()).await?;
    let booking = match booking_outcome(&state, outcome, "booked") {
        // About someone else, a refusal says nothing of their bookings.
        Err(e) if person != actor && e.code == "already_booked" => {
            return Err(family_not_bookable());
        }
        other => other.map_err(|e| with_alternatives(&state, e, &first, seoul_date(now)))?,
    };
    let response = (
        StatusCode::CREATED,
        Json(booking_json(&state, &booking, actor)),
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
        .ok_or_else(|| {
            ApiError::forbidden(
                "family_consent_required",
                "가족 예약에는 가족 본인의 휴대전화로 받은 인증번호로 동의 확인이 필요합니다.",
                "Booking for a family member needs their consent: the code sent to their own phone.",
            )
        })?;
    let bookings = read(state, move |r| store::ReadStore::bookings_of(r, actor)).await?;
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
            "family_limit",
            format!("가족 예약은 {MAX_FAMILY}명까지 할 수 있습니다."),
            format!("You may hold bookings for at most {MAX_FAMILY} family members."),
        ));
    }
    Ok(consent.member)
}

/// The one answer about a family member who cannot be booked, whatever the reason (not yet
/// eligible, already booked, …): the booker learns nothing about their records from it.
fn family_not_bookable() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "family_not_bookable",
        "지금은 이 가족을 예약할 수 없습니다. 가족 본인이 예약 현황과 대상 여부를 확인할 수 있습니다.",
        "This family member cannot be booked now. They can check their own bookings and eligibility.",
    )
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let person = session.person;
    let (bookings, moved) = read(&state, move |r| {
        let bookings = store::ReadStore::bookings_of(r, person)?;
        let ids: Vec<BookingId> = bookings.iter().map(|b| b.id).collect();
        Ok((bookings, store::ReadStore::reschedules_of(r, &ids)?))
    })
    .await?;
    let bookings: Vec<Value> = bookings
        .iter()
        .map(|b| with_moves(&state, booking_json(&state, b, person), b.id, &moved))
        .collect();
    Ok(Json(json!({ "bookings": bookings })))
}

async fn owned(state: &Arc<AppState>, id: u64, viewer: PersonId) -> Result<Booking, ApiError> {
    let booking = read(state, move |r| store::ReadStore::booking(r, BookingId(id)))
        .await?
        .ok_or_else(ApiError::not_found)?;
    // Someone else's booking looks exactly like a missing one: ids reveal nothing.
    if booking.person != viewer && booking.booked_by != viewer {
        return Err(ApiError::not_found());
    }
    Ok(booking)
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let booking = owned(&state, id, session.person).await?;
    let ids = [booking.id];
    let moved = read(&state, move |r| store::ReadStore::reschedules_of(r, &ids)).await?;
    let json = booking_json(&state, &booking, session.person);
    Ok(Json(with_moves(&state, json, booking.id, &moved)))
}

/// Adds what supply changes did to the booking that its person has not yet accepted.
fn with_moves(
    state: &AppState,
    mut json: Value,
    id: BookingId,
    records: &[store::RescheduleRecord],
) -> Value {
    let mine: Vec<store::RescheduleRecord> = records
        .iter()
        .filter(|r| r.booking == id)
        .copied()
        .collect();
    json["moved"] = Value::Array(super::supply::moved_json(state, &mine));
    json
}

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
    let command = Command::Cancel {
        actor: session.person,
        booking: booking.id,
        idempotency_key: key,
        notify: Some(notify(&state, recipient, "booking_cancelled")),
    };
    let command = audited(
        agent.as_ref(),
        "POST /api/v1/agent/bookings/{id}/cancel",
        booking.person,
        command,
    );
    let outcome = state
        .writer
        .execute(command, state.clock.now().as_millisecond())
        .await?;
    let booking = booking_outcome(&state, outcome, "cancelled")?;
    let response = Json(booking_json(&state, &booking, session.person)).into_response();
    Ok(mark_audited(response, agent.as_ref()))
}

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
    let recipient = sealed_contact_of(&state, booking.person).await?;
    let now = state.clock.now();
    let command = Command::Change {
        actor: session.person,
        booking: booking.id,
        first,
        today: seoul_date(now),
        idempotency_key: key,
        notify: Some(notify(&state, recipient, "booking_changed")),
    };
    let command = audited(
        agent.as_ref(),
        "POST /api/v1/agent/bookings/{id}/change",
        booking.person,
        command,
    );
    let outcome = state.writer.execute(command, now.as_millisecond()).await?;
    let booking = booking_outcome(&state, outcome, "changed")
        .map_err(|e| with_alternatives(&state, e, &first, seoul_date(now)))?;
    let response = Json(booking_json(&state, &booking, session.person)).into_response();
    Ok(mark_audited(response, agent.as_ref()))
}
