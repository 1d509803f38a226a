//! The pages' stylesheet and scripts, compiled into the binary (no other host, no files to
//! deploy) and served with long-lived caching: each URL carries a hash of its content, so a new
//! build gets new URLs and a phone never runs yesterday's script.
//!
//! The scripts hold no text a person reads: a page with a script carries the texts it shows, in
//! the page's language, from the catalogue (`text::scripts`) as a JSON data block
//! ([`texts_block`]), and every script reads them with `text(key)` from `common.js`.

use crate::text::{Lang, scripts};
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
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

/// The id of the block a page's script reads its texts from (`text(key)` in `common.js`).
pub const TEXTS_ID: &str = "yeyak-texts";

/// The texts `script` (and `common.js`) show, in the page's language, as a JSON data block.
///
/// The Content-Security-Policy (`script-src 'self'`, `security.rs`) forbids inline scripts, and
/// this is none: a `<script>` whose type is not a JavaScript type is a data block, which the
/// browser never executes, so the policy has nothing to allow. The scripts only parse its text.
/// Inside a `<script>` element the HTML parser reads raw text up to the first `</script`, so every
/// `<` is written as the JSON escape `\u003c` (the same string once parsed): whatever a text
/// holds, it cannot end the block early.
pub fn texts_block(script: &str, lang: Lang) -> Markup {
    html! {
        script type="application/json" id=(TEXTS_ID) { (PreEscaped(block_json(script, lang))) }
    }
}

/// The block's JSON for a script and language, made once: the catalogue does not change while
/// the server runs, so a page does not serialize it again on every request.
fn block_json(script: &str, lang: Lang) -> std::borrow::Cow<'static, str> {
    static BLOCKS: std::sync::LazyLock<HashMap<(&'static str, &'static str), String>> =
        std::sync::LazyLock::new(|| {
            scripts::BY_SCRIPT
                .iter()
                .flat_map(|(name, _)| [(*name, Lang::Ko), (*name, Lang::En)])
                .map(|(name, lang)| {
                    let json = inside_script(&scripts::json_for(name, lang));
                    ((name, lang.code()), json)
                })
                .collect()
        });
    let known = scripts::BY_SCRIPT
        .iter()
        .map(|(name, _)| *name)
        .find(|name| *name == script);
    match known.and_then(|name| BLOCKS.get(&(name, lang.code()))) {
        Some(json) => std::borrow::Cow::Borrowed(json.as_str()),
        // A script the table does not list carries the common texts only, as before.
        None => std::borrow::Cow::Owned(inside_script(&scripts::json_for(script, lang))),
    }
}

/// JSON as the text of a `<script>` element: `<` escaped, so no `</script` can occur.
fn inside_script(json: &str) -> String {
    json.replace('<', "\\u003c")
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
    use crate::text::Lang;

    #[test]
    fn the_texts_block_is_json_that_cannot_close_its_element() {
        let block = super::texts_block("agent.js", Lang::En).into_string();
        assert!(
            block.starts_with("<script type=\"application/json\" id=\"yeyak-texts\">{"),
            "{block}"
        );
        let inner = &block[block.find('{').unwrap_or(0)..block.rfind('}').map_or(0, |i| i + 1)];
        let texts: serde_json::Value = serde_json::from_str(inner).unwrap_or_default();
        assert_eq!(texts["agent.booked"], "The booking is made.");
        // A text that looks like markup stays text, and the same text once parsed.
        let escaped = super::inside_script(r#"{"a":"</script><b>"}"#);
        assert!(!escaped.contains('<'), "{escaped}");
        let parsed: serde_json::Value = serde_json::from_str(&escaped).unwrap_or_default();
        assert_eq!(parsed["a"], "</script><b>");
    }

    /// The keys a script asks for, in the order it asks: every `text('key'` in its source.
    fn keys_asked(source: &str) -> Vec<&str> {
        source
            .split("text('")
            .skip(1)
            .filter_map(|rest| rest.split_once('\'').map(|(key, _)| key))
            .collect()
    }

    fn scripts() -> impl Iterator<Item = (&'static str, &'static str)> {
        super::FILES
            .iter()
            .filter(|(name, _, _)| name.ends_with(".js"))
            .map(|(name, _, body)| (*name, *body))
    }

    #[test]
    fn every_text_a_script_asks_for_is_in_the_catalogue_it_is_handed() {
        use crate::text::scripts::{COMMON, of_script};
        for (name, body) in scripts() {
            let keys = keys_asked(body);
            for key in &keys {
                let known = COMMON.iter().chain(of_script(name)).any(|(k, _)| k == key);
                assert!(
                    known,
                    "{name} asks for {key}, which its page does not carry"
                );
            }
            // And nothing in the catalogue that its script never shows.
            for (key, _) in of_script(name) {
                assert!(keys.contains(key), "{key} is not used by {name}");
            }
        }
        assert_eq!(
            keys_asked("x(text('a.b', { n }) + text('c.d'))"),
            ["a.b", "c.d"]
        );
    }

    #[test]
    fn scripts_hold_no_korean_text_of_their_own() {
        for (name, body) in scripts() {
            let hangul = body.chars().find(|c| {
                ('\u{ac00}'..='\u{d7a3}').contains(c) || ('\u{3131}'..='\u{318e}').contains(c)
            });
            assert_eq!(hangul, None, "{name} holds Korean text");
        }
    }

    #[test]
    fn every_asset_has_a_versioned_url() {
        for (name, _, body) in super::FILES {
            assert!(!body.is_empty(), "{name}");
            assert!(super::url(name).contains("?v="), "{name}");
        }
    }
}
