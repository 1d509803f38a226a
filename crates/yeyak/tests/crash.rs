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
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test's people at their carriers: person `n` owns phone `0107nnnnnnn`.
fn subscribers(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("subscribers.csv");
    let lines: String = (0..1_000)
        .map(|n| format!("0107{n:07},충돌시험,680401-2{n:06},skt\n"))
        .collect();
    std::fs::write(&path, lines).unwrap();
    path
}

fn start(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_yeyak"))
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        // Every simulated person comes from 127.0.0.1: no per-address limit on checks.
        .args(["--identity-checks-per-address", "0"])
        .arg("--subscribers")
        .arg(subscribers(dir))
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

/// Session id and pass, from the waiting room.
async fn enter(http: &reqwest::Client, base: &str) -> (String, String, String) {
    let (session, ticket) = arrive(http, base).await;
    for _ in 0..600 {
        let response = http
            .post(format!("{base}/api/v1/queue/exchange"))
            .header("x-yeyak-session", &session)
            .header("x-yeyak-ticket", &ticket)
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 200 {
            let body: Value = response.json().await.unwrap();
            return (session, ticket, body["pass"].as_str().unwrap().to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not admitted within a minute");
}

/// What a client sends with every booking-side call: session id, pass and session token.
#[derive(Clone)]
struct Client {
    session: String,
    pass: String,
    token: String,
}

impl Client {
    fn on(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header("x-yeyak-session", &self.session)
            .header("x-yeyak-pass", &self.pass)
            .bearer_auth(&self.token)
    }
}

async fn login(http: &reqwest::Client, base: &str, n: u32) -> Client {
    let (session, _, pass) = enter(http, base).await;
    let mut client = Client {
        session,
        pass,
        token: String::new(),
    };
    let started: Value = client
        .on(http.post(format!("{base}/api/v1/identity/start")))
        .json(&json!({"name": "충돌시험", "rrn": format!("680401-2{n:06}"), "phone": format!("0107{n:07}")}))
        .send().await.unwrap().json().await.unwrap();
    let verified: Value = client
        .on(http.post(format!("{base}/api/v1/identity/verify")))
        .json(&json!({"verification_id": started["verification_id"], "code": started["demo_code"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    client.token = verified["session_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{started} {verified}"))
        .to_string();
    client
}

/// (clinic, date, hour) places with room, from the public search API.
async fn places(http: &reqwest::Client, base: &str) -> Vec<(u64, String, u8)> {
    let found: Value = http
        .get(format!(
            "{base}/api/v1/clinics?municipality=11010&product=pfizer&days=6&limit=5"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut places = Vec::new();
    for clinic in found["clinics"].as_array().unwrap() {
        for day in clinic["availability"].as_array().unwrap() {
            if day["remaining"]["pfizer"].as_u64().unwrap_or(0) > 50 {
                for hour in 9..18 {
                    places.push((
                        clinic["id"].as_u64().unwrap(),
                        day["date"].as_str().unwrap().to_string(),
                        hour,
                    ));
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

async fn number(http: &reqwest::Client, base: &str, session: &str, ticket: &str) -> Value {
    http.get(format!("{base}/api/v1/queue/status"))
        .header("x-yeyak-session", session)
        .header("x-yeyak-ticket", ticket)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn arrive(http: &reqwest::Client, base: &str) -> (String, String) {
    let arrived: Value = http
        .post(format!("{base}/api/v1/queue/arrive"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        arrived["session"].as_str().unwrap().to_string(),
        arrived["ticket"].as_str().unwrap().to_string(),
    )
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
