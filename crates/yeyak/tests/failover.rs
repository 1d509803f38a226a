//! PostgreSQL failover under load: a node writes to a primary with a synchronous standby; the
//! primary crashes mid-load (`pg_ctl stop -m immediate`, as a power cut), the standby is
//! promoted, and every booking the node acknowledged is on the new primary. The node finds the
//! new primary by itself (a multi-host URL with `target_session_attrs=read-write`) and books
//! again without a restart.
//!
//! What this shows is PostgreSQL's promise, used correctly: with `synchronous_commit = on` and
//! the standby in `synchronous_standby_names`, a commit returns only after the standby has the
//! WAL on disk (PostgreSQL docs, "Synchronous Replication", §27.2.8), and yeyak acknowledges a
//! booking only after its commit returned. The test makes its own two clusters (initdb,
//! pg_basebackup) in a temporary directory on free ports, so it never touches the shared
//! database at 127.0.0.1:5432; it needs PostgreSQL's server programs (`initdb`, `pg_ctl`,
//! `pg_basebackup`, `psql`) on the PATH, which this machine kind has, and fails if they are not.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{Client, book_staggered, free_port, login, places, start_with, wait_healthy};
use futures::future::join_all;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Runs a PostgreSQL program, as the `postgres` user when the test runs as root (the server
/// refuses to run as root).
fn postgres_program(program: &str, args: &[&str]) -> Output {
    let running_as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut command = if running_as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    };
    let output = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run ({e}); this test needs it"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// One PostgreSQL cluster of the test's own; stopped when dropped.
struct Cluster {
    data: PathBuf,
    port: u16,
}

impl Cluster {
    fn start(&self) {
        let log = self.data.with_extension("log");
        postgres_program(
            "pg_ctl",
            &["-D", path(&self.data), "-l", path(&log), "-w", "start"],
        );
    }

    fn sql(&self, query: &str) -> String {
        let port = self.port.to_string();
        let output = postgres_program(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-Atc",
                query,
            ],
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn append_settings(&self, settings: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))
            .unwrap();
        file.write_all(settings.as_bytes()).unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", "pg_ctl", "-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = Command::new("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A primary whose commits wait for the standby named `standby`, and that standby, streaming.
fn primary_with_synchronous_standby(root: &Path) -> (Cluster, Cluster) {
    let primary = Cluster {
        data: root.join("primary"),
        port: free_port(),
    };
    postgres_program(
        "initdb",
        &[
            "-D",
            path(&primary.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    );
    primary.append_settings(&format!(
        "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
         wal_level = replica\nmax_wal_senders = 4\n\
         synchronous_standby_names = 'standby'\nsynchronous_commit = on\n",
        primary.port,
        path(root),
    ));
    primary.start();

    let standby = Cluster {
        data: root.join("standby"),
        port: free_port(),
    };
    let primary_port = primary.port.to_string();
    postgres_program(
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &primary_port,
            "-U",
            "postgres",
            "-D",
            path(&standby.data),
            "-R",
            "-X",
            "stream",
        ],
    );
    // The standby names itself (its WAL receiver's application_name is the cluster name). Once
    // promoted it has no standby of its own: it must not wait for one, or every commit hangs.
    standby.append_settings(&format!(
        "\nport = {}\ncluster_name = 'standby'\nsynchronous_standby_names = ''\n",
        standby.port
    ));
    standby.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while primary.sql("SELECT sync_state FROM pg_stat_replication") != "sync" {
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (primary, standby)
}

/// A booking's status after retrying 503s (the node rebuilding on the new primary) for 60 s.
async fn book_until_answered(
    http: &reqwest::Client,
    base: &str,
    who: &Client,
    place: &(u64, String, u8),
) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (clinic, date, hour) = place;
    loop {
        let status = match who
            .on(http.post(format!("{base}/api/v1/bookings")))
            .json(&json!({"clinic_id": clinic, "date": date, "hour": hour, "product": "pfizer"}))
            .send()
            .await
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        if (status != 503 && status != 0) || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_synchronous_standby_has_every_acknowledged_booking() {
    let root = tempfile::tempdir().unwrap();
    // The clusters are the postgres user's: it must be able to reach and own them.
    let _ = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(root.path())
        .output();
    let (primary, standby) = primary_with_synchronous_standby(root.path());
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port, standby.port
    );

    let node_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let node = Node(start_with(node_dir.path(), port, &["--database", &url]));
    let http = reqwest::Client::new();
    wait_healthy(&http, &base).await;
    let people = join_all((0..160).map(|n| login(&http, &base, n))).await;
    let places = places(&http, &base).await;

    // Bookings arrive every 10 ms; the primary dies after 20 are acknowledged.
    let (load, acknowledged) = book_staggered(
        &http,
        &base,
        people[..120].to_vec(),
        places.clone(),
        Duration::from_millis(10),
    );
    common::wait_acknowledged(&acknowledged, 20).await;
    postgres_program(
        "pg_ctl",
        &["-D", path(&primary.data), "-m", "immediate", "stop"],
    );
    postgres_program("pg_ctl", &["-D", path(&standby.data), "-w", "promote"]);
    load.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 20 && acknowledged.len() < 120,
        "the crash should land mid-load: {} acknowledged",
        acknowledged.len()
    );

    // The node finds the new primary by itself and books again.
    let after: Vec<u16> =
        join_all(people[120..160].iter().enumerate().map(|(i, who)| {
            book_until_answered(&http, &base, who, &places[(120 + i) % places.len()])
        }))
        .await;
    assert!(after.iter().all(|s| *s == 201), "{after:?}");

    // Every acknowledged booking is on the new primary, active: read back by a fresh node that
    // knows only the promoted server.
    let fresh_dir = tempfile::tempdir().unwrap();
    // As an operator deploys a node: the keys that are not shared through the database (the
    // signing and waiting-room keys are).
    for file in ["secrets.key", "operator.token"] {
        std::fs::copy(node_dir.path().join(file), fresh_dir.path().join(file)).unwrap();
    }
    let promoted_only = format!("postgres://postgres@127.0.0.1:{}/postgres", standby.port);
    drop(node);
    let fresh_port = free_port();
    let fresh_base = format!("http://127.0.0.1:{fresh_port}");
    let _fresh = Node(start_with(
        fresh_dir.path(),
        fresh_port,
        &["--database", &promoted_only],
    ));
    wait_healthy(&http, &fresh_base).await;
    common::assert_all_active(&http, &fresh_base, &acknowledged).await;
    assert_eq!(standby.sql("SELECT pg_is_in_recovery()"), "f");
}
