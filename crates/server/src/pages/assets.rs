//! The pages' stylesheet and scripts, compiled into the binary (no other host, no files to
//! deploy) and served with long-lived caching: each URL carries a hash of its content, so a new
//! build gets new URLs and a phone never runs yesterday's script.

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Name, content type, content.
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    ("common.js", JS, include_str!("assets/common.js")),
    ("identity.js", JS, include_str!("assets/identity.js")),
    ("search.js", JS, include_str!("assets/search.js")),
    ("book.js", JS, include_str!("assets/book.js")),
    ("bookings.js", JS, include_str!("assets/bookings.js")),
    ("openings.js", JS, include_str!("assets/openings.js")),
    ("supply.js", JS, include_str!("assets/supply.js")),
    ("dashboard.js", JS, include_str!("assets/dashboard.js")),
    ("clinic.js", JS, include_str!("assets/clinic.js")),
    ("leftovers.js", JS, include_str!("assets/leftovers.js")),
    ("agent.js", JS, include_str!("assets/agent.js")),
];
const JS: &str = "text/javascript; charset=utf-8";

struct Asset {
    content_type: &'static str,
    body: &'static str,
    /// A hash of the content, hex: the URL's version and the ETag.
    version: String,
}

/// FNV-1a: not for security, only to notice that a file changed between builds.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn table() -> &'static HashMap<&'static str, Asset> {
    static TABLE: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    TABLE.get_or_init(|| {
        FILES
            .iter()
            .map(|(name, content_type, body)| {
                let version = format!("{:016x}", fnv1a(body.as_bytes()));
                (
                    *name,
                    Asset {
                        content_type,
                        body,
                        version,
                    },
                )
            })
            .collect()
    })
}

/// The address of an asset, with its version. Pages name only assets that exist.
pub fn url(name: &str) -> String {
    match table().get(name) {
        Some(asset) => format!("/assets/{name}?v={}", asset.version),
        None => format!("/assets/{name}"),
    }
}

#[derive(Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// `GET /assets/{name}`.
pub async fn serve(
    Path(name): Path<String>,
    Query(query): Query<Version>,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = table().get(name.as_str()) else {
        return crate::error::ApiError::not_found().into_response();
    };
    let etag = format!("\"{}\"", asset.version);
    // The versioned URL never changes content: cache it for a year. An unversioned one may.
    let cache = if query.v.as_deref() == Some(asset.version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag)
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_asset_has_a_versioned_url() {
        for (name, _, body) in super::FILES {
            assert!(!body.is_empty(), "{name}");
            assert!(super::url(name).contains("?v="), "{name}");
        }
    }
}
