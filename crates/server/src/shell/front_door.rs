//! The status poll answered on the connection, before the router.
//!
//! A waiting person's status poll is most of what a surge sends (every person polls until their
//! turn) and is answered from memory. Through the router it passes six middleware layers, each
//! a boxed future and a cloned service, which cost more than the answer itself
//! (`bench/status.md`). A plain poll — `GET` of the status path, no query, no body — is answered
//! here instead, by the handler's own function ([`queue::status_answer`]) and with everything
//! the layers would have done to it:
//! - the security headers ([`security::protect_answer`]; a `GET` needs no cross-site check);
//! - the request counted and timed in the router's own series ([`Metrics::count_direct`]);
//! - no personal field in the URL: there is no query;
//! - no in-flight slot and no timeout: the answer is computed before this returns, so it never
//!   waits and never holds a place another request could want. A poll is therefore answered
//!   even when the front door's in-flight cap is taken by arrivals waiting for numbers.
//!
//! Anything else (a query such as `?province=`, `HEAD`, a body) goes through the router.
//!
//! [`Metrics::count_direct`]: crate::metrics::Metrics::count_direct

use crate::metrics::DirectRoute;
use crate::routes::queue;
use crate::security;
use crate::state::AppState;
use axum::http::{Method, Request};
use axum::response::{IntoResponse, Response};
use http_body::Body;
use std::time::Instant;

/// The series a poll answered here is counted in, made once per server.
pub struct FrontDoor {
    status: DirectRoute,
}

impl FrontDoor {
    pub fn new(state: &AppState) -> FrontDoor {
        FrontDoor {
            status: state.metrics.direct_route(queue::STATUS_PATH),
        }
    }

    /// The answer to `request` if it is a plain status poll; `None` sends it to the router.
    pub fn answer<B: Body>(&self, state: &AppState, request: &Request<B>) -> Option<Response> {
        if !is_plain_status_poll(request) {
            return None;
        }
        let started = Instant::now();
        let mut response = queue::status_answer(state, request.headers(), None)
            .unwrap_or_else(IntoResponse::into_response);
        security::protect_answer(state, request.headers(), &mut response);
        state.metrics.count_direct(
            &self.status,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        Some(response)
    }
}

fn is_plain_status_poll<B: Body>(request: &Request<B>) -> bool {
    request.method() == Method::GET
        && request.uri().path() == queue::STATUS_PATH
        && request.uri().query().is_none()
        && request.body().is_end_stream()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str, body: &'static str) -> Request<String> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(body.to_string())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_a_plain_status_poll_is_answered_before_the_router() {
        assert!(is_plain_status_poll(&request(
            Method::GET,
            queue::STATUS_PATH,
            ""
        )));
        assert!(is_plain_status_poll(&request(
            Method::GET,
            "http://yeyak.example/api/v1/queue/status",
            ""
        )));
        for (method, uri, body) in [
            // A query may ask for more (`province=`) or carry what must be refused.
            (Method::GET, "/api/v1/queue/status?province=11", ""),
            (Method::GET, "/api/v1/queue/status?", ""),
            (Method::GET, "/api/v1/queue/status", "{}"),
            (Method::HEAD, "/api/v1/queue/status", ""),
            (Method::POST, "/api/v1/queue/status", ""),
            (Method::GET, "/api/v1/queue/status/", ""),
            (Method::GET, "/api/v1/queue/arrive", ""),
            (Method::GET, "/api/v1/QUEUE/status", ""),
        ] {
            assert!(
                !is_plain_status_poll(&request(method.clone(), uri, body)),
                "{method} {uri} {body:?}"
            );
        }
    }
}
