//! Clinic staff: today's list, marking doses given, and posting same-day leftover doses. Every
//! action is written to the audit log in the same transaction as its effect.

use crate::error::ApiError;
use crate::http::{ApiJson, ApiQuery};
use crate::routes::clinics::parse_date;
use crate::staff::{ClinicStaff, actor_label};
use crate::state::AppState;
use crate::state::read;
use crate::text::{errors, notices};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::booking::{Booking, BookingId, DoseStatus};
use domain::clinic::ClinicId;
use domain::leftover::{Offer, OfferId, validate_offer};
use domain::product::Product;
use domain::time::{seoul_date, seoul_instant};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use store::writer::{MarkGiven, MessageText, PostOffer, PostedOffer};
use store::{AuditEntry, OfferRecord};

#[derive(Deserialize, Default)]
pub struct DayQuery {
    /// Defaults to today in Seoul.
    pub date: Option<String>,
}

/// One dose on a clinic's day, with what a nurse needs to find the person (masked name, birth
/// date) and nothing more. Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayAppointment {
    #[schema(value_type = Option<String>, format = Date, required = true)]
    pub birth_date: Option<Date>,
    pub booking_id: u64,
    pub dose: u8,
    pub hour: u8,
    /// Masked.
    #[schema(required = true)]
    pub name: Option<String>,
    /// `pfizer`, `moderna`, `astrazeneca` or `janssen`.
    #[serde(serialize_with = "super::views::product_code")]
    #[schema(value_type = String)]
    pub product: Product,
    /// `booked`, `given` or `cancelled`.
    #[schema(value_type = String)]
    pub status: DoseStatus,
}

/// A clinic's appointments for a day, by hour, with how many are still to give and given.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayView {
    pub appointments: Vec<DayAppointment>,
    pub booked: usize,
    pub clinic: u32,
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub given: usize,
}

/// The typed core of `GET /api/v1/clinic/day`.
pub async fn day_of(
    state: &Arc<AppState>,
    clinic: ClinicId,
    day: Date,
) -> Result<DayView, ApiError> {
    let rows = read(state, move |r| {
        let bookings = store::ReadStore::clinic_day(r, clinic, day)?;
        let mut rows = Vec::new();
        for booking in bookings {
            let person = store::ReadStore::person(r, booking.person)?;
            rows.push((booking, person));
        }
        Ok(rows)
    })
    .await?;
    let mut appointments = Vec::new();
    for (booking, person) in &rows {
        for (n, dose) in doses_at(booking, clinic, day) {
            let name = person
                .as_ref()
                .and_then(|p| state.secrets.unseal(&p.sealed))
                .and_then(|plain| String::from_utf8(plain).ok())
                .and_then(|t| {
                    t.split_once('\n')
                        .map(|(name, _)| domain::name::masked(name))
                });
            appointments.push(DayAppointment {
                birth_date: person.as_ref().map(|p| p.birth_date),
                booking_id: booking.id.0,
                dose: n,
                hour: dose.appointment.hour,
                name,
                product: dose.appointment.product,
                status: dose.status,
            });
        }
    }
    appointments.sort_by_key(|a| (a.hour, a.booking_id));
    let count = |status: DoseStatus| appointments.iter().filter(|a| a.status == status).count();
    Ok(DayView {
        booked: count(DoseStatus::Booked),
        clinic: clinic.0,
        date: day,
        given: count(DoseStatus::Given),
        appointments,
    })
}

/// `GET /api/v1/clinic/day?date=`: the clinic's appointments for a day (today in Seoul by
/// default).
#[utoipa::path(
    get,
    path = "/api/v1/clinic/day",
    tags = ["clinics"],
    summary = "Clinic staff: their clinic's appointments for a day (default today, Seoul), with masked name and birth date.",
    security(("staff" = [])),
    params(
        ("date" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "The day's appointments", body = DayView),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn day(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
    ApiQuery(query): ApiQuery<DayQuery>,
) -> Result<Json<DayView>, ApiError> {
    let day = match &query.date {
        Some(text) => parse_date(text)?,
        None => seoul_date(state.clock.now()),
    };
    Ok(Json(day_of(&state, staff.clinic, day).await?))
}

fn doses_at(
    booking: &Booking,
    clinic: domain::clinic::ClinicId,
    day: jiff::civil::Date,
) -> Vec<(u8, domain::booking::Dose)> {
    booking
        .doses()
        .enumerate()
        .filter(|(_, d)| d.appointment.clinic == clinic && d.appointment.day == day)
        .filter(|(_, d)| d.status != DoseStatus::Cancelled)
        .map(|(i, d)| (i as u8 + 1, *d))
        .collect()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "dose": 1 }))]
pub struct GivenRequest {
    dose: u8,
}

/// `POST /api/v1/clinic/bookings/{id}/given`: records that this clinic gave a dose today.
#[utoipa::path(
    post,
    path = "/api/v1/clinic/bookings/{id}/given",
    tags = ["clinics"],
    summary = "Clinic staff: record that their clinic gave dose 1 or 2 of a booking today. Audited in the same transaction.",
    security(("staff" = [])),
    params(
        ("id" = i64, Path),
    ),
    request_body = crate::routes::clinic::GivenRequest,
    responses(
        (status = 200, description = "Given", body = DoseGiven),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 403, description = "other_clinic, wrong_role", body = crate::error::ErrorBody),
        (status = 404, response = crate::routes::doc::Refused),
        (status = 409, description = "not_due_today, dose_not_booked, first_dose_not_given", body = crate::error::ErrorBody),
    )
)]
pub async fn mark_given(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
    Path(id): Path<u64>,
    ApiJson(body): ApiJson<GivenRequest>,
) -> Result<Json<DoseGiven>, ApiError> {
    if !(1..=2).contains(&body.dose) {
        return Err(ApiError::bad_request(errors::INVALID_DOSE));
    }
    let now = state.clock.now();
    let audit = AuditEntry {
        actor: actor_label(&staff.record),
        action: "dose.given".into(),
        target: format!("booking:{id}"),
        outcome: String::new(),
        detail: json!({ "dose": body.dose, "clinic": staff.clinic.0 }).to_string(),
    };
    let given = MarkGiven {
        clinic: staff.clinic,
        booking: BookingId(id),
        dose: body.dose,
        today: seoul_date(now),
    };
    let booking = state
        .writer
        .mark_given(given, Some(audit), now.as_millisecond())
        .await??;
    state.metrics.count_booking("dose_given");
    Ok(Json(DoseGiven {
        booking_id: booking.id.0,
        dose: body.dose,
        fully_vaccinated: !booking.is_active(),
        status: GivenState::Given,
    }))
}

/// A dose recorded as given. Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DoseGiven {
    pub booking_id: u64,
    pub dose: u8,
    /// Both doses given (or the one of a one-dose product).
    pub fully_vaccinated: bool,
    pub status: GivenState,
}

/// The dose's status once recorded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GivenState {
    Given,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "product": "pfizer", "doses": 3, "until": "2021-07-27T09:00:00Z" }))]
pub struct OfferRequest {
    product: String,
    doses: u32,
    /// When unclaimed doses expire: later today (RFC 3339, e.g. 2021-07-27T18:00:00+09:00).
    #[schema(value_type = String, format = DateTime)]
    until: jiff::Timestamp,
}

/// A clinic's leftover offer as the answers show it. Fields in alphabetical order, as the JSON
/// object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfferView {
    pub clinic: OfferClinic,
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// How far from the person who asked (km, one decimal): in their "near me" answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    pub doses: u32,
    pub id: u64,
    pub left: u32,
    pub open: bool,
    /// `pfizer`, `moderna`, `astrazeneca` or `janssen`.
    #[serde(serialize_with = "super::views::product_code")]
    #[schema(value_type = String)]
    pub product: Product,
    /// People told of it: in the answer to posting it only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub told: Option<u64>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub until: Option<jiff::Timestamp>,
}

/// The offering clinic, with where it is (null for a clinic no longer known).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfferClinic {
    pub id: u32,
    #[schema(required = true)]
    pub lat: Option<f64>,
    #[schema(required = true)]
    pub lon: Option<f64>,
    #[schema(required = true)]
    pub name: Option<String>,
}

pub fn offer_view(state: &AppState, offer: &Offer, now_ms: i64) -> OfferView {
    let clinic = state.world.clinics.get(offer.clinic.index());
    OfferView {
        clinic: OfferClinic {
            id: offer.clinic.0,
            lat: clinic.map(|c| c.location.lat),
            lon: clinic.map(|c| c.location.lon),
            name: clinic.map(|c| c.name.clone()),
        },
        date: offer.day,
        distance_km: None,
        doses: offer.doses,
        id: offer.id.0,
        left: offer.left(),
        open: now_ms < offer.until_ms && offer.left() > 0,
        product: offer.product,
        told: None,
        until: jiff::Timestamp::from_millisecond(offer.until_ms).ok(),
    }
}

/// The text of "leftover doses near you", formatted before the offer is submitted and written
/// with it.
fn offer_text(state: &AppState, offer: &Offer) -> MessageText {
    let clinic = state
        .world
        .clinics
        .get(offer.clinic.index())
        .map_or("", |c| c.name.as_str());
    let until = jiff::Timestamp::from_millisecond(offer.until_ms)
        .map(|t| domain::time::in_seoul(t).strftime("%H:%M").to_string())
        .unwrap_or_default();
    let product = crate::text::Text {
        ko: offer.product.name_ko(),
        en: offer.product.name_en(),
    };
    notices::leftover_offer(clinic, &until, product, offer.doses).into()
}

/// `POST /api/v1/clinic/leftovers`: offers spare doses for today; the nearest people who asked
/// to hear of leftover doses are told in the same transaction.
#[utoipa::path(
    post,
    path = "/api/v1/clinic/leftovers",
    tags = ["clinics", "leftovers"],
    summary = "Clinic staff: offer same-day leftover doses until a time later today. The nearest people who asked to hear (at most 20 per dose) are told in the same transaction.",
    security(("staff" = [])),
    request_body = crate::routes::clinic::OfferRequest,
    responses(
        (status = 201, description = "The offer, with how many were told", body = OfferView),
        (status = 400, description = "invalid_doses, invalid_until, product_not_offered", body = crate::error::ErrorBody),
    )
)]
pub async fn post_offer(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
    ApiJson(body): ApiJson<OfferRequest>,
) -> Result<Response, ApiError> {
    let product = Product::parse(&body.product)
        .ok_or_else(|| ApiError::bad_request(errors::INVALID_PRODUCT))?;
    let now = state.clock.now();
    let today = seoul_date(now);
    let day_end = seoul_instant(
        today
            .checked_add(1.day())
            .map_err(|_| ApiError::internal())?
            .to_datetime(jiff::civil::Time::midnight()),
    );
    let clinic = state
        .world
        .clinics
        .get(staff.clinic.index())
        .ok_or_else(ApiError::not_found)?;
    let until_ms = body.until.as_millisecond();
    validate_offer(
        body.doses,
        until_ms,
        now.as_millisecond(),
        day_end.as_millisecond(),
        clinic.offers(product),
    )
    .map_err(ApiError::bad_request)?;
    let offer = Offer {
        id: OfferId(0),
        clinic: staff.clinic,
        product,
        day: today,
        doses: body.doses,
        claimed: 0,
        until_ms,
    };
    let audit = AuditEntry {
        actor: actor_label(&staff.record),
        action: "leftover.offer".into(),
        target: format!("clinic:{}", staff.clinic.0),
        outcome: String::new(),
        detail: json!({ "product": product.code(), "doses": body.doses, "until_ms": until_ms })
            .to_string(),
    };
    let post = PostOffer {
        record: OfferRecord {
            offer,
            posted_by: staff.record.id,
            posted_ms: now.as_millisecond(),
        },
        clinic_at: clinic.location,
        text: offer_text(&state, &offer),
    };
    let PostedOffer { id, told } = state
        .writer
        .post_offer(post, Some(audit), now.as_millisecond())
        .await?;
    let mut view = offer_view(&state, &Offer { id, ..offer }, now.as_millisecond());
    view.told = Some(told);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// A clinic's offers today.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OffersView {
    pub offers: Vec<OfferView>,
}

/// The typed core of `GET /api/v1/clinic/leftovers`.
pub async fn offers_of(state: &Arc<AppState>, clinic: ClinicId) -> Result<OffersView, ApiError> {
    let now = state.clock.now();
    let today = seoul_date(now);
    let offers = read(state, move |r| store::ReadStore::offers_on(r, today)).await?;
    let offers = offers
        .iter()
        .filter(|o| o.offer.clinic == clinic)
        .map(|o| offer_view(state, &o.offer, now.as_millisecond()))
        .collect();
    Ok(OffersView { offers })
}

/// `GET /api/v1/clinic/leftovers`: this clinic's offers today.
#[utoipa::path(
    get,
    path = "/api/v1/clinic/leftovers",
    tags = ["clinics", "leftovers"],
    summary = "Clinic staff: their clinic's offers today.",
    security(("staff" = [])),
    responses(
        (status = 200, description = "OK", body = OffersView),
    )
)]
pub async fn offers(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
) -> Result<Json<OffersView>, ApiError> {
    Ok(Json(offers_of(&state, staff.clinic).await?))
}
