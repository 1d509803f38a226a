//! The citizen's pages: start, waiting room, identity check, eligibility, clinic search, day and
//! time, and "my bookings" (view, change, cancel, accept a move), for oneself or a family member.
//!
//! Pages read through the same handlers as the JSON API (so a page never shows what the API
//! would not say), render plain HTML, and leave the state changes to their script, which sends
//! the API's own requests.

use super::layout::{Audience, Lang, Page, date_text, in_lang, instant_text, with_param};
use super::respond::{Detour, html, negotiate, refusal};
use super::widgets::{
    band_choices, bookable_days, clinic_identity, day_links, district_centre, error_box, filled,
    filled_section, product_name, product_options, region_options, when_where,
};
use crate::error::ApiError;
use crate::routes;
use crate::routes::clinics::{Found, FoundClinic};
use crate::routes::eligibility::DecisionView;
use crate::routes::views::AppointmentView;
use crate::session::IdentitySession;
use crate::state::AppState;
use crate::text::Text;
use crate::text::citizen::{
    self, book as book_text, bookings as bookings_text, common, contact as contact_text,
    eligibility as eligibility_text, home as home_text, identity as identity_text,
    leftovers as leftovers_text, search as search_text,
};
use crate::text::shared::widgets as widget_text;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use domain::booking::DoseStatus;
use domain::eligibility::Decision;
use domain::product::Product;
use jiff::Timestamp;
use maud::{Markup, html as page};
use serde::Deserialize;
use std::sync::Arc;

/// Clinics per page of search results: a short page on a slow phone.
const SEARCH_PAGE: usize = 10;

/// Sends a person without a pass to the waiting room, as the API refuses them.
fn require_pass(state: &AppState, headers: &HeaderMap) -> Result<(), Detour> {
    if routes::pass::holds_pass(state, headers) {
        Ok(())
    } else {
        Err(Detour::WaitingRoom)
    }
}

/// The person signed in by an identity check, or a redirect to do one.
fn require_person(state: &AppState, headers: &HeaderMap) -> Result<IdentitySession, Detour> {
    require_pass(state, headers)?;
    crate::credentials::identity_cookie(headers)
        .and_then(|t| IdentitySession::verify(&t, &state.secrets, state.clock.now()).ok())
        .ok_or(Detour::Identity)
}

/// What a citizen's page is besides its body: its title, its step of the booking flow and its
/// script, if any.
struct Frame {
    title: Text,
    step: Option<u8>,
    script: Option<&'static str>,
}

/// A citizen's page as the answer to `uri`, remembering the language asked for.
fn answer(lang: Lang, uri: &Uri, frame: Frame, body: Markup, remember: Option<Lang>) -> Response {
    let here = super::respond::here(uri);
    let mut page = Page::citizen(lang, frame.title.get(lang), here, frame.step, body);
    page.script = frame.script;
    html(page.render(), remember)
}

/// `GET /`: what the service is, and the way in.
pub async fn home(uri: Uri, headers: HeaderMap) -> Response {
    let (lang, remember) = negotiate(&uri, &headers);
    let t = |text: Text| text.get(lang);
    let body = page! {
        h1 { (t(home_text::HEADING)) }
        p class="lead" { (t(home_text::LEAD)) }
        p class="actions" {
            a class="button primary" href="/wait" { (t(home_text::START)) }
            a class="button secondary" href="/bookings" { (t(home_text::MINE)) }
        }
        section {
            h2 { (t(home_text::KNOW)) }
            ul class="plain" {
                li { (t(home_text::FAIR)) }
                li { (t(home_text::RELOAD)) }
                li { (t(home_text::FAMILY)) }
                li { (t(home_text::RRN)) }
            }
        }
    };
    let frame = Frame {
        title: home_text::TITLE,
        step: None,
        script: None,
    };
    answer(lang, &uri, frame, body, remember)
}

/// `GET /identity`: name, resident registration number and phone, then the code by text.
pub async fn identity(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(to_wait) = require_pass(&state, &headers) {
        return to_wait.into_response();
    }
    let (lang, remember) = negotiate(&uri, &headers);
    let page = identity_page(
        &state,
        &uri,
        &headers,
        lang,
        &IdentityStage::Details,
        None,
        IdentityFor::Booking,
    );
    html(page, remember)
}

/// Whom the identity page serves: someone admitted (the booking side) or someone waiting (who
/// verifies to hold their one place in the draw).
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdentityFor {
    Booking,
    Waiting,
}

/// Where the identity page is: asking for details, or for the code just sent.
enum IdentityStage {
    Details,
    Code {
        verification_id: String,
        demo_code: Option<String>,
    },
}

fn identity_page(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    lang: Lang,
    stage: &IdentityStage,
    error: Option<&crate::error::ApiError>,
    serves: IdentityFor,
) -> String {
    let signed_in = crate::credentials::identity_cookie(headers)
        .is_some_and(|t| IdentitySession::verify(&t, &state.secrets, state.clock.now()).is_ok());
    let t = |text: Text| text.get(lang);
    let (action, intro) = match serves {
        IdentityFor::Booking => ("/identity", identity_text::INTRO_BOOKING),
        IdentityFor::Waiting => ("/wait/verify", identity_text::INTRO_WAITING),
    };
    let already = signed_in && serves == IdentityFor::Booking;
    let (code_stage, verification_id, demo_code) = match stage {
        IdentityStage::Details => (false, "", None),
        IdentityStage::Code {
            verification_id,
            demo_code,
        } => (true, verification_id.as_str(), demo_code.as_deref()),
    };
    let body = page! {
        h1 { (t(identity_text::TITLE)) }
        @if already {
            div class="success" role="status" {
                p { (t(identity_text::ALREADY)) }
                p class="actions" { a class="button primary" href="/eligibility" { (t(identity_text::CONTINUE)) } }
            }
        }
        p { (t(intro)) }
        form id="start" method="post" action=(action) class="stack" novalidate hidden[code_stage] {
            div class="field" {
                label for="name" { (t(common::NAME)) }
                input id="name" name="name" autocomplete="name" required;
            }
            div class="field" {
                label for="rrn" { (t(identity_text::RRN)) }
                p class="hint" id="rrn-hint" { (t(identity_text::RRN_HINT)) }
                input id="rrn" name="rrn" inputmode="numeric" autocomplete="off" aria-describedby="rrn-hint" required;
            }
            div class="field" {
                label for="phone" { (t(identity_text::PHONE)) }
                p class="hint" id="phone-hint" { (t(identity_text::PHONE_HINT)) }
                input id="phone" name="phone" type="tel" autocomplete="tel" aria-describedby="phone-hint" required;
            }
            button class="button primary" type="submit" { (t(identity_text::SEND)) }
        }
        form id="verify" method="post" action=(action) class="stack" hidden[!code_stage] {
            input type="hidden" name="verification_id" value=(verification_id);
            p id="sent" role="status" { (t(identity_text::SENT)) }
            p id="demo-code" class="demo" hidden[demo_code.is_none()] {
                @if let Some(code) = demo_code { (t(common::DEMO_CODE)) " " (code) }
            }
            div class="field" {
                label for="code" { (t(common::CODE_SENT_PROMPT)) }
                input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required;
            }
            button class="button primary" type="submit" { (t(identity_text::CONFIRM)) }
        }
        @match error {
            Some(e) => div id="error" class="error" role="alert" tabindex="-1" { (refusal(e, lang)) },
            None => (error_box()),
        }
    };
    let title = t(identity_text::TITLE);
    let mut page = Page::citizen(lang, title, super::respond::here(uri), Some(2), body);
    if serves == IdentityFor::Booking {
        page.script = Some("identity.js");
    }
    page.render()
}

/// The identity page as the answer to a posted form: with the error's status when there is one.
fn identity_answer(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    lang: Lang,
    stage: &IdentityStage,
    error: Option<&crate::error::ApiError>,
    serves: IdentityFor,
) -> Response {
    let page = identity_page(state, uri, headers, lang, stage, error, serves);
    let mut response = html(page, None);
    if let Some(e) = error {
        *response.status_mut() = e.status;
    }
    response
}

/// The identity form as posted without a script: the details (then the code page) or the code
/// (then the session cookie and on to eligibility). The same checks and limits as the API.
#[derive(Deserialize)]
pub struct IdentityForm {
    name: Option<String>,
    rrn: Option<String>,
    phone: Option<String>,
    verification_id: Option<String>,
    code: Option<String>,
}

/// `POST /identity`.
pub async fn identity_post(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    routes::identity::Asker(who): routes::identity::Asker,
    axum::Form(form): axum::Form<IdentityForm>,
) -> Response {
    identity_form_post(&state, &uri, &headers, who, &form, IdentityFor::Booking).await
}

/// `GET /wait/verify`: the identity check for someone waiting (no pass needed: their ticket).
/// A page of its own, so the waiting page's self-refresh never wipes what they type.
pub async fn wait_verify(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (lang, remember) = negotiate(&uri, &headers);
    let page = identity_page(
        &state,
        &uri,
        &headers,
        lang,
        &IdentityStage::Details,
        None,
        IdentityFor::Waiting,
    );
    html(page, remember)
}

/// `POST /wait/verify`: the details (then the code page) or the code (then back to `/wait`,
/// holding the verified ticket and signed in; or, not in this opening, their own window). The
/// same checks and limits as `POST /api/v1/queue/verify*`.
pub async fn wait_verify_post(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    routes::identity::Asker(who): routes::identity::Asker,
    axum::Form(form): axum::Form<IdentityForm>,
) -> Response {
    identity_form_post(&state, &uri, &headers, who, &form, IdentityFor::Waiting).await
}

/// The identity form as posted, for either side: the details start the check (the code page
/// next); the code finishes it. Someone admitted needs their pass (it becomes theirs); someone
/// waiting needs their ticket.
async fn identity_form_post(
    state: &Arc<AppState>,
    uri: &Uri,
    headers: &HeaderMap,
    who: crate::identity::Requester,
    form: &IdentityForm,
    serves: IdentityFor,
) -> Response {
    let pass = match serves {
        IdentityFor::Booking => match routes::pass::request_pass(state, headers) {
            Some(pass) => Some(pass),
            None => return Detour::WaitingRoom.into_response(),
        },
        IdentityFor::Waiting => None,
    };
    let (lang, _) = negotiate(uri, headers);
    let shown = |stage: &IdentityStage, error: Option<&ApiError>| {
        identity_answer(state, uri, headers, lang, stage, error, serves)
    };
    if let (Some(verification_id), Some(code)) = (filled(&form.verification_id), &form.code) {
        let request = routes::identity::VerifyRequest {
            verification_id: verification_id.to_string(),
            code: code.clone(),
        };
        let finished = match serves {
            IdentityFor::Booking => finish_booking(state, who, &request, pass.as_ref()).await,
            IdentityFor::Waiting => finish_waiting(state, uri, headers, who, &request, lang).await,
        };
        return match finished {
            Ok(response) => response,
            // A wrong code: the code page again, to try once more.
            Err(e)
                if e.status == axum::http::StatusCode::UNAUTHORIZED
                    && (serves == IdentityFor::Booking || e.code == "wrong_code") =>
            {
                let stage = IdentityStage::Code {
                    verification_id: verification_id.to_string(),
                    demo_code: None,
                };
                shown(&stage, Some(&e))
            }
            Err(e) => shown(&IdentityStage::Details, Some(&e)),
        };
    }
    if serves == IdentityFor::Waiting && !holds_ticket(state, headers) {
        return Redirect::to("/wait").into_response();
    }
    match start_from_form(state, form, who, pass.as_ref()).await {
        Ok(stage) => shown(&stage, None),
        Err(e) => shown(&IdentityStage::Details, Some(&e)),
    }
}

/// Whether the request holds a valid waiting-room ticket for its session.
fn holds_ticket(state: &AppState, headers: &HeaderMap) -> bool {
    routes::pass::session_id(headers)
        .and_then(|session| {
            let ticket = crate::http::cookie(headers, routes::pass::TICKET_COOKIE)?;
            state.gate.ticket_of(&ticket, &session).ok()
        })
        .is_some()
}

/// The code of someone admitted: the pass becomes this person's (or is refused if it admitted
/// someone else), they are signed in and go on to eligibility.
async fn finish_booking(
    state: &Arc<AppState>,
    who: crate::identity::Requester,
    request: &routes::identity::VerifyRequest,
    pass: Option<&queue::Pass>,
) -> Result<Response, ApiError> {
    let (person, _) = routes::identity::finish_check(state, request, who).await?;
    let bound = routes::pass::bind_pass(state, pass, person.0)?;
    let (_, _, cookie) = routes::identity::session_for(state, person);
    let mut response = Redirect::to("/eligibility").into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .insert(axum::http::header::SET_COOKIE, value);
    }
    if let Some(bound) = &bound {
        routes::pass::set_pass_cookie(state, &mut response, bound);
    }
    Ok(response)
}

/// The code of someone waiting: back to `/wait` holding the verified ticket, or, when this
/// opening is not theirs, their own window (the ticket given up). Signed in either way.
async fn finish_waiting(
    state: &Arc<AppState>,
    uri: &Uri,
    headers: &HeaderMap,
    who: crate::identity::Requester,
    request: &routes::identity::VerifyRequest,
    lang: Lang,
) -> Result<Response, ApiError> {
    let (verdict, _, session_cookie) =
        routes::queue::verify_waiting(state, headers, who, request).await?;
    let mut response = match verdict {
        routes::queue::Verdict::Placed { ticket, .. } => {
            let mut response = Redirect::to("/wait").into_response();
            routes::pass::set_ticket_cookie(&mut response, &ticket);
            response
        }
        routes::queue::Verdict::Ineligible { eligibility } => {
            let mut response = html(not_this_opening(uri, lang, &eligibility), None);
            routes::pass::set_ticket_cookie(&mut response, "");
            response
        }
    };
    if let Ok(value) = axum::http::HeaderValue::from_str(&session_cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The details of the identity form: the check started (the code page next). Counts against
/// the pass that asks, when one does (what one pass may do is capped).
async fn start_from_form(
    state: &Arc<AppState>,
    form: &IdentityForm,
    who: crate::identity::Requester,
    pass: Option<&queue::Pass>,
) -> Result<IdentityStage, crate::error::ApiError> {
    let claim = routes::identity::parse_claim(
        form.name.as_deref().unwrap_or(""),
        form.rrn.as_deref().unwrap_or(""),
        form.phone.as_deref().unwrap_or(""),
        state,
    )?;
    let started = routes::identity::start_check(state, claim, who, pass)?;
    Ok(IdentityStage::Code {
        verification_id: started.verification_id,
        demo_code: started.demo_code,
    })
}

/// Told at once: this opening is not theirs, and when theirs is (Seoul time). No place taken.
fn not_this_opening(uri: &Uri, lang: Lang, eligibility: &DecisionView) -> String {
    let t = |text: Text| text.get(lang);
    let body = page! {
        h1 { (t(identity_text::NOT_THIS_OPENING)) }
        div class="error" role="status" {
            p { (in_lang(lang, &eligibility.message_ko, &eligibility.message_en)) }
        }
        @if let Some(opens) = eligibility.opens_at {
            p class="big" id="window" { (t(identity_text::YOUR_WINDOW)) " " (instant_text(opens, lang)) }
        }
        p { (t(identity_text::NO_NEED_TO_WAIT)) }
        p class="actions" {
            a class="button secondary" href="/eligibility" { (t(identity_text::MORE_ABOUT_WINDOW)) }
        }
    };
    let title = t(identity_text::NOT_THIS_OPENING_TITLE);
    Page::citizen(lang, title, super::respond::here(uri), Some(1), body).render()
}

/// `GET /contact`: where my notices go (masked), and how to change it: a new identity check
/// with the new phone, which only its subscriber can complete.
pub async fn contact(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let session = match require_person(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (lang, remember) = negotiate(&uri, &headers);
    let contact = match routes::identity::contact_of(&state, session.person).await {
        Ok(contact) => contact,
        Err(e) => return super::respond::error_page(lang, Audience::Citizen, &uri, e),
    };
    let t = |text: Text| text.get(lang);
    let body = page! {
        h1 { (t(contact_text::TITLE)) }
        p { (t(contact_text::INTRO)) }
        dl class="facts" id="contact" {
            dt { (t(common::NAME)) } dd id="contact-name" { (contact.name) }
            dt { (t(contact_text::PHONE)) } dd id="contact-phone" { (contact.phone) }
        }
        section aria-labelledby="change-h" {
            h2 id="change-h" { (t(contact_text::CHANGE_HEADING)) }
            p { (t(contact_text::CHANGE)) }
            p class="actions" {
                a class="button primary" href="/identity" { (t(contact_text::VERIFY_NEW)) }
                a class="button secondary" href="/bookings" { (t(contact_text::BOOKINGS)) }
            }
        }
    };
    let frame = Frame {
        title: contact_text::TITLE,
        step: None,
        script: None,
    };
    answer(lang, &uri, frame, body, remember)
}

/// `GET /eligibility`: may I book, and if not, why and when my window opens. Decided by the
/// server on its clock (the API's own answer), written out here in full.
pub async fn eligibility(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let session = match require_person(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (lang, remember) = negotiate(&uri, &headers);
    let Ok(decision) = routes::eligibility::decision_of(&state, session.person).await else {
        return Redirect::to("/identity").into_response();
    };
    let message = match lang {
        Lang::Ko => decision.message_ko(),
        Lang::En => decision.message_en(),
    };
    let t = |text: Text| text.get(lang);
    let when = |at: Timestamp| instant_text(at, lang);
    let (h1, main) = match decision {
        Decision::Eligible { closes_at, .. } => (
            eligibility_text::CAN_BOOK,
            page! {
                p class="answer ok" { (message) }
                dl class="facts" { dt { (t(eligibility_text::CLOSES)) } dd { (when(closes_at)) } }
                p class="actions" { a class="button primary" href="/search" { (t(common::FIND_CLINIC)) } }
            },
        ),
        Decision::NotYet { opens_at, .. } => (
            eligibility_text::NOT_YET,
            page! {
                p class="answer wait" { (message) }
                dl class="facts" { dt { (t(eligibility_text::OPENS)) } dd class="big" id="opens" { (when(opens_at)) } }
            },
        ),
        Decision::AlreadyBooked => (
            eligibility_text::ALREADY_BOOKED,
            page! {
                p class="answer" { (message) }
                p class="actions" { a class="button primary" href="/bookings" { (t(eligibility_text::SEE_BOOKINGS)) } }
            },
        ),
        _ => (
            eligibility_text::CANNOT_BOOK,
            page! { p class="answer no" { (message) } },
        ),
    };
    let body = page! {
        h1 { (t(h1)) }
        (main)
        section {
            h2 { (t(eligibility_text::FAMILY_HEADING)) }
            p { (t(eligibility_text::FAMILY)) }
            p { a class="button secondary" href="/search?family=1" { (t(common::BOOK_FAMILY)) } }
        }
        p { a href="/leftovers" { (t(eligibility_text::LEFTOVERS)) } }
    };
    let frame = Frame {
        title: eligibility_text::TITLE,
        step: Some(3),
        script: None,
    };
    answer(lang, &uri, frame, body, remember)
}

/// The search page's parameters, as typed (empty fields are absent, not errors).
#[derive(Deserialize, Default)]
pub struct SearchParams {
    offset: Option<String>,
    province: Option<String>,
    municipality: Option<String>,
    lat: Option<String>,
    lon: Option<String>,
    product: Option<String>,
    change: Option<String>,
    family: Option<String>,
}

/// The parameters a search or booking page passes on to the next one.
fn carry(change: Option<&str>, family: bool) -> String {
    let mut out = String::new();
    if let Some(id) = change.filter(|id| id.bytes().all(|b| b.is_ascii_digit())) {
        out.push_str(&format!("&change={id}"));
    }
    if family {
        out.push_str("&family=1");
    }
    out
}

fn hidden_carry(change: Option<&str>, family: bool) -> Markup {
    let change = change.filter(|id| id.bytes().all(|b| b.is_ascii_digit()));
    page! {
        @if let Some(id) = change { input type="hidden" name="change" value=(id); }
        @if family { input type="hidden" name="family" value="1"; }
    }
}

/// `GET /search`: clinics by province and municipality, or by distance from where I am.
pub async fn search(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    if let Err(r) = require_person(&state, &headers) {
        return r.into_response();
    }
    let (lang, remember) = negotiate(&uri, &headers);
    let province: Option<u8> = filled(&params.province).and_then(|p| p.parse().ok());
    let municipality: Option<u32> = filled(&params.municipality).and_then(|m| m.parse().ok());
    let lat: Option<f64> = filled(&params.lat).and_then(|v| v.parse().ok());
    let lon: Option<f64> = filled(&params.lon).and_then(|v| v.parse().ok());
    let product = filled(&params.product).filter(|p| Product::parse(p).is_some());
    let change = filled(&params.change);
    let family = filled(&params.family).is_some();

    let t = |text: Text| text.get(lang);
    let (provinces, municipalities) = region_options(
        &state,
        lang,
        province,
        municipality,
        t(search_text::ALL_DISTRICTS),
    );
    let query = match (lat, lon, municipality, province) {
        (Some(lat), Some(lon), _, _) => Some(routes::clinics::SearchQuery {
            lat: Some(lat),
            lon: Some(lon),
            radius_km: Some(10.0),
            ..Default::default()
        }),
        (_, _, Some(m), _) => Some(routes::clinics::SearchQuery {
            municipality: Some(m),
            ..Default::default()
        }),
        (_, _, None, Some(p)) => Some(routes::clinics::SearchQuery {
            province: Some(p),
            ..Default::default()
        }),
        _ => None,
    };
    let results = match query {
        None => Markup::default(),
        Some(mut q) => {
            q.product = product.map(str::to_string);
            let offset: usize = filled(&params.offset)
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            q.limit = Some(SEARCH_PAGE);
            q.offset = Some(offset);
            match routes::clinics::find_clinics(&state, &q) {
                Ok(found) => {
                    let shown = found.clinics.len();
                    let more = found.total > offset + shown;
                    let next = more.then(|| {
                        with_param(
                            super::respond::here(&uri),
                            "offset",
                            &(offset + shown).to_string(),
                        )
                    });
                    results_html(&found, lang, &carry(change, family), offset, next)
                }
                Err(e) => page! { p class="error" role="alert" { (refusal(&e, lang)) } },
            }
        }
    };
    let near = lat.is_some() && lon.is_some();
    let body = page! {
        h1 { (t(common::FIND_CLINIC)) }
        (purpose_note(change, family, lang))
        form method="get" action="/search" id="search" class="stack" {
            (hidden_carry(change, family))
            fieldset {
                legend { (t(search_text::BY_REGION)) }
                (region_fields(provinces, municipalities, lang))
            }
            div class="field" {
                label for="product" { (t(common::VACCINE)) }
                select id="product" name="product" { (product_options(product, &Product::ALL, lang, true)) }
            }
            input type="hidden" name="lat" id="lat";
            input type="hidden" name="lon" id="lon";
            p class="actions" {
                button class="button primary" type="submit" { (t(search_text::SEARCH)) }
                button class="button secondary" type="button" id="locate" hidden { (t(search_text::NEAR_ME)) }
            }
        }
        p id="locate-status" role="status" {}
        @if near { p class="note" { (t(search_text::NEAR_NOTE)) } }
        (results)
    };
    let frame = Frame {
        title: common::FIND_CLINIC,
        step: Some(4),
        script: Some("search.js"),
    };
    answer(lang, &uri, frame, body, remember)
}

/// The province and district choices of a form.
fn region_fields(provinces: Markup, municipalities: Markup, lang: Lang) -> Markup {
    page! {
        div class="field" {
            label for="province" { (common::PROVINCE.get(lang)) }
            select id="province" name="province" { (provinces) }
        }
        div class="field" {
            label for="municipality" { (common::DISTRICT.get(lang)) }
            select id="municipality" name="municipality" { (municipalities) }
        }
    }
}

fn purpose_note(change: Option<&str>, family: bool, lang: Lang) -> Markup {
    let purpose = if change.is_some() {
        Some(search_text::CHANGE_PURPOSE)
    } else if family {
        Some(search_text::FAMILY_PURPOSE)
    } else {
        None
    };
    page! { @if let Some(purpose) = purpose { p class="note" { (purpose.get(lang)) } } }
}

fn results_html(
    found: &Found,
    lang: Lang,
    carry: &str,
    offset: usize,
    next: Option<String>,
) -> Markup {
    let t = |text: Text| text.get(lang);
    let clinics = &found.clinics;
    let (first, last) = (offset + 1, offset + clinics.len());
    page! {
        section aria-labelledby="results-h" {
            h2 id="results-h" { (citizen::clinics_found(lang, found.total)) }
            @if !clinics.is_empty() { p class="note" { (citizen::clinics_shown(lang, first, last)) } }
            ul class="cards" id="results" {
                @for c in clinics { (clinic_card(c, lang, carry)) }
                @if clinics.is_empty() { li { (t(search_text::NO_MATCH)) } }
            }
            @if let Some(next) = next {
                p class="actions" {
                    a class="button secondary" id="next" href=(next) { (t(search_text::MORE)) }
                }
            }
        }
    }
}

/// One clinic of the results: name, district and distance, vaccines, the soonest day with
/// places, and "choose" when there is one.
fn clinic_card(c: &FoundClinic, lang: Lang, carry: &str) -> Markup {
    let (id, name, place) = clinic_identity(&c.clinic, lang);
    let products: Vec<&str> = c
        .clinic
        .products
        .iter()
        .map(|p| product_name(*p, lang))
        .collect();
    let left_total: u64 = c
        .availability
        .iter()
        .map(|day| u64::from(day.remaining.most()))
        .sum();
    let first_day = c
        .availability
        .iter()
        .find(|day| day.remaining.most() > 0)
        .map(|day| day.date);
    let when = match first_day {
        Some(day) => citizen::soonest(lang, &date_text(day, lang), left_total),
        None => search_text::NO_PLACES.get(lang).to_string(),
    };
    page! {
        li class="card" {
            h3 { (name) }
            p { (place) @if let Some(km) = c.distance_km { " · " (format!("{km:.1}")) " km" } }
            p { (search_text::VACCINES.get(lang)) ": " (products.join(", ")) }
            p { (when) }
            @if first_day.is_some() {
                a class="button primary" href={ "/book?clinic=" (id) (carry) } {
                    (widget_text::CHOOSE.get(lang)) " " span class="sr" { (name) }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct BookParams {
    clinic: Option<String>,
    date: Option<String>,
    product: Option<String>,
    change: Option<String>,
    family: Option<String>,
}

/// `GET /book?clinic=…`: the day (next two weeks, with places left), the hour band, who it is
/// for, then "book" (dose 2 comes with dose 1). With `change=ID` it moves that booking instead.
pub async fn book(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<BookParams>,
) -> Response {
    let session = match require_person(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (lang, remember) = negotiate(&uri, &headers);
    let Some(clinic) = filled(&params.clinic)
        .and_then(|c| c.parse::<usize>().ok())
        .and_then(|c| state.world.clinics.get(c))
    else {
        return Redirect::to("/search").into_response();
    };
    let change = filled(&params.change).filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
    let family = filled(&params.family).is_some() && change.is_none();
    // A change keeps the booking's vaccine where the new clinic offers it (read as the API would
    // show it: someone else's booking looks like a missing one).
    let mut current = None;
    if let Some(id) = change.and_then(|c| c.parse::<u64>().ok()) {
        match routes::bookings::booking_of(&state, session.person, id).await {
            Ok(booking) => current = Some(booking.product.code),
            Err(e) => return super::respond::error_page(lang, Audience::Citizen, &uri, e),
        }
    }
    let product = filled(&params.product)
        .and_then(Product::parse)
        .or(current)
        .filter(|p| clinic.offers(*p))
        .or_else(|| clinic.products.first().copied());
    let Some(product) = product else {
        return Redirect::to("/search").into_response();
    };
    let Some((days, date)) = bookable_days(&state, clinic, product, filled(&params.date)) else {
        return crate::error::ApiError::internal().into_response();
    };
    let base = format!(
        "/book?clinic={}&product={}{}",
        clinic.id.0,
        product.code(),
        carry(change, family)
    );
    let t = |text: Text| text.get(lang);
    let place = state
        .world
        .regions
        .municipality(clinic.municipality)
        .map(|m| match lang {
            Lang::Ko => m.display_name_ko(),
            Lang::En => m.name_en.clone(),
        })
        .unwrap_or_default();
    let dose2 = if product == Product::Janssen {
        book_text::SINGLE_DOSE
    } else {
        book_text::DOSE_2_WITH
    };
    let submit = if change.is_some() {
        book_text::CHANGE_TO
    } else {
        book_text::BOOK
    };
    let search_again = format!("/search{}", carry(change, family).replacen('&', "?", 1));
    let body = page! {
        h1 { (t(book_text::HEADING)) }
        (purpose_note(change, family, lang))
        p class="clinic" { strong { (clinic.name) } " · " (place) }
        form method="get" action="/book" id="product-form" class="stack" {
            input type="hidden" name="clinic" value=(clinic.id.0);
            (hidden_carry(change, family))
            div class="field" {
                label for="product" { (t(common::VACCINE)) }
                select id="product" name="product" { (product_options(Some(product.code()), &clinic.products, lang, false)) }
            }
            noscript { button class="button secondary" type="submit" { (t(book_text::SHOW_VACCINE)) } }
        }
        section aria-labelledby="days-h" {
            h2 id="days-h" { (t(book_text::DAY)) }
            ul class="days" { (day_links(&days, date, &base, lang)) }
        }
        form id="book" method="post" action="/book" class="stack" data-clinic=(clinic.id.0)
            data-date=(date) data-product=(product.code()) data-change=(change.unwrap_or("")) {
            fieldset {
                legend { (t(book_text::BAND)) " — " (date_text(date, lang)) }
                div class="choices" { (band_choices(&state, clinic, date, product, lang)) }
                p id="bands-status" class="note" role="status" {}
            }
            @if change.is_none() { (who_fieldset(family, lang)) }
            p class="note" { (t(dose2)) }
            button class="button primary" type="submit" { (t(submit)) }
        }
        (error_box())
        (filled_section(lang, change.is_some(), &search_again))
    };
    let frame = Frame {
        title: book_text::TITLE,
        step: Some(5),
        script: Some("book.js"),
    };
    answer(lang, &uri, frame, body, remember)
}

/// Whom a new booking is for: the person or a family member, whose consent is a code sent to
/// their own phone.
fn who_fieldset(family: bool, lang: Lang) -> Markup {
    let t = |text: Text| text.get(lang);
    page! {
        fieldset {
            legend { (t(book_text::WHO)) }
            label class="choice" { input type="radio" name="who" value="self" checked[!family]; " " (t(common::MYSELF)) }
            label class="choice" { input type="radio" name="who" value="family" checked[family]; " " (t(book_text::FAMILY)) }
            div id="family-fields" class="stack" {
                p class="hint" { (t(book_text::FAMILY_HINT)) }
                div class="field" {
                    label for="family-name" { (t(book_text::FAMILY_NAME)) }
                    input id="family-name" name="family_name" autocomplete="off";
                }
                div class="field" {
                    label for="family-rrn" { (t(book_text::FAMILY_RRN)) }
                    input id="family-rrn" name="family_rrn" inputmode="numeric" autocomplete="off";
                }
                div class="field" {
                    label for="family-phone" { (t(book_text::FAMILY_PHONE)) }
                    input id="family-phone" name="family_phone" type="tel" autocomplete="off";
                }
                div id="family-code" class="stack" hidden {
                    p role="status" { (t(book_text::FAMILY_CODE_SENT)) }
                    p id="family-demo-code" class="demo" hidden {}
                    div class="field" {
                        label for="family-code-input" { (t(book_text::FAMILY_CODE)) }
                        input id="family-code-input" name="family_code" inputmode="numeric" autocomplete="off" maxlength="6";
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct BookingsParams {
    booked: Option<String>,
    changed: Option<String>,
    cancelled: Option<String>,
}

fn appointment_text(a: &AppointmentView, lang: Lang) -> String {
    when_where(a.date, a.hour, a.clinic.name(), lang)
}

/// `GET /bookings`: my bookings and those I made for family, with change, cancel and (after a
/// supply change) "I have seen the move".
pub async fn bookings(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<BookingsParams>,
) -> Response {
    let session = match require_person(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (lang, remember) = negotiate(&uri, &headers);
    let bookings = match routes::bookings::bookings_of(&state, session.person).await {
        Ok(list) => list.bookings,
        Err(e) => return super::respond::error_page(lang, Audience::Citizen, &uri, e),
    };
    let t = |text: Text| text.get(lang);
    let banner = [
        (&params.booked, bookings_text::BOOKED),
        (&params.changed, bookings_text::CHANGED),
        (&params.cancelled, bookings_text::CANCELLED_BANNER),
    ]
    .into_iter()
    .find_map(|(id, text)| filled(id).map(|id| (id, text)));
    let body = page! {
        h1 { (t(bookings_text::TITLE)) }
        @if let Some((_, text)) = banner {
            div class="success" role="status" {
                h2 { (t(text)) }
                p { (t(bookings_text::TEXT_SENT)) }
            }
        }
        ul class="cards" id="bookings" {
            @for b in &bookings {
                (booking_card(b, banner.map(|(id, _)| id), lang))
            }
        }
        @if bookings.is_empty() {
            p { (t(bookings_text::NONE)) }
            p class="actions" { a class="button primary" href="/eligibility" { (t(bookings_text::BOOK_NOW)) } }
        }
        p class="actions" {
            a class="button secondary" href="/search?family=1" { (t(common::BOOK_FAMILY)) }
            a class="button secondary" href="/leftovers" { (t(common::LEFTOVERS)) }
            a class="button secondary" href="/contact" { (t(bookings_text::CONTACT)) }
        }
        (error_box())
    };
    let step = if params.booked.is_some() {
        Some(6)
    } else {
        None
    };
    let frame = Frame {
        title: bookings_text::TITLE,
        step,
        script: Some("bookings.js"),
    };
    answer(lang, &uri, frame, body, remember)
}

/// One booking of the list: whose, which vaccine, its doses, a supply change's move to accept,
/// and change and cancel while it is active. `highlighted` is the id the banner is about.
fn booking_card(
    b: &routes::bookings::BookingView,
    highlighted: Option<&str>,
    lang: Lang,
) -> Markup {
    let t = |text: Text| text.get(lang);
    let id = b.id;
    let whose = if b.for_self {
        common::MYSELF
    } else {
        bookings_text::FAMILY
    };
    let status = if b.active {
        bookings_text::STATUS_BOOKED
    } else {
        bookings_text::STATUS_CANCELLED
    };
    let highlight = highlighted == Some(id.to_string().as_str());
    let moves: Vec<_> = b.moved.iter().flatten().collect();
    page! {
        li class={ "card" @if highlight { " highlight" } } id={ "booking-" (id) } {
            h2 {
                (t(whose)) " · " (in_lang(lang, b.product.name_ko, b.product.name_en)) " "
                span class="status" { (t(status)) }
            }
            dl class="facts" {
                @for dose in &b.doses {
                    dt { (citizen::dose(lang, dose.dose)) }
                    dd class={ "dose" (dose.dose) } {
                        (when_where(dose.date, dose.hour, dose.clinic.name(), lang))
                        @match dose.status {
                            DoseStatus::Given => { " " (t(bookings_text::DOSE_GIVEN)) },
                            DoseStatus::Cancelled => { " " (t(bookings_text::DOSE_CANCELLED)) },
                            DoseStatus::Booked => {},
                        }
                    }
                }
            }
            @if !moves.is_empty() {
                div class="notice" {
                    @for m in &moves {
                        p {
                            (t(bookings_text::MOVED)) ": " (appointment_text(&m.from, lang)) " "
                            @match &m.to {
                                None => (t(bookings_text::MOVE_CANCELLED)),
                                Some(to) => { "→ " (appointment_text(to, lang)) },
                            }
                        }
                    }
                    button class="button secondary" type="button" data-accept=(id) { (t(bookings_text::SEEN)) }
                }
            }
            @if b.active {
                p class="actions" {
                    a class="button secondary" href={ "/search?change=" (id) } { (t(bookings_text::CHANGE)) }
                    button class="button danger" type="button" data-cancel=(id) { (t(bookings_text::CANCEL)) }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct LeftoverParams {
    province: Option<String>,
    municipality: Option<String>,
}

/// `GET /leftovers`: ask to be told of same-day leftover doses near a place, and claim one of
/// today's offers (first come, first served; dose 1 today, dose 2 at the interval).
pub async fn leftovers(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    Query(params): Query<LeftoverParams>,
) -> Response {
    let session = match require_person(&state, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (lang, remember) = negotiate(&uri, &headers);
    let near = match routes::leftovers::near(&state, session.person).await {
        Ok(near) => near,
        Err(e) => return super::respond::error_page(lang, Audience::Citizen, &uri, e),
    };
    let province: Option<u8> = filled(&params.province).and_then(|p| p.parse().ok());
    let municipality: Option<u32> = filled(&params.municipality).and_then(|m| m.parse().ok());
    let t = |text: Text| text.get(lang);
    let (provinces, municipalities) =
        region_options(&state, lang, province, municipality, t(widget_text::CHOOSE));
    let centre = municipality.and_then(|m| district_centre(&state, m));
    let (lat, lon) = centre.map_or((String::new(), String::new()), |(lat, lon)| {
        (format!("{lat:.5}"), format!("{lon:.5}"))
    });
    let body = page! {
        h1 { (t(common::LEFTOVERS)) }
        p { (t(leftovers_text::INTRO)) }
        @if let Some(s) = &near.subscription {
            div class="success" role="status" id="subscribed" {
                p { (citizen::subscribed(lang, s.radius_km)) }
                button class="button secondary" type="button" id="unsubscribe" { (t(leftovers_text::STOP)) }
            }
            @if near.offers.is_empty() {
                p { (t(leftovers_text::NONE_NEAR)) }
            } @else {
                h2 { (t(leftovers_text::TODAY)) }
                ul class="cards" id="offers" {
                    @for o in &near.offers { (offer_card(o, lang)) }
                }
            }
        }
        (error_box())
        section aria-labelledby="sub-h" {
            h2 id="sub-h" { (t(leftovers_text::WHERE)) }
            form method="get" action="/leftovers" id="area" class="stack" {
                (region_fields(provinces, municipalities, lang))
                noscript { button class="button secondary" type="submit" { (t(widget_text::CHOOSE)) } }
            }
            p class="actions" {
                button class="button secondary" type="button" id="locate" hidden { (t(leftovers_text::USE_LOCATION)) }
            }
            p id="locate-status" role="status" {}
            form id="subscribe" class="stack" data-lat=(lat) data-lon=(lon) {
                div class="field" {
                    label for="radius" { (t(leftovers_text::DISTANCE)) }
                    select id="radius" name="radius" {
                        @for km in [1, 3, 5, 10] {
                            option value=(km) selected[km == 3] { (km) " km" }
                        }
                    }
                }
                fieldset {
                    legend { (t(leftovers_text::VACCINES)) }
                    p class="hint" { (t(leftovers_text::VACCINES_HINT)) }
                    div class="choices" {
                        @for p in Product::ALL {
                            label class="choice" {
                                input type="checkbox" name="product" value=(p.code()); " " (product_name(p, lang))
                            }
                        }
                    }
                }
                button class="button primary" type="submit" { (t(leftovers_text::SUBSCRIBE)) }
            }
        }
    };
    let frame = Frame {
        title: common::LEFTOVERS,
        step: None,
        script: Some("leftovers.js"),
    };
    answer(lang, &uri, frame, body, remember)
}

/// One of today's leftover offers near the person, with "claim".
fn offer_card(o: &routes::clinic::OfferView, lang: Lang) -> Markup {
    let t = |text: Text| text.get(lang);
    let until = o.until.map(|at| instant_text(at, lang)).unwrap_or_default();
    let name = o.clinic.name.as_deref().unwrap_or("");
    // As JSON writes it ("3.0"): the page has always shown the API's number.
    let distance = format!("{:?}", o.distance_km.unwrap_or_default());
    page! {
        li class="card" {
            h3 { (name) }
            p { (product_name(o.product, lang)) " · " (t(leftovers_text::LEFT)) " " (o.left) " · " (distance) " km" }
            p { (t(leftovers_text::UNTIL)) ": " (until) }
            button class="button primary" type="button" data-claim=(o.id) {
                (t(leftovers_text::CLAIM)) " " span class="sr" { (name) }
            }
        }
    }
}
