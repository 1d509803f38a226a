//! The operators' pages: sign-in with the operator token, openings and the queue, supply and
//! the rescheduling plan (preview a delivery cut, see who moves by how many days, apply), and a
//! live dashboard drawn by its script from `GET /api/v1/admin/dashboard`.
//!
//! Signing in checks the token once and sets an HttpOnly, SameSite=Strict cookie that the
//! `Operator` extractor accepts, so the pages' scripts call the same admin API as curl does.

use super::layout::{Audience, Lang, Page, instant_text};
use super::respond::{Detour, html, negotiate};
use crate::operator::{OPERATOR_COOKIE, OPERATOR_COOKIE_HOURS};
use crate::state::AppState;
use crate::text::Text;
use crate::text::desks::operator::{self, dashboard, queue, supply};
use crate::text::desks::{DOSE, SIGN_IN, SIGN_OUT, VACCINE};
use crate::text::shared::frame;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::product::Product;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

fn page(lang: Lang, title: &str, uri: &Uri, script: Option<&'static str>, body: Markup) -> Page {
    Page {
        lang,
        audience: Audience::Operator,
        title: title.to_string(),
        here: super::respond::here(uri).to_string(),
        step: None,
        script,
        body,
    }
}

/// Signed in, or sent to the sign-in form.
fn require_operator(state: &AppState, headers: &HeaderMap) -> Result<(), Detour> {
    let signed_in = crate::http::cookie(headers, OPERATOR_COOKIE).is_some_and(|c| {
        state.operator.verify_cookie(
            state.secrets.signing(),
            &c,
            state.clock.now().as_millisecond(),
        )
    });
    if signed_in {
        Ok(())
    } else {
        Err(Detour::OperatorSignIn)
    }
}

fn login_page(lang: Lang, uri: &Uri, failed: bool) -> String {
    let t = |text: Text| text.get(lang);
    let body = html! {
        h1 { (t(operator::SIGN_IN_TITLE)) }
        @if failed {
            div id="error" class="error" role="alert" { (t(operator::REFUSED)) }
        }
        p { (t(operator::SIGN_IN_INTRO)) }
        form method="post" action="/operator/login" class="stack" {
            div class="field" {
                label for="token" { (t(operator::TOKEN)) }
                input id="token" name="token" type="password" autocomplete="current-password" required;
            }
            button class="button primary" type="submit" { (t(SIGN_IN)) }
        }
    };
    page(lang, t(operator::SIGN_IN_TITLE), uri, None, body).render()
}

/// `GET /operator/login`.
pub async fn login_form(uri: Uri, headers: HeaderMap) -> Response {
    let (lang, remember) = negotiate(&uri, &headers);
    html(login_page(lang, &uri, false), remember)
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /operator/login`: checks the token and sets the sign-in cookie.
pub async fn login(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let (lang, _) = negotiate(&uri, &headers);
    if !state.operator.matches(form.token.trim()) {
        state.metrics.count_failed_signin("operator");
        let mut response = html(login_page(lang, &uri, true), None);
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let hours = OPERATOR_COOKIE_HOURS;
    let expires = state.clock.now().as_millisecond() + hours * 3_600_000;
    let cookie = format!(
        "{OPERATOR_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.operator.sign_cookie(state.secrets.signing(), expires),
        hours * 3600
    );
    let mut response = Redirect::to("/operator").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /operator/logout`: forgets the sign-in cookie.
pub async fn logout() -> Response {
    let mut response = Redirect::to("/operator/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("yeyak_operator=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

fn logout_form(lang: Lang) -> Markup {
    html! {
        form method="post" action="/operator/logout" class="logout" {
            button class="button secondary" type="submit" { (SIGN_OUT.get(lang)) }
        }
    }
}

/// `GET /operator`: the queue now, and scheduling an opening.
pub async fn home(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(r) = require_operator(&state, &headers) {
        return r.into_response();
    }
    let (lang, remember) = negotiate(&uri, &headers);
    let now_ms = state.clock.now().as_millisecond().max(0) as u64;
    let snapshot = state.gate.snapshot(now_ms);
    let opening = state.gate.opening();
    let t = |text: Text| text.get(lang);
    // The free-flowing queue a server starts with has no opening: its instants are u64::MAX.
    let at = |ms: u64| {
        if i64::try_from(ms).is_err() {
            return t(queue::FREE_FLOW).to_string();
        }
        jiff::Timestamp::from_millisecond(ms as i64)
            .map(|at| instant_text(at, lang))
            .unwrap_or_default()
    };
    let rows = [
        (queue::QUEUE, opening.queue().0.to_string()),
        (queue::PREQUEUE_STARTS, at(opening.prequeue_starts_at_ms())),
        (queue::OPENS, at(opening.opens_at_ms())),
        (queue::MAX_ACTIVE, opening.max_active().to_string()),
        (queue::ARRIVALS, snapshot.arrivals.to_string()),
        (queue::WAITING, snapshot.queued.to_string()),
        (queue::ADMITTED, snapshot.admitted.to_string()),
        (
            queue::ACTIVE,
            snapshot
                .active
                .map_or_else(|| "–".into(), |a| a.to_string()),
        ),
        (
            queue::ADMISSION_RATE,
            format!("{:.1}", snapshot.admission_rate_per_s),
        ),
    ];
    let body = html! {
        h1 { (t(queue::HEADING)) }
        (logout_form(lang))
        section {
            h2 { (t(queue::NOW)) }
            dl class="facts" id="queue" {
                @for (label, value) in &rows { dt { (t(*label)) } dd { (value) } }
            }
        }
        section {
            h2 { (t(queue::SCHEDULE)) }
            p { (t(queue::EXPLAIN)) }
            form id="opening" class="stack" {
                div class="field" {
                    label for="prequeue" { (t(queue::PREQUEUE_FIELD)) }
                    input id="prequeue" name="prequeue" type="datetime-local" required;
                }
                div class="field" {
                    label for="opens" { (t(queue::OPENS_FIELD)) }
                    input id="opens" name="opens" type="datetime-local" required;
                }
                div class="field" {
                    label for="max-active" { (t(queue::MAX_ACTIVE_FIELD)) }
                    input id="max-active" name="max_active" type="number" min="1" value="5000" required;
                }
                button class="button primary" type="submit" { (t(queue::SUBMIT)) }
            }
            p id="result" role="status" {}
            div id="error" class="error" role="alert" hidden {}
        }
    };
    html(
        page(
            lang,
            t(frame::NAV_OPERATOR_QUEUE),
            &uri,
            Some("openings.js"),
            body,
        )
        .render(),
        remember,
    )
}

/// `GET /operator/supply`: a clinic's supply, and a delivery cut previewed as a plan, then applied.
pub async fn supply(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(r) = require_operator(&state, &headers) {
        return r.into_response();
    }
    let (lang, remember) = negotiate(&uri, &headers);
    let t = |text: Text| text.get(lang);
    let products = super::widgets::product_options(None, &Product::ALL, lang, false);
    let body = html! {
        h1 { (t(supply::HEADING)) }
        (logout_form(lang))
        section {
            h2 { (t(supply::CUT)) }
            p { (t(supply::CUT_INTRO)) }
            form id="cut" class="stack" {
                div class="field" {
                    label for="clinic" { (t(supply::CLINIC)) }
                    input id="clinic" name="clinic" type="number" min="0" required;
                }
                div class="field" {
                    label for="day" { (t(supply::DAY)) }
                    input id="day" name="day" type="date" required;
                }
                div class="field" {
                    label for="product" { (t(VACCINE)) }
                    select id="product" name="product" { (products) }
                }
                div class="field" {
                    label for="doses" { (t(supply::DELIVERY)) }
                    input id="doses" name="doses" type="number" min="0" required;
                }
                p class="actions" {
                    button class="button primary" type="submit" { (t(supply::PREVIEW)) }
                    button class="button secondary" type="button" id="show-supply" { (t(supply::SHOW)) }
                }
            }
            div id="error" class="error" role="alert" hidden {}
            section id="plan" hidden aria-labelledby="plan-h" {
                h2 id="plan-h" { (t(supply::PLAN)) }
                dl class="facts" {
                    dt { (t(supply::PEOPLE_MOVED)) } dd id="people-moved" {}
                    dt { (t(supply::DOSES_MOVED)) } dd id="doses-moved" {}
                    dt { (t(supply::OTHER_CLINIC)) } dd id="other-clinics" {}
                    dt { (t(supply::UNPLACED)) } dd id="unplaced" {}
                }
                figure class="chart wide" {
                    figcaption id="shift-caption" { (t(supply::SHIFT)) }
                    div id="shift-chart" {}
                }
                table id="shift-table" {
                    caption class="sr" { (t(supply::SHIFT)) }
                    thead { tr {
                        th scope="col" { (t(supply::DAYS_MOVED)) }
                        th scope="col" { (t(supply::DOSES)) }
                    } }
                    tbody {}
                }
                h3 { (t(supply::SAMPLE)) }
                table id="moves" {
                    thead { tr {
                        th scope="col" { (t(supply::BOOKING)) }
                        th scope="col" { (t(DOSE)) }
                        th scope="col" { (t(supply::FROM)) }
                        th scope="col" { (t(supply::TO)) }
                    } }
                    tbody {}
                }
                p class="actions" {
                    button class="button primary" type="button" id="apply" { (t(supply::APPLY)) }
                }
            }
            p id="applied" role="status" {}
        }
        section id="supply" hidden aria-labelledby="supply-h" {
            h2 id="supply-h" { (t(supply::SUPPLY)) }
            table {
                thead { tr {
                    th scope="col" { (t(supply::DAY)) }
                    th scope="col" { (t(VACCINE)) }
                    th scope="col" { (t(supply::PLANNED)) }
                    th scope="col" { (t(supply::PROMISED)) }
                    th scope="col" { (t(supply::LEFT)) }
                } }
                tbody id="supply-rows" {}
            }
        }
    };
    html(
        page(
            lang,
            t(frame::NAV_OPERATOR_SUPPLY),
            &uri,
            Some("supply.js"),
            body,
        )
        .render(),
        remember,
    )
}

/// The dashboard's charts: the series' id (in the API's samples), the title, and the unit.
const CHARTS: [(&str, Text, &str); 5] = [
    ("arrivals_per_s", dashboard::ARRIVALS, "/s"),
    ("queued", dashboard::QUEUED, ""),
    ("admission_rate_per_s", dashboard::ADMISSION_RATE, "/s"),
    ("active", dashboard::ACTIVE, ""),
    ("bookings_per_min", dashboard::BOOKINGS, "/min"),
];

/// `GET /operator/dashboard`: live charts, updated every few seconds without reloading.
pub async fn dashboard(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = require_operator(&state, &headers) {
        return r.into_response();
    }
    let (lang, remember) = negotiate(&uri, &headers);
    let t = |text: Text| text.get(lang);
    let body = html! {
        h1 { (t(dashboard::HEADING)) }
        (logout_form(lang))
        p id="updated" { (t(dashboard::LOADING)) }
        div class="field" {
            label for="span" { (t(dashboard::PERIOD)) }
            select id="span" {
                option value="fine" { (t(dashboard::FINE)) }
                option value="coarse" { (t(dashboard::COARSE)) }
            }
        }
        div class="charts" {
            @for (id, title, unit) in CHARTS {
                figure class="chart" id=(format!("chart-{id}")) data-series=(id) data-unit=(unit) {
                    figcaption {
                        span class="title" { (t(title)) }
                        " "
                        span class="now" { (t(dashboard::NOW)) " " strong class="value" { "–" } }
                    }
                    svg viewBox="0 0 300 152" role="img" aria-label=(t(title)) {}
                    p class="max note" {}
                }
            }
        }
        details id="series-details" {
            summary { (t(dashboard::AS_TABLE)) }
            div class="scroll" {
                table id="series-table" {
                    caption { (t(dashboard::TABLE_CAPTION)) }
                    thead { tr {
                        th scope="col" { (t(dashboard::TIME)) }
                        @for (_, title, _) in CHARTS { th scope="col" { (t(title)) } }
                    } }
                    tbody {}
                }
            }
        }
        section aria-labelledby="capacity-h" {
            h2 id="capacity-h" { (t(dashboard::CAPACITY)) }
            figure class="chart wide" id="chart-provinces" {
                svg role="img" aria-label=(t(dashboard::CAPACITY)) viewBox="0 0 400 344" {}
            }
            details id="provinces-details" {
                summary { (t(dashboard::AS_TABLE)) }
                div class="scroll" {
                    table id="provinces-table" {
                        caption { (t(dashboard::CAPACITY)) }
                        thead { tr {
                            th scope="col" { (t(dashboard::PROVINCE)) }
                            th scope="col" { (t(dashboard::PLACES_LEFT)) }
                        } }
                        tbody {}
                    }
                }
            }
        }
    };
    html(
        page(
            lang,
            t(frame::NAV_OPERATOR_DASHBOARD),
            &uri,
            Some("dashboard.js"),
            body,
        )
        .render(),
        remember,
    )
}
