//! B3: a booking acknowledged to a client survives `kill -9` of the server. Runs the real
//! binary on a real SQLite file, kills it while bookings are in flight, restarts it on the same
//! data directory and reads every acknowledged booking back.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use futures::future::join_all;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_yeyak"))
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .env("YEYAK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("yeyak starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("yeyak did not become healthy at {base}");
}

async fn login(http: &reqwest::Client, base: &str, n: u32) -> String {
    let started: Value = http
        .post(format!("{base}/api/v1/identity/start"))
        .json(&json!({"name": "충돌시험", "rrn": format!("680401-2{n:06}"), "phone": "010-2222-3333"}))
        .send().await.unwrap().json().await.unwrap();
    let verified: Value = http
        .post(format!("{base}/api/v1/identity/verify"))
        .json(&json!({"verification_id": started["verification_id"], "code": started["demo_code"]}))
        .send().await.unwrap().json().await.unwrap();
    verified["session_token"].as_str().unwrap_or_else(|| panic!("{started} {verified}")).to_string()
}

/// (clinic, date, hour) places with room, from the public search API.
async fn places(http: &reqwest::Client, base: &str) -> Vec<(u64, String, u8)> {
    let found: Value = http
        .get(format!("{base}/api/v1/clinics?municipality=11010&product=pfizer&days=6&limit=5"))
        .send().await.unwrap().json().await.unwrap();
    let mut places = Vec::new();
    for clinic in found["clinics"].as_array().unwrap() {
        for day in clinic["availability"].as_array().unwrap() {
            if day["remaining"]["pfizer"].as_u64().unwrap_or(0) > 50 {
                for hour in 9..18 {
                    places.push((clinic["id"].as_u64().unwrap(), day["date"].as_str().unwrap().to_string(), hour));
                }
            }
        }
    }
    assert!(places.len() > 20, "{found}");
    places
}

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
    let acknowledged: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();

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
                    let sent = http
                        .post(format!("{base}/api/v1/bookings"))
                        .bearer_auth(&token)
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
    assert!(acknowledged.len() >= 100, "only {} acknowledged before the kill", acknowledged.len());
    assert!(acknowledged.len() < people as usize, "the kill should interrupt the run");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut restarted = start(dir.path(), port);
    wait_healthy(&http, &base).await;
    for (token, id) in &acknowledged {
        let response = http.get(format!("{base}/api/v1/bookings/{id}")).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "acknowledged booking {id} lost");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["active"], true);
    }
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}
