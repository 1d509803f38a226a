use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use store::writer::Health;

/// How long the database may take to answer readiness's query before it counts as down.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/healthz` answers. Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({ "clinics": 3, "now": "2021-07-26T11:00:05Z", "status": "ok" }))]
pub struct Liveness {
    pub clinics: usize,
    #[schema(value_type = String, format = DateTime)]
    pub now: String,
    /// `ok`, or `writer_stopped` (503).
    #[schema(value_type = String)]
    pub status: &'static str,
}

/// What `/readyz` answers, ready or not. Fields in alphabetical order, as the JSON object it
/// replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub database: DatabaseReadiness,
    pub notifications: NotificationReadiness,
    /// `ready` or `not_ready`.
    #[schema(value_type = String)]
    pub status: &'static str,
    pub writer: WriterReadiness,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DatabaseReadiness {
    /// Checkpoints failing in a row (SQLite); none on PostgreSQL.
    pub checkpoint_failing: Option<u64>,
    pub ok: bool,
    /// `answering`, `failing` or `timeout`.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// The write-ahead log's size (SQLite); none on PostgreSQL.
    pub wal_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationReadiness {
    pub ok: bool,
    /// How long the delivery worker has not reported.
    pub silent_ms: Option<u64>,
    /// `running`, `disabled`, `starting`, `stalled` or `outbox_unreadable`.
    #[schema(value_type = String)]
    pub state: &'static str,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WriterReadiness {
    /// This node's part in writing: `role`, `holder`, `holder_address`, `holder_live`, `epoch`
    /// and `forwarded` counts.
    #[schema(value_type = Object)]
    pub ledger: serde_json::Value,
    pub ok: bool,
    pub queue_depth: u64,
    /// `ready`, a storage fault's code, or `stopped`.
    #[schema(value_type = String)]
    pub state: &'static str,
}

/// Liveness: the process answers HTTP and its writer thread lives — the one part that never
/// comes back by itself (restart the process when this fails). Storage faults the service
/// recovers from on its own are readiness's business, not a reason to restart.
#[utoipa::path(
    get,
    path = "/healthz",
    tags = ["system"],
    summary = "Liveness: the process answers and its writer thread lives (503 `writer_stopped` otherwise: restart it)",
    responses(
        (status = 200, description = "OK", body = Liveness),
        (status = 503, description = "The writer thread stopped: restart the process", body = Liveness),
    )
)]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let alive = state.writer.health() != Health::Stopped;
    let body = Json(Liveness {
        clinics: state.world.clinics.len(),
        now: state.clock.now().to_string(),
        status: if alive { "ok" } else { "writer_stopped" },
    });
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
#[utoipa::path(
    get,
    path = "/readyz",
    tags = ["system"],
    summary = "Readiness for a load balancer: the writer takes writes (or, on a PostgreSQL standby, forwards them to the ledger's live holder), the database answers, the notification worker runs",
    description = "200 with `status: ready`, or 503 with `status: not_ready`; either way `writer.state` (`ready`, `storage_full`, `storage_failed`, `ledger_stale`, `standby`, `stopped`), `database.state` (`answering`, `failing`, `timeout`; with `checkpoint_failing` and `wal_bytes`) and `notifications.state` (`running`, `disabled`, `starting`, `stalled`, `outbox_unreadable`) say which part is not ready. `writer.ledger` is this node's part in writing: `role` (`holder`: writes every part itself, `forwarding`: forwards the writes of some or all parts to their live holders and is ready, `standby`: some part has no live holder to forward to, not ready, `only_node` on SQLite), `holder`, `holder_address`, `holder_live`, `epoch` (of home, the part people and messages are written by), `parts` (each part's `holder`, `epoch`, `holder_live`, whether this node is `writing` it, `queued`), and `forwarded` counts (`answered`, `unreachable`, `lost`). The service recovers from storage faults by itself; readiness follows.",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: the body says which part", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let writer = state.writer.health();
    let database = ping_database(&state).await;
    let notifications = state
        .notify_health
        .state(state.config.deliver_notifications);
    let checkpoints = state.reader.checkpoint_stats();
    let checkpoint = |read: fn(&store::CheckpointStats) -> u64| checkpoints.map(read);
    // A node takes bookings when it writes each part of the ledger itself or forwards it to a
    // live holder.
    let writes = state.forwarding.writes_every_part(&state.writer);
    let ready = writes && database.is_ok() && notifications.ok();
    let body = Json(Readiness {
        database: DatabaseReadiness {
            checkpoint_failing: checkpoint(|c| c.failing.load(Ordering::Relaxed)),
            ok: database.is_ok(),
            state: database.err().unwrap_or("answering"),
            wal_bytes: checkpoint(|c| c.wal_bytes.load(Ordering::Relaxed)),
        },
        notifications: NotificationReadiness {
            ok: notifications.ok(),
            silent_ms: state
                .notify_health
                .silent_for()
                .map(|d| d.as_millis() as u64),
            state: notifications.code(),
        },
        status: if ready { "ready" } else { "not_ready" },
        writer: WriterReadiness {
            ledger: crate::forward::relay::describe(&state),
            ok: writes,
            queue_depth: state.writer.stats().queued.load(Ordering::Relaxed),
            state: writer_state(writer),
        },
    });
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

#[utoipa::path(
    get,
    path = "/metrics",
    tags = ["system"],
    summary = "Prometheus metrics (OpenMetrics text)",
    responses(
        (status = 200, description = "metrics", content_type = "application/openmetrics-text", body = String),
    )
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        {
            state.metrics.observe_forwarding(&state.forwarding);
            state.metrics.observe_code_texts(&state.codes.counts);
            if let Some(checkpoints) = state.reader.checkpoint_stats() {
                state.metrics.observe_checkpoints(checkpoints);
            }
            state.metrics.render(
                &state
                    .gate
                    .snapshot(state.clock.now().as_millisecond().max(0) as u64),
                &state.gate.people(),
                state.gate.replica(),
                &state.load,
            )
        },
    )
}

pub async fn not_found() -> ApiError {
    ApiError::not_found()
}
