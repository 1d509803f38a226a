//! The clinic desk: a nurse signs in with the staff token an operator issued, sees the day's
//! list (masked name, birth date, hour, dose), marks doses given, and offers same-day leftover
//! doses to people nearby who asked to hear of them.
//!
//! The sign-in (shared with the agent desk, in `desk`) sets the `yeyak_staff` cookie that
//! `staff::ClinicStaff` already accepts; every request checks it against storage, so a revoked
//! token stops working at once.

use super::desk::{self, Desk};
use super::layout::{Audience, Lang, Page, band_text, date_text, escape, instant_text};
use super::respond::{html, negotiate};
use super::widgets::{product_name, product_options};
use crate::error::ApiError;
use crate::routes;
use crate::staff::ClinicStaff;
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use domain::booking::DoseStatus;
use domain::time::seoul_date;
use std::sync::Arc;

fn page(lang: Lang, title: &str, uri: &Uri, script: Option<&'static str>, body: String) -> Page {
    Page {
        lang,
        audience: Audience::Clinic,
        title: title.to_string(),
        here: super::respond::here(uri).to_string(),
        step: None,
        script,
        body: maud::PreEscaped(body),
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
    let mut rows = String::new();
    for a in &list.appointments {
        let id = a.booking_id;
        let dose = a.dose;
        let hour = a.hour;
        let name = escape(a.name.as_deref().unwrap_or(""));
        let action = if a.status == DoseStatus::Booked {
            format!(
                "<button class=\"button primary\" type=\"button\" data-given=\"{id}\" data-dose=\"{dose}\">{} <span class=\"sr\">{} {}</span></button>",
                lang.t("접종 완료", "Given"),
                name,
                band_text(hour)
            )
        } else {
            lang.t("완료", "Done").to_string()
        };
        let dose_text = match lang {
            Lang::Ko => format!("{dose}차"),
            Lang::En => format!("dose {dose}"),
        };
        rows.push_str(&format!(
            "<tr id=\"appointment-{id}-{dose}\"><td>{}</td><td>{}</td><td>{}</td><td>{dose_text}</td><td>{}</td><td>{action}</td></tr>",
            band_text(hour),
            name,
            a.birth_date.map(|d| d.to_string()).unwrap_or_default(),
            product_name(a.product, lang),
        ));
    }
    if rows.is_empty() {
        rows = format!(
            "<tr><td colspan=\"6\">{}</td></tr>",
            lang.t("오늘 예약이 없습니다.", "No appointments today.")
        );
    }
    let mut offer_rows = String::new();
    for o in &offers.offers {
        let until = o.until.map(|t| instant_text(t, lang)).unwrap_or_default();
        offer_rows.push_str(&format!(
            "<li>{} · {} {} / {} · {}</li>",
            product_name(o.product, lang),
            lang.t("남음", "left"),
            o.left,
            o.doses,
            escape(&until)
        ));
    }
    let product_options = product_options(None, &products, lang, false).into_string();
    let body = format!(
        "<h1>{h1}</h1><form method=\"post\" action=\"/clinic/logout\" class=\"logout\"><button class=\"button secondary\" type=\"submit\">{logout}</button></form>\
         <p class=\"clinic\"><strong>{clinic_name}</strong> · {date}</p>\
         <dl class=\"facts\"><dt>{booked_l}</dt><dd id=\"booked\">{booked}</dd><dt>{given_l}</dt><dd id=\"given\">{given}</dd></dl>\
         <div id=\"error\" class=\"error\" role=\"alert\" tabindex=\"-1\" hidden></div>\
         <div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{h1}\"><table id=\"day\"><caption class=\"sr\">{h1}</caption><thead><tr><th scope=\"col\">{time}</th><th scope=\"col\">{name}</th><th scope=\"col\">{birth}</th><th scope=\"col\">{dose}</th><th scope=\"col\">{vaccine}</th><th scope=\"col\">{action}</th></tr></thead><tbody>{rows}</tbody></table></div>\
         <section aria-labelledby=\"leftover-h\"><h2 id=\"leftover-h\">{leftover_h}</h2><p>{leftover_p}</p>\
         <form id=\"leftover\" class=\"stack\" data-today=\"{today}\" data-told=\"{told}\">\
         <div class=\"field\"><label for=\"leftover-product\">{vaccine}</label><select id=\"leftover-product\" name=\"product\">{product_options}</select></div>\
         <div class=\"field\"><label for=\"leftover-doses\">{doses_l}</label><input id=\"leftover-doses\" name=\"doses\" type=\"number\" min=\"1\" max=\"100\" value=\"1\" required></div>\
         <div class=\"field\"><label for=\"leftover-until\">{until_l}</label><input id=\"leftover-until\" name=\"until\" type=\"time\" value=\"18:00\" required></div>\
         <button class=\"button primary\" type=\"submit\">{post}</button></form><p id=\"posted\" role=\"status\"></p>\
         <h3>{offers_h}</h3><ul class=\"plain\" id=\"offers\">{offer_rows}</ul></section>",
        h1 = lang.t("오늘의 접종 명단", "Today's list"),
        logout = lang.t("로그아웃", "Sign out"),
        clinic_name = escape(&clinic_name),
        date = date_text(today, lang),
        booked_l = lang.t("접종 예정", "To give"),
        booked = list.booked,
        given_l = lang.t("접종 완료", "Given"),
        given = list.given,
        time = lang.t("시간", "Time"),
        name = lang.t("이름", "Name"),
        birth = lang.t("생년월일", "Born"),
        dose = lang.t("차수", "Dose"),
        vaccine = lang.t("백신", "Vaccine"),
        action = lang.t("처리", "Action"),
        leftover_h = lang.t("잔여백신 알리기", "Offer leftover doses"),
        leftover_p = lang.t(
            "오늘 남는 백신을 알림을 신청한 가까운 분들께 선착순으로 안내합니다.",
            "Tell people nearby who asked to hear of leftover doses; first come, first served."
        ),
        told = lang.t("등록했습니다. 안내한 사람:", "Offered. People told:"),
        doses_l = lang.t("회분", "Doses"),
        until_l = lang.t(
            "신청 마감 (오늘, 한국시간)",
            "Claims close (today, Korea time)"
        ),
        post = lang.t("잔여백신 등록", "Offer them"),
        offers_h = lang.t("오늘 등록한 잔여백신", "Offered today"),
    );
    let title = lang.t("오늘의 접종 명단", "Today's list");
    html(
        page(lang, title, &uri, Some("clinic.js"), body).render(),
        remember,
    )
}
