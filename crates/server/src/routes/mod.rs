//! The versioned JSON API. One module per resource; this one wires them together and holds the
//! extractors they share.

pub(crate) mod admin;
pub(crate) mod agent;
pub(crate) mod alternatives;
pub(crate) mod bookings;
pub use bookings::booking_message;
pub(crate) mod clinic;
pub(crate) mod clinics;
pub(crate) mod eligibility;
pub(crate) mod identity;
pub(crate) mod leftovers;
pub(crate) mod queue;
pub(crate) mod staff;
pub(crate) mod supply;
pub(crate) mod system;

use crate::AppState;
use crate::error::ApiError;
use crate::session::IdentitySession;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;

pub use crate::credentials::{bearer, cookie};

/// The booking side's routes (behind a pass, or forwarded by another node).
fn booking_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/identity/start", post(identity::start))
        .route("/api/v1/identity/verify", post(identity::verify))
        .route("/api/v1/family/start", post(identity::family_start))
        .route("/api/v1/family/verify", post(identity::family_verify))
        .route("/api/v1/contact", get(identity::contact))
        .route("/api/v1/eligibility", get(eligibility::mine))
        .route(
            "/api/v1/bookings",
            post(bookings::create).get(bookings::list),
        )
        .route("/api/v1/bookings/{id}", get(bookings::show))
        .route("/api/v1/bookings/{id}/cancel", post(bookings::cancel))
        .route("/api/v1/bookings/{id}/change", post(bookings::change))
        .route(
            "/api/v1/bookings/{id}/accept-move",
            post(supply::accept_move),
        )
        .route(
            "/api/v1/leftovers/subscription",
            put(leftovers::subscribe).delete(leftovers::unsubscribe),
        )
        .route("/api/v1/leftovers", get(leftovers::near_me))
        .route("/api/v1/leftovers/{id}/claim", post(leftovers::claim))
}

pub fn router(state: Arc<AppState>) -> Router {
    // Everything behind the waiting room: no call works without a pass for this session. On a
    // standby node its writes go to the ledger's holder once the pass is checked here.
    let booking_side = booking_routes()
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::forward::booking_writes,
        ))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            queue::require_pass,
        ));
    // The same routes on the holder, for writes another node forwards (its signature instead of
    // a pass: that node checked the pass).
    let forwarded = Router::new()
        .nest(crate::forward::PREFIX, booking_routes())
        .route(
            crate::forward::WRITES_PATH,
            post(crate::forward::plain_write),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::forward::require_forwarded,
        ));
    // Agents act for people through the same handlers, with their own token instead of a pass.
    let agent_side = Router::new()
        .route("/api/v1/agent/identify", post(agent::identify))
        .route("/api/v1/agent/queue", post(queue::agent_queue))
        .route("/api/v1/agent/eligibility", get(eligibility::mine))
        .route(
            "/api/v1/agent/bookings",
            post(bookings::create).get(bookings::list),
        )
        .route("/api/v1/agent/bookings/{id}", get(bookings::show))
        .route("/api/v1/agent/bookings/{id}/cancel", post(bookings::cancel))
        .route("/api/v1/agent/bookings/{id}/change", post(bookings::change))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            agent::require_agent,
        ));
    // Every operator action that changes something is audited by the HTTP layer.
    let operator_side = Router::new()
        .route("/api/v1/admin/queue", get(queue::admin_queue))
        .route("/api/v1/admin/openings", post(queue::admin_open))
        .route(
            "/api/v1/admin/priority-lists",
            post(admin::add_priority_list).layer(DefaultBodyLimit::max(PRIORITY_LIST_BODY_MAX)),
        )
        .route("/api/v1/admin/supply", get(supply::show))
        .route(
            "/api/v1/admin/deliveries",
            put(supply::put_deliveries).layer(DefaultBodyLimit::max(DELIVERIES_BODY_MAX)),
        )
        .route(
            "/api/v1/admin/deliveries/import",
            post(supply::import_deliveries).layer(DefaultBodyLimit::max(DELIVERIES_CSV_BODY_MAX)),
        )
        .route("/api/v1/admin/supply-changes", get(supply::list_changes))
        .route(
            "/api/v1/admin/supply-changes/plan",
            post(supply::plan).layer(DefaultBodyLimit::max(DELIVERIES_BODY_MAX)),
        )
        .route(
            "/api/v1/admin/supply-changes/apply",
            post(supply::apply).layer(DefaultBodyLimit::max(DELIVERIES_BODY_MAX)),
        )
        .route(
            "/api/v1/admin/supply-changes/{id}/unplaced",
            get(supply::unplaced),
        )
        .route("/api/v1/admin/staff", post(staff::create).get(staff::list))
        .route("/api/v1/admin/staff/{id}/revoke", post(staff::revoke))
        .route("/api/v1/admin/audit", get(staff::audit))
        .route("/api/v1/admin/dashboard", get(admin::dashboard))
        .merge(agent_side)
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            staff::audit_requests,
        ))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::forward::staff_writes,
        ));
    // Clinic staff: each action is audited in the same transaction as its effect.
    let clinic_side = Router::new()
        .route("/api/v1/clinic/day", get(clinic::day))
        .route(
            "/api/v1/clinic/bookings/{id}/given",
            post(clinic::mark_given),
        )
        .route(
            "/api/v1/clinic/leftovers",
            post(clinic::post_offer).get(clinic::offers),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::forward::staff_writes,
        ));
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/api/openapi.json", get(system::openapi))
        .route("/api/v1/regions", get(clinics::regions))
        .route("/api/v1/clinics", get(clinics::search))
        .route("/api/v1/clinics/{id}", get(clinics::clinic))
        .route("/api/v1/queue/arrive", post(queue::arrive))
        .route("/api/v1/queue/status", get(queue::status))
        .route("/api/v1/queue/exchange", post(queue::exchange))
        .route("/api/v1/queue/verify/start", post(queue::verify_start))
        .route("/api/v1/queue/verify", post(queue::verify))
        .route("/api/v1/queue/text-me", post(queue::text_me))
        .route("/wait/return", get(queue::wait_return))
        .route("/wait", get(queue::wait_page))
        .merge(booking_side)
        .merge(forwarded)
        .merge(operator_side)
        .merge(clinic_side)
        .merge(crate::pages::router())
        .fallback(system::not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            booking_side_apart,
        ))
        .layer(middleware::from_fn(identity::refuse_personal_urls))
        .layer(DefaultBodyLimit::max(BODY_MAX))
        .layer(middleware::from_fn(json_rejections))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::shell::admit,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::security::protect,
        ))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), track))
        .with_state(state)
}

/// Request bodies on every route but the bulk operator uploads below: the largest citizen or
/// staff request (an identity check, a booking, a staff token, an opening) is under 1 KiB.
pub const BODY_MAX: usize = 16 * 1024;
/// A priority list of up to 1,000,000 registration numbers: about 17 bytes each as compact
/// JSON; 24 MiB leaves 25 bytes each for pretty-printed lists.
pub const PRIORITY_LIST_BODY_MAX: usize = 24 * 1024 * 1024;
/// Up to 200,000 deliveries as JSON: about 80 bytes each compact; 32 MiB leaves 167 each.
pub const DELIVERIES_BODY_MAX: usize = 32 * 1024 * 1024;
/// Up to 200,000 delivery lines as CSV: at most 41 bytes each; 16 MiB leaves 83 each.
pub const DELIVERIES_CSV_BODY_MAX: usize = 16 * 1024 * 1024;
/// How much of a plain-text rejection is kept as its detail.
const REJECTION_TEXT_MAX: usize = 1024;

/// Every refusal in the API's shape. axum's own rejections (a path id of the wrong type, a
/// body over its route's limit, a form it cannot read, a method the route does not have) come
/// as plain text or empty; this rewrites them as [`ApiError`]s with their status, keeping their
/// headers (`Allow`, …) and their text as `detail.reason`.
async fn json_rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|t| t.as_bytes().starts_with(b"text/plain"));
    if !plain || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT_MAX)
        .await
        .unwrap_or_default();
    let mut error = if status.is_server_error() {
        ApiError::internal()
    } else {
        ApiError::rejection(status)
    };
    if !text.is_empty() {
        error = error.with_detail(serde_json::json!({ "reason": String::from_utf8_lossy(&text) }));
    }
    let mut answer = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

/// English when the person chose it (the `yeyak_lang` cookie, set by `?lang=en`), else when the
/// browser's `Accept-Language` weighs English above Korean. Korean otherwise: it is the default.
pub fn prefers_english(headers: &HeaderMap) -> bool {
    match cookie(headers, crate::pages::LANG_COOKIE).as_deref() {
        Some("en") => return true,
        Some("ko") => return false,
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    language_weight(accept, "en") > language_weight(accept, "ko")
}

/// The `q` an `Accept-Language` value gives a primary language (0 when it is not listed).
fn language_weight(accept: &str, primary: &str) -> f32 {
    accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let first = tag.split('-').next()?;
            if !first.eq_ignore_ascii_case(primary) {
                return None;
            }
            match parts.find_map(|p| p.trim().strip_prefix("q=")) {
                Some(q) => q.trim().parse::<f32>().ok(),
                None => Some(1.0),
            }
        })
        .fold(0.0, f32::max)
}

/// Runs every request but the waiting room's front door and the health probes on the booking
/// side's own runtime ([`AppState::booking_runtime`]), and waits for its answer here. The async
/// workers that accept connections and answer arrivals, status polls, exchanges and `/wait`
/// then never run booking work themselves: however many searches, bookings or pages are being
/// worked on (or stuck on a slow read), the front door is answered by threads of its own, which
/// the operating system schedules beside the booking side's. Only the handler moves: shedding,
/// security headers and metrics stay here. If this request is dropped (its timeout, a closed
/// connection), the booking-side task is cancelled with it.
async fn booking_side_apart(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let booking = state
        .booking_runtime
        .get()
        .filter(|_| !crate::shell::is_shed_last(request.uri().path()));
    let Some(booking) = booking else {
        return next.run(request).await;
    };
    let mut task = CancelOnDrop(booking.spawn(next.run(request)));
    match (&mut task.0).await {
        Ok(response) => response,
        Err(_) => ApiError::internal().into_response(),
    }
}

/// A booking-side task that is cancelled when whoever waits for it goes away.
struct CancelOnDrop(tokio::task::JoinHandle<Response>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Counts every request and its latency by route (the route pattern, never the raw path, so
/// no identifier reaches the metrics).
async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The matched route shares the router's string: no allocation per request.
    let route = crate::metrics::Route(request.extensions().get::<MatchedPath>().cloned());
    let method = crate::metrics::method_label(request.method());
    let response = next.run(request).await;
    let route = crate::metrics::RouteOnly { route };
    state
        .metrics
        .latency
        .get_or_create(&route)
        .observe(started.elapsed().as_secs_f64());
    let labels = crate::metrics::RouteLabels {
        method,
        route: route.route,
        status: response.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    response
}

/// The person a request acts for, proven by an identity session (bearer header or cookie).
pub struct Authenticated(pub IdentitySession);

impl FromRequestParts<Arc<AppState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let token = crate::credentials::identity_token(&parts.headers)
            .ok_or_else(ApiError::unauthenticated)?;
        IdentitySession::verify(&token, &state.secrets, state.clock.now())
            .map(Authenticated)
            .map_err(|_| ApiError::unauthenticated())
    }
}

/// The address a request came from (the TCP peer; 0.0.0.0 when the transport gave none).
pub struct ClientAddress(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(&parts.extensions)))
    }
}

pub fn client_address(extensions: &axum::http::Extensions) -> std::net::IpAddr {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// A JSON body whose rejection is an [`ApiError`] in our shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| ApiJson(value))
            .map_err(|rejection: JsonRejection| match rejection.status() {
                // Too large, or not sent as JSON: the request as a whole, not its content.
                status @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => {
                    ApiError::rejection(status)
                        .with_detail(serde_json::json!({ "reason": rejection.body_text() }))
                }
                _ => ApiError::bad_request(
                    "invalid_body",
                    "요청 형식이 올바르지 않습니다.",
                    format!("The request body is not valid: {}", rejection.body_text()),
                ),
            })
    }
}

/// Query parameters whose rejection is an [`ApiError`] in our shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::bad_request(
                    "invalid_query",
                    "검색 조건이 올바르지 않습니다.",
                    format!(
                        "The query parameters are not valid: {}",
                        rejection.body_text()
                    ),
                )
            })
    }
}

/// Runs a blocking storage read off the async workers.
pub async fn read<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&dyn store::Store) -> store::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let reader = Arc::clone(&state.reader);
    tokio::task::spawn_blocking(move || f(reader.as_ref()))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn english(accept: &'static str, cookie: Option<&'static str>) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(accept));
        if let Some(c) = cookie {
            headers.insert(header::COOKIE, HeaderValue::from_static(c));
        }
        prefers_english(&headers)
    }

    #[test]
    fn language_follows_the_choice_then_the_weights() {
        assert!(english("en-US,en;q=0.9", None));
        assert!(!english("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", None));
        assert!(english("ko;q=0.4,en-GB;q=0.8", None));
        assert!(
            english("fr-FR,en;q=0.5", None),
            "English before a default Korean"
        );
        assert!(!english("", None));
        assert!(!english("*", None));
        assert!(!english("en-US", Some("yeyak_lang=ko")));
        assert!(english("ko-KR", Some("a=1; yeyak_lang=en")));
    }
}
