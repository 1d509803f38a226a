//! Several `yeyak` processes on one PostgreSQL: one holds the ledger's lease and writes, the
//! others stand by, forward their booking writes to it, and take over when it dies or pauses past
//! its lease; a paused holder that wakes up is fenced off. Every acknowledged booking is in the
//! database afterwards, nobody holds two, and no clinic-day is booked past its doses. The nodes
//! share one waiting room: one line of numbers, tickets and passes good on every node, one
//! controller. Each node has a data directory of its own with copies of the first node's
//! `secrets.key` and `operator.token` (the keys not shared through the database).
//! Needs PostgreSQL at 127.0.0.1:5432 (database `test`).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{
    Client, assert_active, book_keyed_until_answered, free_port, login, new_schema, places,
    start_with, wait_healthy,
};
use domain::clinic::ClinicId;
use domain::partition::Part;
use domain::product::{Product, Schedules};
use futures::future::join_all;
use serde_json::{Value, json};
use std::process::Child;
use std::time::{Duration, Instant};
use store::ReadStore;

fn database() -> String {
    std::env::var("YEYAK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

struct Node {
    child: Child,
    base: String,
}

/// A data directory for another node, with the first node's keys that are not shared through
/// the database (as an operator would deploy them to every node): the sealing and hashing keys
/// and the operator's token. The waiting room's and the token signing keys come from the
/// database.
fn keys_copied_from(first: &std::path::Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["secrets.key", "operator.token"] {
        std::fs::copy(first.join(file), dir.path().join(file)).unwrap();
    }
    dir
}

impl Node {
    async fn start_with(
        dir: &std::path::Path,
        url: &str,
        http: &reqwest::Client,
        extra: &[&str],
    ) -> Node {
        let port = free_port();
        // Five of these tests run at once, each with two or three nodes, on one PostgreSQL
        // (100 connections): four per read pool keeps them all within it.
        let args: Vec<&str> = ["--database", url, "--database-read-connections", "4"]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let child = start_with(dir, port, &args);
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

async fn readiness(http: &reqwest::Client, base: &str) -> (u16, Value) {
    let response = http.get(format!("{base}/readyz")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A metric's value in `/metrics` text (a name without labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Batches the node's writer committed (those it began, less those that failed).
fn committed_batches(text: &str) -> f64 {
    metric(text, "yeyak_writer_batches") - metric(text, "yeyak_writer_failed_batches")
}

async fn metrics(http: &reqwest::Client, base: &str) -> String {
    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// The parts of a ledger in `count` the node at `base` writes now (its `/metrics`).
async fn parts_written(http: &reqwest::Client, base: &str, count: u16) -> Vec<u16> {
    let text = metrics(http, base).await;
    (0..count)
        .filter(|part| text.contains(&format!("yeyak_ledger_part_writing{{part=\"{part}\"}} 1")))
        .collect()
}

/// Waits up to 20 s until the nodes at `bases` write `shares` parts each (in node order),
/// every part of `count` written by one of them; returns the parts each writes.
async fn wait_for_shares(
    http: &reqwest::Client,
    bases: &[&str],
    count: u16,
    shares: &[usize],
) -> Vec<Vec<u16>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut written = Vec::new();
        for base in bases {
            written.push(parts_written(http, base, count).await);
        }
        let mut all = written.concat();
        all.sort_unstable();
        let counts: Vec<usize> = written.iter().map(Vec::len).collect();
        if counts == shares && all == (0..count).collect::<Vec<_>>() {
            return written;
        }
        assert!(Instant::now() < deadline, "parts written: {written:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The part count a test's extra arguments ask for (`--ledger-parts N`), 1 without.
fn part_count(extra: &[&str]) -> u16 {
    extra.get(1).map_or(1, |n| n.parse().unwrap())
}

/// A place of `places` whose clinic is in one of `parts` (of `count`).
fn place_in(places: &[(u64, String, u8)], count: u16, parts: &[u16]) -> (u64, String, u8) {
    places
        .iter()
        .find(|(clinic, ..)| {
            parts.contains(&Part::of_clinic(ClinicId(*clinic as u32), count).index())
        })
        .expect("a place in those parts")
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_or_paused_writer_node_is_replaced_and_nothing_acknowledged_is_lost() {
    killed_or_paused_holder("yeyak_nodes", &[]).await;
}

/// The same with the ledger in four parts, spread over the nodes: two each while A and B live,
/// all four on B after A's kill, two each again once C joins. After the pause, the woken node
/// is asked for a clinic outside home: its part's writer is fenced, and the node forwards (its
/// lease renewal found the part gone) instead of answering 503 until its next batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_ledger_in_parts_a_killed_or_paused_holder_is_replaced() {
    killed_or_paused_holder("yeyak_nodes_parts", &["--ledger-parts", "4"]).await;
}

async fn killed_or_paused_holder(name: &str, parts: &[&str]) {
    let (url, _drop_schema) = new_schema(&database(), &format!("{name}_{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let a = Node::start_with(dir.path(), &url, &http, parts).await;
    let b_dir = keys_copied_from(dir.path());
    let b = Node::start_with(b_dir.path(), &url, &http, parts).await;
    let count = part_count(parts);
    if count > 1 {
        // A, first, keeps its lowest parts (home among them); B takes the others.
        let written = wait_for_shares(&http, &[&a.base, &b.base], count, &[2, 2]).await;
        assert_eq!(written[0], vec![0, 1]);
    }
    let people = join_all((0..240).map(|n| login(&http, &a.base, n))).await;
    let places = places(&http, &a.base).await;
    // The place B forwards to A: home's.
    let forwarded_place = place_in(&places, count, &[0]);
    // The place booked through the woken node: outside home when the ledger is in parts.
    let late_place = places
        .iter()
        .find(|(clinic, ..)| {
            count == 1 || Part::of_clinic(ClinicId(*clinic as u32), count).index() != 0
        })
        .expect("a clinic outside home")
        .clone();
    let mut acknowledged = Vec::new();

    // A is the writer; B stands by and forwards its writes to A. Each says so in /metrics, and
    // B is ready (a load balancer may send it bookings).
    let (status, id) = book(&http, &b.base, &people[239], &forwarded_place).await;
    assert_eq!(
        status, 201,
        "a standby node forwards a booking to the holder"
    );
    acknowledged.extend(id);
    let a_metrics = metrics(&http, &a.base).await;
    assert!(
        a_metrics.contains("yeyak_ledger_lease_held 1"),
        "{a_metrics}"
    );
    let b_metrics = metrics(&http, &b.base).await;
    assert!(
        b_metrics.contains("yeyak_ledger_lease_held 0"),
        "{b_metrics}"
    );
    assert!(
        b_metrics.contains("yeyak_ledger_forwarding 1"),
        "{b_metrics}"
    );
    assert!(
        b_metrics.contains("yeyak_ledger_forwarded_writes{outcome=\"answered\"} 1"),
        "{b_metrics}"
    );
    let ready = readiness(&http, &b.base).await;
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert_eq!(
        ready.1["writer"]["ledger"]["role"], "forwarding",
        "{}",
        ready.1
    );
    assert_eq!(
        ready.1["writer"]["ledger"]["holder_address"], a.base,
        "{}",
        ready.1
    );

    // The holder's forwarded routes skip the waiting room: only a node's signature opens them,
    // never a client's (none, or one it made up), and nothing is written.
    let (clinic, date, hour) = &places[1];
    for signature in [None, Some(("AAAA", "0"))] {
        let mut request = people[238]
            .on(http.post(format!(
                "{}/api/internal/v1/forwarded/api/v1/bookings",
                a.base
            )))
            .json(&json!({"clinic_id": clinic, "date": date, "hour": hour, "product": "pfizer"}));
        if let Some((mac, at)) = signature {
            request = request
                .header("x-yeyak-forwarded", mac)
                .header("x-yeyak-forwarded-at", at);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status().as_u16(), 403);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "not_forwarded", "{body}");
    }
    let refused = http
        .post(format!("{}/api/internal/v1/writes", a.base))
        .json(
            &json!({"kind": "enqueue", "person": null, "recipient": "", "template": "x",
            "body_ko": "x", "body_en": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let listed: Value = people[238]
        .on(http.get(format!("{}/api/v1/bookings", a.base)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["bookings"], json!([]), "{listed}");

    // An operator's write through B is forwarded as it came; A checks the token and does it.
    let token = std::fs::read_to_string(dir.path().join("operator.token")).unwrap();
    let created = http
        .post(format!("{}/api/v1/admin/staff", b.base))
        .bearer_auth(token.trim())
        .json(&json!({"role": "agent", "name": "상담원"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let refused = http
        .post(format!("{}/api/v1/admin/staff", b.base))
        .bearer_auth("not-the-token")
        .json(&json!({"role": "agent", "name": "상담원"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403, "a wrong token is refused");
    // A standby of the whole ledger sends every write on at once (A refused the wrong token);
    // in parts, B runs the request first and sends on only what its writer refused as
    // another node's part, so it refused the wrong token itself.
    let forwarded = if count == 1 { 3 } else { 2 };
    let b_metrics = metrics(&http, &b.base).await;
    assert!(
        b_metrics.contains(&format!(
            "yeyak_ledger_forwarded_writes{{outcome=\"answered\"}} {forwarded}"
        )),
        "{b_metrics}"
    );
    // An operator's write that needs no writer (a priority list) is done on B, in parts; its
    // audit line is written by home's holder all the same (sent on as a plain write), not lost.
    let added = http
        .post(format!("{}/api/v1/admin/priority-lists", b.base))
        .bearer_auth(token.trim())
        .json(
            &json!({"name_ko": "감사 확인", "name_en": "Audit check", "rrns": [],
            "opens_at": "2030-01-01T00:00:00Z", "closes_at": "2030-01-02T00:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    let log: Value = http
        .get(format!("{}/api/v1/admin/audit?limit=50", a.base))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audited = log["audit"].as_array().unwrap().iter().any(|line| {
        line["action"] == "POST /api/v1/admin/priority-lists" && line["outcome"] == "201"
    });
    assert!(audited, "{log}");

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
    let c = Node::start_with(c_dir.path(), &url, &http, parts).await;
    if count > 1 {
        // B alone took every part; C joining takes its share off B.
        wait_for_shares(&http, &[&b.base, &c.base], count, &[2, 2]).await;
    }
    let committed_before_stop = committed_batches(&metrics(&http, &b.base).await);
    b.signal("-STOP");
    let answers = join_all(people[160..220].iter().enumerate().map(|(i, who)| {
        book_until_answered(&http, &c.base, who, &places[(160 + i) % places.len()])
    }))
    .await;
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    acknowledged.extend(answers.iter().filter_map(|a| a.1));
    b.signal("-CONT");
    // B's first batch after waking is refused by the fence (503); once fenced off it stands by
    // and forwards to C. A request that reached B before it knew may thus get 503, or (sent
    // again after a keep-alive connection B closed as it woke: status 0) C's 201 through B —
    // never a booking B wrote itself: B's own writer commits nothing.
    let mut late = book(&http, &b.base, &people[230], &late_place).await;
    for _ in 0..5 {
        if late.0 != 0 {
            break;
        }
        late = book(&http, &b.base, &people[230], &late_place).await;
    }
    assert!(matches!(late.0, 503 | 201), "{late:?}");
    let answer = match late {
        (201, _) => late,
        _ => book_until_answered(&http, &b.base, &people[230], &late_place).await,
    };
    assert_eq!(answer.0, 201, "{answer:?}");
    acknowledged.extend(answer.1);
    let b_metrics = metrics(&http, &b.base).await;
    assert!(
        b_metrics.contains("yeyak_ledger_lease_held 0"),
        "{b_metrics}"
    );
    assert!(
        b_metrics.contains("yeyak_ledger_forwarding 1"),
        "{b_metrics}"
    );
    // With one ledger B commits nothing after the pause. In parts, B, alive again, may be
    // given back its share by C under new leases, and commit then: the fence is checked
    // part by part in `store`'s `partitions` test.
    if count == 1 {
        assert_eq!(
            committed_batches(&b_metrics),
            committed_before_stop,
            "the paused node committed a batch after losing its lease"
        );
    }

    // Every acknowledged booking is there; nobody holds two; nothing past capacity.
    let (_writer, reader) = store::postgres::open(&url).unwrap();
    assert_active(&reader, &acknowledged);
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert!(audit.people_with_two_active.is_empty(), "{audit:?}");
    assert!(audit.active_bookings >= acknowledged.len() as u64);
    drop((b, c));
    drop(reader);
}

/// Pfizer doses booked at `clinic` on `date`, as the database counts them.
fn doses_on(audit: &store::AuditReport, clinic: u64, date: &str) -> u32 {
    audit
        .per_supply
        .iter()
        .filter(|(c, d, p, _)| {
            u64::from(*c) == clinic && d.to_string() == date && *p == Product::Pfizer
        })
        .map(|(.., n)| n)
        .sum()
}

/// Logs in `n` people from `first`, spread over the nodes, a few at a time.
async fn login_spread(http: &reqwest::Client, bases: &[String], first: u32, n: u32) -> Vec<Client> {
    use futures::StreamExt;
    futures::stream::iter(first..first + n)
        .map(|p| {
            let base = bases[p as usize % bases.len()].clone();
            let http = http.clone();
            async move { login(&http, &base, p).await }
        })
        .buffered(48)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_take_bookings_never_overbook_and_survive_the_holders_kill() {
    three_nodes_race_and_lose_the_holder("yeyak_three", &[]).await;
}

/// The same with the ledger in six parts (`--ledger-parts 6`), spread two on each node: a
/// booking reaches the node writing its clinic's part, wherever it came in; when A dies, its
/// two parts move to B and C, three each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_with_the_ledger_in_parts_never_overbook_and_survive_the_holders_kill() {
    three_nodes_race_and_lose_the_holder("yeyak_parts", &["--ledger-parts", "6"]).await;
}

async fn three_nodes_race_and_lose_the_holder(name: &str, parts: &[&str]) {
    let (url, _drop_schema) = new_schema(&database(), &format!("{name}_{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let mut a = Node::start_with(dir.path(), &url, &http, parts).await;

    // The last 100 doses: one clinic-day planned at 100 (its bands hold several times that),
    // entered before B and C start, so every node's ledger knows it.
    let places = places(&http, &a.base).await;
    let (clinic, date, _) = places[0].clone();
    let last: Vec<_> = places
        .iter()
        .filter(|(c, d, _)| *c == clinic && *d == date)
        .cloned()
        .collect();
    let token = std::fs::read_to_string(dir.path().join("operator.token")).unwrap();
    let planned = http
        .put(format!("{}/api/v1/admin/deliveries", a.base))
        .bearer_auth(token.trim())
        .json(&json!({"deliveries": [{"clinic": clinic, "day": date, "product": "pfizer", "doses": 100}]}))
        .send()
        .await
        .unwrap();
    assert!(planned.status().is_success(), "{:?}", planned.text().await);
    let (b_dir, c_dir) = (keys_copied_from(dir.path()), keys_copied_from(dir.path()));
    let b = Node::start_with(b_dir.path(), &url, &http, parts).await;
    let c = Node::start_with(c_dir.path(), &url, &http, parts).await;
    let bases = [a.base.clone(), b.base.clone(), c.base.clone()];
    let count = part_count(parts);
    if count > 1 {
        wait_for_shares(&http, &[&a.base, &b.base, &c.base], count, &[2, 2, 2]).await;
    }
    for base in &bases[1..] {
        let ready = readiness(&http, base).await;
        assert_eq!(ready.0, 200, "a forwarding standby is ready: {}", ready.1);
    }

    // 2,000 people, logged in on all three (a standby's identity check writes the person
    // through the holder), book the last 100 doses at once, each on the node it came through.
    let people = login_spread(&http, &bases, 0, 2_000).await;
    let answers =
        join_all(people.iter().enumerate().map(|(i, who)| {
            let (http, base, place) = (
                http.clone(),
                bases[i % 3].clone(),
                last[i % last.len()].clone(),
            );
            async move {
                book_keyed_until_answered(&http, &base, who, &place, &format!("race-{i}")).await
            }
        }))
        .await;
    let booked: Vec<u64> = answers.iter().filter_map(|a| a.1).collect();
    let refused = answers.iter().filter(|a| a.0 == 409).count();
    assert_eq!(booked.len(), 100, "exactly the last 100: {answers:?}");
    assert_eq!(refused, 1_900, "everyone else told it is full: {answers:?}");
    let mut by_node = [0; 3];
    for (i, answer) in answers.iter().enumerate() {
        by_node[i % 3] += usize::from(answer.0 == 201);
    }
    assert!(
        by_node.iter().all(|n| *n > 0),
        "each node booked: {by_node:?}"
    );
    let (_writer, reader) = store::postgres::open(&url).unwrap();
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert_eq!(audit.active_bookings, 100, "{audit:?}");
    assert_eq!(doses_on(&audit, clinic, &date), 100, "{audit:?}");
    assert!(audit.people_with_two_active.is_empty(), "{audit:?}");

    // kill -9 of the holder (A) while people book through all three: nothing acknowledged is
    // lost, and booking goes on through B and C once one of them took over.
    let more = login_spread(&http, &bases[1..], 2_000, 300).await;
    let elsewhere: Vec<_> = places
        .iter()
        .filter(|(c, _, _)| *c != clinic)
        .cloned()
        .collect();
    let load = tokio::spawn({
        let (http, bases, more, elsewhere) =
            (http.clone(), bases.clone(), more.clone(), elsewhere.clone());
        async move {
            join_all(more[..200].iter().enumerate().map(|(i, who)| {
                let (http, base, place) = (
                    http.clone(),
                    bases[i % 3].clone(),
                    elsewhere[i % elsewhere.len()].clone(),
                );
                async move {
                    tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
                    // One try: a kill loses answers, and only what was answered counts.
                    book(&http, &base, who, &place).await
                }
            }))
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let answers = load.await.unwrap();
    let mut acknowledged: Vec<u64> = answers.iter().filter_map(|a| a.1).collect();
    assert!(!acknowledged.is_empty(), "nothing booked before the kill");
    assert!(
        answers.iter().any(|a| a.0 != 201),
        "the kill should interrupt the load"
    );
    let after =
        join_all(
            more[200..].iter().enumerate().map(|(i, who)| {
                let (http, base, place) =
                    (&http, &bases[1 + i % 2], &elsewhere[i % elsewhere.len()]);
                async move {
                    book_keyed_until_answered(http, base, who, place, &format!("after-{i}")).await
                }
            }),
        )
        .await;
    assert!(after.iter().all(|(s, _)| *s == 201), "{after:?}");
    acknowledged.extend(after.iter().filter_map(|a| a.1));
    assert_active(&reader, &acknowledged);
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert!(audit.people_with_two_active.is_empty(), "{audit:?}");
    assert!(audit.active_bookings >= 100 + acknowledged.len() as u64);
    assert_eq!(doses_on(&audit, clinic, &date), 100, "{audit:?}");
    // A's parts move within about a lease time of the kill (the parts nobody booked in may
    // still be lapsing when the bookings above are in): the whole ledger to one of B and C;
    // parts evenly, three each.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut writers = Vec::new();
        for base in &bases[1..] {
            writers.push(parts_written(&http, base, count).await);
        }
        let mut all = writers.concat();
        all.sort_unstable();
        let mut shares: Vec<usize> = writers.iter().map(Vec::len).collect();
        shares.sort_unstable();
        let even = match count {
            1 => vec![0, 1],
            n => vec![usize::from(n / 2); 2],
        };
        if shares == even && all == (0..count).collect::<Vec<_>>() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "parts written by B and C: {writers:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop((b, c));
    drop(reader);
}

/// A ticket's status on a node.
async fn queue_status(http: &reqwest::Client, base: &str, ticket: &(String, String)) -> Value {
    common::number(http, base, &ticket.0, &ticket.1).await
}

/// Exchanges an admitted ticket for a pass on `base`.
async fn exchange(http: &reqwest::Client, base: &str, ticket: &(String, String)) -> Option<String> {
    let response = http
        .post(format!("{base}/api/v1/queue/exchange"))
        .header("x-yeyak-waiting-session", &ticket.0)
        .header("x-yeyak-ticket", &ticket.1)
        .send()
        .await
        .unwrap();
    if response.status().as_u16() != 200 {
        return None;
    }
    let body: Value = response.json().await.unwrap();
    body["pass"].as_str().map(str::to_string)
}

/// A booking-side call with `pass` (none: no pass): the error code it is refused with.
async fn booking_side(http: &reqwest::Client, base: &str, session: &str, pass: &str) -> Value {
    let response = http
        .get(format!("{base}/api/v1/eligibility"))
        .header("x-yeyak-waiting-session", session)
        .header("x-yeyak-pass", pass)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["error"].clone()
}

/// Tickets admitted as `base` sees it.
async fn admitted_on(http: &reqwest::Client, base: &str, tickets: &[(String, String)]) -> usize {
    let statuses = join_all(tickets.iter().map(|t| queue_status(http, base, t))).await;
    statuses.iter().filter(|s| s["state"] == "admitted").count()
}

/// One waiting room across three nodes on one PostgreSQL (issue 14): numbers from one line
/// whichever node a person arrives at, a ticket read alike on every node, a pass from one node
/// good on another, admission bounded by the people active on *every* node (the followers report
/// to the controller on the ledger's holder), followers taking up the watermark, and admission
/// going on after the holder is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_waiting_room_and_its_controller() {
    let (url, _drop_schema) =
        new_schema(&database(), &format!("yeyak_room_{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // Someone admitted who has not shown up after 2 s loses the slot to the next person: the
    // controller must learn of those who showed up on other nodes, or it would let in more.
    let show_up = ["--show-up-window-s", "2"];
    let a = Node::start_with(dir.path(), &url, &http, &show_up).await;
    let (b_dir, c_dir) = (keys_copied_from(dir.path()), keys_copied_from(dir.path()));
    let b = Node::start_with(b_dir.path(), &url, &http, &show_up).await;
    let c = Node::start_with(c_dir.path(), &url, &http, &show_up).await;
    assert!(
        !b_dir.path().join("queue.keys").exists(),
        "the waiting room's keys come from the database"
    );
    let bases = [a.base.clone(), b.base.clone(), c.base.clone()];

    let operator = std::fs::read_to_string(dir.path().join("operator.token")).unwrap();
    let now = jiff::Timestamp::now();
    let opens = now.checked_add(jiff::SignedDuration::from_secs(4)).unwrap();
    let max_active = 6;
    let scheduled = http
        .post(format!("{}/api/v1/admin/openings", b.base))
        .bearer_auth(operator.trim())
        .json(
            &json!({"prequeue_starts_at": now.to_string(), "opens_at": opens.to_string(),
                      "max_active": max_active}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.status().as_u16(), 201, "scheduled on a follower");
    // Every node takes the new queue up within a tick or two.
    tokio::time::sleep(Duration::from_millis(1_000)).await;

    // The pre-queue: people arrive at whichever node the load balancer picks.
    let early = join_all((0..60).map(|n| common::arrive(&http, &bases[n % 3]))).await;
    // Numbers are drawn at the opening (the pre-queue's order is random).
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let mut numbers = Vec::new();
    for ticket in &early {
        let seen = join_all(bases.iter().map(|base| queue_status(&http, base, ticket))).await;
        let number = seen[0]["number"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}", seen[0]));
        for other in &seen[1..] {
            assert_eq!(other["number"].as_u64(), Some(number), "{seen:?}");
        }
        numbers.push(number);
    }
    let distinct: std::collections::HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        numbers.len(),
        "two people share a place: {numbers:?}"
    );
    let late = join_all((0..6).map(|n| common::arrive(&http, &bases[n % 3]))).await;
    for ticket in &late {
        let number = queue_status(&http, &c.base, ticket).await["number"]
            .as_u64()
            .unwrap();
        assert!(
            number > *numbers.iter().max().unwrap(),
            "after the opening, arrivals at any node queue behind the whole pre-queue"
        );
    }

    // Admission: admitted people exchange their ticket on B and keep using the pass on C. The
    // controller runs on A (the ledger's holder) and sees them only through B's and C's reports:
    // for 8 s, never more than `max_active` are let in.
    let mut passes: Vec<(String, String)> = Vec::new();
    let mut most_admitted = 0;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(8) {
        for ticket in &early {
            if passes.iter().any(|(session, _)| *session == ticket.0) {
                continue;
            }
            if let Some(pass) = exchange(&http, &b.base, ticket).await {
                passes.push((ticket.0.clone(), pass));
            }
        }
        for (session, pass) in &passes {
            let refused = booking_side(&http, &c.base, session, pass).await;
            let code = refused.as_str().unwrap_or_default();
            assert!(
                !code.starts_with("pass") && !code.starts_with("token"),
                "a pass from B is good on C: {refused}"
            );
        }
        most_admitted = most_admitted.max(admitted_on(&http, &a.base, &early).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if passes.is_empty() {
        let snapshot = http
            .get(format!("{}/api/v1/admin/queue", a.base))
            .bearer_auth(operator.trim())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        panic!("nobody was admitted; the holder's queue: {snapshot}");
    }
    assert!(
        most_admitted <= max_active,
        "{most_admitted} admitted with {max_active} active at most: the controller did not count \
         the people active on the other nodes"
    );
    // The controller on A counts the people using their passes on C (and seen on B when they
    // exchanged), each once, though none of them ever reached A.
    let mut seen_by_controller = Value::Null;
    for _ in 0..8 {
        for (session, pass) in &passes {
            booking_side(&http, &c.base, session, pass).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        seen_by_controller = http
            .get(format!("{}/api/v1/admin/queue", a.base))
            .bearer_auth(operator.trim())
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        if seen_by_controller["active"].as_u64() == Some(passes.len() as u64) {
            break;
        }
    }
    assert_eq!(
        seen_by_controller["active"].as_u64(),
        Some(passes.len() as u64),
        "{seen_by_controller}"
    );
    let forged = booking_side(&http, &c.base, &passes[0].0, "AAAA.BBBB").await;
    assert_eq!(forged, "token_malformed", "a made-up pass is refused");
    // The followers took up the leader's watermark.
    let on_a = admitted_on(&http, &a.base, &early).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    for base in [&b.base, &c.base] {
        assert!(
            admitted_on(&http, base, &early).await >= on_a,
            "{base} lags"
        );
    }

    // The holder dies. Its passes' people stop (their sessions age out on C); another node takes
    // the ledger's lease, and with it the controller: admission goes on from where it was.
    let before = admitted_on(&http, &b.base, &early).await;
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let now_admitted = admitted_on(&http, &c.base, &early).await;
        if now_admitted > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "admission stopped with the holder: {now_admitted} admitted"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let newcomer = common::arrive(&http, &b.base).await;
    let number = queue_status(&http, &c.base, &newcomer).await["number"]
        .as_u64()
        .unwrap();
    assert!(
        number > *numbers.iter().max().unwrap(),
        "the line goes on after the kill"
    );
}
