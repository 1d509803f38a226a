//! Supply changes over real HTTP (S1–S2): the July 2021 Moderna delivery cut, a dose-interval
//! change that survives a restart, a product switch by region, and refusals that change nothing.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{
    OPERATOR_TOKEN, TestServer, Visitor, assert_within_planned_supply, booking_body, clinic,
    operator, rrn_1967,
};
use domain::product::Product;
use futures::future::join_all;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use store::ReadStore;

/// Four Moderna clinics a few hundred metres apart in Jongno-gu: staff for 90 a day, 40 doses.
fn jongno() -> Vec<store::ClinicRecord> {
    (0..4)
        .map(|id| {
            let offset = f64::from(id) * 0.002;
            clinic(
                id,
                11010,
                37.5735 + offset,
                126.9790,
                10,
                &[(Product::Moderna, 40), (Product::Pfizer, 40)],
            )
        })
        .collect()
}

/// Logs `count` people in (rrn numbers from `first`) and books each where `place(i)` says.
async fn book_many(
    server: &TestServer,
    first: u32,
    count: u32,
    place: impl Fn(u32) -> (u32, &'static str, u8),
) -> Vec<(Visitor, u64)> {
    let people = join_all((first..first + count).map(|n| {
        let server = &server;
        async move { server.login("김모더", &rrn_1967(n)).await }
    }))
    .await;
    let mut booked = Vec::new();
    // One at a time: booking ids follow the order, so "last booked" is well defined.
    for (i, visitor) in people.into_iter().enumerate() {
        let (clinic, day, hour) = place(i as u32);
        let (status, body) = server
            .post(
                "/api/v1/bookings",
                Some(&visitor),
                booking_body(clinic, day, hour, "moderna"),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        booked.push((visitor, body["id"].as_u64().unwrap()));
    }
    booked
}

async fn put(server: &TestServer, path: &str, who: &Visitor, body: Value) -> (u16, Value) {
    let response = who
        .apply(server.http.put(server.url(path)).json(&body))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Messages waiting in the outbox per person, for one template.
fn messages_by_person(server: &TestServer, template: &str) -> HashMap<u64, usize> {
    let (_w, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    let mut counts = HashMap::new();
    for record in reader.pending_outbox(i64::MAX, 100_000).unwrap() {
        if record.message.template == template {
            *counts.entry(record.message.person.unwrap().0).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_july_2021_moderna_cut_moves_exactly_who_no_longer_fits_by_a_day_or_two() {
    let server = TestServer::start(jongno()).await;
    // Monday 07-26 fully booked at clinics 0 and 1 (40 each); Tuesday 07-27 at clinic 0 nearly
    // full (30 of 40), so clinic 0's moved people spill to Wednesday.
    let monday = book_many(&server, 0, 80, |i| {
        (i / 40, "2021-07-26", 9 + (i % 9) as u8)
    })
    .await;
    book_many(&server, 80, 30, |i| (0, "2021-07-27", 9 + (i % 9) as u8)).await;

    let cut = json!({
        "kind": "deliveries",
        "deliveries": [
            {"clinic": 0, "day": "2021-07-26", "product": "moderna", "doses": 20},
            {"clinic": 1, "day": "2021-07-26", "product": "moderna", "doses": 20},
        ],
    });
    // Entering the cut as a plain delivery update is refused: it would push people out.
    let (status, refused) = put(
        &server,
        "/api/v1/admin/deliveries",
        &operator(),
        json!({"deliveries": cut["deliveries"]}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "plan_required");
    assert_eq!(refused["detail"]["people_moved"], 40);

    let (status, plan) = server
        .post(
            "/api/v1/admin/supply-changes/plan",
            Some(&operator()),
            cut.clone(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["people_moved"], 40);
    assert_eq!(plan["unplaced"], 0);
    assert_eq!(plan["over_capacity_after"], 0);
    let shifts: HashSet<&str> = plan["by_shift_days"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(shifts.is_subset(&HashSet::from(["1", "2"])), "{shifts:?}");
    assert!(
        shifts.contains("2"),
        "clinic 0's Tuesday was nearly full: {shifts:?}"
    );
    // A preview changes nothing and tells nobody.
    assert!(messages_by_person(&server, "supply_moved").is_empty());

    let mut apply = cut.clone();
    apply["plan_id"] = plan["plan_id"].clone();
    let (status, applied) = server
        .post(
            "/api/v1/admin/supply-changes/apply",
            Some(&operator()),
            apply.clone(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["notified"], 40);
    // Applying the same plan twice: it is no longer the plan.
    let (status, again) = server
        .post(
            "/api/v1/admin/supply-changes/apply",
            Some(&operator()),
            apply,
            None,
        )
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"], "plan_changed");

    // Exactly the last 20 booked at each clinic moved, and each got one message.
    let told = messages_by_person(&server, "supply_moved");
    assert_eq!(told.len(), 40);
    assert!(told.values().all(|&n| n == 1), "{told:?}");
    for (i, (visitor, id)) in monday.iter().enumerate() {
        let (status, booking) = server
            .get(&format!("/api/v1/bookings/{id}"), Some(visitor))
            .await;
        assert_eq!(status, 200);
        let should_move = i % 40 >= 20;
        let moved = booking["moved"].as_array().unwrap();
        assert_eq!(!moved.is_empty(), should_move, "person {i}: {booking}");
        let date = booking["doses"][0]["date"].as_str().unwrap();
        if should_move {
            assert_ne!(date, "2021-07-26");
            assert_eq!(moved[0]["reason"], "delivery_changed");
            assert_eq!(moved[0]["from"]["date"], "2021-07-26");
        } else {
            assert_eq!(date, "2021-07-26");
        }
    }
    assert_within_planned_supply(&server, 4).await;

    // A moved person accepts the new date; the notice goes away.
    let (visitor, id) = &monday[39];
    let (status, _) = server
        .post(
            &format!("/api/v1/bookings/{id}/accept-move"),
            Some(visitor),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, booking) = server
        .get(&format!("/api/v1/bookings/{id}"), Some(visitor))
        .await;
    assert_eq!(booking["moved"], json!([]));
    // Someone else's booking cannot be accepted (it looks missing).
    let (status, _) = server
        .post(
            &format!("/api/v1/bookings/{id}/accept-move"),
            Some(&monday[0].0),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (status, changes) = server
        .get("/api/v1/admin/supply-changes", Some(&operator()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(changes["changes"][0]["people_moved"], 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_change_moves_second_doses_and_survives_a_restart() {
    let server = TestServer::start(jongno()).await;
    // Dose 1 on 07-20 (dose 2 08-17, before the change) and 07-22 (dose 2 08-19, moved).
    let early = book_many(&server, 0, 3, |_| (2, "2021-07-20", 10)).await;
    let late = book_many(&server, 3, 3, |_| (2, "2021-07-22", 10)).await;
    let change = json!({"kind": "interval", "product": "moderna", "interval_days": 42, "from_day": "2021-08-18"});
    let (status, plan) = server
        .post(
            "/api/v1/admin/supply-changes/plan",
            Some(&operator()),
            change.clone(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["moves"], 3);
    assert_eq!(plan["informed"], 3);
    assert_eq!(plan["by_shift_days"], json!({"14": 3}));
    let mut apply = change;
    apply["plan_id"] = plan["plan_id"].clone();
    let (status, applied) = server
        .post(
            "/api/v1/admin/supply-changes/apply",
            Some(&operator()),
            apply,
            None,
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(
        applied["notified"], 6,
        "moved and informed people are all told"
    );
    assert_eq!(messages_by_person(&server, "supply_informed").len(), 3);
    for (visitor, id) in &late {
        let (_, booking) = server
            .get(&format!("/api/v1/bookings/{id}"), Some(visitor))
            .await;
        assert_eq!(booking["doses"][1]["date"], "2021-09-02", "{booking}");
    }
    for (visitor, id) in &early {
        let (_, booking) = server
            .get(&format!("/api/v1/bookings/{id}"), Some(visitor))
            .await;
        assert_eq!(booking["doses"][1]["date"], "2021-08-17", "{booking}");
    }

    // After a restart the new interval and the planned supply still hold.
    let server = server.restart(jongno()).await;
    let visitor = server.login("새사람", &rrn_1967(500)).await;
    let (status, booking) = server
        .post(
            "/api/v1/bookings",
            Some(&visitor),
            booking_body(3, "2021-07-23", 11, "moderna"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["doses"][1]["date"], "2021-09-03");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_switch_by_municipality_keeps_day_and_clinic() {
    let server = TestServer::start(jongno()).await;
    let booked = book_many(&server, 0, 4, |i| (i, "2021-07-28", 14)).await;
    let change = json!({
        "kind": "product_switch", "from": "moderna", "to": "pfizer",
        "municipality": 11010, "first_day": "2021-07-26", "last_day": "2021-08-31",
    });
    let (status, plan) = server
        .post(
            "/api/v1/admin/supply-changes/plan",
            Some(&operator()),
            change.clone(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["people_moved"], 4);
    let mut apply = change;
    apply["plan_id"] = plan["plan_id"].clone();
    let (status, _) = server
        .post(
            "/api/v1/admin/supply-changes/apply",
            Some(&operator()),
            apply,
            None,
        )
        .await;
    assert_eq!(status, 200);
    for (i, (visitor, id)) in booked.iter().enumerate() {
        let (_, booking) = server
            .get(&format!("/api/v1/bookings/{id}"), Some(visitor))
            .await;
        assert_eq!(booking["product"]["code"], "pfizer");
        assert_eq!(booking["doses"][0]["date"], "2021-07-28");
        assert_eq!(booking["doses"][0]["clinic"]["id"], i as u64);
        assert_eq!(
            booking["doses"][1]["date"], "2021-08-18",
            "Pfizer's 21 days"
        );
    }
    assert_within_planned_supply(&server, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_supply_requests_are_refused_and_change_nothing() {
    let server = TestServer::start(jongno()).await;
    let plan = |body: Value| server.plan_supply(body);
    let (status, body) = plan(json!({"kind": "interval", "product": "janssen", "interval_days": 42, "from_day": "2021-08-18"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_interval"))
    );
    let (status, body) = plan(json!({"kind": "deliveries", "deliveries": [{"clinic": 0, "day": "2021-07-19", "product": "moderna", "doses": 1}]})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("day_not_changeable"))
    );
    assert!(body["message_ko"].as_str().is_some() && body["message_en"].as_str().is_some());
    let (status, body) = plan(json!({"kind": "deliveries", "deliveries": [{"clinic": 0, "day": "2021-07-30", "product": "sputnik", "doses": 1}]})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_product"))
    );
    let (status, body) = plan(json!({"kind": "product_switch", "from": "moderna", "to": "pfizer", "province": 11, "municipality": 11010, "first_day": "2021-07-26", "last_day": "2021-07-30"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_region"))
    );

    // CSV import: a bad line is named and nothing is stored.
    let csv = "clinic,day,product,doses\n0,2021-07-30,moderna,55\n1,2021-07-3x,moderna,5\n";
    let response = server
        .http
        .post(server.url("/api/v1/admin/deliveries/import"))
        .bearer_auth(OPERATOR_TOKEN)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_csv_line");
    assert_eq!(body["detail"]["line"], 3);
    // Found by fuzzing (fuzz/README.md): an upload that is not UTF-8 (say, an EUC-KR export)
    // was refused in plain text; it gets the API's error shape like any other bad upload.
    let response = server
        .http
        .post(server.url("/api/v1/admin/deliveries/import"))
        .bearer_auth(OPERATOR_TOKEN)
        .body(b"0,2021-07-30,moderna,55\n\xb9\xe8\xbc\xdb\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "csv_not_utf8");
    assert!(body["message_ko"].as_str().is_some() && body["message_en"].as_str().is_some());
    let (_, supply) = server
        .get(
            "/api/v1/admin/supply?clinic=0&from=2021-07-30&days=1",
            Some(&operator()),
        )
        .await;
    assert_eq!(supply["days"][0]["products"][0]["planned"], 40);

    // A good import raises planned doses (it moves nobody, so it needs no plan).
    let response = server
        .http
        .post(server.url("/api/v1/admin/deliveries/import"))
        .bearer_auth(OPERATOR_TOKEN)
        .body("0,2021-07-30,moderna,55\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, supply) = server
        .get(
            "/api/v1/admin/supply?clinic=0&from=2021-07-30&days=1",
            Some(&operator()),
        )
        .await;
    assert_eq!(supply["days"][0]["products"][0]["planned"], 55);

    // Without the operator's token: nothing.
    let (status, _) = server
        .post("/api/v1/admin/supply-changes/plan", None, json!({"kind": "interval", "product": "moderna", "interval_days": 42, "from_day": "2021-08-18"}), None)
        .await;
    assert_eq!(status, 401);
    let stranger = Visitor {
        token: "not-the-operator-token".into(),
        ..Visitor::default()
    };
    let (status, _) = server
        .get("/api/v1/admin/supply?clinic=0", Some(&stranger))
        .await;
    assert_eq!(status, 403);
}
