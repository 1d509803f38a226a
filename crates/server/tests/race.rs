//! B1/B2 under real concurrency over real HTTP: the last places go to exactly as many people as
//! there are places, everyone else gets a clear refusal, and one person racing from many
//! connections gets one booking.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{TestServer, booking_body, clinic, rrn_1967};
use domain::product::{Product, Schedules};
use futures::future::join_all;
use store::ReadStore;

/// One clinic with staff for 50 people per band (450 a day) but 100 doses a day: the last 100.
fn hundred_doses() -> Vec<store::ClinicRecord> {
    vec![clinic(
        0,
        11010,
        37.57,
        126.98,
        50,
        &[(Product::Moderna, 100)],
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_people_race_for_the_last_hundred_doses() {
    let server = TestServer::start(hundred_doses()).await;
    let tokens = join_all((0..2_000).map(|i| {
        let server = &server;
        async move { server.login("경쟁자", &rrn_1967(i)).await }
    }))
    .await;

    let answers = join_all(tokens.iter().enumerate().map(|(i, token)| {
        let server = &server;
        let hour = 9 + (i % 9) as u8;
        async move {
            server
                .post(
                    "/api/v1/bookings",
                    Some(token),
                    booking_body(0, "2021-08-16", hour, "moderna"),
                    None,
                )
                .await
        }
    }))
    .await;

    let by_outcome = common::tally(&answers);
    assert_eq!(
        by_outcome.get(&(201, "booked".into())),
        Some(&100),
        "{by_outcome:?}"
    );
    assert_eq!(
        by_outcome.get(&(409, "slot_full".into())),
        Some(&1_900),
        "{by_outcome:?}"
    );
    assert_eq!(
        by_outcome.len(),
        2,
        "only bookings and clear refusals: {by_outcome:?}"
    );

    // The database agrees: 100 active bookings, nobody over capacity or double-booked.
    let (_w, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert_eq!(audit.active_bookings, 100);
    assert!(
        audit.per_supply.iter().all(|&(_, _, _, n)| n <= 100),
        "{:?}",
        audit.per_supply
    );
    assert!(audit.per_band.iter().all(|&(_, _, _, n)| n <= 50));
    assert!(audit.people_with_two_active.is_empty());
    assert!(audit.inconsistent_second_doses.is_empty());
    let (_, clinic) = server
        .get(
            "/api/v1/clinics?municipality=11010&from=2021-08-16&days=1",
            None,
        )
        .await;
    assert_eq!(
        clinic["clinics"][0]["availability"][0]["remaining"]["moderna"],
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_racing_from_twenty_connections_gets_one_booking() {
    let server = TestServer::start(hundred_doses()).await;
    let token = server.login("성급한", &rrn_1967(1)).await;
    // Twenty separate clients: twenty connections, different bands, no idempotency key.
    let answers = join_all((0..20u8).map(|i| {
        let token = token.clone();
        let url = server.url("/api/v1/bookings");
        async move {
            let client = reqwest::Client::new();
            let response = token
                .apply(client.post(url))
                .json(&booking_body(0, "2021-08-16", 9 + i % 9, "moderna"))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }
    }))
    .await;
    let booked: Vec<_> = answers.iter().filter(|(s, _)| *s == 201).collect();
    assert_eq!(booked.len(), 1, "{answers:?}");
    let id = booked[0].1["id"].clone();
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (409, Some("already_booked"))
        );
        assert_eq!(body["detail"]["booking_id"], id);
    }
    let (_, mine) = server.get("/api/v1/bookings", Some(&token)).await;
    assert_eq!(mine["bookings"].as_array().unwrap().len(), 1);
}
