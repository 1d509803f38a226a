//! The waiting room over HTTP: arrive, poll, exchange an admitted ticket for a pass; the pass
//! check in front of every booking-side route; the operator's view and openings; and a
//! server-rendered waiting page that works without JavaScript.

use super::{ApiJson, cookie};
use crate::AppState;
use crate::error::ApiError;
use crate::operator::Operator;
use crate::waiting::GateError;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use queue::{Exchange, QueueId, SessionId, Status, TokenError};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

pub const SESSION_ID_COOKIE: &str = "yeyak_sid";
pub const TICKET_COOKIE: &str = "yeyak_ticket";
pub const PASS_COOKIE: &str = "yeyak_pass";

/// A credential from its cookie (browsers) or its `X-Yeyak-…` header (apps), borrowed from the
/// header when it came as one.
fn credential_ref<'h>(
    headers: &'h HeaderMap,
    cookie_name: &str,
    header_name: &str,
) -> Option<Cow<'h, str>> {
    headers
        .get(header_name)
        .and_then(|v| v.to_str().ok())
        .map(Cow::Borrowed)
        .or_else(|| cookie(headers, cookie_name).map(Cow::Owned))
}

fn credential(headers: &HeaderMap, cookie_name: &str, header_name: &str) -> Option<String> {
    credential_ref(headers, cookie_name, header_name).map(Cow::into_owned)
}

pub(crate) fn session_id(headers: &HeaderMap) -> Option<SessionId> {
    let text = credential(headers, SESSION_ID_COOKIE, "x-yeyak-session")?;
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    Some(SessionId(bytes.try_into().ok()?))
}

fn now_ms(state: &AppState) -> u64 {
    state.clock.now().as_millisecond().max(0) as u64
}

fn token_error(error: TokenError) -> ApiError {
    let status = match error {
        TokenError::Expired => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, error.code(), error.message_ko(), error.message_en())
}

fn gate_error(error: GateError) -> ApiError {
    match error {
        GateError::Room(queue::RoomError::Token(error)) => token_error(error),
        GateError::Room(error) => {
            ApiError::forbidden(error.code(), error.message_ko(), error.message_en())
        }
        GateError::Storage(message) => {
            tracing::error!(%message, "waiting room storage failed");
            ApiError::internal()
        }
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
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let pass = credential(headers, PASS_COOKIE, "x-yeyak-pass").ok_or_else(pass_missing)?;
    let session = session_id(headers).ok_or_else(pass_missing)?;
    state
        .gate
        .check_pass(now_ms(&state), &pass, &session)
        .map_err(token_error)?;
    let booking_made =
        request.method() == axum::http::Method::POST && request.uri().path() == "/api/v1/bookings";
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

/// Whether this browser holds a valid pass for its session: the booking pages' version of
/// [`require_pass`], which sends a person without one to the waiting page instead of erroring.
pub fn holds_pass(state: &AppState, headers: &HeaderMap) -> bool {
    let (Some(pass), Some(session)) = (
        credential(headers, PASS_COOKIE, "x-yeyak-pass"),
        session_id(headers),
    ) else {
        return false;
    };
    state
        .gate
        .check_pass(now_ms(state), &pass, &session)
        .is_ok()
}

/// Where a ticket stands, as the API answers it. Serialized straight to bytes on the hot path
/// (`GET /queue/status`); the fields are in alphabetical order so the bytes are exactly those of
/// the same fields in a JSON object (whose keys serde_json keeps sorted).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum StatusBody {
    Admitted {
        number: u64,
        people_ahead: u64,
        poll_after_ms: u64,
        position: u64,
        queue: u32,
        state: &'static str,
    },
    Waiting {
        eta_seconds: Option<u64>,
        number: u64,
        people_ahead: u64,
        poll_after_ms: u64,
        position: u64,
        queue: u32,
        state: &'static str,
    },
    BeforeOpening {
        opens_at: Option<String>,
        poll_after_ms: u64,
        queue: u32,
        state: &'static str,
    },
}

fn status_body(queue: QueueId, status: &Status) -> StatusBody {
    let queue = queue.0;
    match *status {
        // "number" is the person's place in the whole line (1-based); it never changes.
        Status::Admitted { rank } => StatusBody::Admitted {
            number: rank.0 + 1,
            people_ahead: 0,
            poll_after_ms: 0,
            position: 0,
            queue,
            state: "admitted",
        },
        Status::Waiting {
            rank,
            position,
            people_ahead,
            eta_ms,
            poll_after_ms,
        } => StatusBody::Waiting {
            eta_seconds: eta_ms.map(|ms| ms.div_ceil(1000)),
            number: rank.0 + 1,
            people_ahead,
            poll_after_ms,
            position,
            queue,
            state: "waiting",
        },
        Status::BeforeOpening {
            opens_at_ms,
            poll_after_ms,
        } => StatusBody::BeforeOpening {
            opens_at: jiff::Timestamp::from_millisecond(opens_at_ms as i64)
                .map(|t| t.to_string())
                .ok(),
            poll_after_ms,
            queue,
            state: "before_opening",
        },
    }
}

fn status_json(state: &AppState, status: &Status) -> Value {
    serde_json::to_value(status_body(state.gate.queue_id(), status)).unwrap_or(Value::Null)
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age_s: u64) {
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The ticket this request already holds, if it is valid for the current queue and session.
fn held_ticket(
    state: &AppState,
    headers: &HeaderMap,
    session: Option<SessionId>,
) -> Option<(String, Status)> {
    let ticket = credential(headers, TICKET_COOKIE, "x-yeyak-ticket")?;
    let session = session?;
    match state.gate.exchange(now_ms(state), &ticket, &session) {
        Ok(Exchange::NotYet(status)) => Some((ticket, status)),
        Ok(Exchange::Pass { pass, .. }) => Some((ticket, Status::Admitted { rank: pass.rank })),
        Err(_) => None,
    }
}

/// How long an arrival waits for numbers being reserved ahead before it is refused with a 503.
/// Reservation is one small durable write; waiting longer means the disk is stalled.
const NUMBERS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Issues a ticket from numbers already durably reserved, on the async worker (memory only).
/// If none is at hand, waits up to [`NUMBERS_WAIT`] for the reservation thread, never for a
/// lock held across a write.
async fn new_ticket(
    state: &Arc<AppState>,
    session: SessionId,
) -> Result<(String, Status), ApiError> {
    let deadline = tokio::time::Instant::now() + NUMBERS_WAIT;
    loop {
        let ready = state.gate.numbers_ready();
        tokio::pin!(ready);
        ready.as_mut().enable();
        match state.gate.arrive(now_ms(state), session) {
            Err(GateError::NoNumbers) => {
                if tokio::time::timeout_at(deadline, ready).await.is_err() {
                    return Err(gate_error(GateError::NoNumbers));
                }
            }
            answer => return answer.map_err(gate_error),
        }
    }
}

/// Takes a place in the queue, or, with a valid ticket already, returns that same place.
pub async fn arrive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let existing_session = session_id(&headers);
    if let Some((ticket, status)) = held_ticket(&state, &headers, existing_session) {
        let mut body = status_json(&state, &status);
        body["ticket"] = ticket.into();
        return Ok(Json(body).into_response());
    }
    let session = existing_session.unwrap_or_else(|| SessionId::random(&mut rand::rng()));
    let (ticket, status) = new_ticket(&state, session).await?;
    let session_text = URL_SAFE_NO_PAD.encode(session.0);
    let mut body = status_json(&state, &status);
    body["ticket"] = ticket.clone().into();
    body["session"] = session_text.clone().into();
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    set_cookie(&mut response, SESSION_ID_COOKIE, &session_text, 86_400);
    set_cookie(&mut response, TICKET_COOKIE, &ticket, 86_400);
    Ok(response)
}

fn ticket_of(headers: &HeaderMap) -> Result<Cow<'_, str>, ApiError> {
    credential_ref(headers, TICKET_COOKIE, "x-yeyak-ticket").ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "ticket_required",
            "대기표가 없습니다. 대기열에 다시 들어와 주세요.",
            "No ticket: please join the queue.",
        )
    })
}

/// Position, people ahead, ETA and when to ask again. No storage access.
/// This is the path every waiting person polls, so it allocates little: the ticket is borrowed
/// from the header and the answer is serialized straight from a small struct into one buffer.
pub async fn status(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    // The request itself rather than a `HeaderMap` extractor, which would copy every header.
    let ticket = ticket_of(request.headers())?;
    let (queue, status) = state
        .gate
        .status_in_queue(now_ms(&state), &ticket)
        .map_err(gate_error)?;
    let mut body = Vec::with_capacity(160);
    serde_json::to_writer(&mut body, &status_body(queue, &status))
        .map_err(|_| ApiError::internal())?;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((headers, body).into_response())
}

/// An admitted ticket becomes a pass bound to this browser session.
pub async fn exchange(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ticket = ticket_of(&headers)?;
    let session = session_id(&headers).ok_or_else(|| token_error(TokenError::WrongSession))?;
    match state
        .gate
        .exchange(now_ms(&state), &ticket, &session)
        .map_err(gate_error)?
    {
        Exchange::Pass { token, pass } => {
            let expires = jiff::Timestamp::from_millisecond(pass.expires_at_ms as i64)
                .map(|t| t.to_string())
                .ok();
            let mut response =
                Json(json!({ "state": "admitted", "pass": token, "expires_at": expires }))
                    .into_response();
            let ttl_s = state.gate.opening().pass_ttl_ms() / 1000;
            set_cookie(&mut response, PASS_COOKIE, &token, ttl_s);
            Ok(response)
        }
        Exchange::NotYet(status) => {
            Ok((StatusCode::ACCEPTED, Json(status_json(&state, &status))).into_response())
        }
    }
}

/// What operators see: arrivals, queued, admitted, active, admission rate, drain time.
pub async fn admin_queue(State(state): State<Arc<AppState>>, _: Operator) -> Json<Value> {
    let snapshot = state.gate.snapshot(now_ms(&state));
    let opening = state.gate.opening();
    // A free-flowing queue has no opening: its instants are u64::MAX, shown as null (not as
    // the 1969 that a cast to i64 would make of them).
    let at = |ms: u64| {
        i64::try_from(ms)
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| t.to_string())
    };
    Json(json!({
        "queue": opening.queue().0,
        "prequeue_starts_at": at(opening.prequeue_starts_at_ms()),
        "opens_at": at(opening.opens_at_ms()),
        "max_active": opening.max_active(),
        "phase": format!("{:?}", snapshot.phase),
        "arrivals": snapshot.arrivals,
        "queued": snapshot.queued,
        "admitted": snapshot.admitted,
        "active": snapshot.active,
        "latency_p99_ms": snapshot.latency_p99_ms,
        "admission_limit": snapshot.limit,
        "admission_rate_per_s": snapshot.admission_rate_per_s,
        "drain_seconds": snapshot.drain_ms.map(|ms| ms.div_ceil(1000)),
    }))
}

/// Schedules a new opening: a new queue whose pre-queue starts and opens at the given instants.
pub async fn admin_open(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(body): ApiJson<crate::waiting::OpeningSpec>,
) -> Result<Response, ApiError> {
    let queue = QueueId(state.gate.queue_id().0 + 1);
    let opening = body
        .to_opening(queue)
        .map_err(|e| ApiError::bad_request(e.code(), e.code(), format!("Invalid opening: {e}")))?;
    state
        .gate
        .schedule(opening, now_ms(&state))
        .map_err(gate_error)?;
    tracing::info!(queue = queue.0, "opening scheduled");
    Ok((StatusCode::CREATED, Json(json!({ "queue": queue.0 }))).into_response())
}

/// The waiting page: a few KB of HTML that refreshes itself (no JavaScript needed), says where
/// the person stands, and lets them in when their turn comes.
pub async fn wait_page(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (lang, remember) = crate::pages::negotiate(&uri, &headers);
    let session = session_id(&headers);
    let (ticket, status, fresh) = match held_ticket(&state, &headers, session) {
        Some((ticket, status)) => (ticket, status, None),
        None => {
            let session = session.unwrap_or_else(|| SessionId::random(&mut rand::rng()));
            let (ticket, status) = new_ticket(&state, session).await?;
            (ticket, status, Some(session))
        }
    };
    let mut pass = None;
    if status.is_admitted()
        && let Some(session) = fresh.or(session)
        && let Ok(Exchange::Pass { token, .. }) =
            state.gate.exchange(now_ms(&state), &ticket, &session)
    {
        pass = Some(token);
    }
    let here = uri.path_and_query().map_or("/wait", |pq| pq.as_str());
    let html = crate::pages::waiting(&status_json(&state, &status), lang, pass.is_some(), here);
    let refresh_s = status.poll_after_ms().div_ceil(1000).max(1);
    let mut response = crate::pages::html(html, remember);
    if pass.is_none()
        && let Ok(value) = HeaderValue::from_str(&refresh_s.to_string())
    {
        response.headers_mut().insert("refresh", value);
    }
    if let Some(session) = fresh {
        set_cookie(
            &mut response,
            SESSION_ID_COOKIE,
            &URL_SAFE_NO_PAD.encode(session.0),
            86_400,
        );
        set_cookie(&mut response, TICKET_COOKIE, &ticket, 86_400);
    }
    if let Some(pass) = pass {
        let ttl_s = state.gate.opening().pass_ttl_ms() / 1000;
        set_cookie(&mut response, PASS_COOKIE, &pass, ttl_s);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::Rank;

    /// The status answer is serialized from a struct on the hot path; its bytes must be exactly
    /// those of the JSON object the other endpoints build from the same fields.
    #[test]
    fn status_bytes_match_the_json_object() {
        let statuses = [
            Status::Admitted { rank: Rank(41) },
            Status::Waiting {
                rank: Rank(7),
                position: 3,
                people_ahead: 2,
                eta_ms: Some(1_001),
                poll_after_ms: 500,
            },
            Status::Waiting {
                rank: Rank(7),
                position: 3,
                people_ahead: 2,
                eta_ms: None,
                poll_after_ms: 500,
            },
            Status::BeforeOpening {
                opens_at_ms: 1_626_692_400_000,
                poll_after_ms: 30_000,
            },
        ];
        let at = |ms: u64| {
            jiff::Timestamp::from_millisecond(ms as i64)
                .map(|t| t.to_string())
                .ok()
        };
        for status in statuses {
            let expected = match status {
                Status::Admitted { rank } => {
                    json!({ "queue": 2, "state": "admitted", "number": rank.0 + 1, "position": 0, "people_ahead": 0, "poll_after_ms": 0 })
                }
                Status::Waiting {
                    rank,
                    position,
                    people_ahead,
                    eta_ms,
                    poll_after_ms,
                } => json!({
                    "queue": 2, "state": "waiting", "number": rank.0 + 1, "position": position, "people_ahead": people_ahead,
                    "eta_seconds": eta_ms.map(|ms| ms.div_ceil(1000)), "poll_after_ms": poll_after_ms,
                }),
                Status::BeforeOpening {
                    opens_at_ms,
                    poll_after_ms,
                } => json!({
                    "queue": 2, "state": "before_opening", "opens_at": at(opens_at_ms), "poll_after_ms": poll_after_ms,
                }),
            };
            let body = status_body(QueueId(2), &status);
            assert_eq!(
                serde_json::to_vec(&body).unwrap(),
                serde_json::to_vec(&expected).unwrap()
            );
            assert_eq!(serde_json::to_value(&body).unwrap(), expected);
        }
    }
}
