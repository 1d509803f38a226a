//! The agent desk: call-centre and community-centre staff book for people without a smartphone.
//! The agent signs in with the token an operator issued (the sign-in is `desk`'s, shared with
//! the clinic desk), checks the person's ID document, identifies them, then books, changes or
//! cancels for them through `/api/v1/agent/*`, under the same rules, every action audited.
//!
//! The page itself holds no person: `agent.js` keeps the person token the identify call returns
//! in sessionStorage (never a cookie or the URL) and fills the person's part of the page from
//! the API. What the server renders here is only the agent's tools: the identify form and the
//! clinic search by region, whose choices (not personal) travel in the query.

use super::desk::{self, Desk};
use super::layout::{Audience, Lang, Page, date_text, short_date_text};
use super::respond::{Detour, html, negotiate};
use super::widgets::{
    band_choices, bookable_days, clinic_identity, day_links, district_centre, filled_section,
    product_options, region_options,
};
use crate::error::ApiError;
use crate::routes;
use crate::routes::clinics::FoundClinic;
use crate::staff::Agent;
use crate::state::AppState;
use crate::text::Text;
use crate::text::desks::{BORN, NAME, SIGN_OUT, VACCINE, agent};
use crate::text::shared;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use domain::product::Product;
use jiff::civil::Date;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;

/// Clinics listed near a district at once ("more" pages on), as on the citizen's search.
const CLINICS_SHOWN: usize = 10;
/// How far from the district's middle clinics are listed, and how many days of places each shows.
const NEAR_KM: f64 = 10.0;
const DAYS_SHOWN: u16 = 7;

/// `GET /agent/login`.
pub async fn login_form(uri: Uri, headers: HeaderMap) -> Response {
    desk::login_form(Desk::Agent, &uri, &headers)
}

/// `POST /agent/login`: an agent token that is known and not revoked sets the cookie.
pub async fn login(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    form: Form<desk::LoginForm>,
) -> Response {
    desk::login(Desk::Agent, &state, &uri, &headers, form).await
}

/// `POST /agent/logout`.
pub async fn logout() -> Response {
    desk::logout(Desk::Agent)
}

/// The desk's search choices, as typed (empty fields are absent, not errors). None of them is
/// personal: they travel in the query like a citizen's search.
#[derive(Deserialize, Default)]
pub struct DeskParams {
    province: Option<String>,
    municipality: Option<String>,
    product: Option<String>,
    clinic: Option<String>,
    date: Option<String>,
    offset: Option<String>,
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The clinics nearest the middle of a district that give the product (neighbouring districts'
/// too, within [`NEAR_KM`]), each with its places left on each of the next [`DAYS_SHOWN`] days
/// and a link that chooses it: the citizen's search by place, so an agent sees where there is
/// room before choosing.
async fn nearby_clinics(
    state: &Arc<AppState>,
    lang: Lang,
    municipality: u32,
    product: Product,
    offset: usize,
    base: &str,
) -> Result<Markup, ApiError> {
    let t = |text: Text| text.get(lang);
    let Some((lat, lon)) = district_centre(state, municipality) else {
        return Ok(html! { p { (t(agent::NO_CLINIC_IN_DISTRICT)) } });
    };
    let query = routes::clinics::SearchQuery {
        lat: Some(lat),
        lon: Some(lon),
        radius_km: Some(NEAR_KM),
        product: Some(product.code().to_string()),
        days: Some(DAYS_SHOWN),
        limit: Some(CLINICS_SHOWN),
        offset: Some(offset),
        ..Default::default()
    };
    let found = routes::clinics::find_clinics(state, &query)?;
    let clinics = &found.clinics;
    let next = offset + clinics.len();
    Ok(html! {
        p class="note" { (t(agent::NEAREST_FIRST)) }
        ul class="cards" id="clinics" {
            @for c in clinics { (clinic_card(c, product, lang, base)) }
            @if clinics.is_empty() { li { (t(agent::NO_CLINIC_NEARBY)) } }
        }
        @if next < found.total {
            p class="actions" {
                a class="button secondary" id="more-clinics" href=(format!("{base}&offset={next}")) {
                    (t(agent::MORE_CLINICS))
                }
            }
        }
    })
}

/// One clinic of the list: name, district and distance, places left per day, "choose".
fn clinic_card(c: &FoundClinic, product: Product, lang: Lang, base: &str) -> Markup {
    let t = |text: Text| text.get(lang);
    let (id, name, place) = clinic_identity(&c.clinic, lang);
    let distance = c.distance_km.unwrap_or(0.0);
    let any = c
        .availability
        .iter()
        .any(|day| day.remaining.of(product) > 0);
    html! {
        li class="card" data-clinic=(id) {
            h4 { (name) }
            p { (place) " · " (format!("{distance:.1}")) " km" }
            p class="note" { (t(agent::PLACES_PER_DAY)) }
            ul class="perday" {
                @for day in &c.availability {
                    @let left = day.remaining.of(product);
                    li class=[(left == 0).then_some("off")] {
                        span { (short_date_text(day.date, lang)) }
                        " "
                        strong {
                            @if left == 0 { (t(shared::widgets::FULL)) } @else { (left) }
                        }
                    }
                }
            }
            @if any {
                a class="button primary" href=(format!("{base}&clinic={id}#slot-h")) {
                    (t(shared::widgets::CHOOSE)) " " span class="sr" { (name) }
                }
            } @else {
                p { (t(agent::NO_PLACES_THIS_WEEK)) }
            }
        }
    }
}

/// The chosen clinic's days (with places left) and the chosen day's hour bands, inside the
/// booking form; before a clinic is chosen, a pointer to the list above.
fn slot_picker(
    state: &AppState,
    lang: Lang,
    clinic: Option<&domain::clinic::Clinic>,
    product: Product,
    asked_date: Option<&str>,
    base: &str,
) -> (Markup, Option<Date>) {
    let t = |text: Text| text.get(lang);
    let Some(clinic) = clinic else {
        let pointer = html! {
            p class="note" id="no-clinic" { (t(agent::CHOOSE_DISTRICT_FIRST)) }
        };
        return (pointer, None);
    };
    let Some((days, date)) = bookable_days(state, clinic, product, asked_date) else {
        return (html! {}, None);
    };
    let base = format!("{base}&clinic={}", clinic.id.0);
    let picker = html! {
        h4 id="slot-h" tabindex="-1" { (clinic.name) }
        p class="note" { (t(agent::DAYS)) }
        ul class="days" id="days" { (day_links(&days, date, &base, lang)) }
        fieldset {
            legend { (t(agent::BAND)) " — " (date_text(date, lang)) }
            div class="choices" { (band_choices(state, clinic, date, product, lang)) }
            p id="bands-status" class="note" role="status" {}
        }
    };
    (picker, Some(date))
}

/// `GET /agent`: identify a person, then see their eligibility and bookings and act for them.
pub async fn desk(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    agent: Result<Agent, ApiError>,
    Query(params): Query<DeskParams>,
) -> Response {
    // A clinic token is refused here as the agent API would refuse it.
    if agent.is_err() {
        return Detour::AgentSignIn.into_response();
    }
    let (lang, remember) = negotiate(&uri, &headers);
    let t = |text: Text| text.get(lang);
    let province: Option<u8> = filled(&params.province).and_then(|p| p.parse().ok());
    let municipality: Option<u32> = filled(&params.municipality).and_then(|m| m.parse().ok());
    let product = filled(&params.product)
        .and_then(Product::parse)
        .unwrap_or(Product::ALL[0]);
    let (provinces, municipalities) = region_options(
        &state,
        lang,
        province,
        municipality,
        t(shared::widgets::CHOOSE),
    );
    let offset: usize = filled(&params.offset)
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let base = format!(
        "/agent?province={}&municipality={}&product={}",
        province.map(|p| p.to_string()).unwrap_or_default(),
        municipality.map(|m| m.to_string()).unwrap_or_default(),
        product.code()
    );
    let clinics = match municipality {
        None => html! {},
        Some(m) => match nearby_clinics(&state, lang, m, product, offset, &base).await {
            Ok(list) => list,
            Err(e) => return super::respond::error_page(lang, Audience::Agent, &uri, e),
        },
    };
    let clinic = filled(&params.clinic)
        .and_then(|c| c.parse::<usize>().ok())
        .and_then(|c| state.world.clinics.get(c))
        .filter(|c| c.offers(product));
    let (slots, date) = slot_picker(&state, lang, clinic, product, filled(&params.date), &base);
    let body = html! {
        h1 { (t(shared::frame::NAV_AGENT)) }
        form method="post" action="/agent/logout" class="logout" {
            button class="button secondary" type="submit" { (t(SIGN_OUT)) }
        }
        div id="error" class="error" role="alert" tabindex="-1" hidden {}
        p id="done" role="status" {}
        (identify_section(lang))
        section id="person" aria-labelledby="person-h" hidden {
            h2 id="person-h" tabindex="-1" { (t(agent::PERSON_TITLE)) }
            dl class="facts" {
                dt { (t(agent::RRN_SHORT)) } dd id="person-rrn" {}
                dt { (t(BORN)) } dd id="person-birth" {}
            }
            p id="eligibility" class="answer" {}
            dl class="facts" id="window" hidden { dt id="window-l" {} dd id="window-at" {} }
            p id="queue-place" class="notice" role="status" hidden {}
            p class="actions" {
                button class="button secondary" type="button" id="next-person" { (t(agent::NEXT_PERSON)) }
            }
            h3 { (t(agent::BOOKINGS)) }
            ul class="cards" id="bookings" {}
            h3 id="book-h" { (t(agent::BOOK)) }
            form method="get" action="/agent" id="region" class="stack" {
                fieldset {
                    legend { (t(agent::FIND_CLINIC)) }
                    div class="field" {
                        label for="province" { (t(agent::PROVINCE)) }
                        select id="province" name="province" { (provinces) }
                    }
                    div class="field" {
                        label for="municipality" { (t(agent::DISTRICT)) }
                        select id="municipality" name="municipality" { (municipalities) }
                    }
                    div class="field" {
                        label for="product" { (t(VACCINE)) }
                        select id="product" name="product" {
                            (product_options(Some(product.code()), &Product::ALL, lang, false))
                        }
                    }
                }
                noscript { button class="button secondary" type="submit" { (t(agent::SEARCH)) } }
            }
            (clinics)
            form id="book" class="stack" data-product=(product.code())
                data-clinic=(clinic.map(|c| c.id.0.to_string()).unwrap_or_default())
                data-date=(date.map(|d| d.to_string()).unwrap_or_default()) {
                p id="change-note" class="notice" hidden {}
                (slots)
                p class="note" { (t(agent::DOSE_2)) }
                p class="actions" {
                    button class="button primary" type="submit" id="book-submit" { (t(agent::BOOK)) }
                    button class="button secondary" type="button" id="change-stop" hidden { (t(agent::STOP_CHANGING)) }
                }
            }
            (filled_section(lang, false, &base))
        }
    };
    let page = Page {
        lang,
        audience: Audience::Agent,
        title: t(shared::frame::NAV_AGENT).to_string(),
        here: super::respond::here(&uri).to_string(),
        step: None,
        script: Some("agent.js"),
        body,
    };
    html(page.render(), remember)
}

/// Who the agent books for: their name, registration number and phone, after the ID check.
fn identify_section(lang: Lang) -> Markup {
    let t = |text: Text| text.get(lang);
    html! {
        section id="identify-section" aria-labelledby="identify-h" {
            h2 id="identify-h" { (t(agent::IDENTIFY_TITLE)) }
            p { (t(agent::IDENTIFY_INTRO)) }
            form id="identify" method="post" action="/agent" class="stack" autocomplete="off" {
                div class="field" {
                    label for="name" { (t(NAME)) }
                    input id="name" name="name" required autocomplete="off";
                }
                div class="field" {
                    label for="rrn" { (t(agent::RRN)) }
                    input id="rrn" name="rrn" inputmode="numeric" placeholder="000000-0000000" required autocomplete="off";
                }
                div class="field" {
                    label for="phone" { (t(agent::PHONE)) }
                    input id="phone" name="phone" type="tel" required autocomplete="off";
                }
                label class="choice" for="id-checked" {
                    input type="checkbox" id="id-checked" name="id_checked" required;
                    " " (t(agent::ID_CHECKED))
                }
                button class="button primary" type="submit" { (t(agent::IDENTIFY)) }
            }
        }
    }
}
