//! A `yeyak` node whose connection to PostgreSQL goes through a TCP proxy written here (as
//! crates.io's chaos proxy does): the proxy cuts every connection while bookings are being
//! committed, then refuses connections for 30 s. Clients get 503 + `Retry-After`, never a false
//! "booked"; the front door keeps answering from memory; every acknowledged booking is in the
//! database afterwards; a request answered 503 and retried with its `Idempotency-Key` gets one
//! booking, never two; and booking comes back by itself.
//! Needs PostgreSQL at 127.0.0.1:5432 (database `test`).
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{
    arrive, assert_active, book_keyed, book_keyed_until_answered, free_port, login, new_schema,
    places, start_with, wait_healthy,
};
use domain::product::Schedules;
use futures::future::join_all;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use store::ReadStore;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const POSTGRES: &str = "127.0.0.1:5432";

/// Passes TCP through to PostgreSQL until told to cut every connection or refuse new ones.
struct Proxy {
    port: u16,
    refusing: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let refusing = Arc::new(AtomicBool::new(false));
        let (cuts, cut) = watch::channel(0u64);
        let refuse = Arc::clone(&refusing);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = cut.clone();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(POSTGRES).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                    // Both sockets dropped here: the node sees its connection end mid-whatever.
                });
            }
        });
        Proxy {
            port,
            refusing,
            cuts,
        }
    }

    /// Ends every connection through the proxy now.
    fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The database unreachable (`true`) or back (`false`).
    fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
        if refusing {
            self.cut();
        }
    }
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_and_a_30_s_outage_lose_nothing_acknowledged() {
    let proxy = Proxy::start().await;
    let schema = format!("yeyak_chaos_{}", std::process::id());
    let proxied = format!("postgres://postgres@127.0.0.1:{}/test", proxy.port);
    let (url, _drop_schema) = new_schema(&proxied, &schema);
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _node = Node(start_with(dir.path(), port, &["--database", &url]));
    wait_healthy(&http, &base).await;
    let people = join_all((0..260).map(|n| login(&http, &base, n))).await;
    let places = places(&http, &base).await;
    let place = |i: usize| places[i % places.len()].clone();

    // Connections cut every 50 ms while 200 bookings arrive over a second.
    let load = join_all(people[..200].iter().enumerate().map(|(i, who)| {
        let (http, base, place) = (http.clone(), base.clone(), place(i));
        async move {
            tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
            book_keyed(&http, &base, who, &place, &format!("cut-{i}")).await
        }
    }));
    let cutting = async {
        for _ in 0..24 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            proxy.cut();
        }
    };
    let (answers, ()) = tokio::join!(load, cutting);
    let unavailable: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].0 == 503)
        .collect();
    assert!(
        !unavailable.is_empty(),
        "no request was caught by a cut: {answers:?}"
    );
    for (status, _, retry_after) in &answers {
        assert!(
            matches!(status, 201 | 503),
            "only booked or 503: {answers:?}"
        );
        if *status == 503 {
            assert!(retry_after.is_some(), "a 503 says when to retry");
        }
    }
    let mut acknowledged: Vec<u64> = answers.iter().filter_map(|a| a.1).collect();
    // Retried with the same key: each gets its booking (the one its lost answer was about, if
    // it had committed), and nobody gets two.
    for &i in &unavailable {
        let (status, id) =
            book_keyed_until_answered(&http, &base, &people[i], &place(i), &format!("cut-{i}"))
                .await;
        assert_eq!(status, 201, "retry of request {i}");
        acknowledged.extend(id);
    }

    // A ticket taken before the outage, to poll during it.
    let (_, held) = arrive(&http, &base).await;

    // The database unreachable for 30 s.
    proxy.refuse(true);
    let outage_ends = Instant::now() + Duration::from_secs(30);
    let mut tries = 0;
    let mut arrivals = Vec::new();
    while Instant::now() < outage_ends {
        let who = &people[200 + tries % 40];
        let (status, id, retry_after) =
            book_keyed(&http, &base, who, &place(200 + tries), "outage").await;
        assert_eq!((status, id), (503, None), "booking during the outage");
        assert!(retry_after.is_some(), "a 503 says when to retry");
        let alive = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(alive.status().as_u16(), 200, "liveness stays up");
        let polled = http
            .get(format!("{base}/api/v1/queue/status"))
            .header("x-yeyak-ticket", &held)
            .send()
            .await
            .unwrap();
        assert_eq!(
            polled.status().as_u16(),
            200,
            "a status poll never needs storage"
        );
        // A new ticket needs a number from a block stored before it is handed out (W5): the
        // block reserved ahead serves the first arrivals; once it is used up, an arrival is told
        // to come back, never given a number that is not durable.
        let arrived = http
            .post(format!("{base}/api/v1/queue/arrive"))
            .send()
            .await
            .unwrap();
        let status = arrived.status().as_u16();
        let retry_after = arrived.headers().contains_key("retry-after");
        let body: serde_json::Value = arrived.json().await.unwrap();
        match status {
            201 => {}
            503 => {
                assert_eq!(body["error"], "queue_numbers_not_ready", "{body}");
                assert!(retry_after, "a 503 says when to retry");
            }
            other => panic!("an arrival during the outage: {other} {body}"),
        }
        arrivals.push(status);
        tries += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        arrivals.first(),
        Some(&201),
        "the block reserved ahead serves the first arrival of the outage: {arrivals:?}"
    );
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status().as_u16(),
        503,
        "not ready while the database is away"
    );
    proxy.refuse(false);

    // Back by itself: the people who were refused book now.
    for (n, who) in people[200..260].iter().enumerate() {
        let (status, id) =
            book_keyed_until_answered(&http, &base, who, &place(200 + n), &format!("after-{n}"))
                .await;
        assert_eq!(status, 201, "booking after the outage");
        acknowledged.extend(id);
    }
    // And new arrivals get numbers again.
    let mut arrived_after = None;
    for _ in 0..20 {
        let arrived = http
            .post(format!("{base}/api/v1/queue/arrive"))
            .send()
            .await
            .unwrap();
        arrived_after = Some(arrived.status().as_u16());
        if arrived_after == Some(201) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(arrived_after, Some(201), "an arrival after the outage");
    let (_writer, reader) = store::postgres::open(&url).unwrap();
    assert_active(&reader, &acknowledged);
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert!(audit.people_with_two_active.is_empty(), "{audit:?}");
    // Each person's acknowledged booking is their own: no id answered to two people.
    let mut distinct = acknowledged.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        260,
        "one booking per person: {acknowledged:?}"
    );
    assert_eq!(audit.active_bookings, 260, "{audit:?}");
}
