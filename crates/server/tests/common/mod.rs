//! Starts the real server on port 0 with a small world and a clock the test controls, and
//! talks to it over real HTTP.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
#![allow(dead_code)]

use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::eligibility::cohorts_2021;
use domain::product::{Product, Schedules};
use jiff::Timestamp;
use serde_json::{Value, json};
use server::clock::ManualClock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use store::{AdminStore, ClinicRecord, ReadStore};

/// 2021-07-19 20:00:05 KST: five seconds into the 53–54 cohort's window (born 1967–1968).
pub const OPENING_PLUS_5S: &str = "2021-07-19T11:00:05Z";

pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";

/// What a browser holds after the waiting room and an identity check.
#[derive(Clone, Debug, Default)]
pub struct Visitor {
    pub session: String,
    pub ticket: String,
    pub pass: String,
    pub token: String,
}

impl Visitor {
    pub fn apply(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if !self.session.is_empty() {
            request = request.header("x-yeyak-waiting-session", &self.session);
        }
        if !self.ticket.is_empty() {
            request = request.header("x-yeyak-ticket", &self.ticket);
        }
        if !self.pass.is_empty() {
            request = request.header("x-yeyak-pass", &self.pass);
        }
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        request
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The identity stand-in's subscriber records: tests register the people they use.
    pub subscribers: Arc<server::identity::MemoryRegistry>,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn clinic(
    id: u32,
    municipality: u32,
    lat: f64,
    lon: f64,
    per_band: u16,
    products: &[(Product, u32)],
) -> ClinicRecord {
    ClinicRecord {
        clinic: Clinic {
            id: ClinicId(id),
            name: format!("테스트의원 {id}"),
            kind: ClinicKind::Consigned,
            municipality: MunicipalityCode(municipality),
            location: GeoPoint { lat, lon },
            products: products.iter().map(|(p, _)| *p).collect(),
            hours: Hours {
                open_hour: 9,
                close_hour: 18,
                per_band,
                saturdays: true,
            },
        },
        daily_doses: products.to_vec(),
    }
}

/// Three clinics: two in Jongno-gu (Seoul), one in Haeundae-gu (Busan).
pub fn small_world() -> Vec<ClinicRecord> {
    vec![
        clinic(
            0,
            11010,
            37.5735,
            126.9790,
            10,
            &[(Product::Moderna, 100), (Product::Pfizer, 100)],
        ),
        clinic(1, 11010, 37.5800, 126.9850, 2, &[(Product::Moderna, 20)]),
        clinic(2, 21090, 35.1631, 129.1635, 10, &[(Product::Pfizer, 50)]),
    ]
}

/// Stores the world and the 2021 rules in a new database; leaves an existing one as it is.
fn seed(store: &(impl store::ReadStore + AdminStore), clinics: &[ClinicRecord]) {
    if store.clinics().unwrap().is_empty() {
        store.insert_clinics(clinics).unwrap();
        let rules = serde_json::to_string(&cohorts_2021()).unwrap();
        store
            .put_setting(server::world::RULES_SETTING, &rules)
            .unwrap();
    }
}

impl TestServer {
    pub async fn start(clinics: Vec<ClinicRecord>) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, clinics, OPENING_PLUS_5S.parse().unwrap()).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        clinics: Vec<ClinicRecord>,
        now: Timestamp,
    ) -> TestServer {
        Self::start_with(dir, clinics, now, |_| {}).await
    }

    /// Like [`TestServer::start_in`], with the configuration adjusted by `configure`.
    pub async fn start_with(
        dir: tempfile::TempDir,
        clinics: Vec<ClinicRecord>,
        now: Timestamp,
        configure: impl FnOnce(&mut server::Config),
    ) -> TestServer {
        let clock = Arc::new(ManualClock::new(now));
        let mut config = server::Config::new(dir.path().to_path_buf());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.demo = false;
        config.identity.reveal_codes = true;
        config.identity.max_pending = 1_000_000;
        // Every simulated person comes from 127.0.0.1.
        config.identity.limits.checks_per_address.count = u32::MAX;
        config.gate.tickets_per_address_minute = 0;
        config.deliver_notifications = false;
        config.gate.max_active = 100_000;
        config.operator_token = Some(OPERATOR_TOKEN.to_string());
        configure(&mut config);
        let subscribers = Arc::clone(&config.subscribers);
        match &config.database {
            None => seed(
                &store::sqlite::open(&dir.path().join("yeyak.db")).unwrap().1,
                &clinics,
            ),
            Some(url) => seed(&store::postgres::open(url).unwrap().1, &clinics),
        }
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_clock: Arc<dyn server::clock::Clock> = clock.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = server::serve(config, server_clock, Some(bound_tx), shutdown).await {
                panic!("server failed: {e}");
            }
        });
        let addr = bound_rx.await.expect("server started");
        TestServer {
            addr,
            subscribers,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(4096)
                .build()
                .unwrap(),
            clock,
            dir,
            stop: Some(stop),
        }
    }

    /// Stops this server and starts a new one on the same data directory and clock time.
    pub async fn restart(mut self, clinics: Vec<ClinicRecord>) -> TestServer {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let now = server::clock::Clock::now(self.clock.as_ref());
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        // Let the old server's tasks and writer thread wind down.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        TestServer::start_in(dir, clinics, now).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The body of a GET as text (for `/metrics`).
    pub async fn text(&self, path: &str) -> String {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub async fn get(&self, path: &str, who: Option<&Visitor>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(who) = who {
            request = who.apply(request);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(
        &self,
        path: &str,
        who: Option<&Visitor>,
        body: Value,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(who) = who {
            request = who.apply(request);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The `/metrics` text.
    /// The operator previews a supply change.
    pub async fn plan_supply(&self, body: Value) -> (u16, Value) {
        self.post(
            "/api/v1/admin/supply-changes/plan",
            Some(&operator()),
            body,
            None,
        )
        .await
    }

    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// Takes a ticket and waits (polling as told) until it can be exchanged for a pass.
    pub async fn enter(&self) -> Visitor {
        let (status, arrived) = self
            .post("/api/v1/queue/arrive", None, json!({}), None)
            .await;
        assert_eq!(status, 201, "{arrived}");
        let mut visitor = Visitor {
            session: arrived["session"].as_str().unwrap().to_string(),
            ticket: arrived["ticket"].as_str().unwrap().to_string(),
            ..Visitor::default()
        };
        for _ in 0..200 {
            let (status, answer) = self
                .post("/api/v1/queue/exchange", Some(&visitor), json!({}), None)
                .await;
            if status == 200 {
                visitor.pass = answer["pass"].as_str().unwrap().to_string();
                return visitor;
            }
            assert_eq!(status, 202, "{answer}");
            // Time passes for a person who waits: admission is paced by the server clock.
            self.clock.advance(jiff::SignedDuration::from_millis(50));
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("not admitted within 10 s");
    }

    /// Goes through the waiting room, completes an identity check, and returns what the browser
    /// now holds.
    pub async fn login(&self, name: &str, rrn: &str) -> Visitor {
        let visitor = self.enter().await;
        self.verify(visitor, name, rrn).await
    }

    /// Makes `phone_of(rrn)` the phone of this person at their carrier; returns the phone.
    pub fn subscribe(&self, name: &str, rrn: &str) -> String {
        let phone = phone_of(rrn);
        let registered = self.subscribers.register(
            &phone,
            &domain::name::PersonName::parse(name).unwrap(),
            &domain::rrn::Rrn::parse(rrn).unwrap(),
            server::identity::Carrier::Kt,
        );
        assert!(registered);
        phone
    }

    /// An identity check for someone who already holds a pass, with their own phone.
    pub async fn verify(&self, mut visitor: Visitor, name: &str, rrn: &str) -> Visitor {
        let phone = self.subscribe(name, rrn);
        let (status, started) = self
            .post(
                "/api/v1/identity/start",
                Some(&visitor),
                json!({"name": name, "rrn": rrn, "phone": phone}),
                None,
            )
            .await;
        assert_eq!(status, 202, "{started}");
        let (status, verified) = self
            .post(
                "/api/v1/identity/verify",
                Some(&visitor),
                json!({"verification_id": started["verification_id"], "code": started["demo_code"]}),
                None,
            )
            .await;
        assert_eq!(status, 200, "{verified}");
        visitor.token = verified["session_token"].as_str().unwrap().to_string();
        if let Some(pass) = verified["pass"].as_str() {
            // The pass, now bound to this person.
            visitor.pass = pass.to_string();
        }
        visitor
    }
}

/// The phone a test person holds: distinct for distinct numbers (a hash of the number).
pub fn phone_of(rrn: &str) -> String {
    let hash = rrn.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("010{:08}", hash % 100_000_000)
}

/// A family member's consent, as the booker gets it: the member's code (sent to the member's
/// phone; revealed here because tests reveal codes) typed in by the booker.
pub async fn family_consent(
    server: &TestServer,
    booker: &Visitor,
    name: &str,
    rrn: &str,
) -> String {
    let phone = server.subscribe(name, rrn);
    let (status, started) = server
        .post(
            "/api/v1/family/start",
            Some(booker),
            json!({"name": name, "rrn": rrn, "phone": phone}),
            None,
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let (status, consent) = server
        .post(
            "/api/v1/family/verify",
            Some(booker),
            json!({"verification_id": started["verification_id"], "code": started["demo_code"]}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{consent}");
    consent["consent"].as_str().unwrap().to_string()
}

/// A valid RRN for someone born in 1967 (male), distinct for each `n` < 1,000,000.
pub fn rrn_1967(n: u32) -> String {
    format!("670315-1{n:06}")
}

pub fn booking_body(clinic: u32, date: &str, hour: u8, product: &str) -> Value {
    json!({"clinic_id": clinic, "date": date, "hour": hour, "product": product})
}

/// The operator, by the bearer token the test server is configured with.
pub fn operator() -> Visitor {
    Visitor {
        token: OPERATOR_TOKEN.into(),
        ..Visitor::default()
    }
}

/// No clinic-day holds more appointments of a product than the doses planned for it.
pub async fn assert_within_planned_supply(server: &TestServer, clinics: u32) {
    let (_w, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert!(audit.people_with_two_active.is_empty());
    assert!(audit.inconsistent_second_doses.is_empty());
    let mut planned = HashMap::new();
    for c in 0..clinics {
        for from in ["2021-07-20", "2021-08-20"] {
            let (status, supply) = server
                .get(
                    &format!("/api/v1/admin/supply?clinic={c}&from={from}&days=62"),
                    Some(&operator()),
                )
                .await;
            assert_eq!(status, 200, "{supply}");
            for day in supply["days"].as_array().unwrap() {
                for p in day["products"].as_array().unwrap() {
                    let key = (
                        c,
                        day["date"].as_str().unwrap().to_string(),
                        p["product"].as_str().unwrap().to_string(),
                    );
                    planned.insert(key, p["planned"].as_i64().unwrap());
                    assert!(p["left"].as_i64().unwrap() >= 0, "{day}");
                }
            }
        }
    }
    for (clinic, day, product, count) in audit.per_supply {
        let key = (clinic, day.to_string(), product.code().to_string());
        let cap = planned.get(&key).copied().unwrap_or(0);
        assert!(
            i64::from(count) <= cap,
            "{key:?}: {count} booked, {cap} planned"
        );
    }
}

/// Holds the booking database's write lock from another connection for `hold`, as a stalled
/// writer or a long operator transaction would; returns once the lock is held. Join the handle
/// to wait for the release.
pub fn lock_booking_database(
    server: &TestServer,
    hold: std::time::Duration,
) -> std::thread::JoinHandle<()> {
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let db = server.dir.path().join("yeyak.db");
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    holder
}

/// How many answers had each (status, error code) — "booked" for an answer without one.
pub fn tally(
    answers: &[(u16, serde_json::Value)],
) -> std::collections::HashMap<(u16, String), usize> {
    let mut by_outcome = std::collections::HashMap::new();
    for (status, body) in answers {
        let code = body["error"].as_str().unwrap_or("booked").to_string();
        *by_outcome.entry((*status, code)).or_default() += 1;
    }
    by_outcome
}
