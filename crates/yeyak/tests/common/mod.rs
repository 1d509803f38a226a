//! The real `yeyak` binary and a client for it, shared by the tests that start, kill or stop it.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
#![allow(dead_code)]

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start(dir: &std::path::Path, port: u16) -> Child {
    start_with(dir, port, &[])
}

/// The tests' people at their carriers: person `n` (see [`login`]) owns phone `0107nnnnnnn`
/// (2,400 of them: the three-node race logs in 2,000).
fn subscribers(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("subscribers.csv");
    let lines: String = (0..2_400)
        .map(|n| format!("0107{n:07},충돌시험,680401-2{n:06},skt\n"))
        .collect();
    std::fs::write(&path, lines).unwrap();
    path
}

/// Starts `yeyak serve --demo` with extra flags.
pub fn start_with(dir: &std::path::Path, port: u16, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_yeyak"))
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        // Every simulated person comes from 127.0.0.1: no per-address limit on checks.
        .args(["--identity-checks-per-address", "0"])
        .args(["--tickets-per-address-minute", "0"])
        .arg("--subscribers")
        .arg(subscribers(dir))
        .args(extra)
        .env("YEYAK_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("yeyak starts")
}

pub async fn wait_healthy(http: &reqwest::Client, base: &str) {
    // A debug build of the demo world's 13,280 clinics takes seconds a ledger (a node with the
    // ledger in parts builds one and copies it), and the suite starts several nodes at once
    // on two cores: a minute was seen to be too short.
    let deadline = Instant::now() + Duration::from_secs(150);
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
pub async fn enter(http: &reqwest::Client, base: &str) -> (String, String, String) {
    let (session, ticket) = arrive(http, base).await;
    for _ in 0..600 {
        let response = http
            .post(format!("{base}/api/v1/queue/exchange"))
            .header("x-yeyak-waiting-session", &session)
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
pub struct Client {
    pub session: String,
    pub pass: String,
    pub token: String,
}

impl Client {
    pub fn on(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header("x-yeyak-waiting-session", &self.session)
            .header("x-yeyak-pass", &self.pass)
            .bearer_auth(&self.token)
    }
}

pub async fn login(http: &reqwest::Client, base: &str, n: u32) -> Client {
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
pub async fn places(http: &reqwest::Client, base: &str) -> Vec<(u64, String, u8)> {
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
    // A test may run across midnight in Seoul, when the earliest day open for booking closes
    // (it becomes today): that day is left out, so a place found here stays bookable.
    let clinics = found["clinics"].as_array().unwrap();
    let earliest = clinics
        .iter()
        .flat_map(|clinic| clinic["availability"].as_array().unwrap())
        .filter_map(|day| day["date"].as_str())
        .min()
        .map(str::to_string);
    let mut places = Vec::new();
    for clinic in clinics {
        for day in clinic["availability"].as_array().unwrap() {
            if day["date"].as_str().map(str::to_string) == earliest {
                continue;
            }
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

pub async fn number(http: &reqwest::Client, base: &str, session: &str, ticket: &str) -> Value {
    http.get(format!("{base}/api/v1/queue/status"))
        .header("x-yeyak-waiting-session", session)
        .header("x-yeyak-ticket", ticket)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn arrive(http: &reqwest::Client, base: &str) -> (String, String) {
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

/// Bookings acknowledged so far: who booked, and the id they were given.
pub type Acknowledged = std::sync::Arc<std::sync::Mutex<Vec<(Client, u64)>>>;

/// Books one place per client, one every `stagger`, so a stop or a kill lands while requests
/// are still arriving. Only a complete, parsed "booked" answer counts as acknowledged.
pub fn book_staggered(
    http: &reqwest::Client,
    base: &str,
    clients: Vec<Client>,
    places: Vec<(u64, String, u8)>,
    stagger: Duration,
) -> (tokio::task::JoinHandle<()>, Acknowledged) {
    let acknowledged = Acknowledged::default();
    let booking = {
        let acknowledged = std::sync::Arc::clone(&acknowledged);
        let (http, base) = (http.clone(), base.to_string());
        tokio::spawn(async move {
            futures::future::join_all(clients.into_iter().enumerate().map(|(i, client)| {
                let (clinic, date, hour) = places[i % places.len()].clone();
                let (http, base, acknowledged) =
                    (http.clone(), base.clone(), std::sync::Arc::clone(&acknowledged));
                async move {
                    tokio::time::sleep(stagger * i as u32).await;
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
    (booking, acknowledged)
}

/// Waits until `at_least` bookings are acknowledged (or 30 s pass).
pub async fn wait_acknowledged(acknowledged: &Acknowledged, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < at_least && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Restarts the server on `dir` and reads every acknowledged booking back, active.
pub async fn assert_all_on_disk(
    http: &reqwest::Client,
    dir: &std::path::Path,
    acknowledged: &[(Client, u64)],
) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut restarted = start(dir, port);
    wait_healthy(http, &base).await;
    assert_all_active(http, &base, acknowledged).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}

/// Reads every acknowledged booking back from the server at `base`: there, and active.
pub async fn assert_all_active(http: &reqwest::Client, base: &str, acknowledged: &[(Client, u64)]) {
    for (client, id) in acknowledged {
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
        assert_eq!(body["active"], true, "{body}");
    }
}

/// Drops a PostgreSQL schema (in the database at the URL) when a test ends, passed or failed.
pub struct DropSchema {
    pub url: String,
    pub schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let _ = store::postgres::drop_schema(&self.url, &self.schema);
    }
}

/// A new schema `name` in the PostgreSQL database at `url`: the URL that uses it, and its
/// dropping. Fails loudly when PostgreSQL is not there.
pub fn new_schema(url: &str, name: &str) -> (String, DropSchema) {
    let in_schema = store::postgres::create_schema(url, name).unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {url} ({e}); this test needs it")
    });
    let drop = DropSchema {
        url: url.to_string(),
        schema: name.to_string(),
    };
    (in_schema, drop)
}

/// Every acknowledged booking is in the database and active.
pub fn assert_active(reader: &impl store::ReadStore, acknowledged: &[u64]) {
    for id in acknowledged {
        let booking = reader.booking(domain::booking::BookingId(*id)).unwrap();
        assert!(
            booking.as_ref().is_some_and(|b| b.is_active()),
            "acknowledged booking {id} lost: {booking:?}"
        );
    }
}

/// One booking try with an idempotency key: the status (0 when no answer came), the booking's id
/// when booked, and `Retry-After`.
pub async fn book_keyed(
    http: &reqwest::Client,
    base: &str,
    who: &Client,
    place: &(u64, String, u8),
    key: &str,
) -> (u16, Option<u64>, Option<String>) {
    let (clinic, date, hour) = place;
    let sent = who
        .on(http.post(format!("{base}/api/v1/bookings")))
        .header("idempotency-key", key)
        .json(&json!({"clinic_id": clinic, "date": date, "hour": hour, "product": "pfizer"}))
        .send()
        .await;
    let Ok(response) = sent else {
        return (0, None, None);
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let id = body["id"].as_u64().filter(|_| status == 201);
    (status, id, retry_after)
}

/// Books with a key, retrying with the same key while there is no answer or a 503 (a node
/// taking over, a forwarded answer lost, the database away), for up to 60 s.
pub async fn book_keyed_until_answered(
    http: &reqwest::Client,
    base: &str,
    who: &Client,
    place: &(u64, String, u8),
    key: &str,
) -> (u16, Option<u64>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, id, _) = book_keyed(http, base, who, place, key).await;
        if !matches!(status, 0 | 503) || Instant::now() > deadline {
            return (status, id);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
