//! Where each credential travels in a request, under which names, and reading it from there.
//! Near the bottom: it knows HTTP headers (`http`), nothing of the state or the routes.
//!
//! Two different things were both called "session" until this release; the names now say which:
//! - the **waiting-room session** (`queue::WaitingSessionId`, random, names a browser or app in
//!   the queue): header `x-yeyak-waiting-session`, cookie `yeyak_waiting`;
//! - the **identity session** (`session::IdentitySession`, signed, names a verified person):
//!   `Authorization: Bearer`, cookie `yeyak_identity`.
//!
//! The earlier names (`x-yeyak-session`, `yeyak_sid`, `yeyak_session`) are still read for one
//! release, never written; the new name wins when a request carries both.

use crate::http::{Headers, bearer, cookie};
use axum::http::HeaderMap;
use std::borrow::Cow;

/// The names one credential travels under: a header (apps, curl) and a cookie (browsers), each
/// with the name it had before, if it had another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    pub header: &'static str,
    pub cookie: &'static str,
    /// Read for one release, never written.
    pub old_header: Option<&'static str>,
    /// Read for one release, never written.
    pub old_cookie: Option<&'static str>,
}

/// The waiting-room session: which browser or app a ticket and pass belong to.
pub const WAITING_SESSION: Names = Names {
    header: "x-yeyak-waiting-session",
    cookie: "yeyak_waiting",
    old_header: Some("x-yeyak-session"),
    old_cookie: Some("yeyak_sid"),
};

/// A waiting-room ticket.
pub const TICKET: Names = Names {
    header: "x-yeyak-ticket",
    cookie: "yeyak_ticket",
    old_header: None,
    old_cookie: None,
};

/// A pass: admission to the booking side.
pub const PASS: Names = Names {
    header: "x-yeyak-pass",
    cookie: "yeyak_pass",
    old_header: None,
    old_cookie: None,
};

/// The identity session's cookie (apps send the token as `Authorization: Bearer`).
pub const IDENTITY_COOKIE: &str = "yeyak_identity";
/// The identity session's cookie before this release: read, never written.
pub const OLD_IDENTITY_COOKIE: &str = "yeyak_session";

/// A credential from its header, borrowed, or else its cookie; new names before old ones.
pub fn presented<'h>(headers: &'h impl Headers, names: &Names) -> Option<Cow<'h, str>> {
    let header = |name: &str| headers.text(name);
    header(names.header)
        .or_else(|| names.old_header.and_then(header))
        .map(Cow::Borrowed)
        .or_else(|| {
            cookie(headers, names.cookie)
                .or_else(|| names.old_cookie.and_then(|name| cookie(headers, name)))
                .map(Cow::Owned)
        })
}

/// The identity session token a request carries: `Authorization: Bearer`, else its cookie.
pub fn identity_token(headers: &HeaderMap) -> Option<String> {
    bearer(headers).or_else(|| identity_cookie(headers))
}

/// The identity session token in a browser's cookie (pages read only the cookie).
pub fn identity_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, IDENTITY_COOKIE).or_else(|| cookie(headers, OLD_IDENTITY_COOKIE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn new_names_old_names_and_the_new_one_wins() {
        let read = |pairs| presented(&headers(pairs), &WAITING_SESSION).map(Cow::into_owned);
        assert_eq!(read(&[("x-yeyak-waiting-session", "n")]), Some("n".into()));
        assert_eq!(read(&[("x-yeyak-session", "o")]), Some("o".into()));
        assert_eq!(read(&[("cookie", "yeyak_waiting=n")]), Some("n".into()));
        assert_eq!(read(&[("cookie", "a=1; yeyak_sid=o")]), Some("o".into()));
        assert_eq!(
            read(&[("cookie", "yeyak_sid=o; yeyak_waiting=n")]),
            Some("n".into())
        );
        assert_eq!(
            read(&[("x-yeyak-session", "o"), ("x-yeyak-waiting-session", "n")]),
            Some("n".into())
        );
        assert_eq!(
            read(&[("cookie", "yeyak_waiting=c"), ("x-yeyak-session", "h")]),
            Some("h".into()),
            "a header (app) before a cookie (browser), as before"
        );
        assert_eq!(read(&[("cookie", "yeyak_session=x")]), None);

        let identity = |pairs| identity_token(&headers(pairs));
        assert_eq!(identity(&[("cookie", "yeyak_session=o")]), Some("o".into()));
        assert_eq!(
            identity(&[("cookie", "yeyak_session=o; yeyak_identity=n")]),
            Some("n".into())
        );
        assert_eq!(
            identity(&[
                ("cookie", "yeyak_identity=c"),
                ("authorization", "Bearer b")
            ]),
            Some("b".into())
        );
        assert_eq!(identity(&[("cookie", "yeyak_sid=x")]), None);
    }
}
