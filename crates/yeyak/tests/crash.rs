//! B3: a booking acknowledged to a client survives `kill -9` of the server. Runs the real
//! binary on a real SQLite file, kills it while bookings are in flight, restarts it on the same
//! data directory and reads every acknowledged booking back.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{
    arrive, assert_all_on_disk, book_staggered, free_port, login, number, places, start,
    wait_acknowledged, wait_healthy,
};
use futures::future::join_all;
use serde_json::json;
use std::time::Duration;

/// The test's HTTP client, with a bound on each request: a request caught in the kill must
/// fail, not wait for ever (one CI run hung here with no socket left open, the server dead).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_bookings_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(dir.path(), port);
    wait_healthy(&http, &base).await;

    let people = 600;
    let tokens = join_all((0..people).map(|n| login(&http, &base, n))).await;
    let places = places(&http, &base).await;
    // Staggered so the kill lands while requests are still arriving.
    let (booking, acknowledged) =
        book_staggered(&http, &base, tokens, places, Duration::from_micros(500));
    wait_acknowledged(&acknowledged, 100).await;
    server.kill().expect("SIGKILL"); // kill -9: no shutdown hook runs
    server.wait().unwrap();
    booking.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 100,
        "only {} acknowledged before the kill",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() < people as usize,
        "the kill should interrupt the run"
    );

    assert_all_on_disk(&http, dir.path(), &acknowledged).await;
}

/// W2 across a crash: `kill -9` during an opening; after the restart every ticket has the same
/// place and new arrivals queue behind all of them (in 2021 the servers were restarted just before
/// an opening, and people at the front were thrown to the back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ticket_keeps_its_place_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(dir.path(), port);
    wait_healthy(&http, &base).await;
    let operator = std::fs::read_to_string(dir.path().join("operator.token")).unwrap();
    let now = jiff::Timestamp::now();
    let opens = now.checked_add(jiff::SignedDuration::from_secs(3)).unwrap();
    let scheduled = http
        .post(format!("{base}/api/v1/admin/openings"))
        .bearer_auth(operator.trim())
        .json(&json!({"prequeue_starts_at": now.to_string(), "opens_at": opens.to_string(), "max_active": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.status().as_u16(), 201);

    let early = join_all((0..40).map(|_| arrive(&http, &base))).await;
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    let late = join_all((0..20).map(|_| arrive(&http, &base))).await;
    let everyone: Vec<(String, String)> = early.iter().chain(&late).cloned().collect();
    let mut before = Vec::new();
    for (session, ticket) in &everyone {
        let status = number(&http, &base, session, ticket).await;
        before.push(
            status["number"]
                .as_u64()
                .unwrap_or_else(|| panic!("{status}")),
        );
    }
    let early_max = before[..40].iter().max().copied().unwrap();
    assert!(
        before[40..].iter().all(|n| *n > early_max),
        "after the opening, arrivals queue behind the pre-queue"
    );

    server.kill().unwrap();
    server.wait().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut restarted = start(dir.path(), port);
    wait_healthy(&http, &base).await;
    for ((session, ticket), was) in everyone.iter().zip(&before) {
        let status = number(&http, &base, session, ticket).await;
        assert_eq!(status["number"].as_u64(), Some(*was), "{status}");
    }
    let (session, ticket) = arrive(&http, &base).await;
    let newcomer = number(&http, &base, &session, &ticket).await;
    assert!(
        newcomer["number"].as_u64().unwrap() > *before.iter().max().unwrap(),
        "{newcomer}"
    );
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}
