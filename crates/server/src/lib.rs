//! yeyak's HTTP shell: the JSON API, the background workers, and the wiring that turns a
//! [`Config`] into a running service. Only this crate knows HTTP and JSON.

pub mod clock;
pub mod credentials;
pub mod dashboard;
pub mod error;
pub mod forward;
pub mod identity;
pub mod metrics;
pub mod notify;
pub mod operator;
pub mod pages;
pub mod routes;
pub mod secrets;
pub mod security;
pub mod session;
pub mod shell;
pub mod staff;
pub mod waiting;
pub mod world;

/// The parsers of outside input that live inside route modules, reachable for the fuzz targets
/// in `fuzz/` (not an interface for anything else).
#[doc(hidden)]
pub mod parsers {
    pub use crate::routes::supply::{DeliveryLine, parse_csv};
}

use clock::Clock;
use identity::{IdentityConfig, IdentityStandIn};
use secrets::Secrets;
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
    /// Timeouts, connection and request caps, and the shutdown deadline.
    pub limits: shell::Limits,
    /// On PostgreSQL: where the other nodes reach this one (`http://host:port`) to forward
    /// writes while it holds the ledger. `None`: they cannot, and answer writes 503 meanwhile.
    pub advertise: Option<String>,
    /// Threads of the booking side's own runtime: everything but the waiting room's front door
    /// and the health probes runs there, so booking work never holds up the async workers that
    /// answer the front door (`routes::booking_side_apart`). 0: as many as there are cores.
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
            gate: waiting::GateConfig::default(),
            operator_token: None,
            notify_webhook: None,
            public_url: None,
            opening: None,
            secure_cookies: false,
            rrn_key: None,
            subscribers: Arc::new(identity::MemoryRegistry::default()),
            database: None,
            limits: shell::Limits::default(),
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
    /// The operators' dashboard history, fed by [`dashboard::sample_forever`].
    pub series: dashboard::Series,
    /// Connections and requests the HTTP shell is carrying.
    pub load: shell::Load,
    /// What the notification worker last did, for `/readyz`.
    pub notify_health: notify::WorkerHealth,
    /// Writes this node forwards to the ledger's holder (PostgreSQL, several nodes).
    pub forwarding: forward::Forwarding,
    /// The booking side's runtime, set by [`serve`]; without it (a router used on its own, as
    /// the fuzz targets do) every request runs where it arrived.
    pub booking_runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("stored settings are unreadable: {0}")]
    Settings(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Opens the database, loads (or seeds) the world, starts the writer and returns the state.
pub fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Arc<AppState>, StartError> {
    let data_dir_error = |source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    };
    secrets::private_dir(&config.data_dir).map_err(data_dir_error)?;
    let mut rng = rand::rng();
    let secrets = Secrets::load_with(&config.data_dir, config.rrn_key.as_ref(), &mut rng)?;
    let now = clock.now();
    // The waiting room's record has a file of its own on either backend: a booking transaction
    // holding the main database's write lock must never hold up the front door.
    let queue_path = config.data_dir.join("queue.db");
    secrets::private_file(&queue_path).map_err(data_dir_error)?;
    let (writer, reader, world, queue_file, lease) = match &config.database {
        None => {
            let database = config.data_dir.join("yeyak.db");
            secrets::private_file(&database).map_err(data_dir_error)?;
            let (backend, reader) = store::sqlite::open(&database)?;
            let queue_file = store::sqlite::QueueFile::open(&queue_path, Some(&reader))?;
            let (writer, reader, world) = start_writer(&config, now, backend, Arc::new(reader))?;
            (writer, reader, world, queue_file, None)
        }
        Some(url) => {
            let options = store::postgres::Options {
                address: config.advertise.clone(),
                ..store::postgres::Options::default()
            };
            let (backend, reader) = store::postgres::open_with(url, options)?;
            let lease = backend.lease_view();
            let queue_file = store::sqlite::QueueFile::open(&queue_path, None)?;
            let (writer, reader, world) = start_writer(&config, now, backend, Arc::new(reader))?;
            (writer, reader, world, queue_file, Some(lease))
        }
    };
    let identity_config = IdentityConfig {
        reveal_codes: config.demo || config.identity.reveal_codes,
        ..config.identity
    };
    if config.demo {
        world::seed_demo_subscribers(&config.subscribers);
    }
    let registry: Arc<dyn identity::SubscriberRegistry> = config.subscribers.clone();
    let identity = IdentityStandIn::new(identity_config, secrets.rrn_key(), registry);
    let keyring = waiting::load_keyring(&config.data_dir, now.as_second(), &mut rng)?;
    let queue_store: Arc<dyn store::QueueStore> = Arc::new(queue_file);
    let now_ms = now.as_millisecond().max(0) as u64;
    let gate = Arc::new(waiting::Gate::open(
        queue_store,
        keyring,
        config.gate,
        now_ms,
    )?);
    if let Some(spec) = config.opening {
        let scheduled = gate
            .ensure_opening(spec, now_ms)
            .map_err(|e| StartError::Settings(format!("the configured opening: {e}")))?;
        if let Some(queue) = scheduled {
            tracing::info!(queue = queue.0, "configured opening scheduled");
        }
    }
    gate.start_refiller(Arc::clone(&clock))
        .map_err(|e| StartError::Settings(format!("cannot start the queue-block thread: {e}")))?;
    let operator = operator::OperatorToken::load_or_create(
        &config.data_dir,
        config.operator_token.clone(),
        &mut rng,
    )?;
    Ok(Arc::new(AppState {
        gate,
        operator,
        series: dashboard::Series::default(),
        load: shell::Load::default(),
        notify_health: notify::WorkerHealth::default(),
        forwarding: forward::Forwarding::new(lease.clone(), secrets.token_key()),
        booking_runtime: std::sync::OnceLock::new(),
        metrics: metrics::Metrics::new(writer.clone(), lease),
        config,
        clock,
        secrets,
        world,
        writer,
        reader,
        identity,
    }))
}

/// Stops the booking side's runtime without waiting, wherever it is dropped (an async context
/// too: `serve`'s future may be dropped by its caller's runtime).
struct BookingRuntime(Option<tokio::runtime::Runtime>);

impl Drop for BookingRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The booking side's runtime: `threads` workers (0: one per core), named so a profile shows
/// which side did the work.
fn booking_runtime(threads: usize) -> Result<tokio::runtime::Runtime, StartError> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(2, usize::from),
        n => n,
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("yeyak-booking")
        .enable_all()
        .build()
        .map_err(|e| StartError::Settings(format!("cannot start the booking runtime: {e}")))
}

/// Seeds the demo world if asked, loads the world, and starts the writer on `backend`.
fn start_writer<B: store::WriteBackend>(
    config: &Config,
    now: jiff::Timestamp,
    backend: B,
    reader: Arc<dyn store::Store>,
) -> Result<(Writer, Arc<dyn store::Store>, world::World), StartError> {
    if config.demo {
        world::seed_demo(reader.as_ref(), now)?;
    }
    let (world, ledger) = world::load(reader.as_ref(), now, config.calendar_days)?;
    let writer = Writer::spawn(backend, ledger, config.writer)?;
    Ok((writer, reader, world))
}

/// Builds the service and serves it until `shutdown` resolves, then drains it within
/// [`shell::Limits::shutdown_grace`]. Returns the bound address through `bound` as soon as the
/// listener is up (port 0 picks a free port).
pub async fn serve(
    config: Config,
    clock: Arc<dyn Clock>,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let listen = config.listen;
    let state = build(config, clock)?;
    let runtime = booking_runtime(state.config.booking_threads)?;
    let _ = state.booking_runtime.set(runtime.handle().clone());
    let booking = BookingRuntime(Some(runtime));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: listen,
        source,
    })?;
    tokio::spawn(waiting::tick_forever(
        Arc::clone(&state.gate),
        Arc::clone(&state.clock),
    ));
    tokio::spawn(dashboard::sample_forever(Arc::downgrade(&state)));
    tokio::spawn(waiting::text_forever(Arc::downgrade(&state)));
    tokio::spawn(world::follow_the_clock(Arc::downgrade(&state)));
    if state.config.deliver_notifications {
        let sender = notify::Sender::from_config(
            &state.config.data_dir,
            state.config.notify_webhook.as_deref(),
        );
        tokio::spawn(notify::deliver_forever(Arc::downgrade(&state), sender));
    }
    tracing::info!(%addr, clinics = state.world.clinics.len(), "yeyak is listening");
    if let Some(bound) = bound {
        let _ = bound.send(addr);
    }
    let router = routes::router(Arc::clone(&state));
    shell::serve(listener, router, state, shutdown).await;
    // Drained: every booking-side request was answered (or cut) before `shell::serve` returned.
    drop(booking);
    tracing::info!("stopped");
    Ok(())
}
