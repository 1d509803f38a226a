//! How a page becomes a response: the page language (asked, remembered or from the browser),
//! the HTML answer that is never cached, a refusal shown as a page, and where a page sends
//! someone who may not see it yet.

use super::layout::{self, Lang, in_lang};
use crate::error::ApiError;
use crate::text::shared::refused;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::http::LANG_COOKIE;

/// Where a page sends someone who may not see it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detour {
    /// No valid waiting-room pass: to `/wait`, where their place (or a new one) is.
    WaitingRoom,
    /// Admitted but not yet identified.
    Identity,
    /// An operator page without a valid sign-in.
    OperatorSignIn,
    /// The clinic desk without a valid staff sign-in.
    ClinicSignIn,
    /// The agent desk without a valid agent sign-in.
    AgentSignIn,
}

impl IntoResponse for Detour {
    fn into_response(self) -> Response {
        Redirect::to(match self {
            Detour::WaitingRoom => "/wait",
            Detour::Identity => "/identity",
            Detour::OperatorSignIn => "/operator/login",
            Detour::ClinicSignIn => "/clinic/login",
            Detour::AgentSignIn => "/agent/login",
        })
        .into_response()
    }
}

/// The page language and whether to remember it: `?lang=` wins (and is remembered in
/// `yeyak_lang`), then the remembered choice, then the browser's `Accept-Language`.
pub fn negotiate(uri: &Uri, headers: &HeaderMap) -> (Lang, Option<Lang>) {
    let asked = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("lang="))
        .and_then(|code| match code {
            "en" => Some(Lang::En),
            "ko" => Some(Lang::Ko),
            _ => None,
        });
    match asked {
        Some(lang) => (lang, Some(lang)),
        None if crate::http::prefers_english(headers) => (Lang::En, None),
        None => (Lang::Ko, None),
    }
}

/// Remembers an explicit language choice for a year.
pub fn remember_lang(response: &mut Response, lang: Option<Lang>) {
    if let Some(lang) = lang {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
            lang.code()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// A rendered page as a response: never cached (it may show a person's own booking).
pub fn html(page: String, remember: Option<Lang>) -> Response {
    let mut response = Html(page).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    remember_lang(&mut response, remember);
    response
}

/// What a refusal says, in the page's language.
pub fn refusal(error: &ApiError, lang: Lang) -> &str {
    in_lang(lang, &error.message_ko, &error.message_en)
}

/// An API refusal shown as a page, in the page's language, with the API's status.
pub fn error_page(lang: Lang, audience: layout::Audience, uri: &Uri, error: ApiError) -> Response {
    let t = |text: crate::text::Text| text.get(lang);
    let body = maud::html! {
        h1 { (t(refused::HEADING)) }
        div class="error" role="alert" { (refusal(&error, lang)) }
        p class="actions" { a class="button secondary" href="/" { (t(refused::START_OVER)) } }
    };
    let page = layout::Page {
        lang,
        audience,
        title: t(refused::TITLE).to_string(),
        here: here(uri).to_string(),
        step: None,
        script: None,
        body,
    };
    let mut response = html(page.render(), None);
    *response.status_mut() = error.status;
    response
}

pub fn here(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |pq| pq.as_str())
}
