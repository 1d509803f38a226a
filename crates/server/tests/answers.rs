//! The operators', agents' and system answers, pinned key by key (nested objects too): their
//! typed views replaced `json!` objects, and a client reads them by these names.

mod common;

use common::{TestServer, operator, phone_of, rrn_1967, small_world};
use serde_json::{Value, json};

/// An object's keys, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// The first element of an array that must not be empty.
fn first(value: &Value) -> &Value {
    value
        .as_array()
        .and_then(|items| items.first())
        .unwrap_or_else(|| panic!("not a non-empty array: {value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let server = TestServer::start(small_world()).await;
    let (status, health) = server.get("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&health), ["clinics", "now", "status"]);
    let (status, ready) = server.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        keys(&ready),
        ["database", "notifications", "status", "writer"]
    );
    assert_eq!(
        keys(&ready["database"]),
        ["checkpoint_failing", "ok", "state", "wal_bytes"]
    );
    assert_eq!(keys(&ready["notifications"]), ["ok", "silent_ms", "state"]);
    assert_eq!(
        keys(&ready["writer"]),
        ["ledger", "ok", "queue_depth", "state"]
    );
    assert_eq!(ready["writer"]["ledger"], json!({ "role": "only_node" }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_views() {
    let server = TestServer::start(small_world()).await;
    let op = operator();
    let (status, dashboard) = server.get("/api/v1/admin/dashboard", Some(&op)).await;
    assert_eq!(status, 200, "{dashboard}");
    assert_eq!(
        keys(&dashboard),
        [
            "capacity_days",
            "coarse",
            "fine",
            "ledger",
            "now",
            "provinces"
        ]
    );
    let (status, queue) = server.get("/api/v1/admin/queue", Some(&op)).await;
    assert_eq!(status, 200, "{queue}");
    assert_eq!(
        keys(&queue),
        [
            "active",
            "admission_limit",
            "admission_rate_per_s",
            "admitted",
            "arrivals",
            "drain_seconds",
            "latency_p99_ms",
            "max_active",
            "opens_at",
            "people",
            "phase",
            "prequeue_starts_at",
            "queue",
            "queued",
        ]
    );
    assert_eq!(
        keys(&queue["people"]),
        [
            "ineligible_turned_away",
            "second_passes_refused",
            "texted_away",
            "tickets_refused",
            "unverified_tickets",
            "verifications",
            "verified_people",
        ]
    );
    let opening = json!({
        "prequeue_starts_at": "2021-07-19T12:00:00Z", "opens_at": "2021-07-19T12:30:00Z",
        "max_active": 100,
    });
    let (status, scheduled) = server
        .post("/api/v1/admin/openings", Some(&op), opening, None)
        .await;
    assert_eq!(status, 201, "{scheduled}");
    assert_eq!(keys(&scheduled), ["queue"]);
    let list = json!({
        "name_ko": "보건의료인", "name_en": "Health workers",
        "opens_at": "2021-07-19T00:00:00Z", "closes_at": "2021-07-31T00:00:00Z",
        "rrns": [rrn_1967(1), rrn_1967(2)],
    });
    let (status, added) = server
        .post("/api/v1/admin/priority-lists", Some(&op), list, None)
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(keys(&added), ["id", "members"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_agents_and_the_audit_log() {
    let server = TestServer::start(small_world()).await;
    let op = operator();
    let staff_keys = ["clinic", "id", "name", "revoked", "role"];
    let (status, issued) = server
        .post(
            "/api/v1/admin/staff",
            Some(&op),
            json!({ "role": "agent", "name": "상담원 김" }),
            None,
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(
        keys(&issued),
        ["clinic", "id", "name", "revoked", "role", "token"]
    );
    assert_eq!(issued["clinic"], Value::Null);
    let (status, list) = server.get("/api/v1/admin/staff", Some(&op)).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&list), ["staff"]);
    assert_eq!(keys(first(&list["staff"])), staff_keys);

    let rrn = rrn_1967(7);
    let identified = server
        .http
        .post(server.url("/api/v1/agent/identify"))
        .header("x-yeyak-staff", issued["token"].as_str().expect("a token"))
        .json(&json!({ "name": "김민수", "rrn": rrn, "phone": phone_of(&rrn) }))
        .send()
        .await
        .expect("an answer");
    assert_eq!(identified.status(), 200);
    let identified: Value = identified.json().await.expect("JSON");
    assert_eq!(keys(&identified), ["expires_at", "person", "person_token"]);
    assert_eq!(keys(&identified["person"]), ["birth_date", "rrn"]);

    let (status, audit) = server.get("/api/v1/admin/audit", Some(&op)).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&audit), ["audit"]);
    assert_eq!(
        keys(first(&audit["audit"])),
        ["action", "actor", "at", "detail", "id", "outcome", "target"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supply_and_its_changes() {
    let server = TestServer::start(small_world()).await;
    let op = operator();
    let (status, supply) = server
        .get("/api/v1/admin/supply?clinic=0&days=2", Some(&op))
        .await;
    assert_eq!(status, 200, "{supply}");
    assert_eq!(keys(&supply), ["clinic", "days"]);
    assert_eq!(keys(&supply["clinic"]), ["id", "name"]);
    let day = first(&supply["days"]);
    assert_eq!(keys(day), ["date", "products"]);
    assert_eq!(
        keys(first(&day["products"])),
        [
            "given",
            "left",
            "planned",
            "product",
            "promised",
            "stock_on_hand"
        ]
    );

    let change = json!({
        "kind": "interval", "product": "moderna", "interval_days": 42, "from_day": "2021-08-18",
    });
    let (status, plan) = server
        .post(
            "/api/v1/admin/supply-changes/plan",
            Some(&op),
            change.clone(),
            None,
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    let plan_keys = [
        "applied",
        "by_shift_days",
        "caught_up",
        "change_id",
        "informed",
        "moved_to_other_clinics",
        "moves",
        "moves_sample",
        "notified",
        "over_capacity_after",
        "people_moved",
        "plan_id",
        "reason",
        "schedule",
        "skipped_clinics",
        "supply_edits",
        "unplaced",
        "unplaced_list",
    ];
    assert_eq!(keys(&plan), plan_keys);
    assert_eq!(
        plan["caught_up"],
        Value::Null,
        "a preview catches nothing up"
    );
    assert_eq!(keys(&plan["schedule"]), ["interval_days", "product"]);
    let mut apply = change;
    apply["plan_id"] = plan["plan_id"].clone();
    let (status, applied) = server
        .post("/api/v1/admin/supply-changes/apply", Some(&op), apply, None)
        .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(keys(&applied), plan_keys);
    assert_eq!(
        keys(&applied["caught_up"]),
        ["informed", "moves", "people_moved", "unplaced"]
    );
    let (status, changes) = server.get("/api/v1/admin/supply-changes", Some(&op)).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&changes), ["changes"]);
    assert_eq!(
        keys(first(&changes["changes"])),
        [
            "applied_at",
            "change",
            "id",
            "informed",
            "moves",
            "partial",
            "people_moved",
            "pieces",
            "pieces_done",
            "plan_id",
            "reason",
            "unplaced",
        ]
    );
    // Applied in pieces, every one committed: not partial.
    let listed = first(&changes["changes"]);
    assert_eq!(listed["partial"], false, "{listed}");
    assert_eq!(listed["pieces_done"], listed["pieces"], "{listed}");
    let id = applied["change_id"].as_u64().expect("an applied change");
    let (status, unplaced) = server
        .get(
            &format!("/api/v1/admin/supply-changes/{id}/unplaced"),
            Some(&op),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(unplaced, json!({ "change_id": id, "unplaced": [] }));
}
