//! The clinic desk: a nurse signs in with the staff token an operator issued, sees the day's
//! list (masked name, birth date, hour, dose), marks doses given, and offers same-day leftover
//! doses to people nearby who asked to hear of them.
//!
//! The sign-in (shared with the agent desk, in `desk`) sets the `yeyak_staff` cookie that
//! `staff::ClinicStaff` already accepts; every request checks it against storage, so a revoked
//! token stops working at once.

use super::desk::{self, Desk};
use super::layout::{Audience, Lang, Page, band_text, date_text, instant_text};
use super::respond::{html, negotiate};
use super::widgets::{product_name, product_options};
use crate::error::ApiError;
use crate::routes;
use crate::staff::ClinicStaff;
use crate::state::AppState;
use crate::text::Text;
use crate::text::desks::{BORN, DOSE, NAME, SIGN_OUT, VACCINE, clinic};
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use domain::booking::DoseStatus;
use domain::time::seoul_date;
use maud::{Markup, html};
use std::sync::Arc;

fn page(lang: Lang, title: &str, uri: &Uri, script: Option<&'static str>, body: Markup) -> Page {
    Page {
        lang,
        audience: Audience::Clinic,
        title: title.to_string(),
        here: super::respond::here(uri).to_string(),
        step: None,
        script,
        body,
    }
}

/// `GET /clinic/login`.
pub async fn login_form(uri: Uri, headers: HeaderMap) -> Response {
    desk::login_form(Desk::Clinic, &uri, &headers)
}

/// `POST /clinic/login`: a clinic-staff token that is known and not revoked sets the cookie.
pub async fn login(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    form: Form<desk::LoginForm>,
) -> Response {
    desk::login(Desk::Clinic, &state, &uri, &headers, form).await
}

/// `POST /clinic/logout`.
pub async fn logout() -> Response {
    desk::logout(Desk::Clinic)
}

/// `GET /clinic`: today's list with "given" buttons, and leftover doses.
pub async fn day(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    staff: Result<ClinicStaff, ApiError>,
) -> Response {
    let Ok(staff) = staff else {
        return super::respond::Detour::ClinicSignIn.into_response();
    };
    let (lang, remember) = negotiate(&uri, &headers);
    let clinic = state.world.clinics.get(staff.clinic.index()).cloned();
    let clinic_name = clinic.as_ref().map_or(String::new(), |c| c.name.clone());
    let products = clinic.map(|c| c.products).unwrap_or_default();
    let today = seoul_date(state.clock.now());
    let list = routes::clinic::day_of(&state, staff.clinic, today).await;
    let offers = routes::clinic::offers_of(&state, staff.clinic).await;
    let (list, offers) = match (list, offers) {
        (Ok(list), Ok(offers)) => (list, offers),
        (Err(e), _) | (_, Err(e)) => {
            return super::respond::error_page(lang, Audience::Clinic, &uri, e);
        }
    };
    let t = |text: Text| text.get(lang);
    let product_options = product_options(None, &products, lang, false);
    let body = html! {
        h1 { (t(clinic::TITLE)) }
        form method="post" action="/clinic/logout" class="logout" {
            button class="button secondary" type="submit" { (t(SIGN_OUT)) }
        }
        p class="clinic" { strong { (clinic_name) } " · " (date_text(today, lang)) }
        dl class="facts" {
            dt { (t(clinic::TO_GIVE)) } dd id="booked" { (list.booked) }
            dt { (t(clinic::GIVEN)) } dd id="given" { (list.given) }
        }
        div id="error" class="error" role="alert" tabindex="-1" hidden {}
        div class="scroll" tabindex="0" role="region" aria-label=(t(clinic::TITLE)) {
            table id="day" {
                caption class="sr" { (t(clinic::TITLE)) }
                thead { tr {
                    th scope="col" { (t(clinic::TIME)) }
                    th scope="col" { (t(NAME)) }
                    th scope="col" { (t(BORN)) }
                    th scope="col" { (t(DOSE)) }
                    th scope="col" { (t(VACCINE)) }
                    th scope="col" { (t(clinic::ACTION)) }
                } }
                tbody {
                    @for a in &list.appointments { (appointment_row(a, lang)) }
                    @if list.appointments.is_empty() {
                        tr { td colspan="6" { (t(clinic::NO_APPOINTMENTS)) } }
                    }
                }
            }
        }
        section aria-labelledby="leftover-h" {
            h2 id="leftover-h" { (t(clinic::LEFTOVER_TITLE)) }
            p { (t(clinic::LEFTOVER_INTRO)) }
            form id="leftover" class="stack" data-today=(today) {
                div class="field" {
                    label for="leftover-product" { (t(VACCINE)) }
                    select id="leftover-product" name="product" { (product_options) }
                }
                div class="field" {
                    label for="leftover-doses" { (t(clinic::DOSES)) }
                    input id="leftover-doses" name="doses" type="number" min="1" max="100" value="1" required;
                }
                div class="field" {
                    label for="leftover-until" { (t(clinic::CLAIMS_CLOSE)) }
                    input id="leftover-until" name="until" type="time" value="18:00" required;
                }
                button class="button primary" type="submit" { (t(clinic::OFFER)) }
            }
            p id="posted" role="status" {}
            h3 { (t(clinic::OFFERED_TODAY)) }
            ul class="plain" id="offers" {
                @for o in &offers.offers {
                    li {
                        (product_name(o.product, lang)) " · " (t(clinic::LEFT)) " " (o.left) " / " (o.doses)
                        " · " (o.until.map(|at| instant_text(at, lang)).unwrap_or_default())
                    }
                }
            }
        }
    };
    html(
        page(lang, t(clinic::TITLE), &uri, Some("clinic.js"), body).render(),
        remember,
    )
}

/// One appointment of the day: hour, masked name, birth date, dose, vaccine, and "given" while
/// it is still to give.
fn appointment_row(a: &routes::clinic::DayAppointment, lang: Lang) -> Markup {
    let t = |text: Text| text.get(lang);
    let (id, dose) = (a.booking_id, a.dose);
    let name = a.name.as_deref().unwrap_or("");
    html! {
        tr id=(format!("appointment-{id}-{dose}")) {
            td { (band_text(a.hour)) }
            td { (name) }
            td { (a.birth_date.map(|d| d.to_string()).unwrap_or_default()) }
            td { (clinic::dose(lang, dose)) }
            td { (product_name(a.product, lang)) }
            td {
                @if a.status == DoseStatus::Booked {
                    button class="button primary" type="button" data-given=(id) data-dose=(dose) {
                        (t(clinic::GIVEN)) " " span class="sr" { (name) " " (band_text(a.hour)) }
                    }
                } @else {
                    (t(clinic::DONE))
                }
            }
        }
    }
}
