//! A stop under load: SIGTERM while bookings arrive and a client is stuck mid-request. The real
//! binary must exit by itself within its grace period, cleanly, and every booking it
//! acknowledged must be on disk.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{
    assert_all_on_disk, book_staggered, free_port, login, places, start_with, wait_acknowledged,
    wait_healthy,
};
use futures::future::join_all;
use std::time::{Duration, Instant};

const GRACE_S: u64 = 10;
/// What a slow machine may add to the grace period before the test calls it broken.
const SLACK: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_within_the_grace_period_and_keeps_every_booking() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let grace = GRACE_S.to_string();
    let mut server = start_with(dir.path(), port, &["--shutdown-grace", &grace]);
    wait_healthy(&http, &base).await;

    let people = 400;
    let clients = join_all((0..people).map(|n| login(&http, &base, n))).await;
    let places = places(&http, &base).await;
    // Staggered so the stop lands while requests are still arriving: over two seconds, since
    // on a loaded machine the first 50 answers took longer than the 0.3 s a 0.8 ms stagger
    // gave, and every request was in flight before the stop.
    let (booking, acknowledged) =
        book_staggered(&http, &base, clients, places, Duration::from_millis(5));

    // A client that never finishes its body: without a deadline, the stop would wait for it
    // for ever (an operator request's timeout is ten minutes).
    let mut stuck = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let operator = std::fs::read_to_string(dir.path().join("operator.token")).unwrap();
    let head = format!(
        "POST /api/v1/admin/openings HTTP/1.1\r\nhost: yeyak\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{",
        operator.trim()
    );
    tokio::io::AsyncWriteExt::write_all(&mut stuck, head.as_bytes())
        .await
        .unwrap();

    wait_acknowledged(&acknowledged, 50).await;
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let stopping = Instant::now();
    let exited = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(GRACE_S) + SLACK {
            server.kill().unwrap();
            panic!("still running {:?} after SIGTERM", stopping.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exited.success(), "a stop is a clean exit: {exited}");
    drop(stuck);
    booking.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 50,
        "only {} acknowledged",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() < people as usize,
        "the stop should interrupt the run"
    );

    assert_all_on_disk(&http, dir.path(), &acknowledged).await;
}
