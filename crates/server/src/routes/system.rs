use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use store::writer::Health;

pub const OPENAPI: &str = include_str!("../openapi.json");

/// How long the database may take to answer readiness's query before it counts as down.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process answers HTTP and its writer thread lives — the one part that never
/// comes back by itself (restart the process when this fails). Storage faults the service
/// recovers from on its own are readiness's business, not a reason to restart.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let alive = state.writer.health() != Health::Stopped;
    let body = Json(json!({
        "status": if alive { "ok" } else { "writer_stopped" },
        "clinics": state.world.clinics.len(),
        "now": state.clock.now().to_string(),
    }));
    let status = if alive {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, no_store(), body).into_response()
}

/// Readiness, for a load balancer: 200 while the writer takes writes (or, on a standby, forwards
/// them to the ledger's live holder), the database answers and the notification worker runs;
/// 503 otherwise. Either way the JSON says which part is not.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let writer = state.writer.health();
    let database = ping_database(&state).await;
    let notifications = state
        .notify_health
        .state(state.config.deliver_notifications);
    let checkpoints = state.reader.checkpoint_stats();
    let checkpoint = |read: fn(&store::CheckpointStats) -> u64| checkpoints.map(read);
    // A standby that forwards its writes to a live holder takes bookings as well as it does.
    let forwarding = state.forwarding.target(&state.writer).is_some();
    let writes = writer == Health::Ready || forwarding;
    let ready = writes && database.is_ok() && notifications.ok();
    let body = Json(json!({
        "status": if ready { "ready" } else { "not_ready" },
        "writer": {
            "ok": writes,
            "state": writer_state(writer),
            "queue_depth": state.writer.stats().queued.load(Ordering::Relaxed),
            "ledger": crate::forward::relay::describe(&state),
        },
        "database": {
            "ok": database.is_ok(),
            "state": database.err().unwrap_or("answering"),
            "checkpoint_failing": checkpoint(|c| c.failing.load(Ordering::Relaxed)),
            "wal_bytes": checkpoint(|c| c.wal_bytes.load(Ordering::Relaxed)),
        },
        "notifications": {
            "ok": notifications.ok(),
            "state": notifications.code(),
            "silent_ms": state.notify_health.silent_for().map(|d| d.as_millis() as u64),
        },
    }));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, no_store(), body).into_response()
}

fn writer_state(health: Health) -> &'static str {
    match health {
        Health::Ready => "ready",
        Health::Failing(fault) => fault.code(),
        Health::Stopped => "stopped",
    }
}

/// One small query on a pooled read connection, within [`DATABASE_TIMEOUT`].
async fn ping_database(state: &AppState) -> Result<(), &'static str> {
    let reader = Arc::clone(&state.reader);
    let ping = tokio::task::spawn_blocking(move || reader.ping());
    match tokio::time::timeout(DATABASE_TIMEOUT, ping).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            Err("failing")
        }
        Ok(Err(_)) => Err("failing"),
        Err(_) => Err("timeout"),
    }
}

fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        {
            state.metrics.observe_forwarding(&state.forwarding);
            if let Some(checkpoints) = state.reader.checkpoint_stats() {
                state.metrics.observe_checkpoints(checkpoints);
            }
            state.metrics.render(
                &state
                    .gate
                    .snapshot(state.clock.now().as_millisecond().max(0) as u64),
                &state.gate.people(),
                &state.load,
            )
        },
    )
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub async fn not_found() -> ApiError {
    ApiError::not_found()
}
