//! B3: a booking acknowledged to a client survives `kill -9` of the server. Runs the real
//! binary on a real SQLite file, kills it while bookings are in flight, restarts it on the same
//! data directory and reads every acknowledged booking back.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{Client, arrive, free_port, login, number, places, start, wait_healthy};
use futures::future::join_all;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_bookings_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(dir.path(), port);
    wait_healthy(&http, &base).await;

    let people = 600;
    let tokens = join_all((0..people).map(|n| login(&http, &base, n))).await;
    let places = places(&http, &base).await;
    let acknowledged: Arc<Mutex<Vec<(Client, u64)>>> = Arc::default();

    let booking = {
        let acknowledged = Arc::clone(&acknowledged);
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            join_all(tokens.into_iter().enumerate().map(|(i, token)| {
                let (clinic, date, hour) = places[i % places.len()].clone();
                let (http, base, acknowledged) = (http.clone(), base.clone(), Arc::clone(&acknowledged));
                async move {
                    // Staggered so the kill lands while requests are still arriving.
                    tokio::time::sleep(Duration::from_micros(500 * i as u64)).await;
                    let sent = token
                        .on(http.post(format!("{base}/api/v1/bookings")))
                        .json(&json!({"clinic_id": clinic, "date": date, "hour": hour, "product": "pfizer"}))
                        .send()
                        .await;
                    let Ok(response) = sent else { return };
                    if response.status().as_u16() != 201 {
                        return;
                    }
                    // Only a complete, parsed "booked" answer counts as acknowledged.
                    if let Ok(body) = response.json::<Value>().await
                        && let Some(id) = body["id"].as_u64()
                    {
                        acknowledged.lock().unwrap().push((token, id));
                    }
                }
            }))
            .await;
        })
    };

    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
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

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut restarted = start(dir.path(), port);
    wait_healthy(&http, &base).await;
    for (token, id) in &acknowledged {
        let response = token
            .on(http.get(format!("{base}/api/v1/bookings/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "acknowledged booking {id} lost"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], true);
    }
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}

/// W2 across a crash: `kill -9` during an opening; after the restart every ticket has the same
/// place and new arrivals queue behind all of them (in 2021 the servers were restarted just before
/// an opening, and people at the front were thrown to the back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ticket_keeps_its_place_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
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
