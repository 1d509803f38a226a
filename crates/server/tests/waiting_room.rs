//! W1–W3 over real HTTP: each 2021 bypass replayed against the waiting room, and shown to fail.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{OPERATOR_TOKEN, TestServer, Visitor, booking_body, clinic, rrn_1967, small_world};
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

    let holder = common::lock_booking_database(&server, HOLD);
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

/// Verifies a waiting ticket as `name`/`rrn` (their own phone), through the waiting room's own
/// identity routes (the ticket stands in for a pass). Returns the answer and the visitor holding
/// what it was given.
async fn verify_waiting(
    server: &TestServer,
    mut visitor: Visitor,
    name: &str,
    rrn: &str,
) -> (Value, Visitor) {
    let phone = common::phone_of(rrn);
    server.subscribers.register(
        &phone,
        &domain::name::PersonName::parse(name).unwrap(),
        &domain::rrn::Rrn::parse(rrn).unwrap(),
        server::identity::Carrier::Kt,
    );
    let (status, started) = server
        .post(
            "/api/v1/queue/verify/start",
            Some(&visitor),
            json!({"name": name, "rrn": rrn, "phone": phone}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let (status, verified) = server
        .post(
            "/api/v1/queue/verify",
            Some(&visitor),
            json!({"verification_id": started["verification_id"], "code": started["demo_code"]}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{verified}");
    if let Some(ticket) = verified["ticket"].as_str() {
        visitor.ticket = ticket.to_string();
    }
    visitor.token = verified["session_token"].as_str().unwrap().to_string();
    (verified, visitor)
}

/// A pre-queue from now, opening in ten minutes with room for `max_active`.
async fn prequeue_now(server: &TestServer, max_active: u32) -> jiff::Timestamp {
    let now = server.clock.now();
    let opens = now
        .checked_add(jiff::SignedDuration::from_mins(10))
        .unwrap();
    schedule(server, &now.to_string(), &opens.to_string(), max_active).await;
    opens
}

async fn open_now(server: &TestServer, opens: jiff::Timestamp) {
    server.clock.set(opens);
    tokio::time::sleep(Duration::from_millis(700)).await; // ticks: the opening is committed
}

/// Ten tabs (ten tickets, as a script or ten private windows would get) verified by one person
/// show one place, the same number on every one; honest people verified in between hold one
/// place each; the script's unverified tickets all rank behind every verified person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_tabs_of_one_verified_person_show_one_place() {
    let server = TestServer::start(small_world()).await;
    let opens = prequeue_now(&server, 1).await;
    // Five tickets (devices, private windows, a script) verified by one person: as many as the
    // identity check's own limit allows one phone in an hour.
    let mut tabs = Vec::new();
    for _ in 0..5 {
        let tab = arrive(&server).await;
        let (answer, tab) = verify_waiting(&server, tab, "홍길동", &rrn_1967(1)).await;
        assert_eq!(answer["verified"], true, "{answer}");
        assert_eq!(answer["state"], "before_opening", "{answer}");
        tabs.push(tab);
    }
    // Ten tabs of the same browser share its cookies: the same ticket ten times.
    for _ in 0..10 {
        tabs.push(tabs[0].clone());
    }
    let mut honest = Vec::new();
    for i in 0..5 {
        let visitor = arrive(&server).await;
        honest.push(
            verify_waiting(&server, visitor, "김정직", &rrn_1967(100 + i))
                .await
                .1,
        );
    }
    let farmed: Vec<Visitor> = futures::future::join_all((0..20).map(|_| arrive(&server))).await;
    open_now(&server, opens).await;

    let mut numbers = HashSet::new();
    for tab in &tabs {
        let (_, status) = server.get("/api/v1/queue/status", Some(tab)).await;
        numbers.insert(status["number"].as_u64().unwrap());
    }
    assert_eq!(numbers.len(), 1, "one place on every tab: {numbers:?}");
    let mut verified_numbers: Vec<u64> = numbers.into_iter().collect();
    for visitor in &honest {
        let (_, status) = server.get("/api/v1/queue/status", Some(visitor)).await;
        verified_numbers.push(status["number"].as_u64().unwrap());
    }
    verified_numbers.sort_unstable();
    verified_numbers.dedup();
    assert_eq!(verified_numbers.len(), 6, "six people, six places");
    let last_verified = *verified_numbers.last().unwrap();
    for visitor in &farmed {
        let (_, status) = server.get("/api/v1/queue/status", Some(visitor)).await;
        assert!(
            status["number"].as_u64().unwrap() > last_verified,
            "an unverified ticket ranks behind every verified person: {status}"
        );
    }
}

/// A pass is the verified person's it admitted: a second pass for the same person (another
/// tab's ticket, another device) is refused while the first is in use; the pass acts for its
/// person only; what one pass may do is capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_is_bound_to_one_verified_person() {
    let server = TestServer::start(small_world()).await;
    let opens = prequeue_now(&server, 1_000).await;
    let first = verify_waiting(&server, arrive(&server).await, "홍길동", &rrn_1967(1))
        .await
        .1;
    let second = verify_waiting(&server, arrive(&server).await, "홍길동", &rrn_1967(1))
        .await
        .1;
    open_now(&server, opens).await;
    let (status, admitted) = server
        .post("/api/v1/queue/exchange", Some(&first), json!({}), None)
        .await;
    assert_eq!(status, 200, "{admitted}");
    let mut first = first;
    first.pass = admitted["pass"].as_str().unwrap().into();
    let (status, refused) = server
        .post("/api/v1/queue/exchange", Some(&second), json!({}), None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("person_has_pass")),
        "{refused}"
    );
    // Reloading the second device's page does not hand it a new ticket instead.
    let (status, refused) = server
        .post("/api/v1/queue/arrive", Some(&second), json!({}), None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("person_has_pass"))
    );
    // The first pass, with its person signed in, works on the booking side.
    let (status, _) = server.get("/api/v1/eligibility", Some(&first)).await;
    assert_eq!(status, 200);
    // Signed in as someone else, it does nothing (one pass ran checks for three people in 2021).
    let other = server.login("김타인", &rrn_1967(2)).await;
    let mut borrowed = first.clone();
    borrowed.token = other.token.clone();
    let (status, error) = server.get("/api/v1/eligibility", Some(&borrowed)).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("pass_other_person"))
    );
    // Verifying someone else with it is refused too.
    let phone = server.subscribe("이남", &rrn_1967(3));
    let (_, started) = server
        .post(
            "/api/v1/identity/start",
            Some(&first),
            json!({"name": "이남", "rrn": rrn_1967(3), "phone": phone}),
            None,
        )
        .await;
    let (status, error) = server
        .post(
            "/api/v1/identity/verify",
            Some(&first),
            json!({"verification_id": started["verification_id"], "code": started["demo_code"]}),
            None,
        )
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("pass_other_person"))
    );
    // Identity checks per pass: 8 (one was used just now), then refused.
    let limit = server::waiting::PASS_IDENTITY_STARTS;
    let mut refused_at = None;
    for i in 1..=limit {
        let rrn = rrn_1967(10 + i);
        let phone = server.subscribe("이가족", &rrn);
        let (status, answer) = server
            .post(
                "/api/v1/identity/start",
                Some(&first),
                json!({"name": "이가족", "rrn": rrn, "phone": phone}),
                None,
            )
            .await;
        if status != 202 {
            assert_eq!(
                (status, answer["error"].as_str()),
                (429, Some("pass_limit")),
                "{answer}"
            );
            refused_at = Some(i);
            break;
        }
    }
    assert_eq!(
        refused_at,
        Some(limit),
        "the {limit}th start after the first is refused"
    );
    // Once the first device has been idle for 5 minutes, the second may enter.
    server.clock.advance(jiff::SignedDuration::from_mins(6));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer) = server
        .post("/api/v1/queue/exchange", Some(&second), json!({}), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    // Now the first is the second one in use: refused on the booking side.
    let (status, error) = server.get("/api/v1/eligibility", Some(&first)).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (409, Some("person_has_pass"))
    );
}

/// 2021: any client minted a ticket whenever it sent none (2,000 in 0.7 s; 200 for one session
/// id; `GET /wait` too). Now a new ticket always comes with a new session (a session holds one
/// ticket), and tickets are limited per client address, the waiting page's included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_minting_is_limited_per_address_and_a_session_holds_one_ticket() {
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        common::OPENING_PLUS_5S.parse().unwrap(),
        |config| config.gate.tickets_per_address_minute = 20,
    )
    .await;
    let first = arrive(&server).await;
    let mut same_session = first.clone();
    same_session.ticket.clear();
    let (status, again) = server
        .post("/api/v1/queue/arrive", Some(&same_session), json!({}), None)
        .await;
    assert_eq!(status, 201, "{again}");
    assert_ne!(
        again["session"].as_str(),
        Some(first.session.as_str()),
        "a second ticket never shares the first one's session"
    );
    for _ in 2..20 {
        let (status, _) = server
            .post("/api/v1/queue/arrive", None, json!({}), None)
            .await;
        assert_eq!(status, 201);
    }
    let (status, refused) = server
        .post("/api/v1/queue/arrive", None, json!({}), None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (429, Some("too_many_tickets"))
    );
    let page = server.http.get(server.url("/wait")).send().await.unwrap();
    assert_eq!(
        page.status().as_u16(),
        429,
        "the waiting page mints no more either"
    );
    // Someone holding a ticket keeps being answered.
    let (status, _) = server
        .post("/api/v1/queue/arrive", Some(&first), json!({}), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = server.get("/api/v1/queue/status", Some(&first)).await;
    assert_eq!(status, 200);
    // A minute later the address may mint again.
    server.clock.advance(jiff::SignedDuration::from_secs(61));
    let (status, _) = server
        .post("/api/v1/queue/arrive", None, json!({}), None)
        .await;
    assert_eq!(status, 201);
}

/// A verified person whose cohort does not open in this opening is told at once, with their
/// own window in Seoul time, and takes no place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ineligible_person_gets_no_place_and_their_own_window() {
    let server = TestServer::start(small_world()).await;
    prequeue_now(&server, 1_000).await;
    let visitor = arrive(&server).await;
    // Born 1971: 50 in 2021, whose window opened the next evening.
    let (answer, _) = verify_waiting(&server, visitor, "박오십", "710315-1000001").await;
    assert_eq!(answer["state"], "ineligible", "{answer}");
    assert_eq!(answer["eligibility"]["code"], "not_yet", "{answer}");
    let window = answer["eligibility"]["opens_at_kst"].as_str().unwrap();
    assert!(window.starts_with("2021-07-20T20:00:00+09:00"), "{window}");
    assert!(answer.get("ticket").is_none(), "no place: {answer}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("yeyak_queue_ineligible_turned_away_total 1"),
        "{metrics}"
    );
}

/// Where someone waits, the places left nearby are set against the people ahead who will
/// likely book there: the status says "may run out" plainly, and the person can ask, from the
/// waiting room, to be told of leftover doses instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_warns_when_places_nearby_may_run_out() {
    use domain::product::Product;
    // Seoul (province 11): plenty. Busan (21): one dose a day.
    let world = vec![
        clinic(0, 11010, 37.5735, 126.9790, 10, &[(Product::Moderna, 100)]),
        clinic(1, 21090, 35.1631, 129.1635, 1, &[(Product::Pfizer, 1)]),
    ];
    let server = TestServer::start(world).await;
    let opens = prequeue_now(&server, 1).await;
    open_now(&server, opens).await;
    // A hundred people ahead: about 6.5 of them (Busan's share of the residents) for Busan.
    futures::future::join_all((0..100).map(|_| arrive(&server))).await;
    let visitor = arrive(&server).await;
    let (_, visitor) = verify_waiting(&server, visitor, "홍길동", &rrn_1967(1)).await;

    let status_in = |province: &'static str| {
        let (server, visitor) = (&server, &visitor);
        async move {
            // The capacity is sampled in the background, once at start and every 10 s.
            for _ in 0..50 {
                let path = format!("/api/v1/queue/status?province={province}");
                let (code, status) = server.get(&path, Some(visitor)).await;
                assert_eq!(code, 200, "{status}");
                if status.get("places_left_nearby").is_some() || province == "99" {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("no capacity sampled for province {province}");
        }
    };
    let busan = status_in("21").await;
    assert_eq!(busan["state"], "waiting", "{busan}");
    let left = busan["places_left_nearby"].as_u64().unwrap();
    assert!(
        left > 0,
        "places are left in Busan, but fewer than those ahead: {busan}"
    );
    assert_eq!(busan["places_may_run_out"], true, "{busan}");
    let seoul = status_in("11").await;
    assert_eq!(seoul["places_may_run_out"], false, "{seoul}");
    assert!(seoul["places_left_nearby"].as_u64().unwrap() > left);
    // No province, or one that does not exist: the plain status, never an error.
    for path in ["/api/v1/queue/status", "/api/v1/queue/status?province=99"] {
        let (code, plain) = server.get(path, Some(&visitor)).await;
        assert_eq!(code, 200, "{plain}");
        assert!(plain.get("places_may_run_out").is_none(), "{plain}");
        assert_eq!(plain["number"], busan["number"]);
    }

    // Told of leftover doses near Haeundae instead: signed in by verifying while waiting, no
    // pass needed. Without the identity session, refused.
    let alerts = json!({"lat": 35.1631, "lon": 129.1635, "radius_km": 5.0});
    let put = |who: &Visitor| {
        who.apply(server.http.put(server.url("/api/v1/queue/leftover-alerts")))
            .json(&alerts)
            .send()
    };
    let answer = put(&visitor).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["subscription"]["radius_km"], 5.0, "{body}");
    let unverified = arrive(&server).await;
    let refused = put(&unverified).await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let (_backend, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    let person = domain::booking::PersonId(1);
    let stored = store::ReadStore::subscription(&reader, person).unwrap();
    assert!(stored.is_some_and(|s| s.radius_km == 5.0));

    // The waiting page says the same plainly, without scripts: the places left where the person
    // chose, the warning, and the form to be told of leftover doses instead.
    let page = |path: &'static str| {
        let (server, visitor) = (&server, &visitor);
        async move {
            let response = visitor
                .apply(server.http.get(server.url(path)))
                .send()
                .await;
            response.unwrap().text().await.unwrap()
        }
    };
    let busan_page = page("/wait?province=21").await;
    assert!(busan_page.contains("id=\"places-nearby\""), "{busan_page}");
    assert!(busan_page.contains("id=\"may-run-out\""), "{busan_page}");
    assert!(
        busan_page.contains("id=\"leftover-alerts\""),
        "{busan_page}"
    );
    let seoul_page = page("/wait?province=11").await;
    assert!(seoul_page.contains("id=\"places-nearby\""), "{seoul_page}");
    assert!(!seoul_page.contains("id=\"may-run-out\""), "{seoul_page}");
    let plain_page = page("/wait").await;
    assert!(!plain_page.contains("id=\"places-nearby\""), "{plain_page}");
    let post = |cookie: String, district: &'static str| {
        server
            .http
            .post(server.url("/wait/leftover-alerts"))
            .header("origin", format!("http://{}", server.addr))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("municipality={district}"))
            .send()
    };
    let signed_in = format!("yeyak_identity={}", visitor.token);
    let done = post(signed_in.clone(), "21090").await.unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert!(done.text().await.unwrap().contains("id=\"alerts-result\""));
    let stored = store::ReadStore::subscription(&reader, person)
        .unwrap()
        .unwrap();
    assert_eq!(stored.radius_km, domain::leftover::MAX_RADIUS_KM);
    assert!(
        (stored.at.lat - 35.16).abs() < 0.2,
        "near Haeundae: {:?}",
        stored.at
    );
    // Not signed in, or a district that does not exist: refused, nothing changed.
    assert_eq!(
        post(String::new(), "21090")
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        post(signed_in, "99999").await.unwrap().status().as_u16(),
        400
    );
    let still = store::ReadStore::subscription(&reader, person)
        .unwrap()
        .unwrap();
    assert_eq!(still.at, stored.at);
}

/// The texts in the outbox telling someone their turn came.
fn turn_texts(server: &TestServer) -> Vec<store::OutboxRecord> {
    let (_backend, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    store::ReadStore::pending_outbox(&reader, i64::MAX, 100_000)
        .unwrap()
        .into_iter()
        .filter(|r| r.message.template == "queue_turn")
        .collect()
}

/// "Leave and we'll text you": three verified people close the page. Each is texted exactly
/// once, and never before the watermark really reached them; one comes back through the link
/// within the return window and is let in; one comes back too late: the place has passed on,
/// and they rejoin at the back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texted_people_are_told_only_when_reached_and_held_for_the_return_window() {
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        common::OPENING_PLUS_5S.parse().unwrap(),
        |config| config.gate.return_window_ms = 10 * 60_000,
    )
    .await;
    // Room for one at a time: nobody shows up on the booking side, so the line moves one
    // no-show window (20 s) at a time.
    let opens = prequeue_now(&server, 1).await;
    let unverified = arrive(&server).await;
    let (status, refused) = server
        .post("/api/v1/queue/text-me", Some(&unverified), json!({}), None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("text_me_needs_verification"))
    );
    let mut texted = Vec::new();
    for i in 0..3 {
        let visitor = verify_waiting(&server, arrive(&server).await, "문자씨", &rrn_1967(200 + i))
            .await
            .1;
        let (status, answer) = server
            .post("/api/v1/queue/text-me", Some(&visitor), json!({}), None)
            .await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["return_window_minutes"], 10);
        texted.push(visitor);
    }
    open_now(&server, opens).await;

    let mut reached = HashSet::new();
    for _ in 0..40 {
        // Texts first, then statuses: the watermark only grows, so every text counted here
        // was for someone already reached.
        let texts = turn_texts(&server);
        for (i, visitor) in texted.iter().enumerate() {
            let (_, status) = server.get("/api/v1/queue/status", Some(visitor)).await;
            if status["state"] == "admitted" {
                reached.insert(i);
            }
        }
        assert!(
            texts.len() <= reached.len(),
            "{} texts for {} people reached",
            texts.len(),
            reached.len()
        );
        if reached.len() == 3 && texts.len() == 3 {
            break;
        }
        server.clock.advance(jiff::SignedDuration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(1_200)).await;
    }
    let texts = turn_texts(&server);
    assert_eq!(texts.len(), 3, "each texted person once");
    assert!(
        texts
            .iter()
            .all(|t| t.message.body_en.contains("/wait/return?s="))
    );

    // The first comes back through the link in another browser, within the window: let in.
    let link = texts[0]
        .message
        .body_en
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = browser
        // (The link names the configured site; here, the test server's address.)
        .get(server.url(&link[link.find("/wait/return").unwrap()..]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("입장 차례입니다"), "{html}");

    // Another does not come back: after the window the place has passed on.
    server.clock.advance(jiff::SignedDuration::from_mins(11));
    let late = texted.iter().find(|v| !link.contains(&v.ticket)).unwrap();
    let (status, error) = server
        .post("/api/v1/queue/exchange", Some(late), json!({}), None)
        .await;
    assert_eq!(
        (status, error["error"].as_str()),
        (410, Some("place_passed_on")),
        "{error}"
    );
    let (_, before) = server.get("/api/v1/queue/status", Some(late)).await;
    let (status, rejoined) = server
        .post("/api/v1/queue/arrive", Some(late), json!({}), None)
        .await;
    assert_eq!(status, 201, "rejoins with a new ticket: {rejoined}");
    assert!(
        rejoined["number"].as_u64() > before["number"].as_u64(),
        "at the back: {rejoined} after {before}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("yeyak_queue_texted_away_total 3"),
        "{metrics}"
    );
}

/// Call-centre agents queue people fairly: the caller the agent checked goes into the same queue
/// under the same rules (one place per person, drawn with the verified), the agent's reloads show
/// the same place, and during an opening the agent books for the caller only once it comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_queued_caller_keeps_one_place_across_the_agent_s_reloads() {
    let server = TestServer::start(small_world()).await;
    let (status, staff) = server
        .post(
            "/api/v1/admin/staff",
            Some(&common::operator()),
            json!({"role": "agent", "name": "콜센터 김"}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{staff}");
    let agent = staff["token"].as_str().unwrap().to_string();
    let opens = prequeue_now(&server, 1_000).await;
    let rrn = rrn_1967(300);
    let identified: Value = server
        .http
        .post(server.url("/api/v1/agent/identify"))
        .header("x-yeyak-staff", &agent)
        .json(&json!({"name": "최노인", "rrn": rrn, "phone": "010-2222-3333"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let caller = identified["person_token"].as_str().unwrap().to_string();
    let as_agent = |path: &str, body: Value| {
        server
            .http
            .post(server.url(path))
            .header("x-yeyak-staff", &agent)
            .bearer_auth(&caller)
            .json(&body)
            .send()
    };
    let queue = || async {
        let response = as_agent("/api/v1/agent/queue", json!({})).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json::<Value>().await.unwrap()
    };
    let first = queue().await;
    assert_eq!(first["state"], "before_opening", "{first}");
    for _ in 0..3 {
        assert_eq!(
            queue().await["ticket"],
            first["ticket"],
            "the agent reloads: same place"
        );
    }
    let early = as_agent(
        "/api/v1/agent/bookings",
        booking_body(0, "2021-07-21", 10, "moderna"),
    )
    .await
    .unwrap();
    assert_eq!(early.status().as_u16(), 409);
    let early: Value = early.json().await.unwrap();
    assert_eq!(early["error"], "caller_not_admitted", "{early}");
    // The caller also queued on their own phone: still one place, the same one.
    let own = verify_waiting(&server, arrive(&server).await, "최노인", &rrn)
        .await
        .1;

    open_now(&server, opens).await;
    let admitted = queue().await;
    assert_eq!(admitted["state"], "admitted", "{admitted}");
    assert_eq!(admitted["ticket"], first["ticket"]);
    let (_, mine) = server.get("/api/v1/queue/status", Some(&own)).await;
    assert_eq!(mine["number"], admitted["number"], "one place per person");
    let booked = as_agent(
        "/api/v1/agent/bookings",
        booking_body(0, "2021-07-21", 10, "moderna"),
    )
    .await
    .unwrap();
    assert_eq!(booked.status().as_u16(), 201);
}

/// Behind a load balancer every request comes from its address: with it trusted, the ticket
/// limit counts the people it names in `X-Forwarded-For` (not the balancer, which would stop the
/// whole country at one address's limit), and a client's own claims in the header count for
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_load_balancer_the_ticket_limit_counts_each_client() {
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        common::OPENING_PLUS_5S.parse().unwrap(),
        |config| {
            config.gate.tickets_per_address_minute = 2;
            config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()].into();
        },
    )
    .await;
    let arrive_as = |forwarded: &'static str| {
        let request = server
            .http
            .post(server.url("/api/v1/queue/arrive"))
            .header("x-forwarded-for", forwarded);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(arrive_as("203.0.113.1").await, 201);
    assert_eq!(arrive_as("203.0.113.1").await, 201);
    assert_eq!(arrive_as("203.0.113.1").await, 429, "that person's limit");
    // Someone else behind the same balancer is not held back by them…
    assert_eq!(arrive_as("203.0.113.2").await, 201);
    // …and writing another address to the left of the balancer's gains nothing.
    assert_eq!(arrive_as("198.51.100.9, 203.0.113.1").await, 429);
}
