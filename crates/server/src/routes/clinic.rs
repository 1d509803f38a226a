//! Clinic staff: today's list, marking doses given, and posting same-day leftover doses. Every
//! action is written to the audit log in the same transaction as its effect.

use crate::error::ApiError;
use crate::http::{ApiJson, ApiQuery};
use crate::routes::clinics::parse_date;
use crate::staff::{ClinicStaff, actor_label};
use crate::state::AppState;
use crate::state::read;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::booking::{Booking, BookingId, DoseStatus};
use domain::leftover::{Offer, OfferId, validate_offer};
use domain::product::Product;
use domain::time::{seoul_date, seoul_instant};
use jiff::ToSpan;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use store::writer::{Command, MessageText, OfferNotify, Outcome};
use store::{AuditEntry, OfferRecord};

#[derive(Deserialize, Default)]
pub struct DayQuery {
    /// Defaults to today in Seoul.
    pub date: Option<String>,
}

/// `GET /api/v1/clinic/day?date=`: the clinic's appointments for a day, by hour, with what a
/// nurse needs to find the person (masked name, birth date) and nothing more.
pub async fn day(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
    ApiQuery(query): ApiQuery<DayQuery>,
) -> Result<Json<Value>, ApiError> {
    let day = match &query.date {
        Some(text) => parse_date(text)?,
        None => seoul_date(state.clock.now()),
    };
    let clinic = staff.clinic;
    let rows = read(&state, move |r| {
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
            appointments.push(json!({
                "booking_id": booking.id.0,
                "dose": n,
                "hour": dose.appointment.hour,
                "product": dose.appointment.product.code(),
                "status": dose.status,
                "name": name,
                "birth_date": person.as_ref().map(|p| p.birth_date.to_string()),
            }));
        }
    }
    appointments.sort_by_key(|a| (a["hour"].as_u64(), a["booking_id"].as_u64()));
    let count = |status: &str| {
        appointments
            .iter()
            .filter(|a| a["status"] == status)
            .count()
    };
    Ok(Json(json!({
        "clinic": clinic.0,
        "date": day.to_string(),
        "booked": count("booked"),
        "given": count("given"),
        "appointments": appointments,
    })))
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

#[derive(Deserialize)]
pub struct GivenRequest {
    dose: u8,
}

/// `POST /api/v1/clinic/bookings/{id}/given`: records that this clinic gave a dose today.
pub async fn mark_given(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
    Path(id): Path<u64>,
    ApiJson(body): ApiJson<GivenRequest>,
) -> Result<Json<Value>, ApiError> {
    if !(1..=2).contains(&body.dose) {
        return Err(ApiError::bad_request(
            "invalid_dose",
            "접종 차수는 1 또는 2입니다.",
            "The dose is 1 or 2.",
        ));
    }
    let now = state.clock.now();
    let command = Command::Audited {
        entry: AuditEntry {
            actor: actor_label(&staff.record),
            action: "dose.given".into(),
            target: format!("booking:{id}"),
            outcome: String::new(),
            detail: json!({ "dose": body.dose, "clinic": staff.clinic.0 }).to_string(),
        },
        command: Box::new(Command::MarkGiven {
            clinic: staff.clinic,
            booking: BookingId(id),
            dose: body.dose,
            today: seoul_date(now),
        }),
    };
    match state.writer.execute(command, now.as_millisecond()).await? {
        Outcome::Booking(Ok(booking)) => {
            state.metrics.count_booking("dose_given");
            Ok(Json(json!({
                "booking_id": booking.id.0,
                "dose": body.dose,
                "status": "given",
                "fully_vaccinated": !booking.is_active(),
            })))
        }
        Outcome::Booking(Err(refusal)) => Err(refusal.into()),
        _ => Err(ApiError::internal()),
    }
}

#[derive(Deserialize)]
pub struct OfferRequest {
    product: String,
    doses: u32,
    /// When unclaimed doses expire: later today (RFC 3339, e.g. 2021-07-27T18:00:00+09:00).
    until: jiff::Timestamp,
}

pub fn offer_json(state: &AppState, offer: &Offer, now_ms: i64) -> Value {
    let clinic = state.world.clinics.get(offer.clinic.index());
    json!({
        "id": offer.id.0,
        "clinic": {
            "id": offer.clinic.0,
            "name": clinic.map(|c| c.name.clone()),
            "lat": clinic.map(|c| c.location.lat),
            "lon": clinic.map(|c| c.location.lon),
        },
        "product": offer.product.code(),
        "date": offer.day.to_string(),
        "doses": offer.doses,
        "left": offer.left(),
        "until": jiff::Timestamp::from_millisecond(offer.until_ms).map(|t| t.to_string()).ok(),
        "open": now_ms < offer.until_ms && offer.left() > 0,
    })
}

/// The text of "leftover doses near you", written with the offer.
fn offer_text(state: &Arc<AppState>) -> OfferNotify {
    let state = Arc::clone(state);
    Box::new(move |offer: &Offer| {
        let clinic = state
            .world
            .clinics
            .get(offer.clinic.index())
            .map_or("", |c| c.name.as_str());
        let until = jiff::Timestamp::from_millisecond(offer.until_ms)
            .map(|t| domain::time::in_seoul(t).strftime("%H:%M").to_string())
            .unwrap_or_default();
        MessageText {
            template: "leftover_offer".into(),
            ko: format!(
                "[예약] 가까운 {clinic}에 오늘 {until}까지 {} 잔여백신 {}회분이 있습니다. 선착순이며 예약 화면에서 신청할 수 있습니다.",
                offer.product.name_ko(),
                offer.doses
            ),
            en: format!(
                "[yeyak] {clinic} near you has {} leftover {} dose(s) today until {until}. First come, first served: claim one on the booking site.",
                offer.doses,
                offer.product.name_en()
            ),
        }
    })
}

/// `POST /api/v1/clinic/leftovers`: offers spare doses for today; the nearest people who asked
/// to hear of leftover doses are told in the same transaction.
pub async fn post_offer(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
    ApiJson(body): ApiJson<OfferRequest>,
) -> Result<Response, ApiError> {
    let product = Product::parse(&body.product).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_product",
            "백신 종류가 올바르지 않습니다.",
            "Unknown product (use pfizer, moderna, astrazeneca or janssen).",
        )
    })?;
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
    .map_err(|e| ApiError::bad_request(e.code(), e.message_ko(), e.message_en()))?;
    let offer = Offer {
        id: OfferId(0),
        clinic: staff.clinic,
        product,
        day: today,
        doses: body.doses,
        claimed: 0,
        until_ms,
    };
    let command = Command::Audited {
        entry: AuditEntry {
            actor: actor_label(&staff.record),
            action: "leftover.offer".into(),
            target: format!("clinic:{}", staff.clinic.0),
            outcome: String::new(),
            detail: json!({ "product": product.code(), "doses": body.doses, "until_ms": until_ms })
                .to_string(),
        },
        command: Box::new(Command::PostOffer {
            record: OfferRecord {
                offer,
                posted_by: staff.record.id,
                posted_ms: now.as_millisecond(),
            },
            clinic_at: clinic.location,
            notify: offer_text(&state),
        }),
    };
    let Outcome::Offer { id, told } = state.writer.execute(command, now.as_millisecond()).await?
    else {
        return Err(ApiError::internal());
    };
    let mut json = offer_json(&state, &Offer { id, ..offer }, now.as_millisecond());
    json["told"] = told.into();
    Ok((StatusCode::CREATED, Json(json)).into_response())
}

/// `GET /api/v1/clinic/leftovers`: this clinic's offers today.
pub async fn offers(
    State(state): State<Arc<AppState>>,
    staff: ClinicStaff,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let today = seoul_date(now);
    let offers = read(&state, move |r| store::ReadStore::offers_on(r, today)).await?;
    let mine: Vec<Value> = offers
        .iter()
        .filter(|o| o.offer.clinic == staff.clinic)
        .map(|o| offer_json(&state, &o.offer, now.as_millisecond()))
        .collect();
    Ok(Json(json!({ "offers": mine })))
}
