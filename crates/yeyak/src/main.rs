//! `yeyak`: the one binary. `serve` runs the booking service; `bench` measures the writer;
//! `bench-reschedule` replays August 2021's interval change at full scale;
//! `loadtest` replays a cohort opening over HTTP (crate `loadgen`).

mod bench;
mod bench_reschedule;
mod booking_load;

use clap::Parser;
use server::clock::SystemClock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// jemalloc, for every allocation in the process: Rust's, and (its unprefixed `malloc` and
/// `free`) the bundled SQLite's and the C library's. Chosen by A/B on the same machine in the
/// same minutes (bench/allocator.md): against glibc's malloc, mimalloc cut a status poll's CPU
/// by 18% (2026-12-01); against mimalloc, jemalloc cut the opening-night replay's server CPU
/// per booked person by about 5% at 40% scale (the front door's and the booking side's user time
/// by about a tenth) but not on the full night (both cores saturated, one run each), and its peak
/// memory by 13% in every run; the status poll and the writer unchanged (2026-12-08).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "yeyak",
    version,
    about = "yeyak (예약): a national vaccination booking system"
)]
// Parsed once at start: the size of the largest variant (serve's many flags) costs nothing.
#[allow(clippy::large_enum_variant)]
enum Cli {
    /// Run the booking service on its embedded SQLite database (or PostgreSQL: --database).
    Serve(ServeArgs),
    /// Measure durable booking throughput through the group-commit writer against a baseline.
    Bench(bench::BenchArgs),
    /// Replay August 2021's interval change at full scale (1.75 million dose-2 moves, 11.56
    /// million messages): plan, apply, audit, with time and peak memory against a baseline.
    BenchReschedule(bench_reschedule::RescheduleArgs),
    /// Replay a cohort opening (scenarios/*.toml) against yeyak over real HTTP, audit the
    /// database and write a report. Needs a `serve --demo` server (identity codes are revealed
    /// only there); `--spawn` starts one on a fresh database.
    Loadtest(LoadtestArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("server").required(true).args(["spawn", "target"])))]
struct LoadtestArgs {
    /// The scenario file, e.g. scenarios/2021-07-19-born-53-54.toml.
    #[arg(long)]
    scenario: PathBuf,
    /// Shrink (or grow) the crowd: 0.01 replays 1% of it.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Start `yeyak serve --demo` (this binary) on a fresh data directory under --out.
    #[arg(long)]
    spawn: bool,
    /// Drive a running `serve --demo` server instead, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    target: Option<String>,
    /// With --target: the server's data directory (database audit, operator token).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// With --target: audit this PostgreSQL database (the servers' --database) instead of
    /// DATA_DIR/yeyak.db, e.g. for several nodes behind a load balancer.
    #[arg(long, env = "YEYAK_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// With --target: the operator token (default: DATA_DIR/operator.token).
    #[arg(long, env = "YEYAK_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// With --target: sample /metrics from this server instead (e.g. a node's own address when
    /// the load balancer keeps /metrics off the public edge, as deploy/nginx.conf does).
    #[arg(long)]
    metrics_from: Option<String>,
    /// Where report.json, report.md and chart.svg go.
    #[arg(long)]
    out: PathBuf,
    /// How long after the opening the run may go on (default: the scenario's max_run_minutes).
    #[arg(long)]
    max_run_minutes: Option<f64>,
    /// Which people the run draws (default: 0 with --spawn, from the clock with --target).
    #[arg(long)]
    salt: Option<u64>,
    /// Only write OUT/subscribers.csv, this run's people as their carriers know them (start the
    /// --target servers with `serve --subscribers` on it, then run with the same --salt).
    #[arg(long)]
    subscribers_only: bool,
}

/// `serve --admission-pace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AdmissionPace {
    Adaptive,
    Off,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Load the demo world (13,280 clinics, cohorts around now) on first start. Also reveals
    /// identity codes in API answers, so never use it in production.
    #[arg(long)]
    demo: bool,
    /// Address to listen on.
    #[arg(long, env = "YEYAK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory for the database, keys and the notification log.
    #[arg(long, env = "YEYAK_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Store everything in PostgreSQL at this URL (postgres://user@host:port/db) instead of the
    /// embedded SQLite file in the data directory. The schema is created or migrated at start.
    #[arg(long, env = "YEYAK_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// With --database: the address other nodes reach this one at (http://host:port), recorded
    /// in the ledger's lease row while this node holds it, so they forward their writes here.
    /// Default: http://LISTEN when LISTEN is a specific address (not 0.0.0.0 or [::]).
    #[arg(long, env = "YEYAK_ADVERTISE")]
    advertise: Option<String>,
    /// With --database: cut the ledger into this many parts, each written by a thread and a
    /// connection of its own on the node holding the ledger (several commits at once: see
    /// bench/writer.md). Every node of one database must say the same (the first records it).
    #[arg(long, env = "YEYAK_LEDGER_PARTS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=16))]
    ledger_parts: u16,
    /// With --database: the most connections each of the node's two read pools (the reads',
    /// the waiting room's) holds. Every node's, with one per part and one for its leases, must
    /// fit PostgreSQL's max_connections (100 by default) together.
    #[arg(long, env = "YEYAK_DATABASE_READ_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    database_read_connections: u16,
    /// Booking requests that may wait for the writer before new ones get 503 + Retry-After.
    #[arg(long, env = "YEYAK_WRITER_QUEUE", default_value_t = 20_000)]
    writer_queue: usize,
    /// Microseconds the writer may wait for more writes before committing a small batch, for a
    /// crowd only: while they come fast enough that more are due within it and two or more
    /// have waited together within the last second (one sync and one copy of each page
    /// touched then serve them all); 0: commit at once.
    #[arg(long, env = "YEYAK_COMMIT_DELAY_US", default_value_t = store::writer::DEFAULT_COMMIT_DELAY.as_micros() as u64)]
    commit_delay_us: u64,
    /// Days ahead that can be booked (dose 2 included).
    #[arg(long, env = "YEYAK_CALENDAR_DAYS", default_value_t = 120)]
    calendar_days: u16,
    /// HTTP worker threads (default: a quarter of the cores, at least one): they accept
    /// connections and answer the waiting room's front door.
    #[arg(long, env = "YEYAK_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// Threads of the booking side's own runtime (default 0: the cores the HTTP workers leave,
    /// at least one). Everything but the
    /// front door and the health probes runs there, so booking work never starves the front door.
    #[arg(long, env = "YEYAK_BOOKING_THREADS", default_value_t = 0)]
    booking_threads: usize,
    /// People using the booking side at once when no opening says otherwise.
    #[arg(long, env = "YEYAK_MAX_ACTIVE", default_value_t = 5_000)]
    max_active: u32,
    /// Status polls per second the whole waiting room may cause, however long the queue.
    #[arg(long, env = "YEYAK_POLL_BUDGET", default_value_t = 20_000.0)]
    poll_budget: f64,
    /// Admissions per second the booking side can take. The next second of admissions at this
    /// rate polls every second, so they learn of their turn at once; the opening lets in five
    /// seconds of it and the limit grows by at most one second of it per second.
    #[arg(long, env = "YEYAK_ADMISSION_RATE", default_value_t = 1_500.0)]
    admission_rate: f64,
    /// The most people let in per second, whatever room the booking side's latency leaves; 0:
    /// no cap. For a machine short of CPU at the opening, set to what the booking side was
    /// measured to take (README, Configuration).
    #[arg(long, env = "YEYAK_MAX_ADMISSION_RATE", default_value_t = 0.0)]
    max_admission_rate: f64,
    /// How admissions are paced: `adaptive` (a pace that starts at 1.2× --admission-rate, grows
    /// while the booking side keeps up and is cut when it does not, so room that opens at once
    /// is not all let in at once) or `off` (the concurrency limit alone).
    #[arg(long, env = "YEYAK_ADMISSION_PACE", value_enum, default_value_t = AdmissionPace::Adaptive)]
    admission_pace: AdmissionPace,
    /// The longest queue the poll budget is guaranteed for (people further back poll at the
    /// longest interval). The tail's pace is about budget ÷ ln(this ÷ front zone): an operator
    /// who knows the crowd gets a faster tail by saying so.
    #[arg(long, env = "YEYAK_MAX_QUEUE", default_value_t = server::waiting::MAX_QUEUE)]
    max_queue: u64,
    /// Seconds someone admitted has to show up (from when they could know it) before their room
    /// on the booking side goes to the next person; they are still let in if they come later.
    #[arg(long, env = "YEYAK_SHOW_UP_WINDOW", default_value_t = 20)]
    show_up_window_s: u64,
    /// New queue tickets one client address (IPv4 address, IPv6 /64) may take per minute;
    /// 0 lifts the limit (load tests from one machine only).
    #[arg(long, env = "YEYAK_TICKETS_PER_ADDRESS_MINUTE", default_value_t = server::waiting::TICKETS_PER_ADDRESS_MINUTE)]
    tickets_per_address_minute: u32,
    /// Minutes the place of someone who left the waiting page to be texted is held once their
    /// turn came; then it passes on and they rejoin at the back.
    #[arg(long, env = "YEYAK_RETURN_WINDOW_MINUTES", default_value_t = 10)]
    return_window_minutes: u64,
    /// The site's address as people reach it, for links in texts (default: http://LISTEN).
    #[arg(long, env = "YEYAK_PUBLIC_URL")]
    public_url: Option<String>,
    /// A JSON file defining the opening to hold: {"prequeue_starts_at", "opens_at" (RFC 3339),
    /// "max_active", "pass_ttl_minutes"}. Restarting with the same file keeps the same queue.
    #[arg(long, env = "YEYAK_OPENING")]
    opening: Option<PathBuf>,
    /// Bearer token for operator endpoints (default: generated into DATA_DIR/operator.token).
    #[arg(long, env = "YEYAK_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// Mark cookies Secure (the service is reached over HTTPS). Without it they are marked
    /// Secure on requests a proxy forwards with `X-Forwarded-Proto: https`.
    #[arg(long, env = "YEYAK_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Deliver notifications by POSTing JSON to this SMS/messaging gateway URL (default: append
    /// them to DATA_DIR/outbox.jsonl with phone numbers masked).
    #[arg(long, env = "YEYAK_NOTIFY_WEBHOOK")]
    notify_webhook: Option<String>,
    /// The identity stand-in's subscriber records, a CSV of `phone,name,rrn,carrier` (carrier:
    /// skt, kt, lgu or mvno): who may pass the identity check with which phone. A real
    /// deployment asks the carriers instead (see README, "Identity check").
    #[arg(long, env = "YEYAK_SUBSCRIBERS")]
    subscribers: Option<PathBuf>,
    /// Load balancers (addresses or networks, e.g. `10.0.0.5` or `10.0.0.0/24`; repeat or
    /// separate with commas) whose `X-Forwarded-For` names the client: per-address limits then
    /// count the people behind them, not the load balancer. Default: none (the TCP peer is the
    /// client). Name only proxies that set the header themselves, as nginx's
    /// `$proxy_add_x_forwarded_for` does.
    #[arg(
        long = "trusted-proxy",
        env = "YEYAK_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_proxy
    )]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Identity checks one client address may start per hour (0: no limit, e.g. for a load
    /// test from one machine). Generous by default: carriers put many phones behind one address.
    #[arg(long, env = "YEYAK_IDENTITY_CHECKS_PER_ADDRESS", default_value_t = 600)]
    identity_checks_per_address: u32,
    /// Keep the key for registration-number hashes in this file instead of DATA_DIR/secrets.key
    /// (created with the key in use when absent; the data directory's copy is then zeroed).
    #[arg(long, env = "YEYAK_RRN_KEY_FILE")]
    rrn_key_file: Option<PathBuf>,
    /// The key for registration-number hashes as 64 hex digits (instead of a file).
    #[arg(
        long = "rrn-key",
        env = "YEYAK_RRN_KEY",
        hide_env_values = true,
        conflicts_with = "rrn_key_file"
    )]
    rrn_key_hex: Option<String>,
    /// Seconds a client has to send a complete request head (from connecting or from its last
    /// answer); also how long an idle keep-alive connection stays open.
    #[arg(long, env = "YEYAK_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// Seconds from a request's head to its answer, body included (408 if the body is still
    /// arriving, 503 if the answer is not ready).
    #[arg(long, env = "YEYAK_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout: u64,
    /// The same for the operator API (/api/v1/admin/*), whose national changes take minutes.
    #[arg(long, env = "YEYAK_OPERATOR_REQUEST_TIMEOUT", default_value_t = 600)]
    operator_request_timeout: u64,
    /// Connections served normally; a quarter more are served one waiting-room request each,
    /// and beyond that a connection is answered 503 at once.
    #[arg(long, env = "YEYAK_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Requests handled at once before everything but the waiting room's front door and the
    /// health probes gets 503 (those are shed a quarter above it).
    #[arg(long, env = "YEYAK_MAX_IN_FLIGHT", default_value_t = 8_192)]
    max_in_flight: usize,
    /// Seconds a stop (SIGTERM, Ctrl-C) may take to drain requests in flight and the writer.
    #[arg(long, env = "YEYAK_SHUTDOWN_GRACE", default_value_t = 20)]
    shutdown_grace: u64,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("YEYAK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse() {
        Cli::Serve(args) => serve(args),
        Cli::Bench(args) => bench::run(args),
        Cli::BenchReschedule(args) => bench_reschedule::run(args),
        Cli::Loadtest(args) => loadtest(args),
    }
}

fn loadtest(args: LoadtestArgs) -> anyhow::Result<()> {
    let target = match args.target {
        Some(url) => loadgen::Target::Url(url),
        None => loadgen::Target::Spawn {
            exe: std::env::current_exe()?,
        },
    };
    let summary = loadgen::run(&loadgen::Options {
        scenario: args.scenario,
        scale: args.scale,
        target,
        out: args.out,
        data_dir: args.data_dir,
        database: args.database,
        operator_token: args.operator_token,
        metrics_from: args.metrics_from,
        max_run_minutes: args.max_run_minutes,
        salt: args.salt,
        subscribers_only: args.subscribers_only,
    })?;
    println!("{}", summary.line);
    if !summary.ok {
        std::process::exit(1);
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = server::Config::new(args.data_dir);
    config.listen = args.listen;
    config.demo = args.demo;
    config.writer.queue_capacity = args.writer_queue;
    config.writer.commit_delay = Duration::from_micros(args.commit_delay_us);
    config.calendar_days = args.calendar_days;
    config.gate.max_active = args.max_active;
    anyhow::ensure!(
        args.poll_budget.is_finite() && args.poll_budget > 0.0,
        "--poll-budget must be a positive number of polls per second"
    );
    anyhow::ensure!(
        args.admission_rate.is_finite() && args.admission_rate >= 0.0,
        "--admission-rate must be a number of admissions per second, 0 or more"
    );
    config.gate.poll_budget_per_s = args.poll_budget;
    config.gate.admission_rate_per_s = args.admission_rate;
    anyhow::ensure!(
        args.max_admission_rate.is_finite() && args.max_admission_rate >= 0.0,
        "--max-admission-rate must be a number of admissions per second, 0 (no cap) or more"
    );
    config.gate.max_admission_rate_per_s = args.max_admission_rate;
    config.gate.paced_admission = args.admission_pace == AdmissionPace::Adaptive;
    anyhow::ensure!(
        args.max_queue >= server::waiting::MIN_MAX_QUEUE,
        "--max-queue must be at least {} places",
        server::waiting::MIN_MAX_QUEUE
    );
    config.gate.max_queue = args.max_queue;
    config.booking_threads = args.booking_threads;
    config.gate.show_up_window_ms = args.show_up_window_s.saturating_mul(1000);
    config.gate.tickets_per_address_minute = args.tickets_per_address_minute;
    config.gate.return_window_ms = args.return_window_minutes.saturating_mul(60_000);
    config.public_url = args.public_url;
    config.operator_token = args.operator_token;
    config.secure_cookies = args.secure_cookies;
    config.notify_webhook = args.notify_webhook;
    let unlimited = args.identity_checks_per_address == 0;
    let limits = &mut config.identity.limits;
    limits.checks_per_address.count = if unlimited {
        u32::MAX
    } else {
        args.identity_checks_per_address
    };
    if unlimited {
        limits.wrong_codes_per_address.count = u32::MAX;
    }
    config.rrn_key = match (args.rrn_key_file, args.rrn_key_hex) {
        (Some(path), _) => Some(server::secrets::RrnKeySource::File(path)),
        (None, Some(hex)) => Some(server::secrets::RrnKeySource::Hex(hex)),
        (None, None) => None,
    };
    if let Some(path) = &args.subscribers {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the subscriber file {}: {e}", path.display())
        })?;
        let added = config.subscribers.load_csv(&text).map_err(|e| {
            anyhow::anyhow!("the subscriber file {} is not valid: {e}", path.display())
        })?;
        tracing::info!(subscribers = added, "subscriber records loaded");
    }
    config.trusted_proxies = args.trusted_proxies.into();
    if args.ledger_parts > 1 && args.database.is_none() {
        anyhow::bail!("--ledger-parts needs --database: a SQLite file has one writer");
    }
    config.database = args.database;
    config.ledger_parts = args.ledger_parts;
    config.database_read_connections = usize::from(args.database_read_connections);
    config.advertise = args.advertise.or_else(|| {
        let specific = !args.listen.ip().is_unspecified() && args.listen.port() != 0;
        specific.then(|| format!("http://{}", args.listen))
    });
    config.limits = server::shell::Limits {
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        operator_request_timeout: Duration::from_secs(args.operator_request_timeout.max(1)),
        max_connections: args.max_connections.max(1),
        max_in_flight: args.max_in_flight.max(1),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let grace = config.limits.shutdown_grace;
    if let Some(path) = &args.opening {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the opening file {}: {e}", path.display()))?;
        config.opening = Some(serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("the opening file {} is not valid: {e}", path.display())
        })?);
    }
    let workers = args
        .worker_threads
        .unwrap_or_else(|| server::shell::Threads::for_cores(server::cores()).front);
    // One worker means one thread: no work-stealing machinery to pay for.
    let mut runtime = match workers {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    let runtime = runtime.enable_all().build()?;
    let served = runtime.block_on(server::serve(
        config,
        Arc::new(SystemClock),
        None,
        shutdown_signal(),
    ));
    // The server has drained within its grace period; blocking reads still running are not
    // waited for beyond a moment (they answer nobody now).
    runtime.shutdown_timeout(grace.min(Duration::from_secs(1)));
    served?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// A trusted proxy: a network (`10.0.0.0/24`) or one address (`10.0.0.5`).
fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a network like 10.0.0.0/24"))
}
