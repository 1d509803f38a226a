//! The root router: which routes exist, behind which checks, and the middleware every request
//! passes (admission, security headers, metrics, the booking side's own runtime).

use crate::error::ApiError;
use crate::http::{
    BODY_MAX, DELIVERIES_BODY_MAX, DELIVERIES_CSV_BODY_MAX, PRIORITY_LIST_BODY_MAX, json_rejections,
};
use crate::routes::{
    admin, agent, bookings, clinic, clinics, eligibility, identity, leftovers, openapi, pass,
    queue, staff, supply, system,
};
use crate::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use std::sync::Arc;
use std::time::Instant;

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

/// What a verified person may do from the waiting room besides waiting.
fn waiting_routes() -> Router<Arc<AppState>> {
    Router::new().route(
        LEFTOVER_ALERTS,
        put(leftovers::subscribe).delete(leftovers::unsubscribe),
    )
}

/// Where a waiting person asks to be told of leftover doses near them.
pub const LEFTOVER_ALERTS: &str = "/api/v1/queue/leftover-alerts";

pub fn router(state: Arc<AppState>) -> Router {
    // Everything behind the waiting room: no call works without a pass for this session. On a
    // standby node its writes go to the ledger's holder once the pass is checked here.
    let booking_side = booking_routes().route_layer(middleware::from_fn_with_state(
        Arc::clone(&state),
        behind_pass,
    ));
    // A verified person waiting (signed in by verifying while waiting, no pass yet) may ask to
    // be told of leftover doses instead of waiting on: the booking side's own handlers, behind
    // the identity session. On a standby node the write goes to the holder like the booking
    // side's.
    let waiting_side = waiting_routes().route_layer(middleware::from_fn_with_state(
        Arc::clone(&state),
        crate::forward::relay::booking_writes,
    ));
    // The same routes on the holder, for writes another node forwards (its signature instead of
    // a pass: that node checked the pass).
    let forwarded = Router::new()
        .nest(
            crate::forward::PREFIX,
            booking_routes().merge(waiting_routes()),
        )
        .route(
            crate::forward::WRITES_PATH,
            post(crate::forward::relay::plain_write),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::forward::relay::require_forwarded,
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
            crate::forward::relay::staff_writes,
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
            crate::forward::relay::staff_writes,
        ));
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/v1/regions", get(clinics::regions))
        .route("/api/v1/clinics", get(clinics::search))
        .route("/api/v1/clinics/{id}", get(clinics::clinic))
        .route("/api/v1/queue/arrive", post(queue::arrive))
        .route(queue::STATUS_PATH, get(queue::status))
        .route("/api/v1/queue/exchange", post(queue::exchange))
        .route("/api/v1/queue/verify/start", post(queue::verify_start))
        .route("/api/v1/queue/verify", post(queue::verify))
        .route("/api/v1/queue/text-me", post(queue::text_me))
        .route("/wait/return", get(queue::wait_return))
        .merge(booking_side)
        .merge(waiting_side)
        .merge(forwarded)
        .merge(operator_side)
        .merge(clinic_side)
        .merge(crate::pages::router())
        .fallback(system::not_found)
        .layer(DefaultBodyLimit::max(BODY_MAX))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            every_request,
        ))
        .with_state(state)
}

/// What every booking-side request passes after [`every_request`]: its pass
/// (`pass::require_pass`), then, on a standby node, the forwarding of its writes to the
/// ledger's holder (`relay::booking_writes`). One middleware for both, for the reason given
/// there.
async fn behind_pass(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let writes = Arc::clone(&state);
    pass::require_pass(&state, request, |request| {
        crate::forward::relay::booking_writes(State(writes), request, next)
    })
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// What every routed request passes, outermost first: metrics ([`track`]), the cross-site
/// check and security headers (`security::protect`), shedding and the timeout
/// (`shell::admit`), errors in the API's shape (`http::json_rejections`), the refusal of
/// personal data in a URL (`identity::refuse_personal_urls`), and the hop to the booking
/// side's runtime ([`booking_side_apart`]). One middleware calling each step in turn rather than
/// one layer per step: each `from_fn` layer clones the whole stack of services below it and
/// boxes a future for every request, which the profile of a replay put at about 6% of the
/// server's CPU (bench/cpu-per-person.md).
async fn every_request(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let state = &*state;
    track(state, request, |request| {
        crate::security::protect(state, request, |request| {
            crate::shell::admit(state, request, |request| {
                json_rejections(request, |request| {
                    identity::refuse_personal_urls(request, |request| {
                        booking_side_apart(state, request, next)
                    })
                })
            })
        })
    })
    .await
}

/// Runs every request but the waiting room's front door and the health probes on the booking
/// side's own runtime ([`AppState::booking_runtime`]), and waits for its answer here. The async
/// workers that accept connections and answer arrivals, status polls, exchanges and `/wait`
/// then never run booking work themselves: however many searches, bookings or pages are being
/// worked on (or stuck on a slow read), the front door is answered by threads of its own, which
/// the operating system schedules beside the booking side's. Only the handler moves: shedding,
/// security headers and metrics stay here. If this request is dropped (its timeout, a closed
/// connection), the booking-side task is cancelled with it.
async fn booking_side_apart(state: &AppState, request: Request, next: Next) -> Response {
    let booking = state
        .booking_runtime
        .get()
        .filter(|_| !crate::shell::is_shed_last(request.uri().path()));
    let Some(booking) = booking else {
        return next.run(request).await;
    };
    let request = read_small_body(request).await;
    let mut task = CancelOnDrop(booking.spawn(next.run(request)));
    match (&mut task.0).await {
        Ok(response) => response,
        Err(_) => ApiError::internal().into_response(),
    }
}

/// Reads a request's body here, on the front door's thread, before it goes to the booking side,
/// when its length is known and within [`BODY_MAX`] (every citizen's and staff's request; the
/// operators' bulk uploads and bodies of unknown length go on as they came). The connection's
/// task delivers a body's bytes, and a booking-side thread reading them had to wake that task
/// from another thread for each request with a body (1.8% of the server's samples in the 40%
/// replay's profile); read where the connection is, the wakes stay on one thread. A body that fails to
/// arrive (the client went away, it broke off) reaches the handler as the same error, so it
/// answers exactly as if it had read the body itself.
async fn read_small_body(request: Request) -> Request {
    let (parts, body) = request.into_parts();
    let small = body
        .size_hint()
        .upper()
        .is_some_and(|length| length <= BODY_MAX as u64);
    if body.is_end_stream() || !small {
        return Request::from_parts(parts, body);
    }
    let body = match axum::body::to_bytes(body, BODY_MAX).await {
        Ok(bytes) => Body::from(bytes),
        Err(error) => {
            let failed: Result<Bytes, axum::Error> = Err(error);
            Body::from_stream(futures_util::stream::once(std::future::ready(failed)))
        }
    };
    Request::from_parts(parts, body)
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
async fn track<Answer: Future<Output = Response>>(
    state: &AppState,
    request: Request,
    inner: impl FnOnce(Request) -> Answer,
) -> Response {
    let started = Instant::now();
    // The matched route shares the router's string: no allocation per request.
    let route = crate::metrics::Route::of(request.extensions().get::<MatchedPath>());
    let method = crate::metrics::method_label(request.method());
    let response = inner(request).await;
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
