//! The waiting room over HTTP: arrive, poll, exchange an admitted ticket for a pass; the pass
//! check in front of every booking-side route; the operator's view and openings; and a
//! server-rendered waiting page that works without JavaScript.

use super::ApiJson;
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
use queue::{Exchange, QueueId, Status, TokenError, WaitingSessionId};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::credentials::{self, Names, PASS, TICKET, WAITING_SESSION};

/// The ticket's cookie (the waiting page reads it).
pub const TICKET_COOKIE: &str = TICKET.cookie;

/// A credential from its `X-Yeyak-…` header (apps) or its cookie (browsers).
fn credential(headers: &HeaderMap, names: &Names) -> Option<String> {
    credentials::presented(headers, names).map(Cow::into_owned)
}

pub(crate) fn session_id(headers: &HeaderMap) -> Option<WaitingSessionId> {
    let text = credential(headers, &WAITING_SESSION)?;
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    Some(WaitingSessionId(bytes.try_into().ok()?))
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
fn signed_in_person(state: &AppState, headers: &HeaderMap) -> Option<u64> {
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
        people_ahead_eligible: u64,
        poll_after_ms: u64,
        position: u64,
        queue: u32,
        state: &'static str,
        verified_ahead: u64,
    },
    BeforeOpening {
        opens_at: Option<String>,
        poll_after_ms: u64,
        queue: u32,
        state: &'static str,
    },
}

/// `eligible_share`: of the people who verified while waiting, the share eligible now
/// ([`crate::waiting::Gate::eligible_share`]): applied to the unverified places ahead, it makes
/// `people_ahead_eligible`, the honest estimate of people ahead who can book.
fn status_body(queue: QueueId, status: &Status, eligible_share: f64) -> StatusBody {
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
            verified_ahead,
            eta_ms,
            poll_after_ms,
        } => StatusBody::Waiting {
            eta_seconds: eta_ms.map(|ms| ms.div_ceil(1000)),
            number: rank.0 + 1,
            people_ahead,
            people_ahead_eligible: verified_ahead
                + ((people_ahead - verified_ahead) as f64 * eligible_share).round() as u64,
            poll_after_ms,
            position,
            queue,
            state: "waiting",
            verified_ahead,
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
    serde_json::to_value(status_body(
        state.gate.queue_id(),
        status,
        state.gate.eligible_share(),
    ))
    .unwrap_or(Value::Null)
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age_s: u64) {
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The ticket this request already holds, if it is valid for the current queue and session.
/// A ticket that is not valid (or whose place passed on) is none: the request is a new arrival,
/// at the back. A person already let in on another session is refused rather than given a new
/// ticket.
fn held_ticket(
    state: &AppState,
    headers: &HeaderMap,
    session: Option<WaitingSessionId>,
) -> Result<Option<(String, Status)>, ApiError> {
    let (Some(ticket), Some(session)) = (credential(headers, &TICKET), session) else {
        return Ok(None);
    };
    match state.gate.exchange(now_ms(state), &ticket, &session) {
        Ok(Exchange::NotYet(status)) => Ok(Some((ticket, status))),
        Ok(Exchange::Pass { pass, .. }) => Ok(Some((ticket, Status::Admitted { rank: pass.rank }))),
        Err(error @ GateError::PersonHasPass) => Err(gate_error(error)),
        Err(_) => Ok(None),
    }
}

/// How long an arrival waits for numbers being reserved ahead before it is refused with a 503.
/// Reservation is one small durable write; waiting longer means the disk is stalled.
const NUMBERS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Issues a ticket from numbers already durably reserved, on the async worker (memory only),
/// with a session of its own: a session holds one ticket, so a client that drops its ticket and
/// asks again gets a new session too (and its identity limits start over only as far as the
/// per-address ones allow). Counted against the client's address first. If no number is at
/// hand, waits up to [`NUMBERS_WAIT`] for the reservation thread, never for a lock held across
/// a write.
async fn new_ticket(
    state: &Arc<AppState>,
    address: std::net::IpAddr,
) -> Result<(WaitingSessionId, String, Status), ApiError> {
    state
        .gate
        .may_mint(now_ms(state), address)
        .map_err(gate_error)?;
    let session = WaitingSessionId::random(&mut rand::rng());
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
            answer => {
                let (ticket, status) = answer.map_err(gate_error)?;
                return Ok((session, ticket, status));
            }
        }
    }
}

/// Takes a place in the queue, or, with a valid ticket already, returns that same place.
pub async fn arrive(
    State(state): State<Arc<AppState>>,
    super::ClientAddress(address): super::ClientAddress,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let existing_session = session_id(&headers);
    if let Some((ticket, status)) = held_ticket(&state, &headers, existing_session)? {
        let mut body = status_json(&state, &status);
        body["ticket"] = ticket.into();
        return Ok(Json(body).into_response());
    }
    let (session, ticket, status) = new_ticket(&state, address).await?;
    let session_text = URL_SAFE_NO_PAD.encode(session.0);
    let mut body = status_json(&state, &status);
    body["ticket"] = ticket.clone().into();
    body["session"] = session_text.clone().into();
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    set_cookie(&mut response, WAITING_SESSION.cookie, &session_text, 86_400);
    set_cookie(&mut response, TICKET.cookie, &ticket, 86_400);
    Ok(response)
}

fn ticket_of(headers: &HeaderMap) -> Result<Cow<'_, str>, ApiError> {
    credentials::presented(headers, &TICKET).ok_or_else(|| {
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
    serde_json::to_writer(
        &mut body,
        &status_body(queue, &status, state.gate.eligible_share()),
    )
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
            set_cookie(&mut response, PASS.cookie, &token, ttl_s);
            Ok(response)
        }
        Exchange::NotYet(status) => {
            Ok((StatusCode::ACCEPTED, Json(status_json(&state, &status))).into_response())
        }
    }
}

/// The ticket a waiting request holds for its own session, or a clear refusal.
fn waiting_ticket(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(String, WaitingSessionId), ApiError> {
    let ticket = ticket_of(headers)?.into_owned();
    let session = session_id(headers).ok_or_else(|| token_error(TokenError::WrongSession))?;
    state
        .gate
        .ticket_of(&ticket, &session)
        .map_err(gate_error)?;
    Ok((ticket, session))
}

/// `POST /api/v1/queue/verify/start`: the identity check for someone waiting (before the
/// opening or in the line): their ticket stands in for a pass. The check's own limits (per
/// phone, number, session, address) apply as on the booking side.
pub async fn verify_start(
    State(state): State<Arc<AppState>>,
    super::identity::Asker(who): super::identity::Asker,
    headers: HeaderMap,
    ApiJson(body): ApiJson<super::identity::StartRequest>,
) -> Result<Response, ApiError> {
    waiting_ticket(&state, &headers)?;
    let claim = super::identity::parse_claim(body.name(), body.rrn(), body.phone(), &state)?;
    let body = super::identity::start_check(&state, claim, who).await?;
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// What the person learned by verifying while waiting.
pub enum Verdict {
    /// Eligible in this opening: the ticket re-issued for them, one place however many tickets.
    Placed { ticket: String, status: Status },
    /// Their cohort does not open in this opening: told at once, with their own window, and no
    /// place taken.
    Ineligible { eligibility: Value },
}

/// Completes the identity check of a waiting ticket: decides the person's eligibility for this
/// opening (at the opening instant on the server clock, or now once it has passed) and either
/// places them in the draw of verified people or turns them away with their window. Also
/// signs them in, so at their turn they go straight to search and booking.
pub async fn verify_waiting(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    who: crate::identity::Requester,
    body: &super::identity::VerifyRequest,
) -> Result<(Verdict, String, String), ApiError> {
    let (ticket, session) = waiting_ticket(state, headers)?;
    let (person, _) = super::identity::finish_check(state, body, who).await?;
    let record = super::eligibility::person_record(state, person).await?;
    let facts =
        super::eligibility::facts(state, person, record.birth_date, record.rrn_hash).await?;
    let now = state.clock.now();
    let opens_at = i64::try_from(state.gate.opening().opens_at_ms())
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .filter(|&at| at > now)
        .unwrap_or(now);
    let decision = domain::eligibility::decide(&facts, &state.world.rules(), opens_at);
    let (_, token, cookie) = super::identity::session_for(state, person);
    if !decision.is_eligible() {
        state.gate.count_ineligible();
        let mut eligibility = super::eligibility::decision_json(&decision);
        if let domain::eligibility::Decision::NotYet { opens_at, .. } = &decision {
            // Their own window, in Seoul time as they will read it.
            eligibility["opens_at_kst"] = domain::time::in_seoul(*opens_at)
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
                .into();
        }
        return Ok((Verdict::Ineligible { eligibility }, token, cookie));
    }
    let gate = Arc::clone(&state.gate);
    let now_ms = now_ms(state);
    let (ticket, status) =
        tokio::task::spawn_blocking(move || gate.verify(now_ms, &ticket, &session, person.0))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(gate_error)?;
    Ok((Verdict::Placed { ticket, status }, token, cookie))
}

/// `POST /api/v1/queue/verify`: the code of a waiting person's identity check.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    super::identity::Asker(who): super::identity::Asker,
    headers: HeaderMap,
    ApiJson(body): ApiJson<super::identity::VerifyRequest>,
) -> Result<Response, ApiError> {
    let (verdict, token, cookie) = verify_waiting(&state, &headers, who, &body).await?;
    let mut response = match verdict {
        Verdict::Placed { ticket, status } => {
            let mut body = status_json(&state, &status);
            body["verified"] = true.into();
            body["ticket"] = ticket.clone().into();
            body["session_token"] = token.into();
            let mut response = Json(body).into_response();
            set_ticket_cookie(&mut response, &ticket);
            response
        }
        Verdict::Ineligible { eligibility } => {
            let body = json!({
                "state": "ineligible",
                "queue": state.gate.queue_id().0,
                "eligibility": eligibility,
                "session_token": token,
            });
            let mut response = Json(body).into_response();
            // No place: the ticket is given up.
            set_ticket_cookie(&mut response, "");
            response
        }
    };
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /api/v1/queue/text-me`: "leave and we'll text you". A verified waiting person may
/// close the page: when their turn comes, a text to their verified phone (through the outbox)
/// carries a link back, and their place is held for the return window from then.
pub async fn text_me(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (ticket, session) = waiting_ticket(&state, &headers)?;
    state.gate.text_me(&ticket, &session).map_err(gate_error)?;
    let minutes = state.gate.return_window_ms() / 60_000;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "state": "will_text", "return_window_minutes": minutes })),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
pub struct ReturnQuery {
    s: String,
    t: String,
}

/// `GET /wait/return?s=SESSION&t=TICKET`: the link in the text. Restores the session and the
/// ticket in the browser it is opened in, then the waiting page lets them in (or, after the
/// return window, says their place passed on).
pub async fn wait_return(
    State(state): State<Arc<AppState>>,
    axum::extract::Query(back): axum::extract::Query<ReturnQuery>,
) -> Result<Response, ApiError> {
    let session = URL_SAFE_NO_PAD
        .decode(back.s.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(WaitingSessionId)
        .ok_or_else(|| token_error(TokenError::Malformed))?;
    state
        .gate
        .ticket_of(&back.t, &session)
        .map_err(gate_error)?;
    let mut response = axum::response::Redirect::to("/wait").into_response();
    set_cookie(&mut response, WAITING_SESSION.cookie, &back.s, 86_400);
    set_ticket_cookie(&mut response, &back.t);
    Ok(response)
}

/// `POST /api/v1/agent/queue`: an agent puts the caller they identified (the person token) into
/// the same queue as everyone, under the same rules: one place per person, drawn with the
/// verified during the pre-queue. Asked again (the agent's page reloads), it answers the same
/// place. While an opening is held the agent books for the caller only once that place is let in.
pub async fn agent_queue(
    State(state): State<Arc<AppState>>,
    axum::Extension(super::agent::AgentActor(actor)): axum::Extension<super::agent::AgentActor>,
    super::Authenticated(session): super::Authenticated,
) -> Result<Response, ApiError> {
    let gate = Arc::clone(&state.gate);
    let now = now_ms(&state);
    let (ticket, status) = tokio::task::spawn_blocking(move || {
        gate.queue_caller(now, &actor, session.person.0, &mut rand::rng())
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(gate_error)?;
    let mut body = status_json(&state, &status);
    body["ticket"] = ticket.into();
    Ok(Json(body).into_response())
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
        "people": state.gate.people(),
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
    super::ClientAddress(address): super::ClientAddress,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (lang, remember) = crate::pages::negotiate(&uri, &headers);
    let session = session_id(&headers);
    let (ticket, status, fresh) = match held_ticket(&state, &headers, session)? {
        Some((ticket, status)) => (ticket, status, None),
        None => {
            let (session, ticket, status) = new_ticket(&state, address).await?;
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
    let mut shown = status_json(&state, &status);
    let verified = fresh
        .or(session)
        .and_then(|session| state.gate.ticket_of(&ticket, &session).ok())
        .is_some_and(|t| t.verified.is_some());
    shown["verified"] = verified.into();
    shown["texting"] = fresh
        .or(session)
        .is_some_and(|session| state.gate.texting(&session))
        .into();
    let html = crate::pages::waiting(&shown, lang, pass.is_some(), here);
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
            WAITING_SESSION.cookie,
            &URL_SAFE_NO_PAD.encode(session.0),
            86_400,
        );
        set_cookie(&mut response, TICKET.cookie, &ticket, 86_400);
    }
    if let Some(pass) = pass {
        let ttl_s = state.gate.opening().pass_ttl_ms() / 1000;
        set_cookie(&mut response, PASS.cookie, &pass, ttl_s);
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
                verified_ahead: 1,
                eta_ms: Some(1_001),
                poll_after_ms: 500,
            },
            Status::Waiting {
                rank: Rank(7),
                position: 3,
                people_ahead: 2,
                verified_ahead: 0,
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
                    verified_ahead,
                    eta_ms,
                    poll_after_ms,
                } => json!({
                    "queue": 2, "state": "waiting", "number": rank.0 + 1, "position": position, "people_ahead": people_ahead,
                    "eta_seconds": eta_ms.map(|ms| ms.div_ceil(1000)), "poll_after_ms": poll_after_ms,
                    "verified_ahead": verified_ahead,
                    // Half of the unverified place ahead, rounded.
                    "people_ahead_eligible": verified_ahead + (people_ahead - verified_ahead).div_ceil(2),
                }),
                Status::BeforeOpening {
                    opens_at_ms,
                    poll_after_ms,
                } => json!({
                    "queue": 2, "state": "before_opening", "opens_at": at(opens_at_ms), "poll_after_ms": poll_after_ms,
                }),
            };
            let body = status_body(QueueId(2), &status, 0.5);
            assert_eq!(
                serde_json::to_vec(&body).unwrap(),
                serde_json::to_vec(&expected).unwrap()
            );
            assert_eq!(serde_json::to_value(&body).unwrap(), expected);
        }
    }
}
