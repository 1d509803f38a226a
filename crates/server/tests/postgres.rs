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
