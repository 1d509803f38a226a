//! The HTTP shell's limits over real TCP: slow and silent clients are cut at their timeouts,
//! connections and requests beyond their caps are shed with 503 while the waiting room's front
//! door keeps answering, and every refusal is the API's JSON error.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{OPENING_PLUS_5S, OPERATOR_TOKEN, TestServer, small_world};
use serde_json::{Value, json};
use server::shell::Limits;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a slow machine may add to a timeout before the test calls it broken.
const SLACK: Duration = Duration::from_secs(5);

async fn start(limits: Limits) -> TestServer {
    TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        OPENING_PLUS_5S.parse().unwrap(),
        |config| config.limits = limits,
    )
    .await
}

/// One parsed answer off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// Reads one answer (head and a Content-Length body); `None` when the connection closed first.
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut answer = Answer {
        status,
        head,
        body: Value::Null,
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    answer.body =
        serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or(Value::Null);
    Some(answer)
}

/// Waits for the server to close the connection; how long that took, or `None` if it stayed
/// open for `within`.
async fn closed(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

async fn request(addr: SocketAddr, text: &str) -> (TcpStream, Option<Answer>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    (stream, answer)
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: yeyak\r\n{extra}\r\n")
}

/// A ticket's status poll headers, as the waiting page sends them. Taken on a connection that
/// closes after it, so no pooled connection counts against a cap.
async fn ticket(server: &TestServer) -> String {
    let arrive = "POST /api/v1/queue/arrive HTTP/1.1\r\nhost: yeyak\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
    let (mut stream, answer) = request(server.addr, arrive).await;
    let arrived = answer.unwrap();
    assert_eq!(arrived.status, 201, "{arrived:?}");
    assert!(closed(&mut stream, SLACK).await.is_some());
    tokio::time::sleep(Duration::from_millis(100)).await;
    format!(
        "x-yeyak-waiting-session: {}\r\nx-yeyak-ticket: {}\r\n",
        arrived.body["session"].as_str().unwrap(),
        arrived.body["ticket"].as_str().unwrap()
    )
}

fn assert_api_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["error"], code, "{answer:?}");
    assert!(
        answer.body["message_ko"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        answer.body["message_en"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn partial_headers_and_idle_connections_are_cut_at_the_header_timeout() {
    let header_timeout = Duration::from_secs(1);
    let server = start(Limits {
        header_timeout,
        ..Limits::default()
    })
    .await;

    // Half a request head, then nothing: the connection is closed at the timeout, not before.
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial
        .write_all(b"GET /api/v1/regions HTTP/1.1\r\nhost: yeyak\r\nx-slow: ")
        .await
        .unwrap();
    let took = closed(&mut partial, header_timeout + SLACK).await;
    let took = took.expect("a partial head must not hold a connection open");
    assert!(took >= header_timeout / 2, "closed after {took:?}");

    // A head trickled in a byte at a time is cut too, although bytes keep coming.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut cut = false;
    for byte in get("/api/v1/regions", &"x-pad: a\r\n".repeat(100)).bytes() {
        if trickle.write_all(&[byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if started.elapsed() > header_timeout + SLACK {
            break;
        }
    }
    assert!(
        cut || closed(&mut trickle, Duration::from_millis(100))
            .await
            .is_some(),
        "a trickled head must be cut at the header timeout"
    );

    // A keep-alive connection is answered, then closed once it has been idle that long.
    let (mut idle, answer) = request(server.addr, &get("/api/v1/regions", "")).await;
    assert_eq!(answer.unwrap().status, 200);
    assert!(closed(&mut idle, header_timeout + SLACK).await.is_some());

    // Meanwhile, and after, everyone else is served.
    let (_, answer) = request(server.addr, &get("/api/v1/regions", "")).await;
    assert_eq!(answer.unwrap().status, 200);
}

async fn start_with_request_timeout(timeout: Duration) -> TestServer {
    start(Limits {
        request_timeout: timeout,
        operator_request_timeout: timeout,
        ..Limits::default()
    })
    .await
}

/// The head of an operator's `POST /api/v1/admin/openings` announcing a body of `length` bytes.
fn opening_head(length: usize) -> String {
    format!(
        "POST /api/v1/admin/openings HTTP/1.1\r\nhost: yeyak\r\nauthorization: Bearer {OPERATOR_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_slow_body_is_answered_408_at_the_request_timeout() {
    let timeout = Duration::from_secs(1);
    let server = start_with_request_timeout(timeout).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let head = format!("{}{{\"opens_at\":", opening_head(200));
    slow.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(timeout + SLACK, read_answer(&mut slow))
        .await
        .expect("answered within the request timeout")
        .expect("an answer, not a dropped connection");
    assert!(started.elapsed() >= timeout / 2);
    assert_api_error(&answer, 408, "request_timeout");
    assert!(closed(&mut slow, SLACK).await.is_some(), "then closed");

    // The same route answers a client that sends its body in time.
    let (status, _) = server.get("/api/v1/regions", None).await;
    assert_eq!(status, 200);
}

/// A small body is read on the front door's thread before the booking side's handler runs
/// (`app::router::read_small_body`): one sent in pieces is read whole, and one that stops
/// arriving is still the handler's 408, not an answer on part of it.
#[tokio::test]
async fn a_body_sent_in_pieces_reaches_its_handler_whole() {
    let timeout = Duration::from_secs(2);
    let server = start_with_request_timeout(timeout).await;
    let body = r#"{"prequeue_starts_at":"2021-07-19T12:00:00Z","opens_at":"2021-07-19T12:30:00Z","max_active":100}"#;
    let head = opening_head(body.len());
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in body.as_bytes().chunks(body.len() / 3 + 1) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        stream.write_all(piece).await.unwrap();
    }
    let answer = tokio::time::timeout(SLACK, read_answer(&mut stream))
        .await
        .expect("answered")
        .expect("an answer, not a dropped connection");
    assert_eq!(answer.status, 201, "{answer:?}");
    // Any piece short of the whole is not JSON: 201 means the handler read all three.
    assert!(answer.body["queue"].is_u64(), "{answer:?}");

    // Two pieces of three, then nothing: no opening is made of the two.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body.as_bytes()[..body.len() - 10])
        .await
        .unwrap();
    let answer = tokio::time::timeout(timeout + SLACK, read_answer(&mut stream))
        .await
        .expect("answered within the request timeout")
        .expect("an answer, not a dropped connection");
    assert_api_error(&answer, 408, "request_timeout");
}

#[tokio::test]
async fn a_flood_of_connections_is_shed_while_status_polls_are_answered() {
    let server = start(Limits {
        max_connections: 2,
        header_timeout: Duration::from_secs(60),
        ..Limits::default()
    })
    .await;
    let poll = get("/api/v1/queue/status", &ticket(&server).await);

    // A waiting page's keep-alive connection, polling.
    let (mut poller, answer) = request(server.addr, &poll).await;
    assert_eq!(answer.unwrap().status, 200);
    // A second connection fills the cap and stays silent.
    let mut holder = TcpStream::connect(server.addr).await.unwrap();
    holder
        .write_all(b"GET /api/v1/regions HTTP/1.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Past the cap, a connection is served one request, and only the front door's.
    let (mut overflow, answer) = request(server.addr, &get("/api/v1/regions", "")).await;
    let answer = answer.unwrap();
    assert_api_error(&answer, 503, "overloaded");
    assert!(answer.header("retry-after").is_some());
    assert!(closed(&mut overflow, SLACK).await.is_some());
    // (The slot comes free a moment after the previous overflow connection closed.)
    let mut served = None;
    for _ in 0..50 {
        let (overflow, answer) = request(server.addr, &poll).await;
        let answer = answer.unwrap();
        if answer.status == 200 {
            served = Some((overflow, answer));
            break;
        }
        assert_api_error(&answer, 503, "overloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut overflow, answer) = served.expect("a status poll is served on an overflow connection");
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(closed(&mut overflow, SLACK).await.is_some());

    // A flood that holds its connections: the overflow slot goes, then every other connection
    // is answered 503 at once, without being read.
    let mut flood = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let _ = stream.write_all(b"GET /api/v1/regions HTTP/1.1\r\n").await;
        flood.push(stream);
    }
    let mut refused = 0;
    for stream in &mut flood {
        if let Ok(Some(answer)) =
            tokio::time::timeout(Duration::from_millis(500), read_answer(stream)).await
        {
            assert_api_error(&answer, 503, "overloaded");
            assert!(answer.header("retry-after").is_some());
            refused += 1;
        }
    }
    assert!(
        refused >= 35,
        "only {refused} of 40 flood connections were shed"
    );

    // All the while, the poller on its connection is answered.
    for _ in 0..5 {
        poller.write_all(poll.as_bytes()).await.unwrap();
        let answer = read_answer(&mut poller).await.unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    // The flood goes away; new connections are served normally again.
    drop(flood);
    drop(holder);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, answer) = request(server.addr, &get("/api/v1/regions", "")).await;
    assert_eq!(answer.unwrap().status, 200);
    let (status, metrics) = raw_metrics(&server).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("yeyak_http_shed_connections"), "{metrics}");
}

#[tokio::test]
async fn requests_beyond_the_in_flight_cap_are_shed_except_the_front_door() {
    let server = start(Limits {
        max_in_flight: 1,
        ..Limits::default()
    })
    .await;
    let poll = get("/api/v1/queue/status", &ticket(&server).await);
    // One request in flight: its body is on its way.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/admin/openings HTTP/1.1\r\nhost: yeyak\r\nauthorization: Bearer {OPERATOR_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 200\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (_, answer) = request(server.addr, &get("/api/v1/regions", "")).await;
    let answer = answer.unwrap();
    assert_api_error(&answer, 503, "overloaded");
    assert!(answer.header("retry-after").is_some());
    let (_, answer) = request(server.addr, &poll).await;
    assert_eq!(answer.unwrap().status, 200, "the front door is shed last");
    let (_, answer) = request(server.addr, &get("/healthz", "")).await;
    assert_eq!(answer.unwrap().status, 200, "so is the liveness probe");

    // The slow request ends; the rest is served again.
    slow.write_all(&[b' '; 199]).await.unwrap();
    let answer = read_answer(&mut slow).await.unwrap();
    assert_api_error(&answer, 400, "invalid_body");
    let (_, answer) = request(server.addr, &get("/api/v1/regions", "")).await;
    assert_eq!(answer.unwrap().status, 200);
}

async fn raw_metrics(server: &TestServer) -> (u16, String) {
    let response = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn every_rejection_is_the_api_error_shape() {
    let server = start(Limits::default()).await;
    let operator = |r: reqwest::RequestBuilder| r.bearer_auth(OPERATOR_TOKEN);
    let check = |response: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(response.status().as_u16(), status);
        let allow = response.headers().get("allow").cloned();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message_ko"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["message_en"].as_str().is_some_and(|m| !m.is_empty()));
        allow
    };
    let http = &server.http;

    // A path id that is not a number.
    let response = http
        .get(server.url("/api/v1/clinics/abc"))
        .send()
        .await
        .unwrap();
    check(response, 400, "invalid_request").await;
    // No such route.
    let response = http
        .get(server.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    check(response, 404, "not_found").await;
    // A method the route does not have, and one nobody has.
    let response = http
        .delete(server.url("/api/v1/regions"))
        .send()
        .await
        .unwrap();
    let allow = check(response, 405, "method_not_allowed").await;
    assert!(allow.is_some(), "405 says what is allowed");
    let made_up = reqwest::Method::from_bytes(b"BREW").unwrap();
    let response = http
        .request(made_up, server.url("/api/v1/regions"))
        .send()
        .await
        .unwrap();
    check(response, 405, "method_not_allowed").await;
    // Bad JSON, JSON sent as something else, and a body over the route's limit.
    let response = operator(http.post(server.url("/api/v1/admin/openings")))
        .header("content-type", "application/json")
        .body("{\"opens_at\": ")
        .send()
        .await
        .unwrap();
    check(response, 400, "invalid_body").await;
    let response = operator(http.post(server.url("/api/v1/admin/openings")))
        .body("{}")
        .send()
        .await
        .unwrap();
    check(response, 415, "unsupported_media_type").await;
    let response = operator(http.post(server.url("/api/v1/admin/openings")))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"pad\": \"{}\"}}",
            "x".repeat(server::http::BODY_MAX)
        ))
        .send()
        .await
        .unwrap();
    check(response, 413, "body_too_large").await;
    let csv = "0,2021-07-26,moderna,10\n".repeat(server::http::DELIVERIES_CSV_BODY_MAX / 20);
    let response = operator(http.post(server.url("/api/v1/admin/deliveries/import")))
        .body(csv)
        .send()
        .await
        .unwrap();
    check(response, 413, "body_too_large").await;

    // A made-up method, an unknown path and a bad id left no label behind them on /metrics.
    let (_, metrics) = raw_metrics(&server).await;
    assert!(!metrics.contains("BREW"), "{metrics}");
    assert!(!metrics.contains("abc"), "{metrics}");
    assert!(!metrics.contains("/api/v1/nothing"), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

/// The priority list promises 1,000,000 members: a list that size gets through the body limit
/// (and is judged on its content), and the limit still stops anything much bigger.
#[tokio::test]
async fn a_priority_list_of_a_million_members_fits_its_body_limit() {
    let server = start(Limits::default()).await;
    let upload = |rrns: Vec<String>| {
        server
            .http
            .post(server.url("/api/v1/admin/priority-lists"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({
                "name_ko": "돌봄 종사자", "name_en": "Care workers",
                "opens_at": "2021-07-20T00:00:00Z", "closes_at": "2021-07-30T00:00:00Z",
                "rrns": rrns,
            }))
            .send()
    };
    // A million numbers in the usual format; the last one is not a date, so the upload is
    // refused for its content (naming that line) after being read whole.
    let mut rrns: Vec<String> = (0..999_999).map(|n| format!("670315-1{n:06}")).collect();
    rrns.push("671399-1000000".to_string());
    let response = upload(rrns).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"]["line"], 1_000_000, "{body}");
    // One more member than promised: refused by the rule, not the transport.
    let rrns: Vec<String> = (0..1_000_001)
        .map(|n| format!("670315-1{:06}", n % 1_000_000))
        .collect();
    let response = upload(rrns).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_priority_list", "{body}");
    // Twice the promise in bytes: stopped by the body limit.
    let rrns: Vec<String> = (0..1_000_000).map(|n| format!("{n:0>30}")).collect();
    let response = upload(rrns).await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "body_too_large", "{body}");
}

/// An answer the server cannot give in time (the booking database is held by another
/// connection, so the writer waits) is 503 `timeout` at the request timeout, not a hang; the
/// booking goes through once the database is free, and a retry with the same Idempotency-Key
/// learns so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_not_ready_at_the_request_timeout_is_503_and_safe_to_retry() {
    const HOLD: Duration = Duration::from_secs(3);
    let timeout = Duration::from_secs(1);
    let server = start(Limits {
        request_timeout: timeout,
        ..Limits::default()
    })
    .await;
    let person = server.login("시간초과", &common::rrn_1967(11)).await;
    let body = common::booking_body(0, "2021-08-16", 11, "pfizer");

    let holder = common::lock_booking_database(&server, HOLD);
    let started = Instant::now();
    let response = person
        .apply(server.http.post(server.url("/api/v1/bookings")))
        .header("Idempotency-Key", "timeout-retry-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < HOLD,
        "answered before the database came free"
    );
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "timeout", "{error}");
    holder.join().unwrap();

    let (status, booked) = server
        .post(
            "/api/v1/bookings",
            Some(&person),
            body,
            Some("timeout-retry-1"),
        )
        .await;
    assert!(status == 201 || status == 200, "{status} {booked}");
    let (status, mine) = server.get("/api/v1/bookings", Some(&person)).await;
    assert_eq!(status, 200);
    assert_eq!(
        mine.to_string().matches("\"dose\":1").count(),
        1,
        "booked once: {mine}"
    );
}

/// Issue 12: the front door has capacity of its own. The booking side is saturated — its writer
/// stalled behind another connection's write lock with bookings piling up on it, and a crowd
/// searching clinics as fast as it can — and arrivals and status polls are still answered
/// within a bound, because the booking side runs on a runtime of its own
/// (`routes::booking_side_apart`) and the front door is answered by the async workers alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_door_answers_while_the_booking_side_is_saturated() {
    const HOLD: Duration = Duration::from_secs(4);
    const ANSWER_WITHIN: Duration = Duration::from_millis(500);
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        OPENING_PLUS_5S.parse().unwrap(),
        |config| {
            config.booking_threads = 1;
            config.limits.request_timeout = HOLD + SLACK;
        },
    )
    .await;
    let first = server
        .post("/api/v1/queue/arrive", None, json!({}), None)
        .await
        .1;
    let ticket = first["ticket"].as_str().unwrap().to_string();
    let mut people = Vec::new();
    for i in 0..40 {
        people.push(server.login("대기자", &common::rrn_1967(100 + i)).await);
    }

    let holder = common::lock_booking_database(&server, HOLD);
    let started = Instant::now();
    let deadline = started + HOLD - Duration::from_millis(500);
    // Bookings waiting on the stalled writer.
    let mut bookings = Vec::new();
    for (i, person) in people.into_iter().enumerate() {
        let request = person
            .apply(server.http.post(server.url("/api/v1/bookings")))
            .header("Idempotency-Key", format!("saturated-{i}"))
            .json(&common::booking_body(
                0,
                "2021-08-16",
                9 + (i % 8) as u8,
                "pfizer",
            ));
        bookings.push(tokio::spawn(async move {
            let status = request.send().await.unwrap().status().as_u16();
            (Instant::now(), status)
        }));
    }
    // A crowd searching clinics back to back until the deadline.
    let mut searchers = Vec::new();
    for _ in 0..32 {
        let http = server.http.clone();
        let url = server.url("/api/v1/clinics?lat=37.58&lon=126.985&radius_km=50");
        searchers.push(tokio::spawn(async move {
            let mut answered = 0u32;
            while Instant::now() < deadline {
                let status = http.get(&url).send().await.unwrap().status().as_u16();
                assert_eq!(status, 200);
                answered += 1;
            }
            answered
        }));
    }

    // Meanwhile: new arrivals and status polls of a held ticket, each within the bound.
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    while Instant::now() < deadline {
        let t = Instant::now();
        let (status, arrived) = server
            .post("/api/v1/queue/arrive", None, json!({}), None)
            .await;
        assert_eq!(status, 201, "{arrived}");
        slowest = slowest.max(t.elapsed());
        let t = Instant::now();
        let polled = server
            .http
            .get(server.url("/api/v1/queue/status"))
            .header("x-yeyak-ticket", &ticket)
            .send()
            .await
            .unwrap();
        assert_eq!(polled.status().as_u16(), 200);
        slowest = slowest.max(t.elapsed());
        served += 2;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        slowest < ANSWER_WITHIN,
        "the front door took {slowest:?} while the booking side was saturated"
    );
    assert!(served >= 20, "only {served} front-door answers in {HOLD:?}");

    // The booking side really was saturated: searches kept coming, and no booking was answered
    // while the writer was stalled.
    let mut searched = 0;
    for searcher in searchers {
        searched += searcher.await.unwrap();
    }
    assert!(searched >= 32, "{searched} searches");
    println!("front door: {served} answers, slowest {slowest:?}; {searched} searches");
    holder.join().unwrap();
    let released = started + HOLD;
    for booking in bookings {
        let (at, status) = booking.await.unwrap();
        assert!(
            at >= released,
            "a booking was answered ({status}) while the writer was stalled"
        );
        assert!(matches!(status, 201 | 409 | 503), "{status}");
    }
}

/// The head's header lines but `date`, sorted: what two answers must share to be the same.
fn headers_but_date(answer: &Answer) -> Vec<String> {
    let mut lines: Vec<String> = answer
        .head
        .lines()
        .skip(1)
        .filter(|line| !line.is_empty() && !line.to_ascii_lowercase().starts_with("date:"))
        .map(str::to_ascii_lowercase)
        .collect();
    lines.sort();
    lines
}

/// A series' value in the `/metrics` text (0 when it is not there yet).
fn series(metrics: &str, name_and_labels: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0)
}

/// A plain status poll is answered before the router (`shell::front_door`): the same answer,
/// head and body, as the router gives the same poll (a query that means nothing sends it there),
/// counted and timed in the same series.
#[tokio::test]
async fn a_plain_status_poll_is_answered_as_the_router_answers_it() {
    let server = start(Limits::default()).await;
    let held = ticket(&server).await;
    let over_https = format!("{held}x-forwarded-proto: https\r\n");
    let tampered = held.replacen("x-yeyak-ticket: ", "x-yeyak-ticket: x", 1);
    let token = held
        .lines()
        .find_map(|line| line.strip_prefix("x-yeyak-ticket: "))
        .unwrap_or_else(|| panic!("{held:?}"));
    // The socket reads headers where they lie, not from hyper's map: names in any case, the
    // first of two alike, a ticket in a cookie among others, a phone's dozen headers.
    let as_cookie = format!("cookie: a=1; yeyak_ticket={token}\r\ncookie: yeyak_lang=ko\r\n");
    let shouted = held.replacen("x-yeyak-ticket", "X-YEYAK-Ticket", 1);
    let tampered_first = format!("{tampered}{held}");
    let held_first = format!("{held}{tampered}");
    let phone = format!(
        "user-agent: Mozilla/5.0 (Linux; Android 13)\r\naccept: */*\r\n\
         accept-language: ko-KR,ko;q=0.9\r\naccept-encoding: gzip, br\r\n\
         referer: https://yeyak.example/wait\r\nsec-fetch-site: same-origin\r\n\
         sec-fetch-mode: cors\r\nConnection: keep-alive\r\n{held}"
    );
    let cases = [
        ("a held ticket", held.as_str(), 200),
        ("over https", over_https.as_str(), 200),
        ("no ticket", "", 401),
        ("a tampered ticket", tampered.as_str(), 403),
        ("not a ticket", "x-yeyak-ticket: v1.nonsense\r\n", 403),
        ("a ticket in a cookie", as_cookie.as_str(), 200),
        ("a header name in capitals", shouted.as_str(), 200),
        ("a tampered ticket first", tampered_first.as_str(), 403),
        ("a held ticket first", held_first.as_str(), 200),
        ("a phone's headers", phone.as_str(), 200),
    ];
    for (what, extra, status) in cases {
        let (_, direct) = request(server.addr, &get("/api/v1/queue/status", extra)).await;
        let (_, routed) =
            request(server.addr, &get("/api/v1/queue/status?via=router", extra)).await;
        let (direct, routed) = (direct.unwrap(), routed.unwrap());
        assert_eq!(direct.status, status, "{what}: {direct:?}");
        assert_eq!(
            direct.status, routed.status,
            "{what}: {direct:?} {routed:?}"
        );
        assert_eq!(direct.body, routed.body, "{what}");
        assert_eq!(
            headers_but_date(&direct),
            headers_but_date(&routed),
            "{what}"
        );
        assert!(direct.header("x-content-type-options").is_some(), "{what}");
    }
    let (_, first) = request(server.addr, &get("/api/v1/queue/status", &held)).await;
    assert_eq!(first.unwrap().status, 200, "the held ticket is answered");

    let ok =
        "yeyak_http_requests_total{method=\"GET\",route=\"/api/v1/queue/status\",status=\"200\"}";
    let refused =
        "yeyak_http_requests_total{method=\"GET\",route=\"/api/v1/queue/status\",status=\"401\"}";
    let timed = "yeyak_http_request_duration_seconds_count{route=\"/api/v1/queue/status\"}";
    let (_, before) = raw_metrics(&server).await;
    for _ in 0..3 {
        let (_, answer) = request(server.addr, &get("/api/v1/queue/status", &held)).await;
        assert_eq!(answer.unwrap().status, 200);
    }
    let (_, answer) = request(server.addr, &get("/api/v1/queue/status", "")).await;
    assert_api_error(&answer.unwrap(), 401, "ticket_required");
    let (_, after) = raw_metrics(&server).await;
    assert_eq!(series(&after, ok), series(&before, ok) + 3, "{after}");
    assert_eq!(
        series(&after, refused),
        series(&before, refused) + 1,
        "{after}"
    );
    assert_eq!(series(&after, timed), series(&before, timed) + 4, "{after}");
}

/// Reads `count` answers off one connection, in order (pipelined answers may arrive in one read).
async fn read_answers(stream: &mut TcpStream, count: usize) -> Vec<Answer> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut answers = Vec::new();
    while answers.len() < count {
        let whole = buffer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .and_then(|at| {
                let head = String::from_utf8_lossy(&buffer[..at + 4]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")?
                            .trim()
                            .parse()
                            .ok()
                    })
                    .unwrap_or(0);
                (buffer.len() >= at + 4 + length).then_some((head, at + 4, length))
            });
        if let Some((head, start, length)) = whole {
            answers.push(Answer {
                status: head.split(' ').nth(1).unwrap().parse().unwrap(),
                body: serde_json::from_slice(&buffer[start..start + length]).unwrap_or(Value::Null),
                head,
            });
            buffer.drain(..start + length);
            continue;
        }
        let n = tokio::time::timeout(SLACK, stream.read(&mut chunk))
            .await
            .expect("the answers came in time")
            .unwrap();
        assert!(n > 0, "closed after {} answers: {answers:?}", answers.len());
        buffer.extend_from_slice(&chunk[..n]);
    }
    assert!(buffer.is_empty(), "more than {count} answers");
    answers
}

/// Status polls are answered on the socket (`shell::plain_poll`) until the connection sends
/// something else; hyper then serves it from that request on, with every byte the client sent.
/// Pipelined or trickled, before and after the hand-off, every request on a kept-alive
/// connection is answered, in order.
#[tokio::test]
async fn polls_and_other_requests_share_a_kept_alive_connection_in_order() {
    let server = start(Limits::default()).await;
    let held = ticket(&server).await;
    let poll = get("/api/v1/queue/status", &held);
    let arrive = "POST /api/v1/queue/arrive HTTP/1.1\r\nhost: yeyak\r\ncontent-length: 0\r\n\r\n";
    let mut stream = TcpStream::connect(server.addr).await.unwrap();

    // A head in two pieces, then two polls and an arrival and a poll in one write.
    stream.write_all(&poll.as_bytes()[..20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(&poll.as_bytes()[20..]).await.unwrap();
    let first = read_answers(&mut stream, 1).await;
    assert_eq!(first[0].status, 200, "{first:?}");
    let pipelined = format!("{poll}{poll}{arrive}{poll}");
    stream.write_all(pipelined.as_bytes()).await.unwrap();
    let answers = read_answers(&mut stream, 4).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 201, 200], "{answers:?}");
    for polled in [&answers[0], &answers[1], &answers[3]] {
        assert_eq!(polled.body["number"], first[0].body["number"], "{polled:?}");
        assert!(polled.header("date").is_some(), "{polled:?}");
    }
    assert!(answers[2].body["ticket"].is_string(), "{:?}", answers[2]);

    // After the hand-off, hyper answers a trickled poll on the same connection too.
    stream.write_all(&poll.as_bytes()[..20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(&poll.as_bytes()[20..]).await.unwrap();
    let after = read_answers(&mut stream, 1).await;
    assert_eq!(after[0].status, 200, "{after:?}");
    assert_eq!(headers_but_date(&after[0]), headers_but_date(&answers[0]));
}

/// What the socket's poll reader does not take is answered by hyper as it answers anything:
/// a head longer than the reader's limit, a poll asking to close the connection, HTTP/1.0.
#[tokio::test]
async fn polls_the_socket_reader_leaves_to_hyper_are_answered_by_it() {
    let server = start(Limits::default()).await;
    let held = ticket(&server).await;
    let long = format!("{held}x-padding: {}\r\n", "a".repeat(20 * 1024));
    let (_, answer) = request(server.addr, &get("/api/v1/queue/status", &long)).await;
    assert_eq!(
        answer.unwrap().status,
        200,
        "a long head is hyper's to take"
    );

    let closing = format!("{held}connection: close\r\n");
    let (mut stream, answer) = request(server.addr, &get("/api/v1/queue/status", &closing)).await;
    let answer = answer.unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(closed(&mut stream, SLACK).await.is_some());

    let old = format!("GET /api/v1/queue/status HTTP/1.0\r\n{held}\r\n");
    let (_, answer) = request(server.addr, &old).await;
    assert_eq!(answer.unwrap().status, 200);
}

/// A connection waiting between polls is closed when the server stops, as hyper closes its
/// idle connections: the stop is not held up by it.
#[tokio::test]
async fn a_connection_idle_between_polls_is_closed_when_the_server_stops() {
    let server = start(Limits::default()).await;
    let held = ticket(&server).await;
    let (mut stream, answer) = request(server.addr, &get("/api/v1/queue/status", &held)).await;
    assert_eq!(answer.unwrap().status, 200);
    drop(server);
    assert!(
        closed(&mut stream, SLACK).await.is_some(),
        "the idle connection outlived the server"
    );
}
