//! Browser protection for every response and every state-changing request: security headers,
//! a cross-site request check, and the `Secure` flag on cookies when served over HTTPS.
//!
//! The cross-site check trusts what browsers send (`Sec-Fetch-Site`, else `Origin`) rather than a
//! token in each form: it needs no per-session state and covers `fetch` and plain forms alike.
//! Apps and curl send their credentials as headers (`Authorization`, `X-Yeyak-…`), which another
//! site cannot make a browser attach, so a request without cookies is not checked.

use crate::error::ApiError;
use crate::http::Headers;
use crate::state::AppState;
use crate::text::errors;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Scripts, styles, images and requests only from yeyak itself: no inline scripts or styles, no
/// third-party hosts, never inside a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Why a state-changing request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossSite {
    /// The browser says another site started it.
    ForeignSite,
    /// No `Sec-Fetch-Site` and an `Origin` that is not ours.
    ForeignOrigin,
    /// Neither header: a browser too old to tell, or a forged request.
    Unknown,
}

impl From<CrossSite> for ApiError {
    fn from(why: CrossSite) -> ApiError {
        let entry = match why {
            CrossSite::ForeignSite => errors::CROSS_SITE_REQUEST,
            CrossSite::ForeignOrigin => errors::FOREIGN_ORIGIN,
            CrossSite::Unknown => errors::ORIGIN_REQUIRED,
        };
        ApiError::new(StatusCode::FORBIDDEN, entry)
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a state-changing request must prove it came from our own pages: it carries cookies
/// (what a browser attaches on its own), or it posts one of our HTML forms.
fn needs_check(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    !is_safe(method) && (headers.contains_key(header::COOKIE) || !path.starts_with("/api/"))
}

/// The same-origin test: `Sec-Fetch-Site` when the browser sends it, else `Origin` against `Host`.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), CrossSite> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        // "none": the person typed the address or used a bookmark.
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(CrossSite::ForeignSite),
        };
    }
    let (Some(origin), Some(host)) = (text(header::ORIGIN), text(header::HOST)) else {
        return Err(CrossSite::Unknown);
    };
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(CrossSite::ForeignOrigin)
    }
}

/// Whether this request reached us over HTTPS: configured, or said by the proxy in front.
/// A client that lies about it only gets cookies its own plain-HTTP requests will not carry.
fn over_https(state: &AppState, headers: &impl Headers) -> bool {
    state.config.secure_cookies
        || headers
            .text("x-forwarded-proto")
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Runs in front of every route: refuses cross-site state changes, then adds the security
/// headers to the answer and marks its cookies `Secure` over HTTPS.
pub async fn protect<Answer: Future<Output = Response>>(
    state: &AppState,
    request: Request,
    inner: impl FnOnce(Request) -> Answer,
) -> Response {
    if needs_check(request.method(), request.uri().path(), request.headers())
        && let Err(why) = check_same_origin(request.headers())
    {
        tracing::info!(
            ?why,
            path = request.uri().path(),
            "cross-site request refused"
        );
        return ApiError::from(why).into_response();
    }
    let secure = over_https(state, request.headers());
    let mut response = inner(request).await;
    add_protection(response.headers_mut(), secure);
    response
}

/// What [`protect`] does to an answer, for one made without the router (the shell's front door
/// answers a status poll, a `GET` that needs no cross-site check, with these same headers).
pub fn protect_answer(state: &AppState, request: &impl Headers, response: &mut Response) {
    add_protection(response.headers_mut(), over_https(state, request));
}

fn add_protection(headers: &mut HeaderMap, secure: bool) {
    // The policy and the frame ban govern what a browser renders. A JSON answer is never
    // rendered (nosniff keeps it JSON), and the waiting room's status poll is the hottest path
    // in the system, so it is spared the policy's 300 bytes.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !json {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if secure {
        mark_cookies_secure(headers);
    }
}

fn mark_cookies_secure(headers: &mut HeaderMap) {
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| {
            let text = v.to_str().ok()?;
            if text.to_ascii_lowercase().contains("; secure") {
                return Some(v.clone());
            }
            HeaderValue::from_str(&format!("{text}; Secure")).ok()
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn same_origin_is_decided_by_fetch_metadata_then_origin() {
        let ok = |pairs| check_same_origin(&headers(pairs));
        assert_eq!(ok(&[("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(ok(&[("sec-fetch-site", "none")]), Ok(()));
        assert_eq!(
            ok(&[("sec-fetch-site", "same-site")]),
            Err(CrossSite::ForeignSite)
        );
        assert_eq!(
            ok(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://a:1"),
                ("host", "a:1")
            ]),
            Err(CrossSite::ForeignSite),
            "fetch metadata wins over a matching origin"
        );
        assert_eq!(ok(&[("origin", "http://a:1"), ("host", "a:1")]), Ok(()));
        assert_eq!(
            ok(&[("origin", "http://evil:1"), ("host", "a:1")]),
            Err(CrossSite::ForeignOrigin)
        );
        assert_eq!(
            ok(&[("origin", "null"), ("host", "a:1")]),
            Err(CrossSite::ForeignOrigin)
        );
        assert_eq!(ok(&[("host", "a:1")]), Err(CrossSite::Unknown));
    }

    #[test]
    fn only_cookie_bearing_or_page_changes_are_checked() {
        let cookie = headers(&[("cookie", "yeyak_pass=x")]);
        let none = HeaderMap::new();
        assert!(needs_check(&Method::POST, "/api/v1/bookings", &cookie));
        assert!(!needs_check(&Method::POST, "/api/v1/bookings", &none));
        assert!(needs_check(&Method::POST, "/operator/login", &none));
        assert!(!needs_check(&Method::GET, "/api/v1/bookings", &cookie));
    }

    #[test]
    fn cookies_get_the_secure_flag_once() {
        let mut map = HeaderMap::new();
        map.append(header::SET_COOKIE, HeaderValue::from_static("a=1; Path=/"));
        map.append(
            header::SET_COOKIE,
            HeaderValue::from_static("b=2; Path=/; Secure"),
        );
        mark_cookies_secure(&mut map);
        let all: Vec<&str> = map
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(all, ["a=1; Path=/; Secure", "b=2; Path=/; Secure"]);
    }
}
