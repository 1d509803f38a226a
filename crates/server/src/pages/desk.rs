//! The staff sign-in both desks share: the clinic desk and the agent desk each take a token an
//! operator issued and keep it in the `yeyak_staff` cookie (HttpOnly, SameSite=Strict) that the
//! `staff` extractors already accept. A desk only takes its own role's token, as the API's role
//! checks would refuse the other one on every call anyway.

use super::layout::{Audience, Lang, Page};
use super::respond::{html, negotiate};
use crate::staff::STAFF_COOKIE;
use crate::state::AppState;
use crate::text::Text;
use crate::text::desks::{SIGN_IN, sign_in};
use axum::Form;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;
use store::StaffRole;

/// A desk sign-in lasts one working day.
const STAFF_COOKIE_HOURS: i64 = 12;

/// Which desk a sign-in is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desk {
    Clinic,
    Agent,
}

impl Desk {
    fn role(self) -> StaffRole {
        match self {
            Desk::Clinic => StaffRole::Clinic,
            Desk::Agent => StaffRole::Agent,
        }
    }

    pub fn audience(self) -> Audience {
        match self {
            Desk::Clinic => Audience::Clinic,
            Desk::Agent => Audience::Agent,
        }
    }

    fn home(self) -> &'static str {
        match self {
            Desk::Clinic => "/clinic",
            Desk::Agent => "/agent",
        }
    }

    fn login_path(self) -> &'static str {
        match self {
            Desk::Clinic => "/clinic/login",
            Desk::Agent => "/agent/login",
        }
    }

    fn title(self) -> Text {
        match self {
            Desk::Clinic => sign_in::CLINIC_TITLE,
            Desk::Agent => sign_in::AGENT_TITLE,
        }
    }
}

fn login_page(desk: Desk, lang: Lang, uri: &Uri, failed: bool) -> String {
    let t = |text: Text| text.get(lang);
    let body = html! {
        h1 { (t(desk.title())) }
        @if failed {
            div id="error" class="error" role="alert" { (t(sign_in::REFUSED)) }
        }
        p { (t(sign_in::INTRO)) }
        form method="post" action=(desk.login_path()) class="stack" {
            div class="field" {
                label for="token" { (t(sign_in::TOKEN)) }
                input id="token" name="token" type="password" autocomplete="current-password" required;
            }
            button class="button primary" type="submit" { (t(SIGN_IN)) }
        }
    };
    Page {
        lang,
        audience: desk.audience(),
        title: t(desk.title()).to_string(),
        here: super::respond::here(uri).to_string(),
        step: None,
        script: None,
        body,
    }
    .render()
}

/// `GET /clinic/login`, `GET /agent/login`.
pub fn login_form(desk: Desk, uri: &Uri, headers: &HeaderMap) -> Response {
    let (lang, remember) = negotiate(uri, headers);
    html(login_page(desk, lang, uri, false), remember)
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /clinic/login`, `POST /agent/login`: a token of this desk's role that is known and not
/// revoked sets the cookie; any other token is refused without saying which check failed.
pub async fn login(
    desk: Desk,
    state: &Arc<AppState>,
    uri: &Uri,
    headers: &HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let (lang, _) = negotiate(uri, headers);
    let token = form.token.trim().to_string();
    let hash = crate::staff::token_hash(&token);
    let found =
        crate::state::read_by_key(state, move |r| store::ReadStore::staff_by_token(r, &hash)).await;
    let valid = matches!(
        found,
        Ok(Some(ref record)) if !record.revoked && record.role == desk.role()
    );
    // Only token characters go into the cookie header.
    if !valid || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        state.metrics.count_failed_signin(desk.role().code());
        let mut response = html(login_page(desk, lang, uri, true), None);
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let expires_ms = crate::clock::after(
        state.clock.now(),
        jiff::SignedDuration::from_hours(STAFF_COOKIE_HOURS),
    )
    .as_millisecond();
    let signed = crate::staff::sign_in_cookie(
        state.secrets.signing(),
        hash,
        u64::try_from(expires_ms).unwrap_or(0),
    );
    let cookie = format!(
        "{STAFF_COOKIE}={signed}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        STAFF_COOKIE_HOURS * 3600
    );
    let mut response = Redirect::to(desk.home()).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /clinic/logout`, `POST /agent/logout`: forgets the staff cookie.
pub fn logout(desk: Desk) -> Response {
    let mut response = Redirect::to(desk.login_path()).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("yeyak_staff=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}
