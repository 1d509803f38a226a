//! The whole service on PostgreSQL, over real HTTP: the same race for the last doses as on
//! SQLite, an idempotent retry, and everything still there after a restart. PostgreSQL must be
//! running (127.0.0.1:5432, trust auth, database `test`); each test uses a schema of its own.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;
#[path = "../../store/tests/support/pg.rs"]
mod pg;

use common::{OPENING_PLUS_5S, TestServer, booking_body, clinic, rrn_1967};
use domain::product::{Product, Schedules};
use futures::future::join_all;
use pg::Schema;
use store::ReadStore;

/// Staff for 10 people per band (90 a day) but 20 doses a day: the last 20.
fn twenty_doses() -> Vec<store::ClinicRecord> {
    vec![clinic(
        0,
        11010,
        37.57,
        126.98,
        10,
        &[(Product::Moderna, 20)],
    )]
}

async fn start(schema: &Schema, dir: tempfile::TempDir) -> TestServer {
    let url = schema.url();
    TestServer::start_with(
        dir,
        twenty_doses(),
        OPENING_PLUS_5S.parse().unwrap(),
        |config| config.database = Some(url),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_two_hundred_people_race_for_twenty_doses_and_a_restart_keeps_them() {
    let schema = Schema::create();
    let server = start(&schema, tempfile::tempdir().unwrap()).await;
    let people = join_all((0..200).map(|i| {
        let server = &server;
        async move { server.login("경쟁자", &rrn_1967(i)).await }
    }))
    .await;
    let answers = join_all(people.iter().enumerate().map(|(i, who)| {
        let server = &server;
        let key = format!("race-{i}");
        async move {
            let body = booking_body(0, "2021-08-16", 9 + (i % 9) as u8, "moderna");
            let first = server
                .post("/api/v1/bookings", Some(who), body.clone(), Some(&key))
                .await;
            // A retry with the same key gets the same answer, and books nothing more.
            let again = server
                .post("/api/v1/bookings", Some(who), body, Some(&key))
                .await;
            assert_eq!(first.1, again.1);
            first
        }
    }))
    .await;
    let by_outcome = common::tally(&answers);
    assert_eq!(
        by_outcome.get(&(201, "booked".into())),
        Some(&20),
        "{by_outcome:?}"
    );
    assert_eq!(
        by_outcome.get(&(409, "slot_full".into())),
        Some(&180),
        "{by_outcome:?}"
    );

    // PostgreSQL agrees.
    let (_w, reader) = store::postgres::open(&schema.url()).unwrap();
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert_eq!(audit.active_bookings, 20);
    assert!(audit.people_with_two_active.is_empty());
    assert!(
        audit.per_band.iter().all(|&(_, _, _, n)| n <= 10),
        "{audit:?}"
    );

    // A new server on the same database, with a fresh data directory that holds only the
    // fleet's `secrets.key` (as an operator deploys it to every node), rebuilds its ledger from
    // PostgreSQL: the day stays full.
    let fleet = tempfile::tempdir().unwrap();
    std::fs::copy(
        server.dir.path().join("secrets.key"),
        fleet.path().join("secrets.key"),
    )
    .unwrap();
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let restarted = start(&schema, fleet).await;
    let late = restarted.login("늦은사람", &rrn_1967(500)).await;
    let (status, body) = restarted
        .post(
            "/api/v1/bookings",
            Some(&late),
            booking_body(0, "2021-08-16", 12, "moderna"),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("slot_full")),
        "{body}"
    );
    // The signing keys are shared through the database: the first server's sessions still work.
    let (status, mine) = restarted.get("/api/v1/bookings", Some(&people[0])).await;
    assert_eq!(status, 200, "{mine}");

    // A node whose data directory has keys of its own (not the fleet's) does not start: it
    // would sign sessions the others cannot check, and hash registration numbers differently.
    let stranger = tempfile::tempdir().unwrap();
    let mut config = server::Config::new(stranger.path().to_path_buf());
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.demo = false;
    config.database = Some(schema.url());
    let clock = std::sync::Arc::new(server::clock::ManualClock::new(
        OPENING_PLUS_5S.parse().unwrap(),
    ));
    let refused = server::serve(config, clock, None, std::future::pending()).await;
    assert!(
        matches!(
            refused,
            Err(server::StartError::SharedKeys(
                server::secrets::SharedKeysError::Conflict(0)
            ))
        ),
        "{refused:?}"
    );
}

/// Eight clinics with room for everyone, the ledger in four parts (`--ledger-parts 4`).
fn eight_clinics() -> Vec<store::ClinicRecord> {
    (0..8)
        .map(|id| clinic(id, 11010, 37.57, 126.98, 20, &[(Product::Moderna, 100)]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_ledger_in_parts_books_each_person_once_wherever_they_ask() {
    use domain::clinic::ClinicId;
    use domain::partition::Part;
    let schema = Schema::create();
    let url = schema.url();
    let server = TestServer::start_with(
        tempfile::tempdir().unwrap(),
        eight_clinics(),
        OPENING_PLUS_5S.parse().unwrap(),
        |config| {
            config.database = Some(url);
            config.ledger_parts = 4;
        },
    )
    .await;
    let part_of = |clinic: u32| Part::of_clinic(ClinicId(clinic), 4);
    // Two clinics of different parts for each person to ask at once.
    let pairs: Vec<(u32, u32)> = (0..8u32)
        .flat_map(|a| (0..8u32).map(move |b| (a, b)))
        .filter(|&(a, b)| part_of(a) != part_of(b))
        .collect();
    assert!(!pairs.is_empty());
    let people = join_all((0..80).map(|i| {
        let server = &server;
        async move { server.login("분할", &rrn_1967(i)).await }
    }))
    .await;
    let answers = join_all(people.iter().enumerate().map(|(i, who)| {
        let server = &server;
        let (a, b) = pairs[i % pairs.len()];
        let hour = 9 + (i % 9) as u8;
        async move {
            let ask = |clinic| {
                server.post(
                    "/api/v1/bookings",
                    Some(who),
                    booking_body(clinic, "2021-08-16", hour, "moderna"),
                    None,
                )
            };
            let (first, second) = futures::join!(ask(a), ask(b));
            (i, first, second)
        }
    }))
    .await;
    let mut booked = Vec::new();
    for (i, first, second) in &answers {
        let outcomes = [first, second];
        let won: Vec<_> = outcomes
            .iter()
            .filter(|(status, _)| *status == 201)
            .collect();
        assert_eq!(won.len(), 1, "person {i}: {outcomes:?}");
        let lost = outcomes.iter().find(|(status, _)| *status != 201).unwrap();
        assert_eq!(
            (lost.0, lost.1["error"].as_str()),
            (409, Some("already_booked")),
            "person {i}: {outcomes:?}"
        );
        booked.push((*i, won[0].1.clone()));
    }
    let (_w, reader) = store::postgres::open(&schema.url()).unwrap();
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert_eq!(audit.active_bookings, 80);
    assert!(audit.people_with_two_active.is_empty(), "{audit:?}");

    // A cancellation goes to the part that has the booking; search shows the place back.
    let (i, booking) = &booked[0];
    let clinic = booking["doses"][0]["clinic"]["id"].as_u64().unwrap() as u32;
    let left = || async {
        let (_, found) = server
            .get(
                "/api/v1/clinics?municipality=11010&from=2021-08-16&days=1&limit=20",
                None,
            )
            .await;
        let clinics = found["clinics"].as_array().unwrap().clone();
        let this = clinics.iter().find(|c| c["id"] == clinic).unwrap().clone();
        this["availability"][0]["remaining"]["moderna"]
            .as_u64()
            .unwrap()
    };
    let before = left().await;
    let id = booking["id"].as_u64().unwrap();
    let (status, cancelled) = server
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&people[*i]),
            serde_json::json!({}),
            None,
        )
        .await;
    assert_eq!(
        (status, &cancelled["active"]),
        (200, &serde_json::json!(false))
    );
    assert_eq!(left().await, before + 1);

    // A move to a clinic of another part is refused as such, and changes nothing.
    let (j, other) = &booked[1];
    let id = other["id"].as_u64().unwrap();
    let from = other["doses"][0]["clinic"]["id"].as_u64().unwrap() as u32;
    let elsewhere = (0..8).find(|&c| part_of(c) != part_of(from)).unwrap();
    let (status, refused) = server
        .post(
            &format!("/api/v1/bookings/{id}/change"),
            Some(&people[*j]),
            serde_json::json!({"clinic_id": elsewhere, "date": "2021-08-17", "hour": 10}),
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("change_across_parts")),
        "{refused}"
    );
    let (_, mine) = server.get("/api/v1/bookings", Some(&people[*j])).await;
    assert!(mine.to_string().contains(&format!("\"id\":{id}")), "{mine}");

    // A supply change is planned by the part of its clinics; one across parts is refused.
    let cut = |clinics: &[u32]| {
        let deliveries: Vec<_> = clinics
            .iter()
            .map(|c| serde_json::json!({"clinic": c, "day": "2021-08-16", "product": "moderna", "doses": 0}))
            .collect();
        serde_json::json!({"kind": "deliveries", "deliveries": deliveries})
    };
    let (status, planned) = server.plan_supply(cut(&[from])).await;
    assert_eq!(status, 200, "{planned}");
    assert!(planned["people_moved"].as_u64().unwrap() > 0, "{planned}");
    let (status, refused) = server.plan_supply(cut(&[from, elsewhere])).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("supply_change_across_parts")),
        "{refused}"
    );

    // Each part's writer is seen on its own.
    let metrics = server.metrics().await;
    for part in 0..4 {
        for line in [
            format!("ledger_part_writing{{part=\"{part}\"}} 1"),
            format!("ledger_part_holder_epoch{{part=\"{part}\"}} 1"),
        ] {
            assert!(metrics.contains(&line), "{line}: {metrics}");
        }
    }
}
