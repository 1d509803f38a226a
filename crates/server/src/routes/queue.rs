//! The waiting room over HTTP: arrive, poll, exchange an admitted ticket for a pass; the pass
//! check in front of every booking-side route; the operator's view and openings; and a
//! server-rendered waiting page that works without JavaScript.

use super::pass::{
    credential, gate_error, now_ms, session_id, set_cookie, set_ticket_cookie, token_error,
};
use crate::credentials::{self, PASS, TICKET, WAITING_SESSION};
use crate::error::ApiError;
use crate::http::{ApiJson, Headers};
use crate::staff::Operator;
use crate::state::AppState;
use crate::text::errors::{self, Words};
use crate::waiting::GateError;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use queue::{Exchange, QueueId, Status, TokenError, WaitingSessionId};
use std::borrow::Cow;
use std::sync::Arc;

/// Where a ticket stands, as the API answers it. Serialized straight to bytes on the hot path
/// (`GET /queue/status`); the fields are in alphabetical order so the bytes are exactly those of
/// the same fields in a JSON object (whose keys serde_json keeps sorted). Each shape has a
/// `state` of its own type, so the document gives each its one value and a client (or a
/// validator) tells them apart by it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StatusBody {
    Admitted {
        number: u64,
        people_ahead: u64,
        poll_after_ms: u64,
        position: u64,
        queue: u32,
        state: AdmittedState,
    },
    Waiting {
        #[schema(required = true)]
        eta_seconds: Option<u64>,
        number: u64,
        people_ahead: u64,
        people_ahead_eligible: u64,
        /// With `?province=`: places left there over the next days, and whether they may run
        /// out before this person's turn ([`Nearby`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        places_left_nearby: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        places_may_run_out: Option<bool>,
        poll_after_ms: u64,
        position: u64,
        queue: u32,
        state: WaitingState,
        verified_ahead: u64,
    },
    BeforeOpening {
        #[schema(value_type = Option<String>, format = DateTime, required = true)]
        opens_at: Option<jiff::Timestamp>,
        poll_after_ms: u64,
        queue: u32,
        state: BeforeOpeningState,
    },
}

// The states of the waiting room's answers, one type each (a one-value enum in the document).

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdmittedState {
    Admitted,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitingState {
    Waiting,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BeforeOpeningState {
    BeforeOpening,
}

/// Verified, but their cohort does not open in this opening.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IneligibleState {
    Ineligible,
}

/// They will be texted at their turn.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WillTextState {
    WillText,
}

/// A ticket already held, and where it stands (`POST /queue/arrive` again, `POST /agent/queue`):
/// the status's fields with the ticket's beside them. Serialized straight from the struct (a
/// reload is a fifth of an opening night's requests): no `serde_json::Value` tree on the way.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HeldTicket {
    #[serde(flatten)]
    pub status: StatusBody,
    pub ticket: String,
}

/// A new ticket with the new session it belongs to (also set as cookies).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NewTicket {
    #[serde(flatten)]
    pub status: StatusBody,
    pub session: String,
    pub ticket: String,
}

/// An admitted ticket's pass (also set as the yeyak_pass cookie).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PassIssued {
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub expires_at: Option<String>,
    pub pass: String,
    pub state: AdmittedState,
}

/// The answer to a waiting person's identity check: placed in the draw, or not in this opening.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum WaitingVerified {
    Placed(Placed),
    NotInThisOpening(NotInThisOpening),
}

/// Eligible in this opening: their ticket re-issued for them (also the yeyak_ticket cookie),
/// signed in (`session_token`, also the yeyak_identity cookie).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Placed {
    #[serde(flatten)]
    pub status: StatusBody,
    pub session_token: String,
    pub ticket: String,
    /// Always true.
    pub verified: bool,
}

/// Their cohort does not open in this opening: their own window, and no place (the ticket
/// cookie is cleared). Signed in all the same.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NotInThisOpening {
    pub eligibility: super::eligibility::DecisionView,
    pub queue: u32,
    pub session_token: String,
    pub state: IneligibleState,
}

/// "Leave and we'll text you", accepted: the place is held this long from the text.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TextAccepted {
    pub return_window_minutes: u64,
    pub state: WillTextState,
}

/// Places left in the province a waiting person chose, against how many of the people ahead
/// of them will likely book there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearby {
    /// Places left in the province over the next days (`dashboard::CAPACITY_DAYS`), as last
    /// sampled: the lesser of staff places and doses, per clinic and day.
    pub places_left: u64,
    /// The province's share of the country's residents.
    pub population_share: f64,
}

impl Nearby {
    /// The province's places as the dashboard last sampled them (`None` before the first
    /// sample or for an unknown code).
    pub fn in_province(state: &AppState, code: u8) -> Option<Nearby> {
        let (places_left, population_share) = state.series.province(code)?;
        Some(Nearby {
            places_left,
            population_share,
        })
    }

    /// People ahead who will likely book in this province: the eligible people ahead (verified,
    /// plus the honest estimate for the unverified), in the province's share of the residents
    /// (where the people ahead live is not known; where residents live is).
    pub fn ahead_here(&self, people_ahead_eligible: u64) -> u64 {
        (people_ahead_eligible as f64 * self.population_share).ceil() as u64
    }

    /// "Places may run out before your turn": no more places left there than people ahead
    /// who will likely take them.
    pub fn may_run_out(&self, people_ahead_eligible: u64) -> bool {
        self.places_left <= self.ahead_here(people_ahead_eligible)
    }
}

/// `eligible_share`: of the people who verified while waiting, the share eligible now
/// ([`crate::waiting::Gate::eligible_share`]): applied to the unverified places ahead, it makes
/// `people_ahead_eligible`, the honest estimate of people ahead who can book. `nearby`: the
/// province the person chose, for the stock warning.
fn status_body(
    queue: QueueId,
    status: &Status,
    eligible_share: f64,
    nearby: Option<Nearby>,
) -> StatusBody {
    let queue = queue.0;
    match *status {
        // "number" is the person's place in the whole line (1-based); it never changes.
        Status::Admitted { rank } => StatusBody::Admitted {
            number: rank.0 + 1,
            people_ahead: 0,
            poll_after_ms: 0,
            position: 0,
            queue,
            state: AdmittedState::Admitted,
        },
        Status::Waiting {
            rank,
            position,
            people_ahead,
            verified_ahead,
            eta_ms,
            poll_after_ms,
        } => {
            let people_ahead_eligible = verified_ahead
                + ((people_ahead - verified_ahead) as f64 * eligible_share).round() as u64;
            StatusBody::Waiting {
                eta_seconds: eta_ms.map(|ms| ms.div_ceil(1000)),
                number: rank.0 + 1,
                people_ahead,
                people_ahead_eligible,
                places_left_nearby: nearby.map(|n| n.places_left),
                places_may_run_out: nearby.map(|n| n.may_run_out(people_ahead_eligible)),
                poll_after_ms,
                position,
                queue,
                state: WaitingState::Waiting,
                verified_ahead,
            }
        }
        Status::BeforeOpening {
            opens_at_ms,
            poll_after_ms,
        } => StatusBody::BeforeOpening {
            opens_at: jiff::Timestamp::from_millisecond(opens_at_ms as i64).ok(),
            poll_after_ms,
            queue,
            state: BeforeOpeningState::BeforeOpening,
        },
    }
}

/// Where `status` stands in the current queue (no province asked).
fn status_of(state: &AppState, status: &Status) -> StatusBody {
    status_body(
        state.gate.queue_id(),
        status,
        state.gate.eligible_share(),
        None,
    )
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
#[utoipa::path(
    post,
    path = "/api/v1/queue/arrive",
    tags = ["waiting room"],
    summary = "Join the waiting room, or get your place back with the ticket you hold (reload, reconnect, another tab) A new ticket always comes with a new session (a session holds one ticket) and counts against the client address's 1,200 a minute (429 too_many_tickets with Retry-After).",
    params(
        crate::routes::doc::WaitingSessionHeader,
        crate::routes::doc::TicketHeader,
    ),
    responses(
        (status = 201, description = "New ticket and session (also set as cookies yeyak_waiting and yeyak_ticket)", body = NewTicket),
        (status = 200, description = "Your existing ticket and place", body = HeldTicket),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
    )
)]
pub async fn arrive(
    State(state): State<Arc<AppState>>,
    crate::http::ClientAddress(address): crate::http::ClientAddress,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let existing_session = session_id(&headers);
    if let Some((ticket, status)) = held_ticket(&state, &headers, existing_session)? {
        let held = HeldTicket {
            status: status_of(&state, &status),
            ticket,
        };
        return Ok(Json(held).into_response());
    }
    let (session, ticket, status) = new_ticket(&state, address).await?;
    let session_text = URL_SAFE_NO_PAD.encode(session.0);
    let new = NewTicket {
        status: status_of(&state, &status),
        session: session_text.clone(),
        ticket: ticket.clone(),
    };
    let mut response = (StatusCode::CREATED, Json(new)).into_response();
    set_cookie(&mut response, WAITING_SESSION.cookie, &session_text, 86_400);
    set_cookie(&mut response, TICKET.cookie, &ticket, 86_400);
    Ok(response)
}

fn ticket_of(headers: &impl Headers) -> Result<Cow<'_, str>, ApiError> {
    credentials::presented(headers, &TICKET)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, errors::TICKET_REQUIRED))
}

/// Where a waiting person polls.
pub const STATUS_PATH: &str = "/api/v1/queue/status";

/// Position, people ahead, ETA and when to ask again. No storage access.
/// This is the path every waiting person polls, so it allocates little: the ticket is borrowed
/// from the header and the answer is serialized straight from a small struct into one buffer.
/// `?province=NN` (a KOSTAT province code the person chose) adds the places left there and
/// whether they may run out before the person's turn, from the dashboard's last sample.
#[utoipa::path(
    get,
    path = "/api/v1/queue/status",
    tags = ["waiting room"],
    summary = "Where you stand: position, people ahead, ETA, and when to ask again (the server chooses)",
    params(
        crate::routes::doc::WaitingSessionHeader,
        crate::routes::doc::TicketHeader,
        ("province" = Option<u8>, Query, description = "KOSTAT province code of where the person would be vaccinated (11 Seoul, 21 Busan, …). A waiting answer then adds places_left_nearby (places left there over the next 7 days) and places_may_run_out (no more places than the people ahead who will likely book there: the eligible people ahead in the province's share of the residents). Unknown codes are ignored."),
    ),
    responses(
        (status = 200, description = "Where the ticket stands", body = StatusBody),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
    )
)]
pub async fn status(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    // The request itself rather than a `HeaderMap` extractor, which would copy every header.
    status_answer(&state, request.headers(), request.uri().query())
}

/// Where the ticket these headers carry stands: the handler above. The shell answers a plain
/// status poll before the router (`shell::front_door`, `shell::plain_poll`) with the same
/// [`status_json`] under the same [`status_headers`], so both answer alike.
pub fn status_answer(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    Ok((status_headers(), status_json(state, headers, query)?).into_response())
}

/// The JSON body of a status answer: [`status_answer`]'s, without the answer around it.
pub fn status_json(
    state: &AppState,
    headers: &impl Headers,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let ticket = ticket_of(headers)?;
    let (queue, status) = state
        .gate
        .status_in_queue(now_ms(state), &ticket)
        .map_err(gate_error)?;
    let nearby = province_asked(query).and_then(|code| Nearby::in_province(state, code));
    let mut body = Vec::with_capacity(200);
    serde_json::to_writer(
        &mut body,
        &status_body(queue, &status, state.gate.eligible_share(), nearby),
    )
    .map_err(|_| ApiError::internal())?;
    Ok(body)
}

/// The headers of every status answer (the same for every ticket; the security headers are
/// added on top, by the router or by `shell::front_door`).
pub fn status_headers() -> [(HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

/// The province code in a status poll's query (`province=11`), if any and well formed. An
/// unknown or malformed one is ignored: the answer is the plain status, never an error that
/// would stop the page from showing the person's place.
pub fn province_asked(query: Option<&str>) -> Option<u8> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("province="))
        .and_then(|code| code.parse().ok())
}

/// An admitted ticket becomes a pass bound to this browser session.
#[utoipa::path(
    post,
    path = "/api/v1/queue/exchange",
    tags = ["waiting room"],
    summary = "Exchange an admitted ticket for a pass bound to this session (also set as the yeyak_pass cookie) The pass names the verified person of a verified ticket; a second pass for the same person is refused while the first was used in the last 5 minutes (409 person_has_pass).",
    params(
        crate::routes::doc::WaitingSessionHeader,
        crate::routes::doc::TicketHeader,
    ),
    responses(
        (status = 200, description = "Admitted: the pass", body = PassIssued),
        (status = 202, description = "Not yet: where the ticket stands", body = StatusBody),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 409, response = crate::routes::doc::Refused),
        (status = 410, response = crate::routes::doc::Refused),
    )
)]
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
            let issued = PassIssued {
                expires_at: expires,
                pass: token.clone(),
                state: AdmittedState::Admitted,
            };
            let mut response = Json(issued).into_response();
            let ttl_s = state.gate.opening().pass_ttl_ms() / 1000;
            set_cookie(&mut response, PASS.cookie, &token, ttl_s);
            Ok(response)
        }
        Exchange::NotYet(status) => {
            Ok((StatusCode::ACCEPTED, Json(status_of(&state, &status))).into_response())
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
#[utoipa::path(
    post,
    path = "/api/v1/queue/verify/start",
    tags = ["waiting room"],
    summary = "Identity check while waiting (before the opening or in the line): the same one-time-code check as /api/v1/identity/start, with the ticket and session instead of a pass. Its limits apply (429 identity_rate_limited).",
    params(
        crate::routes::doc::WaitingSessionHeader,
        crate::routes::doc::TicketHeader,
    ),
    request_body = crate::routes::identity::StartRequest,
    responses(
        (status = 202, description = "Code sent", body = crate::routes::identity::CheckStarted),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
    )
)]
pub async fn verify_start(
    State(state): State<Arc<AppState>>,
    super::identity::Asker(who): super::identity::Asker,
    headers: HeaderMap,
    ApiJson(body): ApiJson<super::identity::StartRequest>,
) -> Result<Response, ApiError> {
    waiting_ticket(&state, &headers)?;
    let claim = super::identity::parse_claim(body.name(), body.rrn(), body.phone(), &state)?;
    let body = super::identity::start_check(&state, claim, who, None)?;
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// What the person learned by verifying while waiting.
pub enum Verdict {
    /// Eligible in this opening: the ticket re-issued for them, one place however many tickets.
    Placed { ticket: String, status: Status },
    /// Their cohort does not open in this opening: told at once, with their own window, and no
    /// place taken.
    Ineligible {
        eligibility: super::eligibility::DecisionView,
    },
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
    let (_, facts) = super::eligibility::person_facts(state, person).await?;
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
        let mut eligibility = super::eligibility::DecisionView::of(&decision);
        if let domain::eligibility::Decision::NotYet { opens_at, .. } = &decision {
            // Their own window, in Seoul time as they will read it.
            eligibility.opens_at_kst = Some(
                domain::time::in_seoul(*opens_at)
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string(),
            );
        }
        return Ok((Verdict::Ineligible { eligibility }, token, cookie));
    }
    let (ticket, status) = state
        .gate
        .verify_waiting(now_ms(state), &ticket, &session, person.0)
        .await
        .map_err(gate_error)?;
    Ok((Verdict::Placed { ticket, status }, token, cookie))
}

/// `POST /api/v1/queue/verify`: the code of a waiting person's identity check.
#[utoipa::path(
    post,
    path = "/api/v1/queue/verify",
    tags = ["waiting room"],
    summary = "Complete the identity check of a waiting ticket. Signs the person in (session_token and the yeyak_identity cookie). When their cohort opens in this opening, the ticket is re-issued for them (also as the yeyak_ticket cookie): during the pre-queue it carries their draw number, one per person, so every ticket they verify shows the same place, ahead of every unverified ticket. Otherwise they are told their own window and take no place.",
    params(
        crate::routes::doc::WaitingSessionHeader,
        crate::routes::doc::TicketHeader,
    ),
    request_body = crate::routes::identity::VerifyRequest,
    responses(
        (status = 200, description = "Placed in the draw, or not in this opening (state ineligible)", body = WaitingVerified),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, description = "ticket_other_person: the ticket was verified for someone else; or a token error", body = crate::error::ErrorBody),
        (status = 410, response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
    )
)]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    super::identity::Asker(who): super::identity::Asker,
    headers: HeaderMap,
    ApiJson(body): ApiJson<super::identity::VerifyRequest>,
) -> Result<Response, ApiError> {
    let (verdict, token, cookie) = verify_waiting(&state, &headers, who, &body).await?;
    let mut response = match verdict {
        Verdict::Placed { ticket, status } => {
            let placed = WaitingVerified::Placed(Placed {
                status: status_of(&state, &status),
                session_token: token,
                ticket: ticket.clone(),
                verified: true,
            });
            let mut response = Json(placed).into_response();
            set_ticket_cookie(&mut response, &ticket);
            response
        }
        Verdict::Ineligible { eligibility } => {
            let turned_away = WaitingVerified::NotInThisOpening(NotInThisOpening {
                eligibility,
                queue: state.gate.queue_id().0,
                session_token: token,
                state: IneligibleState::Ineligible,
            });
            let mut response = Json(turned_away).into_response();
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
/// The typed core of `POST /api/v1/queue/text-me`: the waiting person's ticket will be
/// texted at its turn; the answer is how many minutes their place is held from then.
pub fn ask_text(state: &AppState, headers: &HeaderMap) -> Result<u64, ApiError> {
    let (ticket, session) = waiting_ticket(state, headers)?;
    state.gate.text_me(&ticket, &session).map_err(gate_error)?;
    Ok(state.gate.return_window_ms() / 60_000)
}

#[utoipa::path(
    post,
    path = "/api/v1/queue/text-me",
    tags = ["waiting room"],
    summary = "Leave and we'll text you: a verified waiting person may close the page. When the (stored) watermark passes their place, a text through the outbox to their verified phone carries a link (/wait/return) restoring their session and ticket; the place is held for the return window (10 minutes by default) from then, after which the ticket answers 410 place_passed_on and they rejoin at the back.",
    params(
        crate::routes::doc::WaitingSessionHeader,
        crate::routes::doc::TicketHeader,
    ),
    responses(
        (status = 202, description = "They will be texted at their turn", body = TextAccepted),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, description = "text_me_needs_verification, or a token error", body = crate::error::ErrorBody),
        (status = 503, description = "texting_full", body = crate::error::ErrorBody),
        (status = "default", response = crate::routes::doc::Refused),
    )
)]
pub async fn text_me(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let minutes = ask_text(&state, &headers)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TextAccepted {
            return_window_minutes: minutes,
            state: WillTextState::WillText,
        }),
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
#[utoipa::path(
    post,
    path = "/api/v1/agent/queue",
    tags = ["agents"],
    summary = "Agents: put the identified caller (Authorization: Bearer person_token) into the same queue under the same rules (one place per person, drawn with the verified during the pre-queue). Called again (the agent's reloads), it answers the same place. While an opening is held, booking for the caller is refused (409 caller_not_admitted) until the place is let in.",
    security(("staff" = [])),
    responses(
        (status = 200, description = "The caller's ticket and place", body = HeldTicket),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
    )
)]
pub async fn agent_queue(
    State(state): State<Arc<AppState>>,
    axum::Extension(super::agent::AgentActor(actor)): axum::Extension<super::agent::AgentActor>,
    crate::state::Authenticated(session): crate::state::Authenticated,
) -> Result<Response, ApiError> {
    let gate = Arc::clone(&state.gate);
    let now = now_ms(&state);
    let (ticket, status) = tokio::task::spawn_blocking(move || {
        gate.queue_caller(now, &actor, session.person.0, &mut rand::rng())
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(gate_error)?;
    let held = HeldTicket {
        status: status_of(&state, &status),
        ticket,
    };
    Ok(Json(held).into_response())
}

/// What operators see: arrivals, queued, admitted, active, admission rate, drain time.
#[utoipa::path(
    get,
    path = "/api/v1/admin/queue",
    tags = ["operators"],
    summary = "Operators: the waiting room live (arrivals, waiting, admitted, active, admission rate, drain time, and people: verified_people, verifications, unverified_tickets, ineligible_turned_away, tickets_refused, second_passes_refused)",
    security(("operator" = [])),
    responses(
        (status = 200, description = "snapshot", body = QueueView),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn admin_queue(State(state): State<Arc<AppState>>, _: Operator) -> Json<QueueView> {
    Json(queue_view(&state))
}

/// The waiting room as operators watch it. Fields in alphabetical order, as the JSON object it
/// replaced.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueueView {
    pub active: Option<u64>,
    pub admission_limit: Option<u64>,
    pub admission_rate_per_s: f64,
    pub admitted: u64,
    pub arrivals: u64,
    pub drain_seconds: Option<u64>,
    pub latency_p99_ms: Option<u32>,
    pub max_active: u32,
    /// None for a free-flowing queue (no opening).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<String>,
    pub people: crate::waiting::People,
    pub phase: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub prequeue_starts_at: Option<String>,
    pub queue: u32,
    pub queued: u64,
}

/// The waiting room now.
fn queue_view(state: &AppState) -> QueueView {
    let snapshot = state.gate.snapshot(now_ms(state));
    let opening = state.gate.opening();
    // A free-flowing queue has no opening: its instants are u64::MAX, shown as null (not as
    // the 1969 that a cast to i64 would make of them).
    let at = |ms: u64| {
        i64::try_from(ms)
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| t.to_string())
    };
    QueueView {
        active: snapshot.active,
        admission_limit: snapshot.limit,
        admission_rate_per_s: snapshot.admission_rate_per_s,
        admitted: snapshot.admitted,
        arrivals: snapshot.arrivals,
        drain_seconds: snapshot.drain_ms.map(|ms| ms.div_ceil(1000)),
        latency_p99_ms: snapshot.latency_p99_ms,
        max_active: opening.max_active(),
        opens_at: at(opening.opens_at_ms()),
        people: state.gate.people(),
        phase: format!("{:?}", snapshot.phase),
        prequeue_starts_at: at(opening.prequeue_starts_at_ms()),
        queue: opening.queue().0,
        queued: snapshot.queued,
    }
}

/// An opening just scheduled: its queue.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OpeningScheduled {
    pub queue: u32,
}

/// Schedules a new opening: a new queue whose pre-queue starts and opens at the given instants.
#[utoipa::path(
    post,
    path = "/api/v1/admin/openings",
    tags = ["operators"],
    summary = "Operators: schedule an opening (a new queue)",
    security(("operator" = [])),
    request_body = crate::waiting::OpeningSpec,
    responses(
        (status = 201, description = "{queue}", body = OpeningScheduled),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn admin_open(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(body): ApiJson<crate::waiting::OpeningSpec>,
) -> Result<Response, ApiError> {
    let queue = QueueId(state.gate.queue_id().0 + 1);
    let opening = body.to_opening(queue).map_err(|e| {
        // An operator's mistake, told in the rule's own terms (English only, as before).
        ApiError::bad_request(Words::from_rules(
            e.code(),
            e.code(),
            format!("Invalid opening: {e}"),
        ))
    })?;
    state
        .gate
        .schedule(opening, now_ms(&state))
        .map_err(gate_error)?;
    tracing::info!(queue = queue.0, "opening scheduled");
    let scheduled = OpeningScheduled { queue: queue.0 };
    Ok((StatusCode::CREATED, Json(scheduled)).into_response())
}

/// Where the person on the waiting page stands: the typed core of `GET /wait`, whose page is
/// `pages::wait`. Their held ticket, or a new one (with a session of its own); and when their
/// turn has come, the pass it was exchanged for.
pub struct WaitPlace {
    pub status: StatusBody,
    /// Verified while waiting: one place per person, in the draw ahead of unverified tickets.
    pub verified: bool,
    /// They asked to be texted at their turn.
    pub texting: bool,
    /// The pass, when their turn has come: the page lets them in instead of refreshing.
    pub pass: Option<String>,
    /// When the page should refresh itself, in seconds.
    pub refresh_s: u64,
    ticket: String,
    fresh: Option<WaitingSessionId>,
}

pub async fn wait_place(
    state: &Arc<AppState>,
    address: std::net::IpAddr,
    headers: &HeaderMap,
) -> Result<WaitPlace, ApiError> {
    let session = session_id(headers);
    let (ticket, status, fresh) = match held_ticket(state, headers, session)? {
        Some((ticket, status)) => (ticket, status, None),
        None => {
            let (session, ticket, status) = new_ticket(state, address).await?;
            (ticket, status, Some(session))
        }
    };
    let mut pass = None;
    if status.is_admitted()
        && let Some(session) = fresh.or(session)
        && let Ok(Exchange::Pass { token, .. }) =
            state.gate.exchange(now_ms(state), &ticket, &session)
    {
        pass = Some(token);
    }
    let verified = fresh
        .or(session)
        .and_then(|session| state.gate.ticket_of(&ticket, &session).ok())
        .is_some_and(|t| t.verified.is_some());
    let texting = fresh
        .or(session)
        .is_some_and(|session| state.gate.texting(&session));
    Ok(WaitPlace {
        status: status_body(
            state.gate.queue_id(),
            &status,
            state.gate.eligible_share(),
            None,
        ),
        verified,
        texting,
        pass,
        refresh_s: status.poll_after_ms().div_ceil(1000).max(1),
        ticket,
        fresh,
    })
}

impl WaitPlace {
    /// The cookies that keep the place: a new session and ticket, and the pass.
    pub fn set_cookies(&self, state: &AppState, response: &mut Response) {
        if let Some(session) = self.fresh {
            set_cookie(
                response,
                WAITING_SESSION.cookie,
                &URL_SAFE_NO_PAD.encode(session.0),
                86_400,
            );
            set_cookie(response, TICKET.cookie, &self.ticket, 86_400);
        }
        if let Some(pass) = &self.pass {
            let ttl_s = state.gate.opening().pass_ttl_ms() / 1000;
            set_cookie(response, PASS.cookie, pass, ttl_s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::Rank;
    use serde_json::json;

    /// One status of each kind, a waiting one with and one without an ETA.
    fn every_status() -> [Status; 4] {
        [
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
        ]
    }

    /// The status answer is serialized from a struct on the hot path; its bytes must be exactly
    /// those of the JSON object the other endpoints build from the same fields.
    #[test]
    fn status_bytes_match_the_json_object() {
        let statuses = every_status();
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
            let body = status_body(QueueId(2), &status, 0.5, None);
            assert_eq!(
                serde_json::to_vec(&body).unwrap(),
                serde_json::to_vec(&expected).unwrap()
            );
            assert_eq!(serde_json::to_value(&body).unwrap(), expected);
            // With a province asked, a waiting answer gains two fields, in the same order as
            // the JSON object's.
            let nearby = Nearby {
                places_left: 1,
                population_share: 0.5,
            };
            let body = status_body(QueueId(2), &status, 0.5, Some(nearby));
            let mut expected = expected;
            if expected["state"] == "waiting" {
                expected["places_left_nearby"] = 1.into();
                expected["places_may_run_out"] = true.into();
            }
            assert_eq!(
                serde_json::to_vec(&body).unwrap(),
                serde_json::to_vec(&expected).unwrap()
            );
        }
    }

    /// A ticket beside where it stands: the answer is the status's object with the ticket (the
    /// session, the identity) added to it, each field once (`#[serde(flatten)]`, which a field
    /// of the same name would silently duplicate).
    #[test]
    fn flattened_views_are_the_status_object_with_their_fields_added() {
        let statuses = every_status();
        for status in statuses {
            let body = status_body(QueueId(2), &status, 0.5, None);
            let object = serde_json::to_value(&body).unwrap_or_default();
            let with = |fields: &[(&str, serde_json::Value)]| {
                let mut object = object.clone();
                for (key, value) in fields {
                    object[*key] = value.clone();
                }
                object
            };
            let held = HeldTicket {
                status: body.clone(),
                ticket: "T".into(),
            };
            assert_eq!(object_of(&held), with(&[("ticket", "T".into())]));
            let new = NewTicket {
                status: body.clone(),
                session: "S".into(),
                ticket: "T".into(),
            };
            assert_eq!(
                object_of(&new),
                with(&[("ticket", "T".into()), ("session", "S".into())])
            );
            let placed = WaitingVerified::Placed(Placed {
                status: body.clone(),
                session_token: "I".into(),
                ticket: "T".into(),
                verified: true,
            });
            assert_eq!(
                object_of(&placed),
                with(&[
                    ("verified", true.into()),
                    ("ticket", "T".into()),
                    ("session_token", "I".into()),
                ])
            );
        }
    }

    /// The answer's JSON object, checked to write each key once.
    fn object_of<T: serde::Serialize>(view: &T) -> serde_json::Value {
        let text = serde_json::to_string(view).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        // As many `":` as the object and the objects in it have keys: none written twice.
        assert_eq!(
            text.matches("\":").count(),
            keys_in(&value),
            "a key written twice: {text}"
        );
        value
    }

    /// The keys of a JSON value and of every object inside it.
    fn keys_in(value: &serde_json::Value) -> usize {
        match value {
            serde_json::Value::Object(map) => map.len() + map.values().map(keys_in).sum::<usize>(),
            serde_json::Value::Array(items) => items.iter().map(keys_in).sum(),
            _ => 0,
        }
    }

    #[test]
    fn places_may_run_out_when_the_province_s_share_of_those_ahead_takes_them_all() {
        // Busan: about 6.5% of the residents; 8 places left over the next days.
        let busan = Nearby {
            places_left: 8,
            population_share: 0.065,
        };
        assert_eq!(busan.ahead_here(100), 7);
        assert!(
            !busan.may_run_out(100),
            "7 ahead there, 8 places: one is theirs"
        );
        assert_eq!(busan.ahead_here(108), 8);
        assert!(busan.may_run_out(108), "8 ahead there take the 8 places");
        assert!(!busan.may_run_out(0));
        let none_left = Nearby {
            places_left: 0,
            population_share: 0.065,
        };
        assert!(
            none_left.may_run_out(0),
            "nothing left: even the first may miss out"
        );
    }

    #[test]
    fn a_province_in_the_query_is_read_and_anything_else_ignored() {
        assert_eq!(province_asked(Some("province=26")), Some(26));
        assert_eq!(province_asked(Some("lang=en&province=11")), Some(11));
        assert_eq!(province_asked(Some("province=")), None);
        assert_eq!(province_asked(Some("province=999")), None);
        assert_eq!(province_asked(Some("province=x1")), None);
        assert_eq!(province_asked(Some("other=11")), None);
        assert_eq!(province_asked(None), None);
    }
}
