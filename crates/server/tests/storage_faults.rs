//! Health that tells the truth, and a full disk on a real file system.
//!
//! The disk-full test mounts a 8 MiB tmpfs of its own (`mount -t tmpfs`, so it needs root, as
//! CI has: it runs as root on this machine kind), puts the data directory there, fills the rest
//! with a file, and books: every answer is 201 or a clear 503 `storage_full`, readiness drops,
//! and when the file is removed the service takes bookings again by itself, with every
//! acknowledged booking on disk and a clean audit. Where mounting is not allowed the test fails
//! loudly rather than skip.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{TestServer, booking_body, rrn_1967, small_world};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use store::ReadStore;
use store::sqlite::SqliteReader;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_each_part_and_liveness_stays_simple() {
    let server = TestServer::start(small_world()).await;
    let (status, ready) = server.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["writer"]["state"], "ready");
    assert_eq!(ready["database"]["state"], "answering");
    // The test server does not deliver notifications: nothing to check there.
    assert_eq!(ready["notifications"]["state"], "disabled");
    let (status, live) = server.get("/healthz", None).await;
    assert_eq!((status, live["status"].as_str()), (200, Some("ok")));

    // With delivery on, the worker shows it runs.
    let dir = tempfile::tempdir().unwrap();
    let now = common::OPENING_PLUS_5S.parse().unwrap();
    let delivering = TestServer::start_with(dir, small_world(), now, |config| {
        config.deliver_notifications = true;
    })
    .await;
    let ready = wait_for_readiness(&delivering, 200, Duration::from_secs(5)).await;
    assert_eq!(ready["notifications"]["state"], "running", "{ready}");
    assert!(ready["notifications"]["silent_ms"].as_u64().unwrap() < 5_000);
}

/// Polls `/readyz` until it answers `status`; returns its body.
async fn wait_for_readiness(server: &TestServer, status: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (now, body) = server.get("/readyz", None).await;
        if now == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readiness stayed {now}, not {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => SmallDisk { dir },
            other => panic!(
                "the disk-full test mounts a tmpfs of its own and needs root to do it (CI runs \
                 as root); `mount -t tmpfs` failed: {other:?}"
            ),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the file system refuses more; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0x5a_u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // Smaller writes take the last partial chunk, so not a byte is left.
        loop {
            match file.write(&[0x5a; 512]) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: the server's threads may still hold files there for a moment.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A booking's answer with its `Retry-After`.
async fn book(
    server: &TestServer,
    who: &common::Visitor,
    hour: u8,
    key: &str,
) -> (u16, Option<String>, Value) {
    let request = server
        .http
        .post(server.url("/api/v1/bookings"))
        .json(&booking_body(0, "2021-08-16", hour, "moderna"))
        .header("Idempotency-Key", key);
    let response = who.apply(request).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_clear_503s_loses_nothing_and_recovers_when_space_returns() {
    let disk = SmallDisk::mount("8m");
    let data = tempfile::tempdir_in(disk.path()).unwrap();
    let db = data.path().join("yeyak.db");
    let now = common::OPENING_PLUS_5S.parse().unwrap();
    let server = TestServer::start_with(data, small_world(), now, |config| {
        config.writer.retry_max = Duration::from_millis(500);
    })
    .await;
    // Identity checks write too: everyone checks in before the disk fills.
    let mut people = Vec::new();
    for n in 0..12 {
        people.push(server.login("홍길동", &rrn_1967(n)).await);
    }
    let mut acknowledged = Vec::new();
    for (n, who) in people.iter().enumerate().take(3) {
        let (status, _, booked) = book(&server, who, 9 + n as u8, &format!("k-{n}")).await;
        assert_eq!(status, 201, "{booked}");
        acknowledged.push(booked["id"].as_u64().unwrap());
    }

    // Empty the WAL (so the next commit must grow a file), then take every byte left.
    empty_the_wal(&db);
    let filler = disk.fill();
    let mut refused = Vec::new();
    for (n, who) in people.iter().enumerate().skip(3) {
        let key = format!("k-{n}");
        let (status, retry_after, answer) = book(&server, who, 9 + (n % 9) as u8, &key).await;
        match status {
            201 => acknowledged.push(answer["id"].as_u64().unwrap()),
            503 => {
                assert_eq!(answer["error"], "storage_full", "{answer}");
                assert_eq!(answer["detail"]["fault"], "storage_full");
                assert!(!answer["message_ko"].as_str().unwrap().is_empty());
                assert_eq!(retry_after.as_deref(), Some("30"));
                refused.push((n, key));
            }
            other => panic!("{other}: {answer}"),
        }
    }
    assert!(
        refused.len() >= 6,
        "a full disk should refuse bookings: {} refused",
        refused.len()
    );
    let ready = wait_for_readiness(&server, 503, Duration::from_secs(5)).await;
    assert_eq!(ready["writer"]["state"], "storage_full", "{ready}");
    assert_eq!(ready["database"]["state"], "answering", "reads still work");
    let (status, _) = server.get("/healthz", None).await;
    assert_eq!(status, 200, "a full disk is no reason to restart");
    // Still full a while later: still refusing, still not ready.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, ready) = server.get("/readyz", None).await;
    assert_eq!(
        (status, &ready["writer"]["state"]),
        (503, &Value::from("storage_full"))
    );

    std::fs::remove_file(&filler).unwrap();
    wait_for_readiness(&server, 200, Duration::from_secs(10)).await;
    for (n, key) in &refused {
        let (status, _, booked) = book(&server, &people[*n], 9 + (*n % 9) as u8, key).await;
        assert_eq!(status, 201, "{booked}");
        acknowledged.push(booked["id"].as_u64().unwrap());
    }
    let metrics = server.text("/metrics").await;
    assert!(metrics.contains("yeyak_writer_ready 1"), "{metrics}");
    assert!(
        !metrics.contains("yeyak_writer_failed_batches 0"),
        "{metrics}"
    );

    // Every acknowledged booking is on disk, once, and nothing is over capacity.
    let (_w, reader) = store::sqlite::open(&db).unwrap();
    audit_is_clean(&reader, &acknowledged);
    drop(server);
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Copies the WAL into the database and truncates it to nothing (retrying while a reader is
/// in the way, which makes SQLite leave it as it is).
fn empty_the_wal(db: &Path) {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let (mut writer, _reader) = store::sqlite::open(db).unwrap();
    for _ in 0..100 {
        writer.checkpoint_truncate().unwrap();
        if std::fs::metadata(&wal).unwrap().len() == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the WAL could not be emptied");
}

fn audit_is_clean(reader: &SqliteReader, acknowledged: &[u64]) {
    for id in acknowledged {
        let booking = reader
            .booking(domain::booking::BookingId(*id))
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged booking {id} is missing"));
        assert!(booking.is_active());
    }
    let audit = reader.audit(&Default::default()).unwrap();
    assert_eq!(audit.active_bookings, acknowledged.len() as u64);
    assert!(audit.people_with_two_active.is_empty());
    assert!(audit.inconsistent_second_doses.is_empty());
    // Clinic 0 sees 10 people per band and has 100 Moderna doses a day.
    assert!(
        audit.per_band.iter().all(|&(_, _, _, n)| n <= 10),
        "{audit:?}"
    );
    assert!(audit.per_supply.iter().all(|&(_, _, _, n)| n <= 100));
}
