//! `yeyak loadtest`: replays a cohort opening against yeyak over real HTTP, audits the database
//! and reports — "would yeyak have survived 2021-07-19?" answered with numbers.
//!
//! * [`scenario`]: the TOML scenario files under `scenarios/` (the 2021 waves).
//! * [`people`]: who the simulated people are (RRNs in the cohort, homes by province population).
//! * [`person`]: one person's evening over HTTP, waiting room to booking read-back.
//! * open-loop scheduling ([`run`]): each person is spawned at their scheduled arrival whether
//!   or not the server keeps up, and every request's latency is measured from its *intended* send
//!   time, so a slow server cannot hide its queueing (no coordinated omission).
//! * [`stats`]: HDR histograms per endpoint, status counts, a per-second timeline.
//! * [`eta`]: whether the wait a person was shown came true.
//! * [`audit`]: the invariants checked straight in the database afterwards.
//! * [`cpu`]: the server's and the generator's CPU over the run, thread by thread.
//! * [`report`]: report.json, report.md and chart.svg.
//!
//! The identity stand-in reveals its one-time codes only in `serve --demo` mode (`demo_code` in
//! the answer to `/identity/start`); the generator relies on that, so it drives demo servers only.
//! `--demo` loads a demo world and is never a production configuration.

pub mod audit;
pub mod client;
pub mod cpu;
pub mod eta;
pub mod http;
pub mod people;
pub mod person;
pub mod report;
pub mod rng;
pub mod sampler;
pub mod scenario;
pub mod server;
pub mod stats;

use crate::people::{Homes, Person};
use crate::scenario::{ScaledServer, Scenario};
use crate::stats::Stats;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Where the server under test comes from.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start `exe serve --demo` on a fresh data directory under `--out`, stop it at the end.
    Spawn { exe: PathBuf },
    /// Drive a running server (started with `--demo`).
    Url(String),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: PathBuf,
    pub scale: f64,
    pub target: Target,
    pub out: PathBuf,
    /// With `Target::Url`: the server's data directory, for the database audit and the
    /// operator token.
    pub data_dir: Option<PathBuf>,
    /// With `Target::Url`: the server's PostgreSQL (`serve --database`), audited instead of
    /// the SQLite file in `data_dir` (several nodes share it).
    pub database: Option<String>,
    pub operator_token: Option<String>,
    /// With `Target::Url`: the server whose `/metrics` the run samples once a second (default:
    /// the target). Behind a load balancer that keeps `/metrics` off the public edge
    /// (`deploy/nginx.conf`), a node's own address: the one running the waiting room's
    /// controller and holding the ledger, whose figures are the fleet's.
    pub metrics_from: Option<String>,
    /// Overrides the scenario's `client.max_run_minutes` (how long after the opening the run
    /// may go on before the people still waiting are counted as unfinished).
    pub max_run_minutes: Option<f64>,
    /// Which people this run draws (default: 0 when spawning, else from the clock, to keep a
    /// long-running server's earlier runs apart). Fixed, so servers can be started with the
    /// run's subscriber file before it runs (`subscribers_only`).
    pub salt: Option<u64>,
    /// Only write `OUT/subscribers.csv` (the identity stand-in's records for this run's
    /// people, for `serve --subscribers`) and stop.
    pub subscribers_only: bool,
}

/// What the run found; `ok` is false on any audit or client-side violation.
pub struct Summary {
    pub ok: bool,
    pub line: String,
    /// What report.json holds; none when only the subscriber records were written.
    pub report: Option<report::Report>,
}

/// Runs the whole load test on its own runtime.
pub fn run(options: &Options) -> anyhow::Result<Summary> {
    let mut scenario = Scenario::load(&options.scenario)?;
    if let Some(minutes) = options.max_run_minutes.filter(|m| *m > 0.0) {
        scenario.client.max_run_minutes = minutes;
    }
    anyhow::ensure!(
        options.scale > 0.0 && options.scale.is_finite(),
        "--scale must be a positive number"
    );
    let runtime = generator_runtime(scenario.client.threads.unwrap_or(1))?;
    let summary = runtime.block_on(run_async(options, scenario));
    runtime.shutdown_timeout(Duration::from_secs(5));
    summary
}

/// The runtime the simulated people run on. One thread (the default) is a current-thread
/// runtime: on two shared cores the multi-thread runtime's workers kept waking each other
/// (futex) and each slept in its own `epoll_wait`, and its tasks were freed on the other
/// worker than the one that allocated them; that was about an eighth of the generator's CPU per
/// request in the profile of the smoke replay.
fn generator_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn to_instant(t: SystemTime) -> Instant {
    let now_sys = SystemTime::now();
    let now = Instant::now();
    match t.duration_since(now_sys) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

async fn schedule_opening(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    prequeue: SystemTime,
    opens: SystemTime,
    max_active: u32,
) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "prequeue_starts_at": server::timestamp(prequeue)?,
        "opens_at": server::timestamp(opens)?,
        "max_active": max_active,
    });
    let r = http
        .post(format!("{base}/api/v1/admin/openings"))
        .bearer_auth(token.trim())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body)?)
        .send()
        .await?;
    anyhow::ensure!(
        r.status().as_u16() == 201,
        "scheduling the opening failed: {}",
        r.status()
    );
    Ok(())
}

/// Writes every person of the run (and the child who books for them) to the identity
/// stand-in's subscriber file, as a carrier's records would hold them.
fn write_subscribers(
    path: &std::path::Path,
    scenario: &Scenario,
    people: u64,
    salt: u64,
) -> anyhow::Result<()> {
    let homes = Homes::korea();
    let mut text = String::new();
    for i in 0..people {
        Person::draw(scenario, &homes, i, salt).subscriber_lines(&mut text);
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// The scaled server settings, as the report's notes state them.
fn settings_note(s: &ScaledServer) -> String {
    let or_default = |v: Option<String>| v.unwrap_or_else(|| "the server's default".into());
    format!(
        "server settings at this scale: max_active {}, --poll-budget {}, --admission-rate {}, --max-queue {}",
        s.max_active,
        or_default(s.poll_budget.map(|b| format!("{b:.0}"))),
        or_default(s.admission_rate.map(|r| format!("{r:.0}"))),
        or_default(s.max_queue.map(|q| q.to_string())),
    )
}

async fn run_async(options: &Options, scenario: Scenario) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(&options.out)?;
    let people = scenario.people(options.scale);
    let offsets = scenario.arrival_offsets(people);
    let compressed = scenario.arrivals.prequeue_compressed_seconds;
    let lead = Duration::from_secs_f64(scenario.server.lead_seconds.max(0.5));
    let before_opening = Duration::from_secs_f64(compressed) + lead;
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;

    // The server, and when its opening is.
    let boot_allowance = Duration::from_secs(5);
    let mut opens_at = SystemTime::now() + boot_allowance + before_opening;
    let mut spawned = None;
    let mut notes: Vec<String> = Vec::new();
    let salt = options.salt.unwrap_or(match options.target {
        Target::Spawn { .. } => 0,
        // Against a long-running server, keep this run's people apart from earlier runs'.
        Target::Url(_) => {
            (SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                % 97)
                * 3_000
        }
    });
    // The simulated people, as their carriers know them: a spawned server loads this file; a
    // running one must have been started with it (`serve --subscribers`).
    let subscribers = options.out.join("subscribers.csv");
    write_subscribers(&subscribers, &scenario, people, salt)?;
    // The server's settings for a miniature of the full night (`ServerSettings::at_scale`); a
    // server started by hand or by a script takes them from `serve-flags`.
    let settings = scenario.server.at_scale(options.scale);
    std::fs::write(
        options.out.join("serve-flags"),
        settings.serve_flags().join(" "),
    )?;
    if options.subscribers_only {
        return Ok(Summary {
            ok: true,
            line: format!(
                "{people} people's subscriber records: {}",
                subscribers.display()
            ),
            report: None,
        });
    }
    notes.push(settings_note(&settings));
    // Before a server is spawned, so that it inherits the limit too.
    notes.push(match client::raise_open_files_limit() {
        Ok(Some(limit)) => format!("open files: up to {limit} per process"),
        Ok(None) => "open files: no limit".into(),
        Err(error) => format!("open files: the limit could not be raised ({error})"),
    });
    if matches!(options.target, Target::Url(_)) {
        notes.push(format!(
            "the target must know this run's people: serve --subscribers {}",
            subscribers.display()
        ));
        notes.push(format!(
            "a running server keeps the poll budget, admission rate and longest queue it was \
             started with: for a miniature of the full night, start it with {}",
            settings.serve_flags().join(" ")
        ));
    }
    let (base, data_dir, operator_token) = match &options.target {
        Target::Spawn { exe } => {
            let opening_file = options.out.join("opening.json");
            server::write_opening(
                &opening_file,
                opens_at - before_opening + lead,
                opens_at,
                settings.max_active,
            )?;
            let mut s = server::spawn(&server::SpawnSettings {
                exe,
                out: &options.out,
                opening_file: &opening_file,
                settings: &settings,
                writer_queue: scenario.server.writer_queue,
                worker_threads: scenario.server.worker_threads,
                subscribers: &subscribers,
            })?;
            let base = s.base.clone();
            if let Err(e) =
                server::wait_healthy(&plain, &base, Some(&mut s.child), Duration::from_secs(120))
                    .await
            {
                server::stop(&mut s.child, Duration::from_secs(2));
                return Err(e);
            }
            let token = std::fs::read_to_string(s.data_dir.join("operator.token")).ok();
            let data_dir = s.data_dir.clone();
            spawned = Some(s);
            (base, Some(data_dir), token)
        }
        Target::Url(url) => {
            let base = url.trim_end_matches('/').to_string();
            server::wait_healthy(&plain, &base, None, Duration::from_secs(10)).await?;
            let token = options.operator_token.clone().or_else(|| {
                options
                    .data_dir
                    .as_ref()
                    .and_then(|d| std::fs::read_to_string(d.join("operator.token")).ok())
            });
            (base, options.data_dir.clone(), token)
        }
    };
    let late = SystemTime::now() + lead > opens_at - before_opening + lead;
    if late || matches!(options.target, Target::Url(_)) {
        opens_at = SystemTime::now() + before_opening;
        match &operator_token {
            Some(token) => {
                schedule_opening(
                    &plain,
                    &base,
                    token,
                    opens_at - before_opening + lead,
                    opens_at,
                    settings.max_active,
                )
                .await?;
            }
            None => notes.push(
                "no operator token: no opening was scheduled; the server's current queue was used"
                    .into(),
            ),
        }
    }
    let opening = to_instant(opens_at);
    let zero = opening.checked_sub(before_opening).unwrap_or(opening);
    let max_run = Duration::from_secs_f64(scenario.client.max_run_minutes * 60.0);
    let deadline = opening + max_run;
    let seconds = (before_opening + max_run).as_secs() as usize + 120;
    let stats = Arc::new(Stats::new(seconds, before_opening.as_secs_f64()));
    let http = http::Http::new(
        base.clone(),
        scenario.client.max_in_flight,
        Arc::clone(&stats),
        zero,
    )?;
    let ctx = Arc::new(person::Ctx {
        http,
        scenario: scenario.clone(),
        opening,
        deadline,
        salt,
    });
    let server_pid = spawned.as_ref().map(|s| s.child.id());
    let metrics_base = match (&options.target, &options.metrics_from) {
        (Target::Url(_), Some(url)) => url.trim_end_matches('/').to_string(),
        _ => base.clone(),
    };
    let sampler = sampler::start(
        plain.clone(),
        metrics_base,
        server_pid,
        opening,
        Arc::clone(&stats),
    );
    let homes = Arc::new(Homes::korea());
    let started = std::time::Instant::now();
    let client_cpu_before = server::proc_usage(std::process::id())
        .map(|u| u.cpu_s)
        .unwrap_or(0.0);
    let server_cpu_before = server_pid.and_then(server::proc_usage).map(|u| u.cpu_s);
    let server_threads_before = server_pid.and_then(cpu::sample);
    let client_threads_before = cpu::sample(std::process::id());
    eprintln!(
        "loadtest: {} people ({} × {:.0}% × scale {}, {:.0}% of them not in the cohort), opening in {:.1}s, against {base}",
        people,
        scenario.cohort.size,
        scenario.cohort.first_evening_share * 100.0,
        options.scale,
        scenario.behaviour.ineligible_share * 100.0,
        opening
            .saturating_duration_since(Instant::now())
            .as_secs_f64()
    );

    // Open loop: everyone is spawned at their scheduled arrival, whatever the server does.
    let dispatcher = {
        let (ctx, homes, stats) = (Arc::clone(&ctx), Arc::clone(&homes), Arc::clone(&stats));
        let scenario = scenario.clone();
        tokio::spawn(async move {
            for (i, offset) in offsets.into_iter().enumerate() {
                let at = if offset >= 0.0 {
                    opening + Duration::from_secs_f64(offset)
                } else {
                    opening
                        .checked_sub(Duration::from_secs_f64(-offset))
                        .unwrap_or(opening)
                };
                if at >= ctx.deadline {
                    break;
                }
                if at > Instant::now() {
                    tokio::time::sleep_until(at).await;
                }
                let person = Person::draw(&scenario, &homes, i as u64, salt);
                stats.spawned.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(person::run(Arc::clone(&ctx), person, at));
            }
        })
    };

    // Wait for everyone (bounded by the run's deadline plus a grace period).
    let mut last_report = Instant::now();
    let hard_stop = deadline + Duration::from_secs(30);
    while Instant::now() < hard_stop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let finished = stats.finished.load(Ordering::Relaxed);
        if finished >= people {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            let booked = stats
                .timeline
                .bookings
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum::<u64>();
            eprintln!(
                "loadtest: t={:+.0}s spawned {} finished {} booked {} in flight {}",
                if Instant::now() >= opening {
                    Instant::now().duration_since(opening).as_secs_f64()
                } else {
                    -opening.duration_since(Instant::now()).as_secs_f64()
                },
                stats.spawned.load(Ordering::Relaxed),
                finished,
                booked,
                stats.in_flight.load(Ordering::Relaxed)
            );
        }
    }
    dispatcher.abort();
    if stats.finished.load(Ordering::Relaxed) < people {
        notes.push(format!(
            "the run hit its time limit ({} min): {} of {} people had finished",
            scenario.client.max_run_minutes,
            stats.finished.load(Ordering::Relaxed),
            people
        ));
    }
    let run_seconds = started.elapsed().as_secs_f64();
    sampler.stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(3), sampler.handle).await;
    let samples = sampler.samples.lock().await.clone();
    let final_usage = server_pid.and_then(server::proc_usage);
    let server_threads = server_threads_before
        .zip(server_pid.and_then(cpu::sample))
        .map(|(before, after)| cpu::between(&before, &after));
    let client_threads = client_threads_before
        .zip(cpu::sample(std::process::id()))
        .map_or_else(Vec::new, |(before, after)| cpu::between(&before, &after));
    let client_cpu = server::proc_usage(std::process::id())
        .map(|u| u.cpu_s)
        .unwrap_or(0.0)
        - client_cpu_before;
    if let Some(mut s) = spawned {
        server::stop(&mut s.child, Duration::from_secs(30));
    }

    // The audit, from the database.
    let acks = stats.acks.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let database = match (&options.database, &data_dir) {
        (Some(url), _) => Some(audit::Database::Postgres(url.clone())),
        (None, Some(dir)) => Some(audit::Database::Sqlite(dir.join("yeyak.db"))),
        (None, None) => None,
    };
    let (audit, audit_note) = match database {
        Some(db) => {
            let audit = tokio::task::spawn_blocking(move || audit::run(&db, &acks)).await??;
            (Some(audit), None)
        }
        None => (
            None,
            Some("no --data-dir for the target server: the database was not audited".to_string()),
        ),
    };

    let per_second: Vec<(f64, f64)> = stats
        .timeline
        .bookings
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                i as f64 - before_opening.as_secs_f64(),
                c.load(Ordering::Relaxed) as f64,
            )
        })
        .take_while(|(t, _)| *t <= samples.last().map_or(0.0, |s| s.t_s) + 1.0)
        .collect();
    let mode = match &options.target {
        Target::Spawn { .. } => "spawned `yeyak serve --demo` on a fresh database".to_string(),
        Target::Url(url) => format!("running server at {url}"),
    };
    let mut report = report::build(&report::Inputs {
        scenario: &scenario,
        scale: options.scale,
        people,
        mode,
        stats: &stats,
        samples: &samples,
        audit: audit.as_ref(),
        audit_note,
        run_seconds,
        server_peak_kb: final_usage.map(|u| u.hwm_kb),
        server_cpu_s: final_usage.zip(server_cpu_before).map(|(a, b)| a.cpu_s - b),
        client_cpu_s: client_cpu,
        client_connections: ctx.http.client.connections.load(Ordering::Relaxed),
        server_threads,
        client_threads,
    });
    report.notes = notes;
    let ok = audit.as_ref().is_none_or(audit::Audit::clean)
        && stats.client_violation_count.load(Ordering::Relaxed) == 0;
    let line = report::summary_line(&report, ok);
    std::fs::write(
        options.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(options.out.join("report.md"), report::markdown(&report, ok))?;
    std::fs::write(
        options.out.join("chart.svg"),
        report::chart(&samples, &per_second),
    )?;
    Ok(Summary {
        ok,
        line,
        report: Some(report),
    })
}
