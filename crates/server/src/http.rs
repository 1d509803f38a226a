//! What every handler and page shares about HTTP itself, and nothing about yeyak's state: cookie
//! and bearer parsing, language negotiation, the client's address, body limits, and extractors
//! whose rejections come in the API's error shape. The bottom of the crate: it depends on
//! nothing in it but the error type.

use crate::error::ApiError;
use crate::text::errors;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// The language a person chose (`ko` or `en`), set by `?lang=`.
pub const LANG_COOKIE: &str = "yeyak_lang";

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
pub async fn json_rejections<Answer: Future<Output = Response>>(
    request: Request,
    inner: impl FnOnce(Request) -> Answer,
) -> Response {
    let response = inner(request).await;
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
    match cookie(headers, LANG_COOKIE).as_deref() {
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

/// The address a request really came from. A request from a trusted proxy (the load balancer in
/// front of several nodes) names its client in `X-Forwarded-For`: the rightmost address there
/// that is not itself a trusted proxy is the client, as each proxy appends the address it was
/// reached from and anything to the left of that came from the client, who may have written
/// anything there. From anyone else the header is ignored (a client cannot choose its own
/// address and with it its share of a per-address limit), and so is a header that cannot be
/// read, which answers the peer's own address.
pub fn forwarded_client(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for entry in text.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<std::net::IpAddr>() else {
                return peer;
            };
            if !is_trusted(&ip) {
                return ip;
            }
            client = ip;
        }
    }
    client
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

/// A request's headers, however they were read: hyper's [`HeaderMap`], or the fields of a head
/// `shell::plain_poll` parsed itself (it answers a status poll without building a map: putting
/// every header an app or a browser sends into one cost more than the rest of the poll's own
/// work). What reads a credential or a header reads it through this, so both read alike.
pub trait Headers {
    /// The values of header `name` (given in lowercase; names match whatever their case), in
    /// the order the request sent them.
    fn values_of<'h>(&'h self, name: &str) -> impl Iterator<Item = &'h [u8]>;

    /// The first value of header `name` as text, as [`HeaderMap::get`] with
    /// [`axum::http::HeaderValue::to_str`] reads it: `None` if absent or not visible ASCII.
    fn text<'h>(&'h self, name: &str) -> Option<&'h str> {
        as_text(self.values_of(name).next()?)
    }
}

impl Headers for HeaderMap {
    fn values_of<'h>(&'h self, name: &str) -> impl Iterator<Item = &'h [u8]> {
        self.get_all(name).iter().map(|value| value.as_bytes())
    }
}

/// A header value as text, by `HeaderValue::to_str`'s rule: tab and visible ASCII only.
pub fn as_text(value: &[u8]) -> Option<&str> {
    if !value.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        return None;
    }
    // Visible ASCII is UTF-8: this never fails.
    std::str::from_utf8(value).ok()
}

pub fn cookie(headers: &impl Headers, name: &str) -> Option<String> {
    headers
        .values_of(header::COOKIE.as_str())
        .filter_map(as_text)
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
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
                    errors::INVALID_BODY.fill("detail", rejection.body_text()),
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
                ApiError::bad_request(errors::INVALID_QUERY.fill("detail", rejection.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn client(peer: &str, forwarded: &[&'static str], trusted: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        forwarded_client(peer.parse().unwrap(), &headers, &trusted).to_string()
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_and_only_its_own_addition_counts() {
        let lb = ["10.0.0.0/24"];
        // From the load balancer: the address it appended.
        assert_eq!(client("10.0.0.5", &["203.0.113.7"], &lb), "203.0.113.7");
        // The client's own claims to the left of it are ignored.
        assert_eq!(
            client("10.0.0.5", &["1.2.3.4, 5.6.7.8, 203.0.113.7"], &lb),
            "203.0.113.7"
        );
        // Two proxies of ours in a row: the first address neither of them is.
        assert_eq!(
            client("10.0.0.5", &["1.2.3.4, 203.0.113.7, 10.0.0.9"], &lb),
            "203.0.113.7"
        );
        // Several header lines count as one list, in order.
        assert_eq!(
            client("10.0.0.5", &["1.2.3.4", "203.0.113.7"], &lb),
            "203.0.113.7"
        );
        assert_eq!(client("10.0.0.5", &["2001:db8::1"], &lb), "2001:db8::1");
        // From anyone else the header is a claim, not an address.
        assert_eq!(
            client("198.51.100.2", &["203.0.113.7"], &lb),
            "198.51.100.2"
        );
        assert_eq!(client("10.0.0.5", &["203.0.113.7"], &[]), "10.0.0.5");
        // Unreadable: the peer itself; none: the peer; only proxies: the farthest of them.
        assert_eq!(client("10.0.0.5", &["1.2.3.4, junk"], &lb), "10.0.0.5");
        assert_eq!(client("10.0.0.5", &[], &lb), "10.0.0.5");
        assert_eq!(client("10.0.0.5", &["10.0.0.7"], &lb), "10.0.0.7");
    }

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
