//! A stop under load: SIGTERM while bookings arrive and a client is stuck mid-request. The real
//! binary must exit by itself within its grace period, cleanly, and every booking it
//! acknowledged must be on disk.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{Client, free_port, login, places, start, start_with, wait_healthy};
use futures::future::join_all;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
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
    let acknowledged: Arc<Mutex<Vec<(Client, u64)>>> = Arc::default();
    let booking = {
        let acknowledged = Arc::clone(&acknowledged);
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move {
            join_all(clients.into_iter().enumerate().map(|(i, client)| {
                let (clinic, date, hour) = places[i % places.len()].clone();
                let (http, base, acknowledged) =
                    (http.clone(), base.clone(), Arc::clone(&acknowledged));
                async move {
                    // Staggered so the stop lands while requests are still arriving.
                    tokio::time::sleep(Duration::from_micros(800 * i as u64)).await;
                    let sent = client
                        .on(http.post(format!("{base}/api/v1/bookings")))
                        .json(&json!({"clinic_id": clinic, "date": date, "hour": hour, "product": "pfizer"}))
                        .send()
                        .await;
                    let Ok(response) = sent else { return };
                    if response.status().as_u16() != 201 {
                        return;
                    }
                    if let Ok(body) = response.json::<Value>().await
                        && let Some(id) = body["id"].as_u64()
                    {
                        acknowledged.lock().unwrap().push((client, id));
                    }
                }
            }))
            .await;
        })
    };

    // A client that never finishes its body: without a deadline, the stop would wait for it
    // for ever (its request timeout is longer than the grace period).
    let mut stuck = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = "POST /api/v1/queue/arrive HTTP/1.1\r\nhost: yeyak\r\ncontent-length: 1000\r\n\r\n{";
    tokio::io::AsyncWriteExt::write_all(&mut stuck, head.as_bytes())
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 50 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
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

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut restarted = start(dir.path(), port);
    wait_healthy(&http, &base).await;
    for (client, id) in &acknowledged {
        let response = client
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
