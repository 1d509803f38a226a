//! The API's request bodies and query strings, through the real router (extractors, handlers,
//! the writer and SQLite) of one service built once per fuzzing process, with a fixed clock, a
//! three-clinic world, a visitor who holds a pass, a session and one booking, and the operator's
//! token. The first byte picks the route; the rest is the body (or the query string).
//!
//! Checks beyond "no panic": no answer is a server error, and every refusal is the API's JSON
//! error (a code, a Korean and an English message) — whatever the body, nothing answers in
//! plain text.
//!
//! The service keeps what accepted requests change (a booking changed, a supply cut applied),
//! so an input's answer can depend on earlier inputs; a failure's input is still saved, and the
//! check it failed names the route and the answer.
#![no_main]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use server::clock::{Clock, ManualClock};
use std::sync::{Arc, OnceLock};
use store::AdminStore;
use tower::ServiceExt;

const OPERATOR_TOKEN: &str = "fuzz-operator-token-0123456789";
/// 2021-07-19 20:00:05 KST: the 1967–1968 cohort may book.
const NOW: &str = "2021-07-19T11:00:05Z";
/// The person the harness signs in as (born 1967: eligible at NOW), and their own phone.
const NAME: &str = "홍길동";
const RRN: &str = "670315-1000001";
const PHONE: &str = "010-1234-5678";
/// Largest answer read back; every answer of these routes is far smaller.
const ANSWER_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy)]
enum Who {
    Visitor,
    Operator,
}

#[derive(Clone, Copy)]
enum Input {
    Json,
    Csv,
    Query,
}

/// (method, path, who, what the fuzzer's bytes are). `{id}` is the visitor's booking.
const ROUTES: &[(Method, &str, Who, Input)] = &[
    (
        Method::POST,
        "/api/v1/identity/start",
        Who::Visitor,
        Input::Json,
    ),
    (
        Method::POST,
        "/api/v1/identity/verify",
        Who::Visitor,
        Input::Json,
    ),
    (Method::POST, "/api/v1/bookings", Who::Visitor, Input::Json),
    (
        Method::POST,
        "/api/v1/bookings/{id}/change",
        Who::Visitor,
        Input::Json,
    ),
    (
        Method::PUT,
        "/api/v1/leftovers/subscription",
        Who::Visitor,
        Input::Json,
    ),
    (Method::GET, "/api/v1/clinics", Who::Visitor, Input::Query),
    (Method::GET, "/api/v1/leftovers", Who::Visitor, Input::Query),
    (
        Method::POST,
        "/api/v1/admin/priority-lists",
        Who::Operator,
        Input::Json,
    ),
    (
        Method::PUT,
        "/api/v1/admin/deliveries",
        Who::Operator,
        Input::Json,
    ),
    (
        Method::POST,
        "/api/v1/admin/deliveries/import",
        Who::Operator,
        Input::Csv,
    ),
    (
        Method::POST,
        "/api/v1/admin/supply-changes/plan",
        Who::Operator,
        Input::Json,
    ),
    (
        Method::POST,
        "/api/v1/admin/supply-changes/apply",
        Who::Operator,
        Input::Json,
    ),
    (
        Method::POST,
        "/api/v1/admin/staff",
        Who::Operator,
        Input::Json,
    ),
    (
        Method::GET,
        "/api/v1/admin/supply",
        Who::Operator,
        Input::Query,
    ),
    (
        Method::GET,
        "/api/v1/admin/audit",
        Who::Operator,
        Input::Query,
    ),
];

struct Service {
    runtime: tokio::runtime::Runtime,
    router: Router,
    /// x-yeyak-waiting-session, x-yeyak-pass, the identity session token, and the visitor's
    /// booking id.
    session: String,
    pass: String,
    token: String,
    booking: u64,
    _dir: tempfile::TempDir,
}

fuzz_target!(|data: &[u8]| {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    let service = SERVICE.get_or_init(Service::start);
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let (method, path, who, input) = &ROUTES[usize::from(pick) % ROUTES.len()];
    let path = path.replace("{id}", &service.booking.to_string());
    let Some(request) = service.request(method, &path, *who, *input, rest) else {
        return;
    };
    let (status, answer) = service.send(request);
    assert!(
        !status.is_server_error(),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&answer)
    );
    if status.is_client_error() {
        let error: Value = serde_json::from_slice(&answer).unwrap_or_else(|_| {
            panic!(
                "{method} {path}: {status} is not the JSON error shape: {:?}",
                String::from_utf8_lossy(&answer)
            )
        });
        assert!(error["error"].is_string(), "{method} {path}: {error}");
        let ko = error["message_ko"].as_str().unwrap_or_default();
        assert!(
            ko.chars().any(|c| ('가'..='힣').contains(&c)),
            "{method} {path}: {error}"
        );
        assert!(
            error["message_en"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
});

impl Service {
    fn start() -> Service {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a scratch directory");
        seed_world(dir.path());
        let clock = Arc::new(ManualClock::new(NOW.parse().expect("a timestamp")));
        let mut config = server::Config::new(dir.path().to_path_buf());
        config.identity.reveal_codes = true;
        config.deliver_notifications = false;
        config.operator_token = Some(OPERATOR_TOKEN.to_string());
        // The person who enters below is the subscriber of their phone at the stand-in carrier:
        // the identity check sends a code only then.
        let registered = config.subscribers.register(
            PHONE,
            &domain::name::PersonName::parse(NAME).expect("a name"),
            &domain::rrn::Rrn::parse(RRN).expect("a registration number"),
            server::identity::Carrier::Kt,
        );
        assert!(registered, "the stand-in takes the subscriber");
        let server_clock: Arc<dyn Clock> = clock.clone();
        let state = server::build(config, Arc::clone(&server_clock)).expect("the service starts");
        runtime.spawn(server::waiting::tick_forever(
            Arc::clone(&state.gate),
            server_clock,
        ));
        let router = server::app::router(state);
        let mut service = Service {
            runtime,
            router,
            session: String::new(),
            pass: String::new(),
            token: String::new(),
            booking: 0,
            _dir: dir,
        };
        service.enter(&clock);
        service
    }

    /// The waiting room, an identity check and one booking, as a person would.
    fn enter(&mut self, clock: &ManualClock) {
        let arrived = self.ok(
            Method::POST,
            "/api/v1/queue/arrive",
            Who::Visitor,
            json!({}),
        );
        self.session = arrived["session"].as_str().expect("a session").to_string();
        let ticket = arrived["ticket"].as_str().expect("a ticket").to_string();
        for _ in 0..200 {
            let request = Request::post("/api/v1/queue/exchange")
                .header("x-yeyak-waiting-session", &self.session)
                .header("x-yeyak-ticket", &ticket)
                .body(Body::empty())
                .expect("a request");
            let (status, answer) = self.send(request);
            if status == StatusCode::OK {
                let answer: Value = serde_json::from_slice(&answer).expect("JSON");
                self.pass = answer["pass"].as_str().expect("a pass").to_string();
                break;
            }
            clock.advance(jiff::SignedDuration::from_millis(50));
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(!self.pass.is_empty(), "not admitted");
        let started = self.ok(
            Method::POST,
            "/api/v1/identity/start",
            Who::Visitor,
            json!({"name": NAME, "rrn": RRN, "phone": PHONE}),
        );
        let verified = self.ok(
            Method::POST,
            "/api/v1/identity/verify",
            Who::Visitor,
            json!({"verification_id": started["verification_id"], "code": started["demo_code"]}),
        );
        self.token = verified["session_token"]
            .as_str()
            .expect("a token")
            .to_string();
        let booked = self.ok(
            Method::POST,
            "/api/v1/bookings",
            Who::Visitor,
            json!({"clinic_id": 0, "date": "2021-07-20", "hour": 10, "product": "moderna"}),
        );
        self.booking = booked["id"].as_u64().expect("a booking id");
    }

    fn ok(&self, method: Method, path: &str, who: Who, body: Value) -> Value {
        let bytes = body.to_string().into_bytes();
        let request = self
            .request(&method, path, who, Input::Json, &bytes)
            .expect("a request");
        let (status, answer) = self.send(request);
        assert!(
            status.is_success(),
            "{path}: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        serde_json::from_slice(&answer).expect("JSON")
    }

    fn request(
        &self,
        method: &Method,
        path: &str,
        who: Who,
        input: Input,
        bytes: &[u8],
    ) -> Option<Request<Body>> {
        let (uri, body, content_type) = match input {
            Input::Query => {
                let query = std::str::from_utf8(bytes).ok()?;
                (format!("{path}?{query}"), Vec::new(), None)
            }
            Input::Json => (path.to_string(), bytes.to_vec(), Some("application/json")),
            Input::Csv => (path.to_string(), bytes.to_vec(), Some("text/csv")),
        };
        let mut request = Request::builder().method(method.clone()).uri(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request = match who {
            Who::Visitor => {
                let request = request
                    .header("x-yeyak-waiting-session", &self.session)
                    .header("x-yeyak-pass", &self.pass);
                if self.token.is_empty() {
                    request
                } else {
                    request.header(header::AUTHORIZATION, format!("Bearer {}", self.token))
                }
            }
            Who::Operator => {
                request.header(header::AUTHORIZATION, format!("Bearer {OPERATOR_TOKEN}"))
            }
        };
        // A query the URI grammar refuses never reaches the service: hyper refuses it first.
        request.body(Body::from(body)).ok()
    }

    fn send(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .unwrap_or_else(|e| match e {});
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), ANSWER_LIMIT)
                .await
                .expect("the answer is read");
            (status, body.to_vec())
        })
    }
}

/// Three clinics (two in Jongno-gu, one in Haeundae-gu) and the 2021 cohorts.
fn seed_world(dir: &std::path::Path) {
    use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
    use domain::product::Product;
    let clinic = |id: u32, municipality: u32, lat: f64, lon: f64, products: &[(Product, u32)]| {
        store::ClinicRecord {
            clinic: Clinic {
                id: ClinicId(id),
                name: format!("퍼즈의원 {id}"),
                kind: ClinicKind::Consigned,
                municipality: MunicipalityCode(municipality),
                location: GeoPoint { lat, lon },
                products: products.iter().map(|(p, _)| *p).collect(),
                hours: Hours {
                    open_hour: 9,
                    close_hour: 18,
                    per_band: 10,
                    saturdays: true,
                },
            },
            daily_doses: products.to_vec(),
        }
    };
    let clinics = [
        clinic(
            0,
            11010,
            37.5735,
            126.9790,
            &[(Product::Moderna, 100), (Product::Pfizer, 100)],
        ),
        clinic(1, 11010, 37.5800, 126.9850, &[(Product::Moderna, 20)]),
        clinic(2, 21090, 35.1631, 129.1635, &[(Product::Pfizer, 50)]),
    ];
    let (_writer, reader) = store::sqlite::open(&dir.join("yeyak.db")).expect("a database");
    reader.insert_clinics(&clinics).expect("clinics stored");
    let rules = serde_json::to_string(&domain::eligibility::cohorts_2021()).expect("rules");
    reader
        .put_setting(server::world::RULES_SETTING, &rules)
        .expect("rules stored");
}
