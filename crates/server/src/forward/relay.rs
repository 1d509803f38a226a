//! What a node does with [`super::Forwarding`]: the middleware that sends a standby's writes to
//! the ledger's holder, the holder's routes that take them (signed, never forwarded again), the
//! plain writes an identity check sends, and what readiness says about this node's part.
//! Apart from the client because it reads the app state, which holds the client.

use super::*;
use crate::error::WrittenElsewhere;
use crate::state::AppState;
use crate::text::errors;

fn now_ms(state: &AppState) -> i64 {
    state.clock.now().as_millisecond()
}

/// The booking side's writes: what goes through the writer there. Identity checks are not
/// here: they finish on the node that holds the code, and forward only their write.
fn booking_write(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && (path.starts_with("/api/v1/bookings")
            || path.starts_with("/api/v1/leftovers")
            || path == "/api/v1/queue/leftover-alerts")
}

/// Staff writes that go through the writer: agents', clinics', and the operators' supply and
/// staff changes (openings and priority lists are this node's own, not the ledger's).
fn staff_write(method: &Method, path: &str) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        && (path.starts_with("/api/v1/agent/")
            || path.starts_with("/api/v1/clinic/")
            || path.starts_with("/api/v1/admin/deliveries")
            || path.starts_with("/api/v1/admin/supply-changes")
            || path.starts_with("/api/v1/admin/staff"))
}

/// Middleware on the booking side, inside the pass check: a standby forwards the writes.
pub async fn booking_writes(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if !booking_write(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    forward_or_run(&state, request, next, PREFIX, crate::http::BODY_MAX).await
}

/// Middleware around the staff routes: a standby forwards their writes, unchanged; the holder
/// checks the staff member's token itself.
pub async fn staff_writes(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if !staff_write(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    forward_or_run(&state, request, next, "", crate::http::DELIVERIES_BODY_MAX).await
}

/// A write on PostgreSQL: sent to the holder at once when this node stands by for the whole
/// ledger; otherwise run here, and sent to the holder of its part when that part's writer here
/// stood by (the answer carries [`WrittenElsewhere`]: nothing of it was done here). On SQLite,
/// or a request another node forwarded (never forwarded again), run here.
async fn forward_or_run(
    state: &Arc<AppState>,
    request: Request,
    next: Next,
    prefix: &str,
    body_max: usize,
) -> Response {
    let already_forwarded = request.headers().contains_key(SIGNATURE);
    if already_forwarded || state.forwarding.leases().is_empty() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, body_max).await else {
        return ApiError::rejection(StatusCode::PAYLOAD_TOO_LARGE).into_response();
    };
    if let Some(target) = state.forwarding.target(&state.writer) {
        let here = || Request::from_parts(parts.clone(), Body::from(body.clone()));
        return send_or_answer(state, &target, prefix, &parts, body.clone(), || {
            next.run(here())
        })
        .await;
    }
    let answer = next
        .run(Request::from_parts(parts.clone(), Body::from(body.clone())))
        .await;
    let elsewhere = answer.extensions().get::<WrittenElsewhere>().copied();
    let Some(target) =
        elsewhere.and_then(|WrittenElsewhere(part)| state.forwarding.holder_of(part))
    else {
        return answer;
    };
    send_or_answer(state, &target, prefix, &parts, body, || async { answer }).await
}

/// Sends a write to `target` and answers with its answer; when nothing reached it, with
/// `here`'s (this node's own refusal: 503, nothing done).
async fn send_or_answer<F: std::future::Future<Output = Response>>(
    state: &AppState,
    target: &Target,
    prefix: &str,
    parts: &Parts,
    body: Bytes,
    here: impl FnOnce() -> F,
) -> Response {
    let sent = state
        .forwarding
        .send(target, prefix, parts, body, now_ms(state))
        .await;
    match state.forwarding.count(sent, target) {
        Ok(answer) => answer,
        Err(Failed::Unreachable) => here().await,
        Err(Failed::Lost | Failed::Refused(_)) => ApiError::timed_out(5).into_response(),
    }
}

/// Middleware on the holder's forwarded routes: only another node's signed requests.
pub async fn require_forwarded(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let full = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let path = full.strip_prefix(PREFIX).unwrap_or(full);
    if !state
        .forwarding
        .signed(request.method(), path, request.headers(), now_ms(&state))
    {
        tracing::warn!(
            path,
            "refused a forwarded request: not signed by a node with our key"
        );
        return Err(not_forwarded());
    }
    Ok(next.run(request).await)
}

fn not_forwarded() -> ApiError {
    ApiError::forbidden(errors::NOT_FORWARDED)
}

/// Sends a plain write to the holder of `part`. No holder, or none reachable: nothing was
/// written (`Unavailable(Standby)`, as a writer standing by says); sent but no answer: `Lost`.
async fn forward_plain(
    state: &AppState,
    part: Part,
    write: &PlainWrite,
    now_ms: i64,
) -> Result<PlainAnswer, WriteError> {
    match state.forwarding.plain(part, write, now_ms).await {
        Some(Ok(answer)) => Ok(answer),
        Some(Err(Failed::Unreachable)) | None => Err(WriteError::Unavailable(Fault::Standby)),
        Some(Err(Failed::Lost | Failed::Refused(_))) => Err(WriteError::Lost),
    }
}

/// Finds or creates a person on this node's writer, or, when it stands by, on the holder's.
pub async fn ensure_person(
    state: &AppState,
    person: EnsurePerson,
    now_ms: i64,
) -> Result<EnsuredPerson, WriteError> {
    let write = PlainWrite::ensure_person(&person);
    match state.writer.ensure_person(person, None, now_ms).await {
        Err(WriteError::Elsewhere(part)) => {
            let answer = forward_plain(state, part, &write, now_ms).await?;
            // A holder that wrote the person names them; without a name the outcome is unknown.
            let id = answer.person.ok_or(WriteError::Lost)?;
            Ok(EnsuredPerson {
                id: domain::booking::PersonId(id),
                created: answer.created,
            })
        }
        other => other,
    }
}

/// `POST /api/internal/v1/writes` on the holder (behind [`require_forwarded`]): a plain write
/// another node made.
pub async fn plain_write(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    let bytes = axum::body::to_bytes(request.into_body(), crate::http::BODY_MAX)
        .await
        .map_err(|_| ApiError::rejection(StatusCode::PAYLOAD_TOO_LARGE))?;
    let invalid = || ApiError::rejection(StatusCode::BAD_REQUEST);
    let write: PlainWrite = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let now_ms = now_ms(&state);
    let answer = match write.decode().ok_or_else(invalid)? {
        Decoded::EnsurePerson(person) => {
            let ensured = state.writer.ensure_person(person, None, now_ms).await?;
            PlainAnswer {
                person: Some(ensured.id.0),
                created: ensured.created,
            }
        }
        Decoded::Audit(entry) => {
            state.writer.audit(entry, now_ms).await?;
            PlainAnswer {
                person: None,
                created: false,
            }
        }
    };
    Ok(axum::Json(answer).into_response())
}

/// Writes an audit line on this node's writer of home, or, when it stands by, on home's holder.
pub async fn audit(state: &AppState, entry: AuditEntry, now_ms: i64) -> Result<(), WriteError> {
    let write = PlainWrite::Audit(entry.clone());
    match state.writer.audit(entry, now_ms).await {
        Err(WriteError::Elsewhere(part)) => {
            forward_plain(state, part, &write, now_ms).await?;
            Ok(())
        }
        other => other,
    }
}

/// What `/readyz` and the operators' view say about this node's part in writing.
pub fn describe(state: &AppState) -> serde_json::Value {
    let Some(lease) = state.forwarding.lease() else {
        return serde_json::json!({ "role": "only_node" });
    };
    let holder = lease.holder();
    let leases = state.forwarding.leases();
    let role = if leases.iter().all(|lease| lease.held().is_some()) {
        "holder"
    } else if state.forwarding.writes_every_part(&state.writer) {
        "forwarding"
    } else {
        "standby"
    };
    let parts: Vec<_> = state
        .writer
        .parts()
        .map(|(part, stats)| {
            let holder = leases
                .get(usize::from(part.index()))
                .and_then(|lease| lease.holder());
            serde_json::json!({
                "part": part.index(),
                "writing": stats.health() == store::writer::Health::Ready,
                "queued": stats.queued.load(Ordering::Relaxed),
                "holder": holder.as_ref().map(|h| &h.owner),
                "epoch": holder.as_ref().map(|h| h.epoch),
                "holder_live": holder.as_ref().map(|h| h.live),
            })
        })
        .collect();
    serde_json::json!({
        "role": role,
        "parts": parts,
        "holder": holder.as_ref().map(|h| &h.owner),
        "holder_address": holder.as_ref().and_then(|h| h.address.as_ref()),
        "holder_live": holder.as_ref().map(|h| h.live),
        "epoch": holder.as_ref().map(|h| h.epoch),
        "forwarded": {
            "answered": state.forwarding.answered.load(Ordering::Relaxed),
            "unreachable": state.forwarding.unreachable.load(Ordering::Relaxed),
            "lost": state.forwarding.lost.load(Ordering::Relaxed),
        },
    })
}
