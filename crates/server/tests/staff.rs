//! Roles over real HTTP: clinic staff (day list, doses given, leftover doses), agents who book
//! for people, citizens claiming leftover doses in a race, the audit log, and notification
//! delivery to a webhook gateway that fails before it works.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use axum::http::StatusCode;
use common::{OPERATOR_TOKEN, TestServer, Visitor, booking_body, rrn_1967, small_world};
use futures::future::join_all;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use store::ReadStore;

fn operator() -> Visitor {
    Visitor {
        token: OPERATOR_TOKEN.into(),
        ..Visitor::default()
    }
}

async fn new_staff(server: &TestServer, body: Value) -> (u64, String) {
    let (status, staff) = server
        .post("/api/v1/admin/staff", Some(&operator()), body, None)
        .await;
    assert_eq!(status, 201, "{staff}");
    (
        staff["id"].as_u64().unwrap(),
        staff["token"].as_str().unwrap().to_string(),
    )
}

async fn as_staff(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server
        .http
        .request(method, server.url(path))
        .header("x-yeyak-staff", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn audit(server: &TestServer) -> Vec<Value> {
    let (status, log) = server
        .get("/api/v1/admin/audit?limit=1000", Some(&operator()))
        .await;
    assert_eq!(status, 200, "{log}");
    log["audit"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clinic_staff_see_their_day_and_record_doses_given() {
    let server = TestServer::start(small_world()).await;
    let (_, nurse) = new_staff(
        &server,
        json!({"role": "clinic", "clinic": 0, "name": "간호사 김"}),
    )
    .await;
    let (_, other_nurse) = new_staff(
        &server,
        json!({"role": "clinic", "clinic": 1, "name": "간호사 이"}),
    )
    .await;
    let (_, agent) = new_staff(&server, json!({"role": "agent", "name": "상담원"})).await;
    // Bad staff requests change nothing.
    let (status, body) = server
        .post(
            "/api/v1/admin/staff",
            Some(&operator()),
            json!({"role": "clinic", "name": "x"}),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_staff"))
    );
    let (status, _) = server
        .post(
            "/api/v1/admin/staff",
            None,
            json!({"role": "agent", "name": "x"}),
            None,
        )
        .await;
    assert_eq!(status, 401);

    let citizen = server.login("홍길동", &rrn_1967(1)).await;
    let (status, booked) = server
        .post(
            "/api/v1/bookings",
            Some(&citizen),
            booking_body(0, "2021-07-20", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_u64().unwrap();

    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let (status, day) = as_staff(
        &server,
        get.clone(),
        "/api/v1/clinic/day?date=2021-07-20",
        &nurse,
        None,
    )
    .await;
    assert_eq!(status, 200, "{day}");
    assert_eq!(day["booked"], 1);
    let row = &day["appointments"][0];
    assert_eq!(row["booking_id"], id);
    assert_eq!(row["name"], "홍*동", "masked, never the whole name");
    assert_eq!(row["birth_date"], "1967-03-15");
    assert!(
        !day.to_string().contains("670315"),
        "no registration number"
    );
    // Another clinic's staff see an empty list for the same day; an agent is not clinic staff.
    let (_, theirs) = as_staff(
        &server,
        get.clone(),
        "/api/v1/clinic/day?date=2021-07-20",
        &other_nurse,
        None,
    )
    .await;
    assert_eq!(theirs["appointments"], json!([]));
    let (status, refused) =
        as_staff(&server, get.clone(), "/api/v1/clinic/day", &agent, None).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("wrong_role"))
    );
    let (status, _) = as_staff(
        &server,
        get.clone(),
        "/api/v1/clinic/day",
        "not-a-token",
        None,
    )
    .await;
    assert_eq!(status, 401);

    let given = format!("/api/v1/clinic/bookings/{id}/given");
    let (status, early) = as_staff(
        &server,
        post.clone(),
        &given,
        &nurse,
        Some(json!({"dose": 1})),
    )
    .await;
    assert_eq!(
        (status, early["error"].as_str()),
        (409, Some("not_due_today"))
    );
    // 2021-07-20 10:20 KST.
    server.clock.set("2021-07-20T01:20:00Z".parse().unwrap());
    let (status, wrong) = as_staff(
        &server,
        post.clone(),
        &given,
        &other_nurse,
        Some(json!({"dose": 1})),
    )
    .await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (403, Some("other_clinic"))
    );
    let (status, bad) = as_staff(
        &server,
        post.clone(),
        &given,
        &nurse,
        Some(json!({"dose": 3})),
    )
    .await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_dose")));
    let (status, done) = as_staff(
        &server,
        post.clone(),
        &given,
        &nurse,
        Some(json!({"dose": 1})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["fully_vaccinated"], false, "Moderna has a dose 2");
    let (status, again) = as_staff(
        &server,
        post.clone(),
        &given,
        &nurse,
        Some(json!({"dose": 1})),
    )
    .await;
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("dose_not_booked"))
    );
    let (_, day) = as_staff(&server, get.clone(), "/api/v1/clinic/day", &nurse, None).await;
    assert_eq!(
        (day["booked"].as_u64(), day["given"].as_u64()),
        (Some(0), Some(1))
    );

    // Every staff action is in the audit log, refusals with their code.
    let lines = audit(&server).await;
    let given_lines: Vec<&str> = lines
        .iter()
        .filter(|l| l["action"] == "dose.given")
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        given_lines,
        vec!["dose_not_booked", "ok", "other_clinic", "not_due_today"]
    );
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "POST /api/v1/admin/staff" && l["actor"] == "operator")
    );

    // A revoked token stops working at once.
    let staff = server.get("/api/v1/admin/staff", Some(&operator())).await.1;
    let nurse_id = staff["staff"][0]["id"].as_u64().unwrap();
    let (status, _) = server
        .post(
            &format!("/api/v1/admin/staff/{nurse_id}/revoke"),
            Some(&operator()),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, revoked) = as_staff(&server, get, "/api/v1/clinic/day", &nurse, None).await;
    assert_eq!(
        (status, revoked["error"].as_str()),
        (401, Some("staff_token_invalid"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_books_for_a_person_under_the_same_rules_and_is_audited() {
    let server = TestServer::start(small_world()).await;
    let (agent_id, agent) =
        new_staff(&server, json!({"role": "agent", "name": "주민센터 박"})).await;
    let identify = |token: Option<&str>, rrn: &str| {
        let mut request = server
            .http
            .post(server.url("/api/v1/agent/identify"))
            .json(&json!({"name": "최노인", "rrn": rrn, "phone": "010-2222-3333"}));
        if let Some(token) = token {
            request = request.header("x-yeyak-staff", token);
        }
        request.send()
    };
    assert_eq!(
        identify(None, &rrn_1967(5)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let bad = identify(Some(&agent), "671315-1000000").await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let answer: Value = identify(Some(&agent), &rrn_1967(5))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let person_token = answer["person_token"].as_str().unwrap().to_string();
    let book = |body: Value| {
        server
            .http
            .post(server.url("/api/v1/agent/bookings"))
            .header("x-yeyak-staff", &agent)
            .bearer_auth(&person_token)
            .json(&body)
            .send()
    };
    let booked = book(booking_body(1, "2021-07-21", 9, "moderna"))
        .await
        .unwrap();
    assert_eq!(booked.status(), StatusCode::CREATED);
    let booked: Value = booked.json().await.unwrap();
    // Same rules as for anyone: one active booking per person.
    let twice = book(booking_body(1, "2021-07-22", 9, "moderna"))
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    // Without the agent's token the person token alone opens nothing on the agent side, and
    // the booking side still needs a waiting-room pass.
    let bare = server
        .http
        .post(server.url("/api/v1/agent/bookings"))
        .bearer_auth(&person_token)
        .json(&booking_body(1, "2021-07-23", 9, "moderna"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .post(
            "/api/v1/bookings",
            Some(&Visitor {
                token: person_token.clone(),
                ..Visitor::default()
            }),
            booking_body(1, "2021-07-23", 9, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 401, "no pass, no booking call");
    let id = booked["id"].as_u64().unwrap();
    let cancelled = server
        .http
        .post(server.url(&format!("/api/v1/agent/bookings/{id}/cancel")))
        .header("x-yeyak-staff", &agent)
        .bearer_auth(&person_token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    // What an agent reads about a person is audited too.
    let read = server
        .http
        .get(server.url("/api/v1/agent/bookings"))
        .header("x-yeyak-staff", &agent)
        .bearer_auth(&person_token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);

    let lines = audit(&server).await;
    let actor = format!("agent:{agent_id}");
    let mine: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["actor"] == actor.as_str())
        .map(|l| {
            (
                l["action"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        // Newest first. Effects are audited by the writer in their own transaction (outcome
        // "ok" or the refusal's code); the HTTP layer adds reads, refusals before the writer,
        // and whom an identification found.
        vec![
            ("GET /api/v1/agent/bookings", "200"),
            ("POST /api/v1/agent/bookings/{id}/cancel", "ok"),
            ("POST /api/v1/agent/bookings", "409"),
            ("POST /api/v1/agent/bookings", "already_booked"),
            ("POST /api/v1/agent/bookings", "ok"),
            ("POST /api/v1/agent/identify", "200"),
            ("POST /api/v1/agent/identify", "ok"),
            ("POST /api/v1/agent/identify", "400"),
        ]
    );
    // The operator's issuing of the agent's token was audited with it, in one transaction.
    assert!(
        lines.iter().any(|l| l["actor"] == "operator"
            && l["action"] == "POST /api/v1/admin/staff"
            && l["outcome"] == "ok"),
        "{lines:?}"
    );
    let person = lines
        .iter()
        .find(|l| l["action"] == "POST /api/v1/agent/identify" && l["outcome"] == "200")
        .unwrap()["detail"]["person"]
        .clone();
    assert!(person.is_u64(), "the identify line names the person");
    assert!(
        lines
            .iter()
            .filter(|l| l["action"] == "POST /api/v1/agent/bookings")
            .all(|l| l["detail"]["person"] == person)
    );
    assert!(
        !serde_json::to_string(&lines).unwrap().contains("670315-1"),
        "no RRN in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leftover_doses_go_to_nearby_people_first_come_first_served() {
    let server = TestServer::start(small_world()).await;
    let (_, nurse) = new_staff(
        &server,
        json!({"role": "clinic", "clinic": 0, "name": "간호사"}),
    )
    .await;
    // It is 2021-07-20 14:00 KST; 40 people near clinic 0 (Jongno) asked to hear of leftovers.
    server.clock.set("2021-07-20T05:00:00Z".parse().unwrap());
    let people = join_all((0..40).map(|n| {
        let server = &server;
        async move { server.login("이잔여", &rrn_1967(100 + n)).await }
    }))
    .await;
    for visitor in &people {
        let response = visitor
            .apply(
                server
                    .http
                    .put(server.url("/api/v1/leftovers/subscription")),
            )
            .json(&json!({"lat": 37.574, "lon": 126.979, "radius_km": 2.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // One of them already holds a booking for next week: a leftover dose replaces it.
    let (status, later) = server
        .post(
            "/api/v1/bookings",
            Some(&people[0]),
            booking_body(0, "2021-07-27", 10, "pfizer"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{later}");
    // A bad place or radius changes nothing.
    let response = people[1]
        .apply(
            server
                .http
                .put(server.url("/api/v1/leftovers/subscription")),
        )
        .json(&json!({"lat": 10.0, "lon": 126.979, "radius_km": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let post = reqwest::Method::POST;
    let offer = json!({"product": "pfizer", "doses": 3, "until": "2021-07-20T09:00:00Z"});
    let (status, refused) = as_staff(
        &server,
        post.clone(),
        "/api/v1/clinic/leftovers",
        &nurse,
        Some(json!({"product": "pfizer", "doses": 3, "until": "2021-07-21T09:00:00Z"})),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_until")),
        "not today"
    );
    let (status, posted) = as_staff(
        &server,
        post,
        "/api/v1/clinic/leftovers",
        &nurse,
        Some(offer),
    )
    .await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(
        posted["told"], 40,
        "everyone within reach, under 20 per dose"
    );
    let offer_id = posted["id"].as_u64().unwrap();
    let (status, near) = server.get("/api/v1/leftovers", Some(&people[2])).await;
    assert_eq!(status, 200);
    assert_eq!(near["offers"][0]["id"], offer_id);
    assert_eq!(near["offers"][0]["left"], 3);

    // All 40 claim at once: exactly three get a dose, the rest hear it is gone.
    let claims = join_all(people.iter().map(|visitor| {
        let server = &server;
        async move {
            server
                .post(
                    &format!("/api/v1/leftovers/{offer_id}/claim"),
                    Some(visitor),
                    json!({}),
                    None,
                )
                .await
        }
    }))
    .await;
    let winners: Vec<&Value> = claims
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 3);
    assert!(
        claims
            .iter()
            .all(|(s, b)| *s == 201 || (*s == 409 && b["error"] == "all_claimed"))
    );
    for booking in &winners {
        assert_eq!(booking["doses"][0]["date"], "2021-07-20");
        assert_eq!(
            booking["doses"][1]["date"], "2021-08-10",
            "Pfizer dose 2 after 21 days"
        );
    }
    let (_w, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    let offers = reader.offers_on(jiff::civil::date(2021, 7, 20)).unwrap();
    assert_eq!(offers[0].offer.claimed, 3);
    let audit_report = reader
        .audit(&domain::product::Schedules::default())
        .unwrap();
    assert!(audit_report.people_with_two_active.is_empty());
    // The person with next week's booking: if they won, that booking is cancelled.
    let (_, mine) = server.get("/api/v1/bookings", Some(&people[0])).await;
    let active: Vec<&Value> = mine["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["active"] == true)
        .collect();
    assert_eq!(active.len(), 1);
    // A winner cannot claim a second dose today.
    let winner = claims.iter().position(|(s, _)| *s == 201).unwrap();
    let (status, again) = server
        .post(
            &format!("/api/v1/leftovers/{offer_id}/claim"),
            Some(&people[winner]),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 409, "{again}");
    // Unclaimed doses of a new offer expire at its time.
    let (_, second) = as_staff(
        &server,
        reqwest::Method::POST,
        "/api/v1/clinic/leftovers",
        &nurse,
        Some(json!({"product": "moderna", "doses": 2, "until": "2021-07-20T06:00:00Z"})),
    )
    .await;
    server.clock.set("2021-07-20T06:00:00Z".parse().unwrap());
    let loser = claims.iter().position(|(s, _)| *s == 409).unwrap();
    let fresh = server
        .verify(
            server.enter().await,
            "이잔여",
            &rrn_1967(100 + loser as u32),
        )
        .await;
    let (status, expired) = server
        .post(
            &format!("/api/v1/leftovers/{}/claim", second["id"]),
            Some(&fresh),
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        (status, expired["error"].as_str()),
        (409, Some("offer_expired"))
    );
    let (_, near) = server.get("/api/v1/leftovers", Some(&fresh)).await;
    assert_eq!(near["offers"], json!([]), "nothing open is left");
}

/// A script holding a session cannot write leftover alerts in a loop: ten changes an hour
/// (setting or stopping), then 429 `alerts_rate_limited` with Retry-After, and the refused change
/// changes nothing; when the hour is over it counts again. Others are not held back by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_leftover_alert_changes_are_limited_per_hour() {
    let server = TestServer::start(small_world()).await;
    server.clock.set("2021-07-20T05:00:00Z".parse().unwrap());
    let who = server.login("이알림", &rrn_1967(300)).await;
    let other = server.login("김알림", &rrn_1967(301)).await;
    let set = |visitor: &Visitor, radius: f64| {
        visitor
            .apply(
                server
                    .http
                    .put(server.url("/api/v1/leftovers/subscription")),
            )
            .json(&json!({"lat": 37.574, "lon": 126.979, "radius_km": radius}))
            .send()
    };
    for n in 0..9 {
        let radius = 1.0 + f64::from(n) * 0.5;
        assert_eq!(set(&who, radius).await.unwrap().status(), StatusCode::OK);
    }
    let stop = who
        .apply(
            server
                .http
                .delete(server.url("/api/v1/leftovers/subscription")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), StatusCode::NO_CONTENT, "the tenth change");

    let refused = set(&who, 9.0).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3_600).contains(&retry), "{retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "alerts_rate_limited", "{body}");
    assert!(
        body["message_ko"].as_str().unwrap().contains("분"),
        "{body}"
    );
    let (_, near) = server.get("/api/v1/leftovers", Some(&who)).await;
    assert!(
        near["subscription"].is_null(),
        "the refused change wrote nothing: {near}"
    );
    assert_eq!(set(&other, 2.0).await.unwrap().status(), StatusCode::OK);

    // An hour on (the 30-minute session is over: the same person signs in again).
    server.clock.advance(jiff::SignedDuration::from_mins(60));
    let again = server.login("이알림", &rrn_1967(300)).await;
    assert_eq!(set(&again, 3.0).await.unwrap().status(), StatusCode::OK);
    let (_, near) = server.get("/api/v1/leftovers", Some(&again)).await;
    assert_eq!(near["subscription"]["radius_km"], 3.0, "{near}");
}

/// A stand-in SMS gateway: answers 503 to the first `failures` requests, then 200; remembers
/// the idempotency keys it accepted (and how many requests it saw).
#[derive(Default)]
struct Gateway {
    failures: usize,
    seen: usize,
    accepted: Vec<String>,
    bodies: Vec<Value>,
}

async fn start_gateway(failures: usize) -> (String, Arc<Mutex<Gateway>>) {
    let gateway = Arc::new(Mutex::new(Gateway {
        failures,
        ..Gateway::default()
    }));
    let shared = Arc::clone(&gateway);
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let shared = Arc::clone(&shared);
                async move {
                    let mut g = shared.lock().unwrap();
                    g.seen += 1;
                    if g.seen <= g.failures {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let key = headers["idempotency-key"].to_str().unwrap().to_string();
                    if !g.accepted.contains(&key) {
                        g.accepted.push(key);
                        g.bodies.push(body);
                    }
                    StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/sms"), gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_reach_a_failing_gateway_once_after_backoff() {
    let (url, gateway) = start_gateway(2).await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(
        dir,
        small_world(),
        common::OPENING_PLUS_5S.parse().unwrap(),
        |config| {
            config.deliver_notifications = true;
            config.notify_webhook = Some(url);
        },
    )
    .await;
    let citizen = server.login("홍길동", &rrn_1967(7)).await;
    let (status, _) = server
        .post(
            "/api/v1/bookings",
            Some(&citizen),
            booking_body(0, "2021-07-20", 10, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 201);
    // The identity code and the booking text: two messages, each accepted exactly once,
    // though the gateway failed twice. Backoff runs on the server clock: move it along.
    let mut waited = 0;
    while gateway.lock().unwrap().accepted.len() < 2 {
        assert!(
            waited < 200,
            "messages not delivered: {:?}",
            gateway.lock().unwrap().seen
        );
        server.clock.advance(jiff::SignedDuration::from_secs(5));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += 1;
    }
    // Give the worker time to (wrongly) send again, then check nothing was resent.
    for _ in 0..10 {
        server.clock.advance(jiff::SignedDuration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let g = gateway.lock().unwrap();
    assert_eq!(g.seen, 4, "2 failures + 2 deliveries, no duplicate sends");
    let keys: HashSet<&String> = g.accepted.iter().collect();
    assert_eq!(keys.len(), 2);
    let booked = g
        .bodies
        .iter()
        .find(|b| b["template"] == "booking_confirmed")
        .unwrap();
    assert_eq!(
        booked["to"],
        common::phone_of(&rrn_1967(7)),
        "the gateway gets the real number"
    );
    assert!(booked["text_ko"].as_str().unwrap().contains("예약이 완료"));
    drop(g);
    let (_w, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    assert!(reader.pending_outbox(i64::MAX, 10).unwrap().is_empty());
}
