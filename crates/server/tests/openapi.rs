//! The OpenAPI document (generated from the handlers' annotations and the types) against the
//! router and against itself: every API route the router serves is documented with all its
//! methods, nothing documented is something the router does not serve, and every example in
//! the document validates against its schema (JSON Schema draft 2020-12).
//!
//! The router's routes are read from the router itself: axum has no public list of routes, but
//! its `Debug` output names every path (`Node { paths }`) and, per route, the methods it serves
//! (the `Allow` header it built, `allow_header: Bytes(b"GET,HEAD")`). Reading it is pinned to
//! the axum in Cargo.lock; if a new axum prints it otherwise, `routes_of` finds nothing and the
//! test fails, never passes vacuously.

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
