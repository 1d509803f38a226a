//! The server under test: spawned (the same binary, `serve --demo` on a fresh data directory,
//! with an opening file placing the opening a short time after start) or already running.

use crate::scenario::ScaledServer;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

pub struct Spawned {
    pub child: Child,
    pub data_dir: PathBuf,
    pub base: String,
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn timestamp(t: SystemTime) -> anyhow::Result<String> {
    let ms = t.duration_since(SystemTime::UNIX_EPOCH)?.as_millis() as i64;
    Ok(jiff::Timestamp::from_millisecond(ms)?.to_string())
}

/// The opening file `serve --opening` reads.
pub fn write_opening(
    path: &Path,
    prequeue_starts_at: SystemTime,
    opens_at: SystemTime,
    max_active: u32,
) -> anyhow::Result<()> {
    let spec = serde_json::json!({
        "prequeue_starts_at": timestamp(prequeue_starts_at)?,
        "opens_at": timestamp(opens_at)?,
        "max_active": max_active,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(())
}

pub struct SpawnSettings<'a> {
    pub exe: &'a Path,
    pub out: &'a Path,
    pub opening_file: &'a Path,
    /// The scenario's server settings at the run's scale.
    pub settings: &'a ScaledServer,
    pub writer_queue: Option<usize>,
    pub worker_threads: Option<usize>,
    /// The identity stand-in's subscriber file for the simulated people.
    pub subscribers: &'a Path,
}

/// Starts `yeyak serve --demo` on a fresh data directory under `out`. `--demo` reveals identity
/// codes in API answers (that is how simulated people complete the identity check); it is never
/// a production configuration.
pub fn spawn(s: &SpawnSettings) -> anyhow::Result<Spawned> {
    let data_dir = s.out.join("server-data");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    std::fs::create_dir_all(&data_dir)?;
    let port = free_port()?;
    let log = std::fs::File::create(s.out.join("server.log"))?;
    let mut cmd = Command::new(s.exe);
    cmd.arg("serve")
        .arg("--demo")
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--opening")
        .arg(s.opening_file)
        .arg("--max-active")
        .arg(s.settings.max_active.to_string())
        .arg("--subscribers")
        .arg(s.subscribers)
        // The whole crowd comes from one machine: a few hundred loopback addresses at most
        // (`client::LOOPBACK_SOURCES`), where a real one comes from millions.
        .args(["--identity-checks-per-address", "0"])
        .args(["--tickets-per-address-minute", "0"]);
    cmd.args(s.settings.serve_flags());
    if let Some(n) = s.writer_queue {
        cmd.arg("--writer-queue").arg(n.to_string());
    }
    if let Some(n) = s.worker_threads {
        cmd.arg("--worker-threads").arg(n.to_string());
    }
    let child = cmd
        .env(
            "YEYAK_LOG",
            std::env::var("YEYAK_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", s.exe.display()))?;
    Ok(Spawned {
        child,
        data_dir,
        base: format!("http://127.0.0.1:{port}"),
    })
}

pub async fn wait_healthy(
    http: &reqwest::Client,
    base: &str,
    child: Option<&mut Child>,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut child = child;
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            anyhow::bail!("the server exited during start-up ({status}); see server.log");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server at {base} did not become healthy within {limit:?}")
}

/// SIGTERM (graceful shutdown), then SIGKILL after `grace`.
pub fn stop(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// CPU seconds (user + system) and memory of a process, from /proc.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ProcUsage {
    pub cpu_s: f64,
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

pub fn proc_usage(pid: u32) -> Option<ProcUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, user, system) = crate::cpu::parse_stat(&stat)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(ProcUsage {
        cpu_s: crate::cpu::seconds(user + system),
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
    })
}
