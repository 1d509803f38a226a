//! How a page becomes a response: the page language (asked, remembered or from the browser),
//! the HTML answer that is never cached, a refusal shown as a page, and where a page sends
//! someone who may not see it yet.

use super::layout::{self, Lang};
use crate::error::ApiError;
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

/// An API refusal shown as a page, in the page's language, with the API's status.
pub fn error_page(lang: Lang, audience: layout::Audience, uri: &Uri, error: ApiError) -> Response {
    let body = format!(
        "<h1>{}</h1><div class=\"error\" role=\"alert\">{}</div><p class=\"actions\"><a class=\"button secondary\" href=\"/\">{}</a></p>",
        lang.t("요청을 처리할 수 없습니다", "This cannot be done"),
        layout::escape(lang.t(&error.message_ko, &error.message_en)),
        lang.t("처음으로", "Back to the start"),
    );
    let page = layout::Page {
        lang,
        audience,
        title: lang.t("오류", "Error").to_string(),
        here: here(uri).to_string(),
        step: None,
        script: None,
        body: maud::PreEscaped(body),
    };
    let mut response = html(page.render(), None);
    *response.status_mut() = error.status;
    response
}

pub fn here(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |pq| pq.as_str())
}
