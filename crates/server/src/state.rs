//! What every request handler can reach ([`AppState`]), what it is built from ([`Config`]),
//! and the two helpers every handler over it shares: the identity session's extractor and a
//! storage read off the async workers.

use crate::clock::Clock;
use crate::error::ApiError;
use crate::identity::{self, IdentityConfig, IdentityStandIn};
use crate::secrets::{self, Secrets};
use crate::session::IdentitySession;
use crate::{dashboard, forward, metrics, notify, operator, shell, waiting, world};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use store::writer::{Writer, WriterConfig};

/// Everything the service needs to start; built from flags and environment by the binary, or
/// directly by tests.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Load the demo world on first start (and reveal identity codes: never in production).
    pub demo: bool,
    pub writer: WriterConfig,
    pub identity: IdentityConfig,
    /// Days ahead that can be booked (dose 2 included).
    pub calendar_days: u16,
    /// How long a session lasts after an identity check.
    pub session_minutes: i64,
    /// Whether the notification worker delivers messages (tests may read the outbox instead).
    pub deliver_notifications: bool,
    /// Identity codes' texts that may wait for the SMS gateway before new checks are refused
    /// (`notify::codes::QUEUE_MAX`).
    pub code_texts_queue: usize,
    pub gate: waiting::GateConfig,
    /// Bearer token for operator endpoints; generated into the data directory when absent.
    pub operator_token: Option<String>,
    /// An opening to hold (from `--opening FILE`); kept as is across restarts.
    pub opening: Option<waiting::OpeningSpec>,
    /// Mark every cookie `Secure` (served over HTTPS). Also done per request when a proxy
    /// sends `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// Where notifications go: this gateway URL, or (when absent) `DATA_DIR/outbox.jsonl`.
    pub notify_webhook: Option<String>,
    /// The site's address as people reach it (for links in texts); `http://LISTEN` when unset.
    pub public_url: Option<String>,
    /// Where the registration-number key lives, when not in `DATA_DIR/secrets.key`.
    pub rrn_key: Option<secrets::RrnKeySource>,
    /// The identity stand-in's subscriber records (the carriers' side of the check). Seeded
    /// with the demo people in `--demo` mode and from `--subscribers FILE`; shared, so tests
    /// can add the people they use.
    pub subscribers: Arc<identity::MemoryRegistry>,
    /// A `postgres://` URL to store everything in PostgreSQL; `None` for the embedded SQLite
    /// file `DATA_DIR/yeyak.db`. Keys and the notification log stay in the data directory.
    pub database: Option<String>,
    /// On PostgreSQL: the parts the ledger is cut into, one writer thread (and connection)
    /// each on the node that holds them (`domain::partition`); every node of a database alike.
    pub ledger_parts: u16,
    /// On PostgreSQL: the most connections each of this node's read pools holds (two pools:
    /// the reads', the waiting room's), so every node's together fit the database's limit.
    pub database_read_connections: usize,
    /// Timeouts, connection and request caps, and the shutdown deadline.
    pub limits: shell::Limits,
    /// Load balancers whose `X-Forwarded-For` names the client (see
    /// [`crate::http::forwarded_client`]); none by default, so the TCP peer is the client.
    pub trusted_proxies: std::sync::Arc<[ipnet::IpNet]>,
    /// On PostgreSQL: where the other nodes reach this one (`http://host:port`) to forward
    /// writes while it holds the ledger. `None`: they cannot, and answer writes 503 meanwhile.
    pub advertise: Option<String>,
    /// Threads of the booking side's own runtime: everything but the waiting room's front door
    /// and the health probes runs there, so booking work never holds up the async workers that
    /// answer the front door (`app::router`). 0: the booking side's share of the cores
    /// (`shell::Threads::for_cores`).
    pub booking_threads: usize,
}

impl Config {
    /// The site's address for links in texts.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            demo: false,
            writer: WriterConfig::default(),
            identity: IdentityConfig::default(),
            calendar_days: 120,
            session_minutes: 30,
            deliver_notifications: true,
            code_texts_queue: crate::notify::codes::QUEUE_MAX,
            gate: waiting::GateConfig::default(),
            operator_token: None,
            notify_webhook: None,
            public_url: None,
            opening: None,
            secure_cookies: false,
            rrn_key: None,
            subscribers: Arc::new(identity::MemoryRegistry::default()),
            database: None,
            ledger_parts: 1,
            database_read_connections: store::postgres::MAX_READ_CONNECTIONS,
            limits: shell::Limits::default(),
            trusted_proxies: std::sync::Arc::from(Vec::new()),
            advertise: None,
            booking_threads: 0,
        }
    }
}

/// What every request handler can reach.
pub struct AppState {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub secrets: Secrets,
    pub world: world::World,
    pub writer: Writer,
    /// Reads and set-up on the configured backend (SQLite unless `Config::database` names one).
    pub reader: Arc<dyn store::Store>,
    pub identity: IdentityStandIn,
    pub metrics: metrics::Metrics,
    pub gate: Arc<waiting::Gate>,
    pub operator: operator::OperatorToken,
    /// The operators' dashboard history, fed by [`crate::background::sample_forever`].
    pub series: dashboard::Series,
    /// Connections and requests the HTTP shell is carrying.
    pub load: shell::Load,
    /// What the notification worker last did, for `/readyz`.
    pub notify_health: notify::WorkerHealth,
    /// Identity codes on their way to the gateway, from memory (`notify::codes`).
    pub codes: notify::codes::CodeTexts,
    /// Writes this node forwards to the ledger's holder (PostgreSQL, several nodes).
    pub forwarding: forward::Forwarding,
    /// The booking side's runtime, set by [`serve`]; without it (a router used on its own, as
    /// the fuzz targets do) every request runs where it arrived.
    pub booking_runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Each person's leftover-alert changes this hour (`routes::leftovers::ALERT_CHANGES`).
    pub alert_changes: std::sync::Mutex<crate::rate::Counter<domain::booking::PersonId>>,
}

/// The person a request acts for, proven by a session token (bearer header or cookie).
pub struct Authenticated(pub IdentitySession);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = crate::credentials::identity_token(&parts.headers)
            .ok_or_else(ApiError::unauthenticated)?;
        IdentitySession::verify(&token, &state.secrets, state.clock.now())
            .map(Authenticated)
            .map_err(|_| ApiError::unauthenticated())
    }
}

/// Runs a storage read that looks up a few rows by key (a person, their bookings, a booking, a
/// staff token). When the store answers such reads from a local file
/// ([`store::ReadStore::reads_are_local`]: SQLite, tens of microseconds from its page cache),
/// the read runs right here, on the booking side's worker: sending it to the blocking pool and
/// back cost more than the read itself (a thread woken each way; the opening-night profile,
/// bench/booking-reads.md). The front door never calls this: it runs on workers of its own and
/// reads no storage. A network store's read is a round trip and goes to the blocking pool.
pub async fn read_by_key<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&dyn store::Store) -> store::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    if state.reader.reads_are_local() {
        return f(state.reader.as_ref()).map_err(ApiError::from);
    }
    read(state, f).await
}

/// Runs a blocking storage read off the async workers.
pub async fn read<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&dyn store::Store) -> store::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let reader = Arc::clone(&state.reader);
    tokio::task::spawn_blocking(move || f(reader.as_ref()))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::from)
}
