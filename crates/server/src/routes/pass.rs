//! The pass that lets a person past the waiting room, and what the waiting room's credentials
//! share: where they travel (a cookie for browsers, an `X-Yeyak-…` header for apps), the
//! middleware every booking-side route runs behind, what one pass may do, and the waiting
//! room's refusals in the API's shape. Below every route module that checks or spends a pass.

use crate::credentials::{self, Names, PASS, TICKET, WAITING_SESSION};
use crate::error::ApiError;
use crate::state::AppState;
use crate::waiting::GateError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use queue::{TokenError, WaitingSessionId};
use serde_json::json;
use std::borrow::Cow;
use std::sync::Arc;
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
    ApiError::new(status, error.code(), error.message_ko(), error.message_en())
}

pub fn gate_error(error: GateError) -> ApiError {
    match error {
        GateError::Room(queue::RoomError::Token(error)) => token_error(error),
        GateError::Room(error) => {
            ApiError::forbidden(error.code(), error.message_ko(), error.message_en())
        }
        GateError::Storage(message) => {
            tracing::error!(%message, "waiting room storage failed");
            ApiError::internal()
        }
        GateError::TooManyTickets { retry_after_s } => ApiError {
            retry_after_s: Some(u32::try_from(retry_after_s).unwrap_or(u32::MAX)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_tickets",
                "이 주소에서 대기표를 너무 많이 받았습니다. 이미 받은 대기표를 그대로 쓰시거나 잠시 후 다시 시도해 주세요.",
                "Too many queue tickets from this address. Keep the ticket you have, or try again shortly.",
            )
        },
        GateError::PersonHasPass => ApiError::new(
            StatusCode::CONFLICT,
            "person_has_pass",
            "이미 다른 기기나 창에서 입장하셨습니다. 처음 입장한 곳에서 예약을 이어 가 주세요. (5분 동안 쓰지 않으면 여기서 입장할 수 있습니다.)",
            "You were already let in on another device or window. Please continue there. (If it stays unused for 5 minutes, you can enter here.)",
        ),
        GateError::PassLimit { what, limit } => {
            let (ko, en) = match what {
                crate::waiting::PassUse::IdentityStart => (
                    format!("한 번 입장으로 본인인증은 {limit}번까지 요청할 수 있습니다."),
                    format!("One admission may start at most {limit} identity checks."),
                ),
                crate::waiting::PassUse::FamilyBooking => (
                    format!("한 번 입장으로 가족 예약은 {limit}건까지 할 수 있습니다."),
                    format!("One admission may make at most {limit} family bookings."),
                ),
            };
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "pass_limit", ko, en)
                .with_detail(json!({ "limit": limit }))
        }
        GateError::NotVerified => ApiError::forbidden(
            "text_me_needs_verification",
            "문자 안내는 대기 중 본인인증을 마친 분께 드립니다. 먼저 본인인증을 해 주세요.",
            "We can text you once you have verified your identity while waiting. Please verify first.",
        ),
        GateError::TextingFull => ApiError {
            retry_after_s: Some(60),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "texting_full",
                "지금은 문자 안내를 더 받을 수 없습니다. 이 화면을 열어 두고 기다려 주세요.",
                "We cannot take more texting requests right now. Please keep this page open.",
            )
        },
        GateError::CallersFull => ApiError {
            retry_after_s: Some(60),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "agent_callers_full",
                "상담원이 대기열에 올릴 수 있는 인원이 가득 찼습니다. 잠시 후 다시 시도해 주세요.",
                "Agents hold as many callers in the queue as they may. Please try again shortly.",
            )
        },
        GateError::PlacePassedOn => ApiError::new(
            StatusCode::GONE,
            "place_passed_on",
            "차례가 되어 문자를 보내 드린 뒤 돌아오실 시간이 지나 자리가 다음 분께 넘어갔습니다. 대기열에 다시 들어와 주세요.",
            "Your turn came and we texted you, but the time to come back has passed: your place went to the next person. Please join the queue again.",
        ),
        GateError::NoNumbers => ApiError {
            retry_after_s: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_numbers_not_ready",
                "대기 번호를 준비하고 있습니다. 잠시 후 다시 시도해 주세요.",
                "Queue numbers are being prepared. Please try again in a moment.",
            )
        },
    }
}

fn pass_missing() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "pass_required",
        "대기열을 거쳐 입장한 후 이용할 수 있습니다. 대기 화면으로 이동해 주세요.",
        "Please go through the waiting room first.",
    )
    .with_detail(json!({ "waiting_room": "/wait" }))
}

/// Every booking-side route runs behind this: a valid pass for this browser session, or no entry.
/// It also measures how long the booking side takes, which steers admission.
pub async fn require_pass(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let pass = credential(headers, &PASS).ok_or_else(pass_missing)?;
    let session = session_id(headers).ok_or_else(pass_missing)?;
    let pass = state
        .gate
        .check_pass(now_ms(&state), &pass, &session)
        .map_err(token_error)?;
    if let Some(admitted) = pass.person
        && let Some(signed_in) = signed_in_person(&state, headers)
        && signed_in != admitted
    {
        return Err(pass_other_person());
    }
    state
        .gate
        .use_as_holder(now_ms(&state), &pass)
        .map_err(gate_error)?;
    let booking_made =
        request.method() == axum::http::Method::POST && request.uri().path() == "/api/v1/bookings";
    // The handlers that count what a pass may do (identity checks, family bookings) read it here.
    request.extensions_mut().insert(pass);
    let started = Instant::now();
    let response = next.run(request).await;
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
    ApiError::forbidden(
        "pass_other_person",
        "이 입장권은 대기열에서 본인인증을 한 분의 것입니다. 다른 분은 대기열을 거쳐 직접 입장해 주세요. 가족 예약은 가족 동의 절차로 할 수 있습니다.",
        "This admission belongs to the person verified in the queue. Anyone else must go through the queue; family members can be booked with their consent.",
    )
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
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "caller_not_admitted",
        "예약 시작 중에는 상담원도 대기열을 거칩니다. 이 분의 대기 차례가 되면 예약할 수 있습니다.",
        "During an opening agents queue too: you can book for this caller once their place comes up.",
    )
    .with_detail(json!({ "queue": "/api/v1/agent/queue" })))
}

/// The server clock in milliseconds, as the waiting room counts.
pub fn now_ms(state: &AppState) -> u64 {
    state.clock.now().as_millisecond().max(0) as u64
}
