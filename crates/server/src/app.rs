//! The wiring: turns a [`Config`] into a running service (storage, writer, waiting room,
//! background tasks, the HTTP shell). The top of the crate: nothing in it is used by the modules
//! it wires.

mod router;

pub use router::router;

use crate::background;
use crate::clock::Clock;
use crate::identity::{self, IdentityConfig, IdentityStandIn};
use crate::secrets::{self, Secrets};
use crate::startup::StartError;
use crate::state::{AppState, Config};
use crate::{dashboard, forward, metrics, notify, operator, shell, waiting, world};
use domain::partition::Part;
use std::net::SocketAddr;
use std::sync::Arc;
use store::writer::Writer;

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
    // On SQLite the waiting room's record has a file of its own: a booking transaction holding
    // the main database's write lock must never hold up the front door. On PostgreSQL it is
    // shared by every node, on connections of its own (row locks: no booking holds it up).
    let (writer, reader, world, queue_store, shared) = match &config.database {
        None => {
            let queue_path = config.data_dir.join("queue.db");
            secrets::private_file(&queue_path).map_err(data_dir_error)?;
            let database = config.data_dir.join("yeyak.db");
            secrets::private_file(&database).map_err(data_dir_error)?;
            let (backend, reader) = store::sqlite::open(&database)?;
            let queue_file = store::sqlite::QueueFile::open(&queue_path, Some(&reader))?;
            let parts = vec![(Part::WHOLE, backend)];
            let (writer, reader, world) = start_writer(&config, now, parts, Arc::new(reader))?;
            let queue_store: Arc<dyn store::QueueStore> = Arc::new(queue_file);
            (writer, reader, world, queue_store, None)
        }
        Some(url) => {
            let options = store::postgres::Options {
                address: config.advertise.clone(),
                read_connections: config.database_read_connections,
                ..store::postgres::Options::default()
            };
            let node = options.node.clone();
            let (parts, reader) = open_parts(url, &options, config.ledger_parts)?;
            let leases: Vec<_> = parts.iter().map(|(_, part)| part.lease_view()).collect();
            let lease = leases[0].clone();
            let queue = reader.queue_store();
            let (writer, reader, world) = start_writer(&config, now, parts, Arc::new(reader))?;
            let queue_store: Arc<dyn store::QueueStore> = queue.clone();
            let shared = SharedRoom {
                node,
                lease,
                leases,
                queue,
            };
            (writer, reader, world, queue_store, Some(shared))
        }
    };
    let lease = shared.as_ref().map(|s| s.lease.clone());
    let secrets = match &shared {
        Some(s) => secrets.share_signing_keys(s.queue.as_ref(), &config.data_dir)?,
        None => secrets,
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
    let keyring = match &shared {
        Some(s) => waiting::load_shared_keyring(
            s.queue.as_ref(),
            &config.data_dir,
            now.as_second(),
            &mut rng,
        )?,
        None => waiting::load_keyring(&config.data_dir, now.as_second(), &mut rng)?,
    };
    let now_ms = now.as_millisecond().max(0) as u64;
    let gate = waiting::Gate::open(queue_store, keyring, config.gate, now_ms)?;
    let gate = Arc::new(match &shared {
        Some(s) => {
            let lease = s.lease.clone();
            gate.shared(waiting::Role::Shared {
                node: s.node.clone(),
                leads: Box::new(move || lease.held().is_some()),
            })
        }
        None => gate,
    });
    if let Some(s) = &shared {
        gate.start_key_reloader(s.queue.clone(), config.data_dir.clone(), Arc::clone(&clock))
            .map_err(|e| {
                StartError::Settings(format!("cannot start the queue-keys thread: {e}"))
            })?;
    }
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
        codes: notify::codes::CodeTexts::new(config.deliver_notifications, config.code_texts_queue),
        forwarding: forward::Forwarding::new(
            shared.as_ref().map_or_else(Vec::new, |s| s.leases.clone()),
            secrets.token_key(),
        ),
        booking_runtime: std::sync::OnceLock::new(),
        alert_changes: std::sync::Mutex::new(crate::rate::Counter::new(
            crate::routes::leftovers::ALERT_CHANGES,
        )),
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

/// What a node of several on PostgreSQL shares with the others for its waiting room.
struct SharedRoom {
    /// This node's name in the lease row and in its reports to the controller.
    node: String,
    /// The ledger's (home part's) lease: its holder runs the waiting room's controller too.
    lease: store::postgres::LeaseView,
    /// Each part's lease, home first (the home's alone when the ledger is not cut).
    leases: Vec<store::postgres::LeaseView>,
    /// The shared record, draw, reports and keys.
    queue: Arc<store::postgres::PgQueue>,
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

/// The booking side's runtime: `threads` workers (0: the booking side's share of the cores,
/// [`crate::shell::Threads::for_cores`]), named so a profile shows which side did the work.
fn booking_runtime(threads: usize) -> Result<tokio::runtime::Runtime, StartError> {
    let threads = match threads {
        0 => crate::shell::Threads::for_cores(cores()).booking,
        n => n,
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("yeyak-booking")
        .enable_all()
        .build()
        .map_err(|e| StartError::Settings(format!("cannot start the booking runtime: {e}")))
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Seeds the demo world if asked, loads the world, and starts the writer on `backend`.
fn start_writer<B: store::WriteBackend>(
    config: &Config,
    now: jiff::Timestamp,
    parts: Vec<(Part, B)>,
    reader: Arc<dyn store::Store>,
) -> Result<(Writer, Arc<dyn store::Store>, world::World), StartError> {
    if config.demo {
        world::seed_demo(reader.as_ref(), now)?;
    }
    let (cut, backends): (Vec<Part>, Vec<B>) = parts.into_iter().unzip();
    let (world, ledgers) = world::load(reader.as_ref(), now, config.calendar_days, &cut)?;
    let writer = Writer::spawn_parts(backends.into_iter().zip(ledgers).collect(), config.writer)?;
    Ok((writer, reader, world))
}

/// The writers' connections for a ledger in `count` parts (`domain::partition`), home first:
/// each part its own connection and lease row. In parts, the node holds its fair share of them
/// (`store::postgres::Spread`) and forwards requests for the others to their holders. One part
/// is the whole ledger.
fn open_parts(
    url: &str,
    options: &store::postgres::Options,
    count: u16,
) -> Result<
    (
        Vec<(Part, store::postgres::PgWriter)>,
        store::postgres::PgReader,
    ),
    StartError,
> {
    let cut = Part::all(count).map_err(|e| StartError::Settings(e.to_string()))?;
    let spread = match count {
        1 => None,
        _ => Some(store::postgres::Spread::start(
            url,
            &options.node,
            count,
            options.lease_ttl,
        )?),
    };
    let mut parts = Vec::with_capacity(cut.len());
    let mut reader = None;
    for part in cut {
        let options = store::postgres::Options {
            part,
            spread: spread.clone(),
            ..options.clone()
        };
        let (backend, part_reader) = store::postgres::open_with(url, options)?;
        reader.get_or_insert(part_reader);
        parts.push((part, backend));
    }
    let reader = reader.ok_or_else(|| StartError::Settings("no part of the ledger".into()))?;
    Ok((parts, reader))
}

/// Connections the kernel completes and holds for the accept loop. At an opening, thousands
/// arrive in the same second (and a load balancer opens one per request beyond its idle pool);
/// once the queue is full the kernel drops new handshakes and each one waits a second for its
/// retransmission: a load balancer with a 1 s connect timeout then takes a live node out. The
/// kernel caps it at `net.core.somaxconn` (4096 by default since Linux 5.4).
const LISTEN_BACKLOG: u32 = 4096;

fn bind(listen: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match listen {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std and tokio bind: a restarted node may listen again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(LISTEN_BACKLOG)
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
    let listener = bind(listen).map_err(|source| StartError::Listen {
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
    tokio::spawn(background::sample_forever(Arc::downgrade(&state)));
    tokio::spawn(background::text_forever(Arc::downgrade(&state)));
    tokio::spawn(background::follow_the_clock(Arc::downgrade(&state)));
    if state.config.deliver_notifications {
        let sender = notify::Sender::from_config(
            &state.config.data_dir,
            state.config.notify_webhook.as_deref(),
        );
        if let Some(codes) = state.codes.take_receiver() {
            tokio::spawn(notify::codes::deliver_forever(
                codes,
                sender.clone(),
                Arc::clone(&state.clock),
                Arc::clone(&state.codes.counts),
            ));
        }
        tokio::spawn(background::deliver_forever(Arc::downgrade(&state), sender));
    }
    tracing::info!(%addr, clinics = state.world.clinics.len(), "yeyak is listening");
    if let Some(bound) = bound {
        let _ = bound.send(addr);
    }
    let router = router(Arc::clone(&state));
    shell::serve(listener, router, state, shutdown).await;
    // Drained: every booking-side request was answered (or cut) before `shell::serve` returned.
    drop(booking);
    tracing::info!("stopped");
    Ok(())
}
