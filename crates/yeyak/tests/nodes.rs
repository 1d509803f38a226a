//! Several `yeyak` processes on one PostgreSQL: one holds the ledger's lease and writes, the
//! others stand by (503 on writes) and take over when it dies or pauses past its lease; a paused
//! holder that wakes up is fenced off. Every acknowledged booking is in the database afterwards
//! and nobody holds two. Each node has a data directory of its own (its waiting room's file) with
//! copies of the first node's keys, because keys are not yet shared through the database.
//! Needs PostgreSQL at 127.0.0.1:5432 (database `test`).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{Client, free_port, login, places, start_with, wait_healthy};
use domain::product::Schedules;
use futures::future::join_all;
use serde_json::{Value, json};
use std::process::Child;
use std::time::{Duration, Instant};
use store::ReadStore;

fn database() -> String {
    std::env::var("YEYAK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Drops the test's schema when the test ends, passed or failed.
struct DropSchema(String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let _ = store::postgres::drop_schema(&database(), &self.0);
    }
}

struct Node {
    child: Child,
    base: String,
}

/// A data directory for another node, with the first node's keys (as an operator would deploy
/// them to every node).
fn keys_copied_from(first: &std::path::Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["secrets.key", "queue.keys", "operator.token"] {
        std::fs::copy(first.join(file), dir.path().join(file)).unwrap();
    }
    dir
}

impl Node {
    async fn start(dir: &std::path::Path, url: &str, http: &reqwest::Client) -> Node {
        let port = free_port();
        let child = start_with(dir, port, &["--database", url]);
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(http, &base).await;
        Node { child, base }
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Books once; the status and the booking's id when it was acknowledged.
async fn book(
    http: &reqwest::Client,
    base: &str,
    who: &Client,
    place: &(u64, String, u8),
) -> (u16, Option<u64>) {
    let (clinic, date, hour) = place;
    let sent = who
        .on(http.post(format!("{base}/api/v1/bookings")))
        .json(&json!({"clinic_id": clinic, "date": date, "hour": hour, "product": "pfizer"}))
        .send()
        .await;
    let Ok(response) = sent else { return (0, None) };
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["id"].as_u64().filter(|_| status == 201))
}

/// Books, retrying a 503 (the node standing by, or taking over) for up to 30 s.
async fn book_until_answered(
    http: &reqwest::Client,
    base: &str,
    who: &Client,
    place: &(u64, String, u8),
) -> (u16, Option<u64>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = book(http, base, who, place).await;
        if answer.0 != 503 || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_or_paused_writer_node_is_replaced_and_nothing_acknowledged_is_lost() {
    let schema = format!("yeyak_nodes_{}", std::process::id());
    let url = store::postgres::create_schema(&database(), &schema).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {} ({e}); this test needs it",
            database()
        )
    });
    let _drop_schema = DropSchema(schema.clone());
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let a = Node::start(dir.path(), &url, &http).await;
    let b_dir = keys_copied_from(dir.path());
    let b = Node::start(b_dir.path(), &url, &http).await;
    let people = join_all((0..240).map(|n| login(&http, &a.base, n))).await;
    let places = places(&http, &a.base).await;
    let mut acknowledged = Vec::new();

    // A is the writer; B stands by and refuses writes. Each says so in /metrics.
    let (status, _) = book(&http, &b.base, &people[239], &places[0]).await;
    assert_eq!(status, 503, "a standby node must not write");
    assert!(
        metrics(&http, &a.base)
            .await
            .contains("yeyak_ledger_lease_held 1")
    );
    assert!(
        metrics(&http, &b.base)
            .await
            .contains("yeyak_ledger_lease_held 0")
    );

    // kill -9 of the writer mid-load.
    let load: Vec<_> = people[..100]
        .iter()
        .enumerate()
        .map(|(i, who)| {
            let (http, base, place) = (
                http.clone(),
                a.base.clone(),
                places[i % places.len()].clone(),
            );
            let who = who.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
                book(&http, &base, &who, &place).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    for answer in join_all(load).await {
        acknowledged.extend(answer.unwrap().1);
    }
    assert!(
        !acknowledged.is_empty(),
        "nothing was booked before the kill"
    );
    assert!(
        acknowledged.len() < 100,
        "the kill should interrupt the load"
    );

    // B takes over within the lease time and books the next people.
    let answers = join_all(people[100..160].iter().enumerate().map(|(i, who)| {
        book_until_answered(&http, &b.base, who, &places[(100 + i) % places.len()])
    }))
    .await;
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    acknowledged.extend(answers.iter().filter_map(|a| a.1));

    // SIGSTOP the writer (B) past its lease: C takes over; SIGCONT: B's next batch is fenced.
    let c_dir = keys_copied_from(dir.path());
    let c = Node::start(c_dir.path(), &url, &http).await;
    b.signal("-STOP");
    let answers = join_all(people[160..220].iter().enumerate().map(|(i, who)| {
        book_until_answered(&http, &c.base, who, &places[(160 + i) % places.len()])
    }))
    .await;
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    acknowledged.extend(answers.iter().filter_map(|a| a.1));
    b.signal("-CONT");
    let late = book(&http, &b.base, &people[230], &places[0]).await;
    assert_eq!(
        late.0, 503,
        "the paused node wrote after losing its lease: {late:?}"
    );

    // Every acknowledged booking is there; nobody holds two; nothing past capacity.
    let (_writer, reader) = store::postgres::open(&url).unwrap();
    for id in &acknowledged {
        let booking = reader.booking(domain::booking::BookingId(*id)).unwrap();
        assert!(
            booking.is_some_and(|b| b.is_active()),
            "acknowledged booking {id} lost"
        );
    }
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert!(audit.people_with_two_active.is_empty(), "{audit:?}");
    assert!(audit.active_bookings >= acknowledged.len() as u64);
    drop((b, c));
    drop(reader);
}
