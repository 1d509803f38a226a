//! The API's OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! the request, view and error types' `ToSchema` derives, and served at `/api/openapi.json`.
//! `tests/openapi.rs` checks it against the router (every API route documented, nothing
//! documented that is not served) and validates every example in it against its schema.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "yeyak API",
        version = "1",
        description = "yeyak (예약): national vaccination booking. Every error has the shape {error, message, message_ko, message_en, detail?}. Times are RFC 3339 UTC instants; dates are Seoul calendar days. A 503 carries Retry-After: retry with the same Idempotency-Key. Every booking-side call (identity, eligibility, bookings) needs a waiting-room pass for the caller's session: X-Yeyak-Pass and X-Yeyak-Session headers, or the cookies the waiting room sets. Browsers: a state-changing request that carries cookies must come from yeyak's own pages (Sec-Fetch-Site: same-origin, or an Origin equal to the Host), else 403 cross_site_request / foreign_origin / origin_required; requests with header credentials and no cookies are not checked. Limits (each answered in the error shape): a request body may be at most 16 KiB, except priority lists (24 MiB: up to 1,000,000 numbers), deliveries as JSON (32 MiB: up to 200,000) and as CSV (16 MiB), else 413 body_too_large; a body not received within the request timeout (30 s; 10 min under /api/v1/admin) gets 408 request_timeout and an answer not ready by then 503 timeout; a server at its connection or in-flight cap answers 503 overloaded with Retry-After (the waiting room's /api/v1/queue/* and /wait are shed last); a method a route does not have gets 405 method_not_allowed with Allow; a path parameter of the wrong type 400 invalid_request; an unknown route 404 not_found. A request head must arrive within 10 s (also the keep-alive idle limit), or the connection is closed without an answer. Several nodes on PostgreSQL: any node takes booking writes (a node that does not hold the ledger forwards them to the one that does, with the client's Idempotency-Key); when none can take them, 503 storage_unavailable with detail.fault standby. The routes under /api/internal/ are for nodes only (signed by a node; anything else gets 403 not_forwarded) and are not listed here.",
    ),
    paths(
        crate::routes::system::healthz,
        crate::routes::system::readyz,
        crate::routes::system::metrics,
        serve,
        crate::routes::clinics::regions,
        crate::routes::clinics::search,
        crate::routes::clinics::clinic,
        crate::routes::identity::start,
        crate::routes::identity::verify,
        crate::routes::eligibility::mine,
        crate::routes::bookings::list,
        crate::routes::bookings::create,
        crate::routes::bookings::show,
        crate::routes::bookings::cancel,
        crate::routes::bookings::change,
        crate::routes::queue::arrive,
        crate::routes::queue::status,
        crate::routes::queue::exchange,
        crate::routes::queue::verify_start,
        crate::routes::queue::verify,
        crate::routes::queue::text_me,
        aliases::alerts_subscribe,
        aliases::alerts_unsubscribe,
        crate::routes::queue::admin_queue,
        crate::routes::admin::dashboard,
        crate::routes::queue::admin_open,
        aliases::wait_page,
        crate::routes::admin::add_priority_list,
        crate::routes::supply::show,
        crate::routes::supply::put_deliveries,
        crate::routes::supply::import_deliveries,
        crate::routes::supply::list_changes,
        crate::routes::supply::plan,
        crate::routes::supply::apply,
        crate::routes::supply::unplaced,
        crate::routes::supply::accept_move,
        crate::routes::staff::create,
        crate::routes::staff::list,
        crate::routes::staff::revoke,
        crate::routes::staff::audit,
        crate::routes::clinic::day,
        crate::routes::clinic::mark_given,
        crate::routes::clinic::post_offer,
        crate::routes::clinic::offers,
        crate::routes::leftovers::subscribe,
        crate::routes::leftovers::unsubscribe,
        crate::routes::leftovers::near_me,
        crate::routes::leftovers::claim,
        crate::routes::agent::identify,
        crate::routes::queue::agent_queue,
        crate::routes::identity::family_start,
        crate::routes::identity::family_verify,
        crate::routes::identity::contact
    ),
    components(schemas(crate::error::ErrorBody), responses(super::doc::Refused, super::doc::BookingConflict, crate::routes::supply::PlanAnswer)),
    modifiers(&Credentials, &AgentSide),
)]
pub struct ApiDoc;

/// The document as served: built once, on first use.
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| String::from("{}"))
    });
    &DOCUMENT
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tags = ["system"],
    summary = "This document",
    responses(
        // Any JSON on purpose: the document's own schema is OpenAPI 3.1's, not one of the
        // API's, and naming it here would only restate the specification.
        (status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value),
    )
)]
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}

/// The credentials the API takes, by the names the operations' `security` uses.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Identity session token from /api/v1/identity/verify (or the yeyak_identity cookie; the earlier yeyak_session cookie is accepted for one release)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("yeyak_identity"))),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Operator token (--operator-token or DATA_DIR/operator.token). The operator pages send instead the yeyak_operator cookie that /operator/login sets (HttpOnly, SameSite=Strict, 8 hours)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "staff",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Yeyak-Staff",
                "A clinic-staff or agent token issued by an operator (POST /api/v1/admin/staff). Pages may send it as the yeyak_staff cookie.",
            ))),
        );
    }
}

/// The agent desk's side of the booking handlers: the same handlers, for the person of the
/// agent's bearer token, behind a staff token instead of a pass (audited). Their operations are
/// the citizen's, copied under the agent's path, so the two cannot drift apart.
const AGENT_SIDE: &[(&str, &str)] = &[
    ("/api/v1/eligibility", "/api/v1/agent/eligibility"),
    ("/api/v1/bookings", "/api/v1/agent/bookings"),
    ("/api/v1/bookings/{id}", "/api/v1/agent/bookings/{id}"),
    (
        "/api/v1/bookings/{id}/cancel",
        "/api/v1/agent/bookings/{id}/cancel",
    ),
    (
        "/api/v1/bookings/{id}/change",
        "/api/v1/agent/bookings/{id}/change",
    ),
];

struct AgentSide;

impl Modify for AgentSide {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (citizen, agent) in AGENT_SIDE {
            let Some(mut item) = openapi.paths.paths.get(*citizen).cloned() else {
                continue;
            };
            for operation in operations(&mut item) {
                as_agent(operation, citizen);
            }
            openapi.paths.paths.insert((*agent).to_string(), item);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// A citizen's operation as the agent desk calls it: a staff token, refused (403) when the token
/// is not an agent's.
fn as_agent(operation: &mut Operation, citizen_path: &str) {
    operation.tags = Some(vec!["agents".to_string()]);
    operation.summary = operation.summary.take().map(|summary| {
        format!(
            "Agents, for the person of the bearer token (same rules as {citizen_path}; no \
             waiting-room pass; audited): {summary}"
        )
    });
    operation.operation_id = operation
        .operation_id
        .take()
        .map(|id| format!("agent_{id}"));
    operation.security = Some(vec![SecurityRequirement::new(
        "staff",
        Vec::<String>::new(),
    )]);
    let responses = &mut operation.responses.responses;
    if let Some(refused) = responses.get("401").cloned() {
        responses.entry("403".to_string()).or_insert(refused);
    }
}

/// Routes served by a handler documented elsewhere (the waiting room's leftover alerts) or by a
/// page (`/wait`): their operations, documented here.
#[allow(dead_code)]
pub mod aliases {
    #[utoipa::path(
        put,
        path = "/api/v1/queue/leftover-alerts",
        tags = ["waiting room"],
        summary = "From the waiting room: ask to be told of leftover doses within radius_km (at most 10) of a place instead of waiting on. Needs the identity session from verifying while waiting (no pass).",
        security(("session" = []), ("sessionCookie" = [])),
        request_body = crate::routes::leftovers::SubscriptionRequest,
        responses(
            (status = 200, description = "Subscribed", body = crate::routes::leftovers::SubscribedView),
            (status = 400, response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
            (status = 429, response = crate::routes::doc::Refused),
        )
    )]
    pub fn alerts_subscribe() {}

    #[utoipa::path(
        delete,
        path = "/api/v1/queue/leftover-alerts",
        tags = ["waiting room"],
        summary = "Stop being told of leftover doses.",
        security(("session" = []), ("sessionCookie" = [])),
        responses(
            (status = 204, description = "Done"),
            (status = 429, response = crate::routes::doc::Refused),
        )
    )]
    pub fn alerts_unsubscribe() {}

    #[utoipa::path(
        get,
        path = "/wait",
        tags = ["waiting room"],
        summary = "The waiting page (HTML, refreshes itself, no JavaScript)",
        responses(
            (status = 200, description = "HTML", content_type = "text/html", body = String),
        )
    )]
    pub fn wait_page() {}
}
