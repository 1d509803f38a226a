//! The API's OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and
//! the request, view and error types' `ToSchema` derives, and served at `/api/openapi.json`.
//! `tests/openapi.rs` checks it against the router (every API route documented, nothing
//! documented that is not served) and validates every example in it against its schema.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        aliases::agent_eligibility,
        aliases::agent_list,
        aliases::agent_create,
        aliases::agent_show,
        aliases::agent_cancel,
        aliases::agent_change,
        crate::routes::identity::family_start,
        crate::routes::identity::family_verify,
        crate::routes::identity::contact
    ),
    components(schemas(crate::error::ErrorBody), responses(super::doc::Refused)),
    modifiers(&Credentials),
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
        (status = 200, description = "OK", body = serde_json::Value),
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

/// Routes served by a handler documented elsewhere (the agent's side of the booking handlers,
/// the waiting room's leftover alerts) or by a page (`/wait`): their operations, documented here.
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
            (status = 200, description = "{subscription}"),
            (status = 400, response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
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

    #[utoipa::path(
        get,
        path = "/api/v1/agent/eligibility",
        tags = ["agents"],
        summary = "Agents, for the person of the bearer token (same rules as /api/v1/eligibility; no waiting-room pass; audited): May I book now? The reason, and when my window opens or closes",
        security(("staff" = [])),
        params(
            crate::routes::doc::PassHeader,
            crate::routes::doc::WaitingSessionHeader,
        ),
        responses(
            (status = 200, description = "OK", body = crate::routes::eligibility::DecisionView),
            (status = 400, response = crate::routes::doc::Refused),
            (status = "default", response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
            (status = 403, response = crate::routes::doc::Refused),
        )
    )]
    pub fn agent_eligibility() {}

    #[utoipa::path(
        get,
        path = "/api/v1/agent/bookings",
        tags = ["agents"],
        summary = "Agents, for the person of the bearer token (same rules as /api/v1/bookings; no waiting-room pass; audited): My bookings and those I made for family members",
        security(("staff" = [])),
        params(
            crate::routes::doc::PassHeader,
            crate::routes::doc::WaitingSessionHeader,
        ),
        responses(
            (status = 200, description = "OK", body = crate::routes::bookings::BookingsView),
            (status = 400, response = crate::routes::doc::Refused),
            (status = "default", response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
            (status = 403, response = crate::routes::doc::Refused),
        )
    )]
    pub fn agent_list() {}

    #[utoipa::path(
        post,
        path = "/api/v1/agent/bookings",
        tags = ["agents"],
        summary = "Agents, for the person of the bearer token (same rules as /api/v1/bookings; no waiting-room pass; audited): Book dose 1 and, with it, dose 2 at the same clinic and product after the product's interval",
        security(("staff" = [])),
        params(
            crate::routes::doc::PassHeader,
            crate::routes::doc::WaitingSessionHeader,
            crate::routes::doc::IdempotencyKey,
        ),
        request_body = crate::routes::bookings::CreateRequest,
        responses(
            (status = 201, description = "Booked", body = serde_json::Value),
            (status = 400, response = crate::routes::doc::Refused),
            (status = "default", response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
            (status = 403, response = crate::routes::doc::Refused),
            (status = 404, response = crate::routes::doc::Refused),
            (status = 409, description = "A conflict: the band is full (slot_full), no dose-2 place (second_dose_unavailable), already booked (already_booked, detail.booking_id), … With slot_full, detail.alternatives names the nearest bands that still had places when the refusal was written, read from memory (no database read): first the asked clinic (up to 2 other bands on the asked day, then 1 a day on the next 6 days, 4 in all, each day's bands nearest the asked hour first), then up to 4 other clinics within 10 km that give the same vaccine (the 30 nearest looked at; one band each, the earliest day, nearest the asked hour). An offer is not a reservation: booking it is a new request (a new Idempotency-Key) that can be refused the same way.", body = crate::error::ErrorBody),
            (status = 422, response = crate::routes::doc::Refused),
            (status = 503, response = crate::routes::doc::Refused),
        )
    )]
    pub fn agent_create() {}

    #[utoipa::path(
        get,
        path = "/api/v1/agent/bookings/{id}",
        tags = ["agents"],
        summary = "Agents, for the person of the bearer token (same rules as /api/v1/bookings/{id}; no waiting-room pass; audited): One booking",
        security(("staff" = [])),
        params(
            crate::routes::doc::PassHeader,
            crate::routes::doc::WaitingSessionHeader,
            ("id" = i64, Path),
        ),
        responses(
            (status = 200, description = "OK", body = crate::routes::bookings::BookingView),
            (status = 400, response = crate::routes::doc::Refused),
            (status = "default", response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
            (status = 404, response = crate::routes::doc::Refused),
            (status = 403, response = crate::routes::doc::Refused),
        )
    )]
    pub fn agent_show() {}

    #[utoipa::path(
        post,
        path = "/api/v1/agent/bookings/{id}/cancel",
        tags = ["agents"],
        summary = "Agents, for the person of the bearer token (same rules as /api/v1/bookings/{id}/cancel; no waiting-room pass; audited): Cancel every dose still to be given",
        security(("staff" = [])),
        params(
            crate::routes::doc::PassHeader,
            crate::routes::doc::WaitingSessionHeader,
            ("id" = i64, Path),
            crate::routes::doc::IdempotencyKey,
        ),
        responses(
            (status = 200, description = "OK", body = serde_json::Value),
            (status = 400, response = crate::routes::doc::Refused),
            (status = "default", response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
            (status = 404, response = crate::routes::doc::Refused),
            (status = 409, response = crate::routes::doc::Refused),
            (status = 503, response = crate::routes::doc::Refused),
            (status = 403, response = crate::routes::doc::Refused),
        )
    )]
    pub fn agent_cancel() {}

    #[utoipa::path(
        post,
        path = "/api/v1/agent/bookings/{id}/change",
        tags = ["agents"],
        summary = "Agents, for the person of the bearer token (same rules as /api/v1/bookings/{id}/change; no waiting-room pass; audited): Move dose 1 (and dose 2 with it) to another day, band or clinic; all or nothing",
        security(("staff" = [])),
        params(
            crate::routes::doc::PassHeader,
            crate::routes::doc::WaitingSessionHeader,
            ("id" = i64, Path),
            crate::routes::doc::IdempotencyKey,
        ),
        request_body = crate::routes::bookings::ChangeRequest,
        responses(
            (status = 200, description = "OK", body = serde_json::Value),
            (status = 400, response = crate::routes::doc::Refused),
            (status = "default", response = crate::routes::doc::Refused),
            (status = 401, response = crate::routes::doc::Refused),
            (status = 404, response = crate::routes::doc::Refused),
            (status = 409, description = "A conflict: the band is full (slot_full), no dose-2 place (second_dose_unavailable), already booked (already_booked, detail.booking_id), … With slot_full, detail.alternatives names the nearest bands that still had places when the refusal was written, read from memory (no database read): first the asked clinic (up to 2 other bands on the asked day, then 1 a day on the next 6 days, 4 in all, each day's bands nearest the asked hour first), then up to 4 other clinics within 10 km that give the same vaccine (the 30 nearest looked at; one band each, the earliest day, nearest the asked hour). An offer is not a reservation: booking it is a new request (a new Idempotency-Key) that can be refused the same way.", body = crate::error::ErrorBody),
            (status = 422, response = crate::routes::doc::Refused),
            (status = 503, response = crate::routes::doc::Refused),
            (status = 403, response = crate::routes::doc::Refused),
        )
    )]
    pub fn agent_change() {}
}
