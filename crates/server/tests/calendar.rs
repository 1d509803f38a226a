//! The booking calendar follows the server clock: at midnight in Seoul a new day comes into
//! it, with no restart, and can be searched and booked at once.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{TestServer, booking_body, rrn_1967, small_world};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Places left at clinic 0 on `day`, over every band and product.
async fn places_left(server: &TestServer, day: &str) -> u64 {
    let (status, clinic) = server
        .get(&format!("/api/v1/clinics/0?date={day}"), None)
        .await;
    assert_eq!(status, 200, "{clinic}");
    clinic["bands"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|band| band["remaining"].as_object().unwrap().values())
        .map(|left: &Value| left.as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_day_comes_into_the_calendar_at_midnight_in_seoul() {
    // 2021-07-19 23:59:40 in Seoul, with a 40-day calendar: the 19th to 27 August.
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        small_world(),
        "2021-07-19T14:59:40Z".parse().unwrap(),
        |config| config.calendar_days = 40,
    )
    .await;
    let person = server.login("자정시험", &rrn_1967(7)).await;
    assert!(places_left(&server, "2021-08-27").await > 0);
    assert_eq!(
        places_left(&server, "2021-08-28").await,
        0,
        "not yet in the calendar"
    );
    // Dose 1 on 7 August needs dose 2 (Pfizer: 21 days) on the 28th or later: not yet.
    let body = booking_body(0, "2021-08-07", 10, "pfizer");
    let (status, refused) = server
        .post("/api/v1/bookings", Some(&person), body.clone(), None)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("second_dose_unavailable")),
        "{refused}"
    );

    // Midnight passes in Seoul (15:00 UTC); the server is not restarted.
    server.clock.advance(jiff::SignedDuration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(10);
    while places_left(&server, "2021-08-28").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the 28th never came into the calendar"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(places_left(&server, "2021-08-29").await, 0, "a day too far");
    let (status, booked) = server
        .post("/api/v1/bookings", Some(&person), body, None)
        .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["doses"][1]["date"], "2021-08-28", "{booked}");
    // What is now today can no longer be booked.
    let other = server.login("오늘시험", &rrn_1967(8)).await;
    let (status, refused) = server
        .post(
            "/api/v1/bookings",
            Some(&other),
            booking_body(0, "2021-07-20", 15, "pfizer"),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (422, Some("day_not_bookable"))
    );
}
