//! "May I book now?" — decided on the server clock in Asia/Seoul, with the reason and the time
//! the person's own window opens.

use crate::error::ApiError;
use crate::state::AppState;
use crate::state::{Authenticated, read};
use axum::Json;
use axum::extract::State;
use domain::booking::{DoseStatus, PersonId};
use domain::eligibility::{Decision, ListId, PersonFacts, Via, decide};
use jiff::civil::Date;
use serde_json::{Value, json};
use std::sync::Arc;

/// What the server knows about a person that eligibility depends on.
pub async fn facts(
    state: &Arc<AppState>,
    person: PersonId,
    birth_date: Date,
    rrn_hash: [u8; 32],
) -> Result<PersonFacts, ApiError> {
    let lists = read(state, move |r| {
        store::PriorityStore::priority_lists_of(r, &rrn_hash)
    })
    .await?;
    let bookings = read(state, move |r| store::ReadStore::bookings_of(r, person)).await?;
    let own = bookings.iter().filter(|b| b.person == person);
    let (mut booked, mut vaccinated) = (false, false);
    for booking in own {
        booked |= booking.is_active();
        vaccinated |= booking.doses().all(|d| d.status == DoseStatus::Given);
    }
    Ok(PersonFacts {
        birth_date,
        priority_lists: lists.into_iter().map(ListId).collect(),
        already_booked: booked,
        already_vaccinated: vaccinated,
    })
}

pub fn decision_json(decision: &Decision) -> Value {
    let mut body = json!({
        "code": decision.code(),
        "eligible": decision.is_eligible(),
        "message_ko": decision.message_ko(),
        "message_en": decision.message_en(),
    });
    let via = |via: &Via| match via {
        Via::Cohort(id) => json!({ "cohort": id.0 }),
        Via::List(id) => json!({ "priority_list": id.0 }),
    };
    match decision {
        Decision::Eligible { via: v, closes_at } => {
            body["closes_at"] = closes_at.to_string().into();
            body["via"] = via(v);
        }
        Decision::NotYet { opens_at, via: v } => {
            body["opens_at"] = opens_at.to_string().into();
            body["via"] = via(v);
        }
        Decision::Closed { closed_at } => body["closed_at"] = closed_at.to_string().into(),
        _ => {}
    }
    body
}

/// Refuses unless the person may book now. Booking itself re-checks "already booked".
pub async fn require_eligible(
    state: &Arc<AppState>,
    person: PersonId,
    birth_date: Date,
    rrn_hash: [u8; 32],
) -> Result<(), ApiError> {
    let mut facts = facts(state, person, birth_date, rrn_hash).await?;
    // An existing booking is reported by the writer, with its id; eligibility judges the window.
    facts.already_booked = false;
    let decision = decide(&facts, &state.world.rules(), state.clock.now());
    if decision.is_eligible() {
        return Ok(());
    }
    Err(ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "not_eligible",
        decision.message_ko(),
        decision.message_en(),
    )
    .with_detail(decision_json(&decision)))
}

pub async fn person_record(
    state: &Arc<AppState>,
    person: PersonId,
) -> Result<store::PersonRecord, ApiError> {
    read(state, move |r| store::ReadStore::person(r, person))
        .await?
        .ok_or_else(ApiError::unauthenticated)
}

pub async fn mine(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let record = person_record(&state, session.person).await?;
    let facts = facts(&state, session.person, record.birth_date, record.rrn_hash).await?;
    let decision = decide(&facts, &state.world.rules(), state.clock.now());
    Ok(Json(decision_json(&decision)))
}
