//! W1–W3 over real HTTP: each 2021 bypass replayed against the waiting room, and shown to fail.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{OPERATOR_TOKEN, TestServer, Visitor, booking_body, rrn_1967, small_world};
use serde_json::{Value, json};
use server::clock::Clock;
use std::collections::HashSet;
use std::time::Duration;

async fn schedule(server: &TestServer, prequeue: &str, opens: &str, max_active: u32) -> u64 {
    let response = server
        .http
        .post(server.url("/api/v1/admin/openings"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"prequeue_starts_at": prequeue, "opens_at": opens, "max_active": max_active}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    body["queue"].as_u64().unwrap()
}

async fn arrive(server: &TestServer) -> Visitor {
    let (status, arrived) = server
        .post("/api/v1/queue/arrive", None, json!({}), None)
        .await;
    assert_eq!(status, 201, "{arrived}");
    Visitor {
        session: arrived["session"].as_str().unwrap().into(),
        ticket: arrived["ticket"].as_str().unwrap().into(),
        ..Visitor::default()
    }
}

/// Flips one character in the middle of a token.
fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_booking_call_works_without_a_valid_pass() {
    let server = TestServer::start(small_world()).await;
    let person = server.login("홍길동", &rrn_1967(1)).await;
    let book = booking_body(0, "2021-08-16", 10, "moderna");

    // 2021: a direct link to the booking page worked, and the queue key was never checked.
    let mut no_pass = person.clone();
    no_pass.pass.clear();
    for (path, body) in [
        ("/api/v1/bookings", book.clone()),
        ("/api/v1/identity/start", json!({})),
    ] {
        let (status, error) = server.post(path, Some(&no_pass), body, None).await;
        assert_eq!(
            (status, error["error"].as_str()),
            (401, Some("pass_required")),
            "{path}"
        );
    }
    let (status, _) = server.get("/api/v1/eligibility", Some(&no_pass)).await;
    assert_eq!(status, 401);

    // A pass with a changed byte (the console trick) is forged.
    let mut forged = person.clone();
    forged.pass = tamper(&person.pass);
    let (status, _) = server
        .post("/api/v1/bookings", Some(&forged), book.clone(), None)
        .await;
    assert_eq!(status, 403);

    // A pass copied into another browser session is foreign.
    let other = server.enter().await;
    let mut foreign = person.clone();
    foreign.session = other.session.clone();
    let (status, error) = server
        .post("/api/v1/bookings", Some(&foreign), book.clone(), None)
        .await;
    assert_eq!(status, 403, "{error}");

    // A ticket is not a pass.
    let mut ticket_as_pass = person.clone();
    ticket_as_pass.pass = person.ticket.clone();
    let (status, _) = server
        .post(
            "/api/v1/bookings",
            Some(&ticket_as_pass),
            book.clone(),
            None,
        )
        .await;
    assert_eq!(status, 403);

    // The real pass works.
    let (status, _) = server
        .post("/api/v1/bookings", Some(&person), book, None)
        .await;
    assert_eq!(status, 201);

    // Setting the clock forward is a server matter: after 30 minutes of server time it expires,
    // whatever the client's Date header says.
    server.clock.advance(jiff::SignedDuration::from_mins(31));
    let response = person
        .apply(server.http.get(server.url("/api/v1/bookings")))
        .header("Date", "Mon, 19 Jul 2021 11:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "token_expired", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_reconnects_and_tabs_keep_the_same_place() {
    let server = TestServer::start(small_world()).await;
    let now = server.clock.now();
    let later = |minutes: i64| {
        now.checked_add(jiff::SignedDuration::from_mins(minutes))
            .unwrap()
            .to_string()
    };
    schedule(&server, &now.to_string(), &later(10), 1_000).await;
    let visitors: Vec<Visitor> = futures::future::join_all((0..30).map(|_| arrive(&server))).await;
    // Before the opening nobody has a place yet, and a client's clock claim changes nothing.
    let response = visitors[0]
        .apply(server.http.get(server.url("/api/v1/queue/status")))
        .header("Date", "Tue, 20 Jul 2021 00:00:00 GMT")
        .send()
        .await
        .unwrap();
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["state"], "before_opening", "{status}");

    server.clock.set(later(10).parse().unwrap());
    tokio::time::sleep(Duration::from_millis(600)).await; // two ticks: the opening happens
    let mut numbers = HashSet::new();
    for visitor in &visitors {
        let (_, status) = server.get("/api/v1/queue/status", Some(visitor)).await;
        assert!(
            numbers.insert(status["number"].as_u64().unwrap()),
            "{status}"
        );
    }
    // The 30 early arrivals hold distinct places among the first blocks reserved (a quiet queue
    // reserves small blocks, so at most a few places are empty: the rest of the block in hand and
    // the one reserved ahead).
    let last = *numbers.iter().max().unwrap();
    assert!(last <= 30 + 2 * server::waiting::BLOCK_MIN, "{numbers:?}");

    let first = &visitors[0];
    let (_, before) = server.get("/api/v1/queue/status", Some(first)).await;
    // Ten tabs, a reload, a reconnect (airplane mode): the same ticket gives the same place and
    // no new ticket.
    for _ in 0..10 {
        let (status, again) = server
            .post("/api/v1/queue/arrive", Some(first), json!({}), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(again["ticket"].as_str(), Some(first.ticket.as_str()));
        assert_eq!(again["number"], before["number"]);
    }
    // Losing the ticket puts you at the back.
    let fresh = arrive(&server).await;
    let (_, behind) = server.get("/api/v1/queue/status", Some(&fresh)).await;
    assert!(behind["number"].as_u64().unwrap() > last, "{behind}");
    // A changed ticket is refused, not re-placed.
    let mut forged = first.clone();
    forged.ticket = tamper(&first.ticket);
    let (status, _) = server.get("/api/v1/queue/status", Some(&forged)).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_from_another_queue_is_refused() {
    let server = TestServer::start(small_world()).await;
    let visitor = arrive(&server).await;
    let now = server.clock.now().to_string();
    schedule(&server, &now, &now, 1_000).await;
    let (status, error) = server.get("/api/v1/queue/status", Some(&visitor)).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("token_wrong_queue")),
        "{error}"
    );
    let (status, error) = server
        .http
        .post(server.url("/api/v1/admin/openings"))
        .bearer_auth("not-the-operator-token")
        .json(&json!({"prequeue_starts_at": now, "opens_at": now, "max_active": 10}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map(|s| (s, ()))
        .unwrap();
    assert_eq!((status, error), (403, ()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_page_works_without_javascript() {
    let server = TestServer::start(small_world()).await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = client.get(server.url("/wait")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"ko\""));
    assert!(!html.contains("<script"));
    assert!(
        html.len() < 4_096,
        "the waiting page stays small: {} bytes",
        html.len()
    );
    // With room to spare the visitor is let in, and the pass cookie opens the booking side.
    server.clock.advance(jiff::SignedDuration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let html = client
        .get(server.url("/wait?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("It is your turn"), "{html}");
    let (status, _) = {
        let response = client
            .get(server.url("/api/v1/bookings"))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), ())
    };
    assert_eq!(
        status, 401,
        "the pass works; only the identity check is missing"
    );
    let response = client
        .get(server.url("/api/v1/bookings"))
        .send()
        .await
        .unwrap();
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "unauthenticated");
}

/// 2021: the front door and booking shared one system, so when booking stalled nobody could even
/// join the queue. Here another connection holds the booking database's write lock for far
/// longer than a request may take (a stalled writer: every booking waits), and the front door
/// keeps answering: new arrivals, reloads with a held ticket, and status polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_door_answers_while_the_booking_database_is_locked() {
    const HOLD: Duration = Duration::from_secs(6);
    const ANSWER_WITHIN: Duration = Duration::from_secs(2);
    let server = TestServer::start(small_world()).await;
    let first = arrive(&server).await;

    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let db = server.dir.path().join("yeyak.db");
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(HOLD);
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let started = std::time::Instant::now();

    let mut arrivals = Vec::new();
    for _ in 0..300 {
        let http = server.http.clone();
        let url = server.url("/api/v1/queue/arrive");
        arrivals.push(tokio::spawn(async move {
            let t = std::time::Instant::now();
            let status = http.post(url).send().await.unwrap().status().as_u16();
            (t.elapsed(), status)
        }));
    }
    for (elapsed, status) in futures::future::join_all(arrivals)
        .await
        .into_iter()
        .map(Result::unwrap)
    {
        assert_eq!(status, 201, "a new arrival is served from memory");
        assert!(elapsed < ANSWER_WITHIN, "an arrival took {elapsed:?}");
    }
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let (status, body) = server.get("/api/v1/queue/status", Some(&first)).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            t.elapsed() < ANSWER_WITHIN,
            "a status poll took {:?}",
            t.elapsed()
        );
        let t = std::time::Instant::now();
        let (status, body) = server
            .post("/api/v1/queue/arrive", Some(&first), json!({}), None)
            .await;
        assert_eq!(status, 200, "a reload keeps its ticket: {body}");
        assert!(
            t.elapsed() < ANSWER_WITHIN,
            "a reload took {:?}",
            t.elapsed()
        );
    }
    assert!(
        started.elapsed() < HOLD,
        "all of it happened while the booking database was locked"
    );
    holder.join().unwrap();
}
