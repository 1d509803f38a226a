//! The identity path against a determined stranger, over real HTTP: each test replays one
//! attack from issue 11 and shows that it fails.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{TestServer, Visitor, booking_body, family_consent, rrn_1967, small_world};
use serde_json::{Value, json};

const VICTIM: &str = "홍길동";

async fn start(
    server: &TestServer,
    who: &Visitor,
    name: &str,
    rrn: &str,
    phone: &str,
) -> (u16, Value) {
    server
        .post(
            "/api/v1/identity/start",
            Some(who),
            json!({"name": name, "rrn": rrn, "phone": phone}),
            None,
        )
        .await
}

async fn verify(server: &TestServer, who: &Visitor, started: &Value, code: &str) -> (u16, Value) {
    server
        .post(
            "/api/v1/identity/verify",
            Some(who),
            json!({"verification_id": started["verification_id"], "code": code}),
            None,
        )
        .await
}

/// Codes texted so far: handed to the sender (the tests' servers deliver nothing, so each is
/// counted and dropped), as `/metrics` counts them.
async fn codes_texted(server: &TestServer) -> u64 {
    let metrics = server.metrics().await;
    let line = metrics
        .lines()
        .find(|line| line.starts_with("yeyak_identity_code_texts_total{outcome=\"handed\"}"))
        .unwrap_or_else(|| panic!("no count of texted codes in {metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Messages written to the outbox (the tests' servers do not deliver them).
fn outbox(server: &TestServer) -> Vec<store::OutboxRecord> {
    let (_backend, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    store::ReadStore::pending_outbox(&reader, i64::MAX, 100_000).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_as_someone_else_with_your_own_phone_fails_and_looks_the_same() {
    let server = TestServer::start(small_world()).await;
    let victim = rrn_1967(1);
    server.subscribe(VICTIM, &victim);
    let attacker = server.enter().await;
    let own_phone = server.subscribe("김공격", &rrn_1967(2));
    let texts_before = codes_texted(&server).await;
    let (status, started) = start(&server, &attacker, VICTIM, &victim, &own_phone).await;
    assert_eq!(status, 202, "the same answer as a match: {started}");
    assert!(started["verification_id"].is_string());
    assert_eq!(
        started["demo_code"].as_str().unwrap().len(),
        6,
        "a decoy code"
    );
    assert_eq!(
        codes_texted(&server).await,
        texts_before,
        "no code is texted to a phone that is not theirs"
    );
    let (status, refused) = verify(
        &server,
        &attacker,
        &started,
        started["demo_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("wrong_code")),
        "{refused}"
    );
    // A genuine check from the attacker's own phone answers in exactly the same shape.
    let (status, own) = start(&server, &attacker, "김공격", &rrn_1967(2), &own_phone).await;
    assert_eq!(status, 202);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&own), keys(&started));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_for_a_stranger_without_their_consent_fails() {
    let server = TestServer::start(small_world()).await;
    let stranger = server.login("김타인", &rrn_1967(3)).await;
    let attacker = server.login("김공격", &rrn_1967(4)).await;
    // Name and number alone (the old family form) are not enough.
    let mut body = booking_body(0, "2021-08-16", 10, "moderna");
    body["family"] = json!({"name": "김타인", "rrn": rrn_1967(3)});
    let (status, refused) = server
        .post("/api/v1/bookings", Some(&attacker), body, None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("family_consent_required")),
        "{refused}"
    );
    // Nor is a consent given to someone else, or a forged one.
    let other = server.login("김자녀", &rrn_1967(5)).await;
    let consent = family_consent(&server, &other, "김부모", &rrn_1967(6)).await;
    for token in [consent.as_str(), "AAAA", ""] {
        let mut body = booking_body(0, "2021-08-16", 10, "moderna");
        body["family"] = json!({ "consent": token });
        let (status, refused) = server
            .post("/api/v1/bookings", Some(&attacker), body, None)
            .await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (403, Some("family_consent_required"))
        );
    }
    // The consent's own booker can use it; the stranger's own account saw nothing happen.
    let mut body = booking_body(0, "2021-08-16", 10, "moderna");
    body["family"] = json!({ "consent": consent });
    let (status, _) = server
        .post("/api/v1/bookings", Some(&other), body, None)
        .await;
    assert_eq!(status, 201);
    let (_, theirs) = server.get("/api/v1/bookings", Some(&stranger)).await;
    assert_eq!(theirs["bookings"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_someone_elses_booking_or_eligibility_learns_nothing() {
    let server = TestServer::start(small_world()).await;
    let parent_rrn = rrn_1967(7);
    let owner = server.login("김부모", &parent_rrn).await;
    let (status, booked) = server
        .post(
            "/api/v1/bookings",
            Some(&owner),
            booking_body(0, "2021-08-16", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let id = booked["id"].as_u64().unwrap();
    let prober = server.login("김탐색", &rrn_1967(8)).await;
    // Their booking by id looks like a missing one.
    let (status, missing) = server
        .get(&format!("/api/v1/bookings/{id}"), Some(&prober))
        .await;
    let (status_none, none) = server.get("/api/v1/bookings/999999", Some(&prober)).await;
    assert_eq!((status, &missing), (status_none, &none));
    assert_eq!(status, 404);
    // With the parent's consent, a booking attempt says "cannot be booked", with no id and no
    // reason; the same words as for someone not yet eligible.
    let consent = family_consent(&server, &prober, "김부모", &parent_rrn).await;
    let mut body = booking_body(1, "2021-08-17", 10, "moderna");
    body["family"] = json!({ "consent": consent });
    let (status, refused) = server
        .post("/api/v1/bookings", Some(&prober), body, None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("family_not_bookable"))
    );
    assert!(!refused.to_string().contains(&id.to_string()), "{refused}");
    let young = family_consent(&server, &prober, "김어린", "950101-1000001").await;
    let mut body = booking_body(1, "2021-08-17", 10, "moderna");
    body["family"] = json!({ "consent": young });
    let (status, other) = server
        .post("/api/v1/bookings", Some(&prober), body, None)
        .await;
    assert_eq!(
        (status, &other),
        (409, &refused),
        "the same answer whatever the reason"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_follow_the_verified_phone_and_cannot_be_redirected() {
    let server = TestServer::start(small_world()).await;
    let rrn = rrn_1967(9);
    let owner = server.login(VICTIM, &rrn).await;
    let (_, contact) = server.get("/api/v1/contact", Some(&owner)).await;
    let first_phone = common::phone_of(&rrn);
    assert_eq!(contact["phone"], format!("010-****-{}", &first_phone[7..]));
    assert_eq!(contact["name"], "홍*동");
    // An attacker who knows the number tries to register it with their own phone: no code.
    let attacker = server.enter().await;
    let attacker_phone = server.subscribe("김공격", &rrn_1967(10));
    let (status, started) = start(&server, &attacker, VICTIM, &rrn, &attacker_phone).await;
    assert_eq!(status, 202);
    let (status, _) = verify(
        &server,
        &attacker,
        &started,
        started["demo_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let (_, unchanged) = server.get("/api/v1/contact", Some(&owner)).await;
    assert_eq!(unchanged, contact);
    // The owner changes phone (their carrier now lists the new number as theirs) and verifies
    // with it: the contact follows.
    let new_phone = "01055554444";
    server.subscribers.register(
        new_phone,
        &domain::name::PersonName::parse(VICTIM).unwrap(),
        &domain::rrn::Rrn::parse(&rrn).unwrap(),
        server::identity::Carrier::Kt,
    );
    // (From the browser they were admitted in: a second pass for the same person is refused
    // while the first is in use.)
    let again = owner.clone();
    let (status, started) = start(&server, &again, VICTIM, &rrn, new_phone).await;
    assert_eq!(status, 202);
    let (status, verified) = verify(
        &server,
        &again,
        &started,
        started["demo_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{verified}");
    let (_, changed) = server.get("/api/v1/contact", Some(&owner)).await;
    assert_eq!(changed["phone"], "010-****-4444");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_to_one_phone_are_limited() {
    let server = TestServer::start(small_world()).await;
    let rrn = rrn_1967(11);
    let phone = server.subscribe(VICTIM, &rrn);
    let before = codes_texted(&server).await;
    let mut accepted = 0;
    let mut refusal = None;
    // Each from a fresh waiting-room session, as a script would: only the phone's limit stops it.
    for _ in 0..8 {
        let who = server.enter().await;
        let (status, answer) = start(&server, &who, VICTIM, &rrn, &phone).await;
        match status {
            202 => accepted += 1,
            429 => refusal = Some(answer),
            other => panic!("{other} {answer}"),
        }
    }
    assert_eq!(accepted, 5, "five codes an hour to one phone");
    assert_eq!(codes_texted(&server).await - before, 5);
    assert!(
        outbox(&server)
            .iter()
            .all(|record| record.message.template != "identity_code"),
        "codes go to the gateway from memory, never through the outbox"
    );
    let refusal = refusal.unwrap();
    assert_eq!(refusal["error"], "identity_rate_limited");
    assert_eq!(refusal["detail"]["limit"], "phone");
    assert!(refusal["message_ko"].as_str().unwrap().contains("분 후"));
    // The answer carries Retry-After.
    let who = server.enter().await;
    let response = who
        .apply(server.http.post(server.url("/api/v1/identity/start")))
        .json(&json!({"name": VICTIM, "rrn": rrn, "phone": phone}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&retry), "{retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_the_owner_out() {
    let server = TestServer::start(small_world()).await;
    let rrn = rrn_1967(12);
    let phone = server.subscribe(VICTIM, &rrn);
    let stranger = server.enter().await;
    // The stranger starts checks for the owner (the code goes to the owner's phone) and guesses.
    for _ in 0..2 {
        let (status, started) = start(&server, &stranger, VICTIM, &rrn, &phone).await;
        assert_eq!(status, 202);
        for _ in 0..5 {
            let (status, _) = verify(&server, &stranger, &started, "000000").await;
            assert!(status == 401 || status == 410 || status == 200);
        }
    }
    // The stranger is now refused; the owner gets in.
    let (status, refused) = start(&server, &stranger, VICTIM, &rrn, &phone).await;
    assert_eq!(
        (status, refused["detail"]["limit"].as_str()),
        (429, Some("wrong_codes"))
    );
    let owner = server.login(VICTIM, &rrn).await;
    let (status, _) = server.get("/api/v1/eligibility", Some(&owner)).await;
    assert_eq!(status, 200);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("yeyak_failed_signins_total{outcome=\"wrong_code\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_of_control_characters_is_refused() {
    let server = TestServer::start(small_world()).await;
    let who = server.enter().await;
    for name in ["\u{1b}[2J", "홍\u{202E}동길", "a\nb", "\u{200B}"] {
        let (status, refused) = start(&server, &who, name, &rrn_1967(13), "01012345678").await;
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_name")),
            "{name:?}"
        );
        assert!(refused["message_en"].as_str().unwrap().contains("name"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_number_in_a_url_is_refused() {
    let server = TestServer::start(small_world()).await;
    let who = server.enter().await;
    for path in [
        "/identity?name=%ED%99%8D&rrn=670315-1000001&phone=01012345678",
        "/api/v1/eligibility?rrn=6703151000001",
        "/search?family_rrn=670315-1000001",
    ] {
        let response = who
            .apply(server.http.get(server.url(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "personal_data_in_url", "{path}");
    }
}

/// Accepts connections and never answers: an SMS gateway that has stopped. Returns its URL.
async fn silent_gateway() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{addr}/sms")
}

/// While the gateway is behind, a check is refused 503 before it counts against the pass: a
/// person who retries through a night of 503s still has all their pass's starts. (Counted
/// first, the full-scale replay of 2026-12-05 had 4,079 people refused `pass_limit` after
/// retrying 503s, and 2,761 who never verified.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_the_gateway_has_no_room_for_does_not_use_up_the_pass() {
    let gateway = silent_gateway().await;
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        common::OPENING_PLUS_5S.parse().unwrap(),
        |config| {
            config.deliver_notifications = true;
            config.notify_webhook = Some(gateway);
            config.code_texts_queue = 1;
        },
    )
    .await;
    // Fill the gateway's queue: texts in flight to the silent gateway, then one waiting. Each
    // pass starts fewer checks than its limit.
    let mut person = 0;
    let mut busy = None;
    'fill: for _ in 0..10 {
        let visitor = server.enter().await;
        for _ in 1..server::waiting::PASS_IDENTITY_STARTS {
            person += 1;
            let rrn = rrn_1967(100 + person);
            let phone = server.subscribe("김채움", &rrn);
            let (status, answer) = start(&server, &visitor, "김채움", &rrn, &phone).await;
            if status != 202 {
                busy = Some((status, answer));
                break 'fill;
            }
        }
    }
    let (status, answer) = busy.expect("the gateway's queue filled");
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("identity_service_busy")),
        "{answer}"
    );
    told_busy_past_the_pass_limit(&server).await;
}

/// The same when the identity service itself is full (checks in progress at their limit): the
/// pass's start is given back with the 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_the_identity_service_has_no_room_for_does_not_use_up_the_pass() {
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        common::OPENING_PLUS_5S.parse().unwrap(),
        |config| config.identity.max_pending = 1,
    )
    .await;
    let first = server.enter().await;
    let rrn = rrn_1967(98);
    let phone = server.subscribe("김먼저", &rrn);
    let (status, answer) = start(&server, &first, "김먼저", &rrn, &phone).await;
    assert_eq!(status, 202, "{answer}");
    told_busy_past_the_pass_limit(&server).await;
}

/// A person retrying through a full identity service, past their pass's limit of starts: told
/// to come back each time, never that their pass is used up.
async fn told_busy_past_the_pass_limit(server: &TestServer) {
    let late = server.enter().await;
    let rrn = rrn_1967(99);
    let phone = server.subscribe(VICTIM, &rrn);
    for attempt in 0..server::waiting::PASS_IDENTITY_STARTS + 4 {
        let (status, answer) = start(server, &late, VICTIM, &rrn, &phone).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (503, Some("identity_service_busy")),
            "attempt {attempt}: {answer}"
        );
    }
}
