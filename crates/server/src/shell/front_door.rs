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

use crate::http::Headers;
use crate::metrics::DirectRoute;
use crate::routes::queue;
use crate::security;
use crate::state::AppState;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::Body;
use std::time::Instant;

/// What a plain poll is answered with, made once per server: the series it is counted in and
/// the headers of every answer that places a ticket.
pub struct FrontDoor {
    status: DirectRoute,
    placed_headers: HeaderMap,
}

/// A plain poll's answer.
pub enum PollAnswer {
    /// Where the ticket stands: this JSON body under [`FrontDoor::placed_headers`], status 200.
    Placed(Vec<u8>),
    /// A refusal (no ticket, a ticket not ours, …), whole.
    Refused(Response),
}

impl FrontDoor {
    pub fn new(state: &AppState) -> FrontDoor {
        // The handler's headers with the security headers on top, by the functions that add them
        // to every other answer. They do not depend on the request: what it could change (over
        // HTTPS, cookies marked `Secure`) needs a cookie, and a status answer sets none.
        let mut template = (queue::status_headers(), ()).into_response();
        security::protect_answer(state, &HeaderMap::new(), &mut template);
        let mut placed_headers = std::mem::take(template.headers_mut());
        placed_headers.remove(header::CONTENT_LENGTH);
        FrontDoor {
            status: state.metrics.direct_route(queue::STATUS_PATH),
            placed_headers,
        }
    }

    /// The headers of a [`PollAnswer::Placed`] (the HTTP layer adds `content-length` and
    /// `date`).
    pub fn placed_headers(&self) -> &HeaderMap {
        &self.placed_headers
    }

    /// The answer to `request` if it is a plain status poll; `None` sends it to the router.
    pub fn answer<B: Body>(&self, state: &AppState, request: &Request<B>) -> Option<Response> {
        if !is_plain_status_poll(request) {
            return None;
        }
        Some(match self.poll(state, request.headers()) {
            PollAnswer::Placed(body) => {
                let mut response = Response::new(axum::body::Body::from(body));
                *response.headers_mut() = self.placed_headers.clone();
                response
            }
            PollAnswer::Refused(response) => response,
        })
    }

    /// The answer to a plain status poll with these headers, counted and timed (the caller has
    /// checked it is one: [`FrontDoor::answer`], or on the socket [`super::plain_poll`]).
    pub fn poll(&self, state: &AppState, headers: &impl Headers) -> PollAnswer {
        let started = Instant::now();
        let (answer, status) = match queue::status_json(state, headers, None) {
            Ok(body) => (PollAnswer::Placed(body), StatusCode::OK),
            Err(refusal) => {
                let mut response = refusal.into_response();
                security::protect_answer(state, headers, &mut response);
                let status = response.status();
                (PollAnswer::Refused(response), status)
            }
        };
        state.metrics.count_direct(
            &self.status,
            status.as_u16(),
            started.elapsed().as_secs_f64(),
        );
        answer
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
