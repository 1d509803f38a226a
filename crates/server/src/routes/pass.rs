//! The pass that lets a person past the waiting room, and what the waiting room's credentials
//! share: where they travel (a cookie for browsers, an `X-Yeyak-…` header for apps), the
//! middleware every booking-side route runs behind, what one pass may do, and the waiting
//! room's refusals in the API's shape. Below every route module that checks or spends a pass.

use crate::credentials::{self, Names, PASS, TICKET, WAITING_SESSION};
use crate::error::ApiError;
use crate::state::AppState;
use crate::text::errors::{self, Words};
use crate::waiting::GateError;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use queue::{TokenError, WaitingSessionId};
use serde_json::json;
use std::borrow::Cow;
use std::time::Instant;

/// The ticket's cookie (the waiting page reads it).
pub const TICKET_COOKIE: &str = TICKET.cookie;

/// A credential from its `X-Yeyak-…` header (apps) or its cookie (browsers), under its new name
/// or the earlier one (`credentials`).
pub fn credential(headers: &HeaderMap, names: &Names) -> Option<String> {
    credentials::presented(headers, names).map(Cow::into_owned)
}

pub fn session_id(headers: &HeaderMap) -> Option<WaitingSessionId> {
    let text = credential(headers, &WAITING_SESSION)?;
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    Some(WaitingSessionId(bytes.try_into().ok()?))
}

pub fn token_error(error: TokenError) -> ApiError {
    let status = match error {
        TokenError::Expired => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, error)
}

pub fn gate_error(error: GateError) -> ApiError {
    match error {
        GateError::Room(queue::RoomError::Token(error)) => token_error(error),
        GateError::Room(error) => ApiError::forbidden(error),
        GateError::Storage(message) => {
            tracing::error!(%message, "waiting room storage failed");
            ApiError::internal()
        }
        GateError::TooManyTickets { retry_after_s } => {
            ApiError::rate_limited(errors::TOO_MANY_TICKETS, retry_after_s)
        }
        GateError::PersonHasPass => ApiError::new(StatusCode::CONFLICT, errors::PERSON_HAS_PASS),
        GateError::PassLimit { what, limit } => {
            let allowed = match what {
                crate::waiting::PassUse::IdentityStart => errors::PASS_IDENTITY_STARTS,
                crate::waiting::PassUse::FamilyBooking => errors::PASS_FAMILY_BOOKINGS,
            };
            let words = Words::from(errors::PASS_LIMIT)
                .fill_text("use", allowed)
                .fill("limit", limit);
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, words)
                .with_detail(json!({ "limit": limit }))
        }
        GateError::NotVerified => ApiError::forbidden(errors::TEXT_ME_NEEDS_VERIFICATION),
        GateError::TextingFull => ApiError {
            retry_after_s: Some(60),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, errors::TEXTING_FULL)
        },
        GateError::CallersFull => ApiError {
            retry_after_s: Some(60),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, errors::AGENT_CALLERS_FULL)
        },
        GateError::PlacePassedOn => ApiError::new(StatusCode::GONE, errors::PLACE_PASSED_ON),
        GateError::DrawsBusy => ApiError::busy(1),
        GateError::NoNumbers => ApiError {
            retry_after_s: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                errors::QUEUE_NUMBERS_NOT_READY,
            )
        },
    }
}

fn pass_missing() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, errors::PASS_REQUIRED)
        .with_detail(json!({ "waiting_room": "/wait" }))
}

/// Every booking-side route runs behind this: a valid pass for this browser session, or no entry.
/// It also measures how long the booking side takes, which steers admission.
pub async fn require_pass<Answer: Future<Output = Response>>(
    state: &AppState,
    mut request: Request,
    inner: impl FnOnce(Request) -> Answer,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let pass = credential(headers, &PASS).ok_or_else(pass_missing)?;
    let session = session_id(headers).ok_or_else(pass_missing)?;
    let pass = state
        .gate
        .check_pass(now_ms(state), &pass, &session)
        .map_err(token_error)?;
    if let Some(admitted) = pass.person
        && let Some(signed_in) = signed_in_person(state, headers)
        && signed_in != admitted
    {
        return Err(pass_other_person());
    }
    state
        .gate
        .use_as_holder(now_ms(state), &pass)
        .map_err(gate_error)?;
    let booking_made =
        request.method() == axum::http::Method::POST && request.uri().path() == "/api/v1/bookings";
    // The handlers that count what a pass may do (identity checks, family bookings) read it here.
    request.extensions_mut().insert(pass);
    let started = Instant::now();
    let response = inner(request).await;
    let latency_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    state.gate.observe_latency(
        latency_ms,
        response.status() == StatusCode::SERVICE_UNAVAILABLE,
    );
    if booking_made && response.status() == StatusCode::CREATED {
        state.gate.done(&session);
    }
    Ok(response)
}

/// The person a request's identity session names, if it carries a valid one.
pub fn signed_in_person(state: &AppState, headers: &HeaderMap) -> Option<u64> {
    let token = credentials::identity_token(headers)?;
    crate::session::IdentitySession::verify(&token, &state.secrets, state.clock.now())
        .ok()
        .map(|s| s.person.0)
}

/// A pass is the one verified person's it admitted: it does nothing for anyone else.
pub fn pass_other_person() -> ApiError {
    ApiError::forbidden(errors::PASS_OTHER_PERSON)
}

/// Counts one use of `what` by the request's pass (none on the agent side, which has no pass).
pub fn use_pass(
    state: &AppState,
    pass: Option<&queue::Pass>,
    what: crate::waiting::PassUse,
) -> Result<(), ApiError> {
    match pass {
        Some(pass) => state.gate.use_pass(pass, what).map_err(gate_error),
        None => Ok(()),
    }
}

/// Gives back one use of `what` counted by [`use_pass`] for a request then refused for want of
/// capacity (none on the agent side).
pub fn give_back_use(state: &AppState, pass: Option<&queue::Pass>, what: crate::waiting::PassUse) {
    if let Some(pass) = pass {
        state.gate.give_back_pass_use(pass, what);
    }
}

/// Binds the request's pass to the person who just verified with it, or refuses when it
/// admitted someone else. Returns the new pass to hand back (none without a pass).
pub fn bind_pass(
    state: &AppState,
    pass: Option<&queue::Pass>,
    person: u64,
) -> Result<Option<String>, ApiError> {
    let Some(pass) = pass else { return Ok(None) };
    match state.gate.bind_pass(now_ms(state), pass, person) {
        Ok(token) => Ok(Some(token)),
        Err(GateError::Room(queue::RoomError::OtherPerson)) => Err(pass_other_person()),
        Err(e) => Err(gate_error(e)),
    }
}

/// Sets the ticket cookie (empty: drops it).
pub fn set_ticket_cookie(response: &mut Response, ticket: &str) {
    let max_age_s = if ticket.is_empty() { 0 } else { 86_400 };
    set_cookie(response, TICKET.cookie, ticket, max_age_s);
}

/// Sets the pass cookie for the opening's pass lifetime.
pub fn set_pass_cookie(state: &AppState, response: &mut Response, pass: &str) {
    let ttl_s = state.gate.opening().pass_ttl_ms() / 1000;
    set_cookie(response, PASS.cookie, pass, ttl_s);
}

/// Whether this browser holds a valid pass for its session: the booking pages' version of
/// [`require_pass`], which sends a person without one to the waiting page instead of erroring.
pub fn holds_pass(state: &AppState, headers: &HeaderMap) -> bool {
    request_pass(state, headers).is_some()
}

/// The valid pass this browser holds for its session, if any.
pub fn request_pass(state: &AppState, headers: &HeaderMap) -> Option<queue::Pass> {
    let pass = credential(headers, &PASS)?;
    let session = session_id(headers)?;
    state.gate.check_pass(now_ms(state), &pass, &session).ok()
}

pub fn set_cookie(response: &mut Response, name: &str, value: &str, max_age_s: u64) {
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// Refuses an agent's booking for a caller whose place has not come up while an opening is held.
pub fn require_caller_admitted(state: &AppState, actor: &str, person: u64) -> Result<(), ApiError> {
    if state.gate.caller_admitted(now_ms(state), actor, person) {
        return Ok(());
    }
    Err(
        ApiError::new(StatusCode::CONFLICT, errors::CALLER_NOT_ADMITTED)
            .with_detail(json!({ "queue": "/api/v1/agent/queue" })),
    )
}

/// The server clock in milliseconds, as the waiting room counts.
pub fn now_ms(state: &AppState) -> u64 {
    state.clock.now().as_millisecond().max(0) as u64
}
