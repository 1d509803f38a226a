//! "May I book now?" — decided on the server clock in Asia/Seoul, with the reason and the time
//! the person's own window opens.

use crate::error::ApiError;
use crate::state::AppState;
use crate::state::{Authenticated, read_by_key};
use crate::text::errors::Words;
use axum::Json;
use axum::extract::State;
use domain::booking::{Booking, DoseStatus, PersonId};
use domain::eligibility::{Decision, ListId, PersonFacts, Via, decide};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use std::sync::Arc;

/// A person's record and what eligibility depends on, read together (one trip, and on SQLite
/// one read transaction: this is on every eligibility check and booking). An unknown person is
/// unauthenticated: their identity session outlived their record.
pub async fn person_facts(
    state: &Arc<AppState>,
    person: PersonId,
) -> Result<(store::PersonRecord, PersonFacts), ApiError> {
    let snapshot = read_by_key(state, move |r| r.person_with_bookings(person))
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let facts = facts_of(
        person,
        snapshot.record.birth_date,
        &snapshot.priority_lists,
        &snapshot.bookings,
    );
    Ok((snapshot.record, facts))
}

/// What eligibility depends on, from a person's birth date, priority lists and the bookings
/// they hold or made (only their own count).
fn facts_of(
    person: PersonId,
    birth_date: Date,
    lists: &[u32],
    bookings: &[Booking],
) -> PersonFacts {
    let own = bookings.iter().filter(|b| b.person == person);
    let (mut booked, mut vaccinated) = (false, false);
    for booking in own {
        booked |= booking.is_active();
        vaccinated |= booking.doses().all(|d| d.status == DoseStatus::Given);
    }
    PersonFacts {
        birth_date,
        priority_lists: lists.iter().copied().map(ListId).collect(),
        already_booked: booked,
        already_vaccinated: vaccinated,
    }
}

/// An eligibility decision as the API answers it. Fields in alphabetical order, as the JSON
/// object it replaced; the instants are present for the decisions that have them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<Timestamp>,
    #[schema(value_type = String)]
    pub code: &'static str,
    pub eligible: bool,
    pub message_en: String,
    pub message_ko: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<Timestamp>,
    /// `opens_at` in Seoul time as the person reads it (`2021-07-26T20:00:00+09:00`): only in
    /// the waiting room's "not this opening" answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at_kst: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<ViaView>,
}

/// Why someone may book: their cohort or a priority list.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ViaView {
    Cohort { cohort: u32 },
    List { priority_list: u32 },
}

impl DecisionView {
    pub fn of(decision: &Decision) -> DecisionView {
        let via = |via: &Via| match via {
            Via::Cohort(id) => ViaView::Cohort { cohort: id.0 },
            Via::List(id) => ViaView::List {
                priority_list: id.0,
            },
        };
        let mut view = DecisionView {
            closed_at: None,
            closes_at: None,
            code: decision.code(),
            eligible: decision.is_eligible(),
            message_en: decision.message_en(),
            message_ko: decision.message_ko(),
            opens_at: None,
            opens_at_kst: None,
            via: None,
        };
        match decision {
            Decision::Eligible { via: v, closes_at } => {
                view.closes_at = Some(*closes_at);
                view.via = Some(via(v));
            }
            Decision::NotYet { opens_at, via: v } => {
                view.opens_at = Some(*opens_at);
                view.via = Some(via(v));
            }
            Decision::Closed { closed_at } => view.closed_at = Some(*closed_at),
            _ => {}
        }
        view
    }
}

/// Refuses unless the person may book now. Booking itself re-checks "already booked".
pub fn require_eligible(state: &AppState, mut facts: PersonFacts) -> Result<(), ApiError> {
    // An existing booking is reported by the writer, with its id; eligibility judges the window.
    facts.already_booked = false;
    let decision = decide(&facts, &state.world.rules(), state.clock.now());
    if decision.is_eligible() {
        return Ok(());
    }
    // The decision's words say why (its window, its cohort): they live with the rule.
    Err(ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        Words::from_rules("not_eligible", decision.message_ko(), decision.message_en()),
    )
    .with_detail(serde_json::json!(DecisionView::of(&decision))))
}

pub async fn person_record(
    state: &Arc<AppState>,
    person: PersonId,
) -> Result<store::PersonRecord, ApiError> {
    read_by_key(state, move |r| store::ReadStore::person(r, person))
        .await?
        .ok_or_else(ApiError::unauthenticated)
}

/// The typed core of `GET /api/v1/eligibility`: may this person book now, on the server clock.
pub async fn decision_of(state: &Arc<AppState>, person: PersonId) -> Result<Decision, ApiError> {
    let (_, facts) = person_facts(state, person).await?;
    Ok(decide(&facts, &state.world.rules(), state.clock.now()))
}

#[utoipa::path(
    get,
    path = "/api/v1/eligibility",
    tags = ["eligibility"],
    summary = "May I book now? The reason, and when my window opens or closes",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
    ),
    responses(
        (status = 200, description = "OK", body = DecisionView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn mine(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
) -> Result<Json<DecisionView>, ApiError> {
    let decision = decision_of(&state, session.person).await?;
    Ok(Json(DecisionView::of(&decision)))
}
