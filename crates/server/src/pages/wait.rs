//! The waiting room's pages: `GET /wait` (position, people ahead, ETA and progress, refreshed
//! by the server's `Refresh` header; no script, so it works everywhere; with `?province=NN`,
//! the places left there and a plain warning when they may run out before the person's turn),
//! `POST /wait/text-me` ("leave and we'll text you") and `POST /wait/leftover-alerts` ("tell
//! me of leftover doses near me instead").

use super::layout::{Lang, Page, instant_text};
use super::respond::{html, negotiate, refusal};
use crate::error::ApiError;
use crate::routes;
use crate::routes::queue::{Nearby, StatusBody, WaitPlace};
use crate::state::AppState;
use crate::text::Text;
use crate::text::citizen::{self, common, wait as wait_text};
use crate::text::errors;
use crate::text::shared::widgets as widget_text;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use maud::{Markup, html as page};
use std::sync::Arc;

/// `GET /wait`: the waiting page, a few KB of HTML that refreshes itself, says where the person
/// stands, and lets them in when their turn comes.
pub async fn wait_page(
    State(state): State<Arc<AppState>>,
    crate::http::ClientAddress(address): crate::http::ClientAddress,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (lang, remember) = negotiate(&uri, &headers);
    let place = routes::queue::wait_place(&state, address, &headers).await?;
    let here = uri.path_and_query().map_or("/wait", |pq| pq.as_str());
    let province = routes::queue::province_asked(uri.query());
    let stock = stock_section(&state, &place, province, lang);
    let mut response = html(waiting(&place, lang, here, stock), remember);
    if place.pass.is_none()
        && let Ok(value) = HeaderValue::from_str(&place.refresh_s.to_string())
    {
        response.headers_mut().insert("refresh", value);
    }
    place.set_cookies(&state, &mut response);
    Ok(response)
}

/// Where a waiting person stands, as the page shows it.
struct Standing {
    /// People ahead who can book now: the verified exactly, the unverified as estimated.
    ahead: u64,
    position: u64,
    number: u64,
    eta_seconds: Option<u64>,
}

impl Standing {
    /// Before the opening nobody has a place yet: nothing ahead, number one.
    fn of(status: &StatusBody) -> Standing {
        match *status {
            StatusBody::BeforeOpening { .. } => Standing {
                ahead: 0,
                position: 0,
                number: 1,
                eta_seconds: None,
            },
            StatusBody::Admitted {
                number,
                people_ahead,
                position,
                ..
            } => Standing {
                ahead: people_ahead,
                position,
                number,
                eta_seconds: None,
            },
            StatusBody::Waiting {
                eta_seconds,
                number,
                people_ahead_eligible,
                position,
                ..
            } => Standing {
                ahead: people_ahead_eligible,
                position,
                number,
                eta_seconds,
            },
        }
    }
}

/// Where the person would be vaccinated, and whether the places left there may run out before
/// their turn: a province choice (a plain GET form, kept in the page's address so the refresh
/// keeps it), the places left, and when they may run out, the warning with what to do instead.
fn stock_section(state: &AppState, place: &WaitPlace, province: Option<u8>, lang: Lang) -> Markup {
    let StatusBody::Waiting {
        people_ahead_eligible,
        ..
    } = place.status
    else {
        return Markup::default();
    };
    let t = |text: Text| text.get(lang);
    let (provinces, municipalities) =
        super::widgets::region_options(state, lang, province, None, t(widget_text::CHOOSE));
    let nearby = province.and_then(|code| Nearby::in_province(state, code));
    let may_run_out = nearby
        .as_ref()
        .is_some_and(|nearby| nearby.may_run_out(people_ahead_eligible));
    page! {
        section aria-label=(t(common::REGION)) {
            form id="where" method="get" action="/wait" {
                p {
                    label for="province" { (t(wait_text::WHERE)) } " "
                    select id="province" name="province" { (provinces) } " "
                    button class="button secondary" type="submit" { (t(wait_text::SHOW_PLACES)) }
                }
            }
            @if let Some(nearby) = &nearby {
                p id="places-nearby" { (citizen::places_nearby(lang, nearby.places_left)) }
            }
            @if may_run_out {
                div class="notice" id="may-run-out" role="status" {
                    p { strong { (t(wait_text::MAY_RUN_OUT)) } }
                    p { (t(wait_text::MAY_RUN_OUT_WHY)) }
                    (instead_of_waiting(place.verified, municipalities, lang))
                }
            }
        }
    }
}

/// What someone whose places may run out can do instead of waiting: be told of leftover doses
/// near a district (verified), or verify first.
fn instead_of_waiting(verified: bool, municipalities: Markup, lang: Lang) -> Markup {
    let t = |text: Text| text.get(lang);
    page! {
        @if verified {
            form id="leftover-alerts" method="post" action="/wait/leftover-alerts" {
                p {
                    label for="municipality" { (t(wait_text::ALERT_DISTRICT)) } " "
                    select id="municipality" name="municipality" required { (municipalities) }
                }
                p { button class="button primary" type="submit" { (t(wait_text::ALERT_ME)) } }
            }
        } @else {
            p { a href="/wait/verify" { (t(wait_text::VERIFY_FOR_ALERTS)) } }
        }
    }
}

fn waiting(place: &WaitPlace, lang: Lang, here: &str, stock: Markup) -> String {
    let t = |text: Text| text.get(lang);
    let body = page! {
        @if place.pass.is_some() {
            h1 { (t(wait_text::TURN_HEADING)) }
            p { (t(wait_text::TURN)) }
            p class="actions" { a class="button primary" href="/identity" { (t(wait_text::TURN_GO)) } }
        } @else if let StatusBody::BeforeOpening { opens_at, .. } = &place.status {
            h1 { (t(wait_text::BEFORE_HEADING)) }
            p class="big" { (opens_at.map(|at| instant_text(at, lang)).unwrap_or_default()) }
            p { (t(wait_text::BEFORE)) }
            p class="note" { (t(wait_text::RELOAD_NOTE)) }
        } @else {
            (standing(&Standing::of(&place.status), lang))
        }
        (stock)
        @if place.pass.is_none() { (verify_section(place, lang)) }
    };
    Page::citizen(lang, t(wait_text::TITLE), here, Some(1), body).render()
}

/// Where a waiting person stands: people ahead, progress, number, position and expected wait.
fn standing(standing: &Standing, lang: Lang) -> Markup {
    let t = |text: Text| text.get(lang);
    let number = standing.number.max(1);
    let done = number.saturating_sub(standing.position);
    let percent = done * 100 / number;
    let eta = standing.eta_seconds.map_or_else(
        || t(wait_text::ETA_MEASURING).to_string(),
        |s| citizen::minutes(lang, s),
    );
    page! {
        h1 { (t(wait_text::WAITING_HEADING)) }
        p class="big" id="ahead" { (citizen::people_ahead(lang, standing.ahead)) }
        p {
            label for="progress" { (t(wait_text::PROGRESS)) }
            progress id="progress" max=(number) value=(done) { (percent) "%" }
        }
        dl class="facts" {
            dt { (t(wait_text::NUMBER)) } dd id="number" { (number) }
            dt { (t(wait_text::POSITION)) } dd id="position" { (standing.position) }
            dt { (t(wait_text::ETA)) } dd id="eta" { (eta) }
        }
        p class="note" { (t(wait_text::RELOAD_NOTE)) }
    }
}

/// Verifying while waiting: offered to the unverified; the verified are told their place is
/// theirs, and may leave and be texted instead.
fn verify_section(place: &WaitPlace, lang: Lang) -> Markup {
    let t = |text: Text| text.get(lang);
    page! {
        @if place.verified {
            p class="success" id="verified" role="status" { (t(wait_text::VERIFIED)) }
            @if place.texting {
                p class="note" id="will-text" { (t(wait_text::WILL_TEXT)) }
            } @else {
                form id="text-me" method="post" action="/wait/text-me" {
                    p { (t(wait_text::TEXT_ME_OFFER)) }
                    button class="button secondary" type="submit" { (t(wait_text::TEXT_ME)) }
                }
            }
        } @else {
            section aria-labelledby="verify-h" {
                h2 id="verify-h" { (t(wait_text::VERIFY_HEADING)) }
                p { (t(wait_text::VERIFY_WHY)) }
                p class="actions" {
                    a class="button primary" id="verify-link" href="/wait/verify" { (t(common::VERIFY)) }
                }
            }
        }
    }
}

/// `POST /wait/text-me`: "leave and we'll text you", without scripts.
pub async fn wait_text_me(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (lang, _) = negotiate(&uri, &headers);
    let (h1, message, status) = match routes::queue::ask_text(&state, &headers) {
        Ok(minutes) => (
            wait_text::TEXTING_HEADING,
            citizen::will_text(lang, minutes),
            axum::http::StatusCode::OK,
        ),
        Err(e) => (
            wait_text::TEXTING_REFUSED,
            refusal(&e, lang).to_string(),
            e.status,
        ),
    };
    outcome_page(lang, &uri, (h1, &message, status), "text-result")
}

#[derive(serde::Deserialize)]
pub struct AlertsForm {
    municipality: String,
}

/// `POST /wait/leftover-alerts`: a verified waiting person asks, without scripts, to be texted
/// of leftover doses within 10 km of their district instead of waiting on (their place is kept).
pub async fn wait_leftover_alerts(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AlertsForm>,
) -> Response {
    let (lang, _) = negotiate(&uri, &headers);
    let (h1, message, status) = match leftover_alerts(&state, &headers, &form).await {
        Ok(district) => (
            wait_text::ALERTS_HEADING,
            citizen::alerts_near(lang, &district),
            axum::http::StatusCode::OK,
        ),
        Err(e) => (
            wait_text::ALERTS_REFUSED,
            refusal(&e, lang).to_string(),
            e.status,
        ),
    };
    outcome_page(lang, &uri, (h1, &message, status), "alerts-result")
}

/// The page answering one of the waiting page's forms: what happened (`result_id` names the
/// message for tests and assistive technology), and the way back to the waiting page.
fn outcome_page(
    lang: Lang,
    uri: &Uri,
    (h1, message, status): (Text, &str, axum::http::StatusCode),
    result_id: &str,
) -> Response {
    let body = page! {
        h1 { (h1.get(lang)) }
        p id=(result_id) { (message) }
        p class="actions" { a class="button secondary" href="/wait" { (wait_text::BACK.get(lang)) } }
    };
    let page = Page::citizen(lang, h1.get(lang), super::respond::here(uri), Some(1), body);
    let mut response = html(page.render(), None);
    *response.status_mut() = status;
    response
}

/// Subscribes the signed-in person near the district's centre; its name as they read it.
async fn leftover_alerts(
    state: &AppState,
    headers: &HeaderMap,
    form: &AlertsForm,
) -> Result<String, ApiError> {
    let person = routes::pass::signed_in_person(state, headers)
        .map(domain::booking::PersonId)
        .ok_or_else(ApiError::unauthenticated)?;
    let district = form
        .municipality
        .trim()
        .parse()
        .ok()
        .and_then(|code| {
            state
                .world
                .regions
                .municipality(domain::clinic::MunicipalityCode(code))
        })
        .ok_or_else(|| ApiError::bad_request(errors::INVALID_PLACE))?;
    let request = routes::leftovers::SubscriptionRequest::anything_near(district.center);
    routes::leftovers::subscribe_person(state, person, &request).await?;
    Ok(district.display_name_ko())
}
