//! The OpenAPI document (generated from the handlers' annotations and the types) against the
//! router and against itself: every API route the router serves is documented with all its
//! methods, nothing documented is something the router does not serve, and every example in
//! the document validates against its schema (JSON Schema draft 2020-12).
//!
//! Every 2xx JSON answer has a schema that says what it holds (none is "any JSON" unless
//! allowed below, with why), and the real server's answers, driven through a waiting room, an
//! identity check and a booking's life, validate against the schema the document gives their
//! operation and status: what keeps the document from drifting from the views.
//!
//! The router's routes are read from the router itself: axum has no public list of routes, but
//! its `Debug` output names every path (`Node { paths }`) and, per route, the methods it serves
//! (the `Allow` header it built, `allow_header: Bytes(b"GET,HEAD")`). Reading it is pinned to
//! the axum in Cargo.lock; if a new axum prints it otherwise, `routes_of` finds nothing and the
//! test fails, never passes vacuously.

mod common;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tower::ServiceExt;

/// JSON routes outside `/api/`: the probes and the metrics.
const JSON_OUTSIDE_API: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// Routes under `/api/` the document leaves out on purpose, by prefix, with why.
const UNDOCUMENTED_API: &[(&str, &str)] = &[(
    "/api/internal/",
    "node to node (signed forwarded writes): not a client's API, and the document says so",
)];

/// The HTML pages and their assets: not JSON, so not in the document (it may still describe a
/// page, as it does `/wait`). A new route outside `/api/` must be added here or documented.
const PAGES: &[&str] = &[
    "/",
    "/identity",
    "/wait/verify",
    "/wait",
    "/wait/text-me",
    "/wait/leftover-alerts",
    "/wait/return",
    "/contact",
    "/eligibility",
    "/search",
    "/book",
    "/bookings",
    "/leftovers",
    "/clinic/login",
    "/clinic/logout",
    "/clinic",
    "/agent/login",
    "/agent/logout",
    "/agent",
    "/operator/login",
    "/operator/logout",
    "/operator",
    "/operator/supply",
    "/operator/dashboard",
    "/assets/{name}",
];

type Routes = BTreeMap<String, BTreeSet<String>>;

fn built_router() -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = server::Config::new(dir.path().to_path_buf());
    config.demo = false;
    config.deliver_notifications = false;
    let clock: Arc<dyn server::clock::Clock> = Arc::new(server::clock::ManualClock::new(
        "2021-07-26T11:00:00Z".parse().expect("an instant"),
    ));
    let state = server::build(config, clock).expect("the service builds");
    (server::app::router(state), dir)
}

/// Every route of the router, path → methods (lower case; `head` left out where `get` serves
/// it, as axum adds it), from the router's `Debug` output.
fn routes_of(router: &axum::Router) -> Routes {
    let debug = format!("{router:?}");
    // The router's own routes; the fallback router that follows has routes of its own.
    let own = debug
        .split("fallback_router:")
        .next()
        .expect("the router's own routes");
    let (routes, node) = own.split_once("node: Node").expect("the router's paths");
    let paths: BTreeMap<u64, String> = pairs(node, "RouteId(", "): \"")
        .into_iter()
        .map(|(id, rest)| (id, rest.split('"').next().unwrap_or_default().to_string()))
        .collect();
    let mut served = Routes::new();
    for (id, rest) in pairs(routes, "RouteId(", "): ") {
        let Some(path) = paths.get(&id) else {
            continue;
        };
        let methods: BTreeSet<String> = rest
            .split_once("allow_header: Bytes(b\"")
            .filter(|_| rest.starts_with("MethodRouter("))
            .and_then(|(_, allow)| allow.split('"').next())
            .map(|allow| allow.split(',').map(str::to_ascii_lowercase).collect())
            .unwrap_or_default();
        let methods = if methods.contains("get") {
            methods.into_iter().filter(|m| m != "head").collect()
        } else {
            methods
        };
        served.insert(path.clone(), methods);
    }
    served
}

/// Every `START<number>SEP<rest of the text>` in `text`, in order.
fn pairs<'t>(text: &'t str, start: &str, separator: &str) -> Vec<(u64, &'t str)> {
    text.match_indices(start)
        .filter_map(|(at, _)| {
            let after = &text[at + start.len()..];
            let (number, rest) = after.split_once(separator)?;
            Some((number.parse().ok()?, rest))
        })
        .collect()
}

async fn document(router: axum::Router) -> Value {
    let request = Request::get("/api/openapi.json")
        .body(Body::empty())
        .expect("a request");
    let response = router.oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body");
    serde_json::from_slice(&body).expect("the document is JSON")
}

fn documented(spec: &Value) -> Routes {
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item")
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

fn is_api(path: &str) -> bool {
    (path.starts_with("/api/") || JSON_OUTSIDE_API.contains(&path))
        && !UNDOCUMENTED_API
            .iter()
            .any(|(prefix, _)| path.starts_with(prefix))
}

#[tokio::test]
async fn every_api_route_is_documented_and_nothing_else() {
    let (router, _dir) = built_router();
    let served = routes_of(&router);
    assert!(
        served.len() > 50 && served.contains_key("/api/v1/bookings/{id}"),
        "the router's routes could not be read from its Debug output: {served:?}"
    );
    let spec = document(router).await;
    let documented = documented(&spec);

    let mut missing = Vec::new();
    let mut unclassified = Vec::new();
    for (path, methods) in &served {
        if is_api(path) {
            let in_document = documented.get(path).cloned().unwrap_or_default();
            for method in methods.difference(&in_document) {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        } else if !PAGES.contains(&path.as_str())
            && !UNDOCUMENTED_API.iter().any(|(p, _)| path.starts_with(p))
        {
            unclassified.push(path.clone());
        }
    }
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(
        unclassified.is_empty(),
        "neither API nor a known page (document it, or add it to PAGES): {unclassified:?}"
    );

    let mut not_served = Vec::new();
    for (path, methods) in &documented {
        let serving = served.get(path).cloned().unwrap_or_default();
        for method in methods.difference(&serving) {
            not_served.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        not_served.is_empty(),
        "documented but not served: {not_served:?}"
    );
}

/// Where the document has an example, its schema with the document's components beside it, so
/// that `$ref`s into `#/components/schemas` resolve.
fn examples(spec: &Value) -> Vec<(String, Value, Value)> {
    let components = spec["components"].clone();
    let mut found = Vec::new();
    walk(spec, String::new(), &mut |pointer, node| {
        let with_components = |schema: &Value| {
            let mut root = schema.clone();
            if let Some(object) = root.as_object_mut() {
                object.insert("components".into(), components.clone());
            }
            root
        };
        let Some(object) = node.as_object() else {
            return;
        };
        // A media type or a parameter: `schema` beside `example` / `examples` (a map).
        if let Some(schema) = object.get("schema") {
            if let Some(example) = object.get("example") {
                found.push((pointer.clone(), with_components(schema), example.clone()));
            }
            if let Some(named) = object.get("examples").and_then(Value::as_object) {
                for (name, example) in named {
                    let value = example.get("value").cloned().unwrap_or(Value::Null);
                    found.push((
                        format!("{pointer}/examples/{name}"),
                        with_components(schema),
                        value,
                    ));
                }
            }
        } else if object.contains_key("type")
            || object.contains_key("properties")
            || object.contains_key("$ref")
            || object.contains_key("allOf")
            || object.contains_key("oneOf")
        {
            // A schema: its own `examples` (an array) and the deprecated `example`.
            let own = object
                .get("examples")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (n, example) in own
                .into_iter()
                .chain(object.get("example").cloned())
                .enumerate()
            {
                found.push((format!("{pointer}#{n}"), with_components(node), example));
            }
        }
    });
    found
}

fn walk(node: &Value, pointer: String, visit: &mut impl FnMut(String, &Value)) {
    visit(pointer.clone(), node);
    match node {
        Value::Object(object) => {
            for (key, child) in object {
                walk(child, format!("{pointer}/{key}"), visit);
            }
        }
        Value::Array(items) => {
            for (n, child) in items.iter().enumerate() {
                walk(child, format!("{pointer}/{n}"), visit);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_example_validates_against_its_schema() {
    let (router, _dir) = built_router();
    let spec = document(router).await;
    let examples = examples(&spec);
    assert!(
        examples.len() >= 8,
        "too few examples found to mean anything: {}",
        examples.len()
    );
    let mut invalid = Vec::new();
    for (pointer, schema, example) in &examples {
        let validator = jsonschema::draft202012::new(schema)
            .unwrap_or_else(|e| panic!("{pointer}: not a valid schema: {e}"));
        if let Err(error) = validator.validate(example) {
            invalid.push(format!("{pointer}: {error} in {example}"));
        }
    }
    assert!(
        invalid.is_empty(),
        "examples that fail their schema: {invalid:#?}"
    );
}

/// The check above fails on an example that does not fit (so it can fail at all).
#[test]
fn an_example_that_does_not_fit_is_caught() {
    let spec = json!({
        "components": { "schemas": { "Staff": {
            "type": "object",
            "required": ["id"],
            "properties": { "id": { "type": "integer" } },
            "examples": [{ "id": "three" }],
        } } },
    });
    let examples = examples(&spec);
    assert_eq!(examples.len(), 1);
    let (_, schema, example) = &examples[0];
    let validator = jsonschema::draft202012::new(schema).expect("a schema");
    assert!(validator.validate(example).is_err());
}

#[tokio::test]
async fn the_agent_side_is_the_citizens_operation_behind_a_staff_token() {
    let (router, _dir) = built_router();
    let spec = document(router).await;
    let citizen = &spec["paths"]["/api/v1/bookings"]["post"];
    let agent = &spec["paths"]["/api/v1/agent/bookings"]["post"];
    assert_eq!(agent["tags"], serde_json::json!(["agents"]));
    assert_eq!(agent["security"], serde_json::json!([{ "staff": [] }]));
    assert_eq!(agent["requestBody"], citizen["requestBody"]);
    assert_eq!(agent["responses"]["201"], citizen["responses"]["201"]);
    assert!(agent["responses"]["403"].is_object(), "{agent}");
    let summary = agent["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("Agents, for the person of the bearer token")
            && summary.ends_with(citizen["summary"].as_str().unwrap_or("?")),
        "{summary}"
    );
    assert_ne!(agent["operationId"], citizen["operationId"]);
}

/// 2xx answers whose JSON may be anything, by method and path, with why.
const ANY_JSON: &[(&str, &str, &str)] = &[(
    "get",
    "/api/openapi.json",
    "the document itself: its schema is OpenAPI's, not one of the API's",
)];

/// What a schema says about a value beyond "some JSON" (an object type with no properties,
/// additional properties or composition says no more than "some object").
fn constrains(schema: &Value) -> bool {
    let Some(object) = schema.as_object() else {
        return false;
    };
    let composed = ["$ref", "oneOf", "anyOf", "allOf", "enum", "const"]
        .iter()
        .any(|key| object.contains_key(*key));
    let shaped = ["properties", "additionalProperties", "items"]
        .iter()
        .any(|key| object.contains_key(*key));
    let typed = match object.get("type") {
        Some(Value::String(kind)) => kind != "object" || shaped,
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k != "object") || shaped,
        _ => shaped,
    };
    composed || typed
}

/// A response as the document gives it: itself, or the named response it refers to.
fn resolved<'s>(spec: &'s Value, response: &'s Value) -> &'s Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/responses/");
            &spec["components"]["responses"][name]
        }
        None => response,
    }
}

/// Every 2xx response in the document: (method, path, status, the response).
fn successes(spec: &Value) -> Vec<(String, String, String, &Value)> {
    let mut found = Vec::new();
    for (path, methods) in documented(spec) {
        for method in methods {
            let responses = spec["paths"][&path][&method]["responses"]
                .as_object()
                .expect("responses");
            for (status, response) in responses {
                if status.starts_with('2') {
                    found.push((
                        method.clone(),
                        path.clone(),
                        status.clone(),
                        resolved(spec, response),
                    ));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn no_success_answer_is_any_json() {
    let (router, _dir) = built_router();
    let spec = document(router).await;
    let successes = successes(&spec);
    assert!(
        successes.len() > 50,
        "too few answers found: {}",
        successes.len()
    );
    let mut untyped = Vec::new();
    for (method, path, status, response) in &successes {
        let allowed = ANY_JSON.iter().any(|(m, p, _)| m == method && p == path);
        let content = response["content"].as_object().cloned().unwrap_or_default();
        for (media_type, body) in &content {
            if media_type.contains("json") && !allowed && !constrains(&body["schema"]) {
                untyped.push(format!("{} {path} {status}", method.to_uppercase()));
            }
        }
    }
    assert!(
        untyped.is_empty(),
        "2xx JSON answers documented as any JSON: {untyped:#?}"
    );
}

/// The check above tells a schema that says something from one that does not.
#[test]
fn an_untyped_schema_is_told_from_a_typed_one() {
    for any in [
        json!({}),
        json!({ "type": "object" }),
        json!({ "description": "{a, b}" }),
        json!(true),
    ] {
        assert!(!constrains(&any), "{any}");
    }
    for typed in [
        json!({ "$ref": "#/components/schemas/BookingView" }),
        json!({ "type": "object", "properties": { "a": { "type": "integer" } } }),
        json!({ "type": "array", "items": { "type": "string" } }),
        json!({ "oneOf": [{ "type": "string" }] }),
        json!({ "type": "string", "enum": ["admitted"] }),
    ] {
        assert!(constrains(&typed), "{typed}");
    }
}

/// Real answers, each checked against the schema the document gives its operation and status;
/// what does not fit is gathered, so one run names every drift.
struct Answers {
    spec: Value,
    misfits: Vec<String>,
    checked: usize,
}

impl Answers {
    async fn of(server: &common::TestServer) -> Answers {
        let (status, spec) = server.get("/api/openapi.json", None).await;
        assert_eq!(status, 200);
        Answers {
            spec,
            misfits: Vec::new(),
            checked: 0,
        }
    }

    /// Checks `body`, the answer `status` of `method path` (the path as the document writes it).
    #[track_caller]
    fn check(&mut self, method: &str, path: &str, status: u16, body: &Value) {
        let operation = format!("{} {path} {status}", method.to_uppercase());
        assert!(
            (200..300).contains(&status),
            "{operation}: not a success: {body}"
        );
        let response = &self.spec["paths"][path][method]["responses"][status.to_string()];
        let schema = &resolved(&self.spec, response)["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{operation}: the document gives this answer no JSON schema"
        );
        let mut root = schema.clone();
        if let Some(object) = root.as_object_mut() {
            object.insert("components".into(), self.spec["components"].clone());
        }
        let validator = jsonschema::draft202012::new(&root)
            .unwrap_or_else(|e| panic!("{operation}: not a valid schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            self.misfits
                .push(format!("{operation}: {errors:?} in {body}"));
        }
        self.checked += 1;
    }

    #[track_caller]
    fn assert_all_fit(&self, at_least: usize) {
        assert!(
            self.misfits.is_empty(),
            "real answers that do not fit their schema: {:#?}",
            self.misfits
        );
        assert!(
            self.checked >= at_least,
            "only {} answers checked",
            self.checked
        );
    }
}

/// A visitor holding a new ticket.
fn holding(arrived: &Value) -> common::Visitor {
    common::Visitor {
        session: arrived["session"].as_str().unwrap_or_default().to_string(),
        ticket: arrived["ticket"].as_str().unwrap_or_default().to_string(),
        ..common::Visitor::default()
    }
}

/// The waiting room's answers in every state: before the opening (arrive, arrive again,
/// status, exchange not yet, verifying placed and not in this opening, text me), then once it
/// opens with room for one (admitted and waiting; the pass; the agent's caller queued).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_rooms_real_answers_fit_the_document() {
    let server = common::TestServer::start(common::small_world()).await;
    let mut answers = Answers::of(&server).await;
    let now = server::clock::Clock::now(server.clock.as_ref());
    let opens = now
        .checked_add(jiff::SignedDuration::from_mins(10))
        .expect("an instant");
    let opening = json!({ "prequeue_starts_at": now.to_string(), "opens_at": opens.to_string(), "max_active": 1 });
    let (status, scheduled) = server
        .post(
            "/api/v1/admin/openings",
            Some(&common::operator()),
            opening,
            None,
        )
        .await;
    answers.check("post", "/api/v1/admin/openings", status, &scheduled);

    let mut verified = Vec::new();
    for (name, rrn) in [
        ("홍길동", common::rrn_1967(1)),
        ("문자씨", common::rrn_1967(2)),
    ] {
        let (status, arrived) = server
            .post("/api/v1/queue/arrive", None, json!({}), None)
            .await;
        answers.check("post", "/api/v1/queue/arrive", status, &arrived);
        let mut visitor = holding(&arrived);
        let (status, again) = server
            .post("/api/v1/queue/arrive", Some(&visitor), json!({}), None)
            .await;
        assert_eq!(status, 200, "{again}");
        answers.check("post", "/api/v1/queue/arrive", status, &again);
        let (status, standing) = server.get("/api/v1/queue/status", Some(&visitor)).await;
        assert_eq!(standing["state"], "before_opening", "{standing}");
        answers.check("get", "/api/v1/queue/status", status, &standing);
        let (status, not_yet) = server
            .post("/api/v1/queue/exchange", Some(&visitor), json!({}), None)
            .await;
        assert_eq!(status, 202, "{not_yet}");
        answers.check("post", "/api/v1/queue/exchange", status, &not_yet);

        let placed = verify_waiting(&server, &mut answers, &visitor, name, &rrn).await;
        assert_eq!(placed["verified"], true, "{placed}");
        visitor.ticket = placed["ticket"].as_str().unwrap_or_default().to_string();
        verified.push(visitor);
    }
    let (status, texting) = server
        .post("/api/v1/queue/text-me", Some(&verified[1]), json!({}), None)
        .await;
    answers.check("post", "/api/v1/queue/text-me", status, &texting);

    // Born 1971: not in this opening.
    let (status, arrived) = server
        .post("/api/v1/queue/arrive", None, json!({}), None)
        .await;
    answers.check("post", "/api/v1/queue/arrive", status, &arrived);
    let turned_away = verify_waiting(
        &server,
        &mut answers,
        &holding(&arrived),
        "박오십",
        "710315-1000001",
    )
    .await;
    assert_eq!(turned_away["state"], "ineligible", "{turned_away}");

    // The opening: room for one, so one of the two is let in and the other waits.
    server.clock.set(opens);
    let mut admitted = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        for (n, visitor) in verified.iter().enumerate() {
            let (status, standing) = server.get("/api/v1/queue/status", Some(visitor)).await;
            answers.check("get", "/api/v1/queue/status", status, &standing);
            if standing["state"] == "admitted" {
                admitted = Some(n);
            }
        }
        if admitted.is_some() {
            break;
        }
        server.clock.advance(jiff::SignedDuration::from_secs(1));
    }
    let admitted = admitted.expect("one of the two let in");
    let waiting = &verified[1 - admitted];
    let (status, standing) = server
        .get("/api/v1/queue/status?province=11", Some(waiting))
        .await;
    assert_eq!(standing["state"], "waiting", "{standing}");
    answers.check("get", "/api/v1/queue/status", status, &standing);
    let (status, not_yet) = server
        .post("/api/v1/queue/exchange", Some(waiting), json!({}), None)
        .await;
    assert_eq!(status, 202, "{not_yet}");
    answers.check("post", "/api/v1/queue/exchange", status, &not_yet);
    let (status, pass) = server
        .post(
            "/api/v1/queue/exchange",
            Some(&verified[admitted]),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{pass}");
    answers.check("post", "/api/v1/queue/exchange", status, &pass);

    // An agent queues the caller they identified.
    let (status, staff) = server
        .post(
            "/api/v1/admin/staff",
            Some(&common::operator()),
            json!({ "role": "agent", "name": "주민센터 박" }),
            None,
        )
        .await;
    answers.check("post", "/api/v1/admin/staff", status, &staff);
    let agent = staff["token"].as_str().unwrap_or_default();
    let as_agent = |request: reqwest::RequestBuilder| request.header("x-yeyak-staff", agent);
    let caller = json!({ "name": "최노인", "rrn": common::rrn_1967(5), "phone": "010-2222-3333" });
    let (status, identified) =
        send(as_agent(server.http.post(server.url("/api/v1/agent/identify"))).json(&caller)).await;
    answers.check("post", "/api/v1/agent/identify", status, &identified);
    let person_token = identified["person_token"].as_str().unwrap_or_default();
    let (status, queued) = send(
        as_agent(server.http.post(server.url("/api/v1/agent/queue"))).bearer_auth(person_token),
    )
    .await;
    answers.check("post", "/api/v1/agent/queue", status, &queued);

    answers.assert_all_fit(20);
}

/// The identity check of a waiting ticket, each answer checked; the last answer.
async fn verify_waiting(
    server: &common::TestServer,
    answers: &mut Answers,
    visitor: &common::Visitor,
    name: &str,
    rrn: &str,
) -> Value {
    let phone = server.subscribe(name, rrn);
    let (status, started) = server
        .post(
            "/api/v1/queue/verify/start",
            Some(visitor),
            json!({ "name": name, "rrn": rrn, "phone": phone }),
            None,
        )
        .await;
    answers.check("post", "/api/v1/queue/verify/start", status, &started);
    let code =
        json!({ "verification_id": started["verification_id"], "code": started["demo_code"] });
    let (status, verified) = server
        .post("/api/v1/queue/verify", Some(visitor), code, None)
        .await;
    answers.check("post", "/api/v1/queue/verify", status, &verified);
    verified
}

/// The booking side's answers: in through a free-flowing waiting room, an identity check, a
/// family member's consent, regions and clinics, then a booking booked, read, changed and
/// cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booking_sides_real_answers_fit_the_document() {
    let server = common::TestServer::start(common::small_world()).await;
    let mut answers = Answers::of(&server).await;
    let (status, arrived) = server
        .post("/api/v1/queue/arrive", None, json!({}), None)
        .await;
    answers.check("post", "/api/v1/queue/arrive", status, &arrived);
    let mut person = holding(&arrived);
    // Admission is paced by the server clock, even without an opening: ask until let in.
    for _ in 0..200 {
        let (status, answer) = server
            .post("/api/v1/queue/exchange", Some(&person), json!({}), None)
            .await;
        answers.check("post", "/api/v1/queue/exchange", status, &answer);
        if status == 200 {
            person.pass = answer["pass"].as_str().unwrap_or_default().to_string();
            break;
        }
        server.clock.advance(jiff::SignedDuration::from_millis(50));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!person.pass.is_empty(), "not let in within 10 s");

    let (name, rrn) = ("홍길동", common::rrn_1967(1));
    let phone = server.subscribe(name, &rrn);
    let (status, started) = server
        .post(
            "/api/v1/identity/start",
            Some(&person),
            json!({ "name": name, "rrn": rrn, "phone": phone }),
            None,
        )
        .await;
    answers.check("post", "/api/v1/identity/start", status, &started);
    let code =
        json!({ "verification_id": started["verification_id"], "code": started["demo_code"] });
    let (status, signed_in) = server
        .post("/api/v1/identity/verify", Some(&person), code, None)
        .await;
    answers.check("post", "/api/v1/identity/verify", status, &signed_in);
    person.token = signed_in["session_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(pass) = signed_in["pass"].as_str() {
        person.pass = pass.to_string();
    }

    let (member, member_rrn) = ("홍동생", common::rrn_1967(3));
    let phone = server.subscribe(member, &member_rrn);
    let (status, started) = server
        .post(
            "/api/v1/family/start",
            Some(&person),
            json!({ "name": member, "rrn": member_rrn, "phone": phone }),
            None,
        )
        .await;
    answers.check("post", "/api/v1/family/start", status, &started);
    let code =
        json!({ "verification_id": started["verification_id"], "code": started["demo_code"] });
    let (status, consent) = server
        .post("/api/v1/family/verify", Some(&person), code, None)
        .await;
    answers.check("post", "/api/v1/family/verify", status, &consent);

    let (status, regions) = server.get("/api/v1/regions", None).await;
    answers.check("get", "/api/v1/regions", status, &regions);
    for query in [
        "province=11",
        "municipality=11010&product=moderna",
        "lat=37.57&lon=126.98&radius_km=10",
    ] {
        let (status, found) = server.get(&format!("/api/v1/clinics?{query}"), None).await;
        assert!(
            !found["clinics"].as_array().is_none_or(Vec::is_empty),
            "{query}: {found}"
        );
        answers.check("get", "/api/v1/clinics", status, &found);
    }
    let (status, day) = server
        .get("/api/v1/clinics/0?date=2021-08-16", Some(&person))
        .await;
    answers.check("get", "/api/v1/clinics/{id}", status, &day);
    let (status, eligibility) = server.get("/api/v1/eligibility", Some(&person)).await;
    answers.check("get", "/api/v1/eligibility", status, &eligibility);

    let (status, booked) = server
        .post(
            "/api/v1/bookings",
            Some(&person),
            common::booking_body(0, "2021-08-16", 10, "moderna"),
            Some("k1"),
        )
        .await;
    answers.check("post", "/api/v1/bookings", status, &booked);
    let id = booked["id"].as_u64().unwrap_or_default();
    let (status, mine) = server.get("/api/v1/bookings", Some(&person)).await;
    answers.check("get", "/api/v1/bookings", status, &mine);
    let (status, one) = server
        .get(&format!("/api/v1/bookings/{id}"), Some(&person))
        .await;
    answers.check("get", "/api/v1/bookings/{id}", status, &one);
    let (status, changed) = server
        .post(
            &format!("/api/v1/bookings/{id}/change"),
            Some(&person),
            json!({ "clinic_id": 1, "date": "2021-08-17", "hour": 9 }),
            None,
        )
        .await;
    answers.check("post", "/api/v1/bookings/{id}/change", status, &changed);
    let (status, cancelled) = server
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&person),
            json!({}),
            None,
        )
        .await;
    answers.check("post", "/api/v1/bookings/{id}/cancel", status, &cancelled);

    answers.assert_all_fit(17);
}

/// The clinic desk's and the leftovers' answers: a person asks to hear of leftover doses (from
/// the booking side and from the waiting room), a nurse offers some, the person finds and
/// claims one, and the nurse sees the day and records the dose given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinic_desks_and_leftovers_real_answers_fit_the_document() {
    let server = common::TestServer::start(common::small_world()).await;
    let mut answers = Answers::of(&server).await;
    // 2021-07-20 14:00 KST: vaccination hours, and today's offers can run to 18:00.
    server
        .clock
        .set("2021-07-20T05:00:00Z".parse().expect("an instant"));
    let (status, staff) = server
        .post(
            "/api/v1/admin/staff",
            Some(&common::operator()),
            json!({ "role": "clinic", "clinic": 0, "name": "간호사" }),
            None,
        )
        .await;
    answers.check("post", "/api/v1/admin/staff", status, &staff);
    let nurse = staff["token"].as_str().unwrap_or_default();
    let as_nurse = |request: reqwest::RequestBuilder| request.header("x-yeyak-staff", nurse);
    let person = server.login("이잔여", &common::rrn_1967(100)).await;
    let near_clinic = json!({ "lat": 37.574, "lon": 126.979, "radius_km": 2.0 });
    for path in [
        "/api/v1/leftovers/subscription",
        "/api/v1/queue/leftover-alerts",
    ] {
        let (status, subscribed) = send(
            person
                .apply(server.http.put(server.url(path)))
                .json(&near_clinic),
        )
        .await;
        answers.check("put", path, status, &subscribed);
    }

    let offer = json!({ "product": "pfizer", "doses": 3, "until": "2021-07-20T09:00:00Z" });
    let (status, posted) =
        send(as_nurse(server.http.post(server.url("/api/v1/clinic/leftovers"))).json(&offer)).await;
    answers.check("post", "/api/v1/clinic/leftovers", status, &posted);
    let (status, offers) = send(as_nurse(
        server.http.get(server.url("/api/v1/clinic/leftovers")),
    ))
    .await;
    answers.check("get", "/api/v1/clinic/leftovers", status, &offers);
    let (status, near) = server.get("/api/v1/leftovers", Some(&person)).await;
    assert!(
        !near["offers"].as_array().is_none_or(Vec::is_empty),
        "{near}"
    );
    answers.check("get", "/api/v1/leftovers", status, &near);
    let offer_id = posted["id"].as_u64().unwrap_or_default();
    let (status, claimed) = server
        .post(
            &format!("/api/v1/leftovers/{offer_id}/claim"),
            Some(&person),
            json!({}),
            None,
        )
        .await;
    answers.check("post", "/api/v1/leftovers/{id}/claim", status, &claimed);

    let (status, day) = send(as_nurse(server.http.get(server.url("/api/v1/clinic/day")))).await;
    assert!(
        !day["appointments"].as_array().is_none_or(Vec::is_empty),
        "{day}"
    );
    answers.check("get", "/api/v1/clinic/day", status, &day);
    let booking = claimed["id"].as_u64().unwrap_or_default();
    let (status, given) = send(
        as_nurse(
            server
                .http
                .post(server.url(&format!("/api/v1/clinic/bookings/{booking}/given"))),
        )
        .json(&json!({ "dose": 1 })),
    )
    .await;
    answers.check("post", "/api/v1/clinic/bookings/{id}/given", status, &given);

    answers.assert_all_fit(9);
}

/// Sends a request; its status and JSON body.
async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
