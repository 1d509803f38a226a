//! The agent desk: call-centre and community-centre staff book for people without a smartphone.
//! The agent signs in with the token an operator issued (the sign-in is `desk`'s, shared with
//! the clinic desk), checks the person's ID document, identifies them, then books, changes or
//! cancels for them through `/api/v1/agent/*`, under the same rules, every action audited.
//!
//! The page itself holds no person: `agent.js` keeps the person token the identify call returns
//! in sessionStorage (never a cookie or the URL) and fills the person's part of the page from
//! the API. What the server renders here is only the agent's tools: the identify form and the
//! clinic search by region, whose choices (not personal) travel in the query.

use super::citizen::{product_options, region_options};
use super::desk::{self, Desk};
use super::layout::{Audience, Lang, Page, band_text, escape};
use super::{Detour, html, negotiate};
use crate::AppState;
use crate::error::ApiError;
use crate::routes::{self, ApiQuery};
use crate::staff::Agent;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use domain::booking::{END_HOUR, FIRST_HOUR};
use domain::product::Product;
use domain::time::seoul_date;
use jiff::ToSpan;
use serde::Deserialize;
use std::sync::Arc;

/// How far ahead an agent may book: the citizen's booking page offers the same two weeks.
const BOOK_DAYS: i64 = 14;
/// Clinics listed for one district (a district has a few dozen at most).
const CLINICS_SHOWN: usize = 50;

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

/// The desk's search choices, as typed (empty fields are absent, not errors).
#[derive(Deserialize, Default)]
pub struct DeskParams {
    province: Option<String>,
    municipality: Option<String>,
    product: Option<String>,
}

fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The clinics of a district that offer the product, as options of the clinic select.
async fn clinic_options(
    state: &Arc<AppState>,
    lang: Lang,
    municipality: Option<u32>,
    product: Product,
) -> Result<String, ApiError> {
    let Some(municipality) = municipality else {
        return Ok(format!(
            "<option value=\"\">{}</option>",
            lang.t("먼저 시·군·구를 고르세요", "Choose a district first")
        ));
    };
    let query = routes::clinics::SearchQuery {
        municipality: Some(municipality),
        product: Some(product.code().to_string()),
        limit: Some(CLINICS_SHOWN),
        ..Default::default()
    };
    let axum::Json(found) =
        routes::clinics::search(State(Arc::clone(state)), ApiQuery(query)).await?;
    let mut options = String::new();
    for c in found["clinics"].as_array().into_iter().flatten() {
        options.push_str(&format!(
            "<option value=\"{}\">{}</option>",
            c["id"].as_u64().unwrap_or(0),
            escape(c["name"].as_str().unwrap_or(""))
        ));
    }
    if options.is_empty() {
        options = format!(
            "<option value=\"\">{}</option>",
            lang.t(
                "이 백신을 접종하는 의료기관이 없습니다",
                "No clinic here gives this vaccine"
            )
        );
    }
    Ok(options)
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
        lang.t("선택", "Choose"),
    );
    let clinics = match clinic_options(&state, lang, municipality, product).await {
        Ok(options) => options,
        Err(e) => return super::error_page(lang, Audience::Agent, &uri, e),
    };
    let Ok(tomorrow) = seoul_date(state.clock.now()).tomorrow() else {
        return ApiError::internal().into_response();
    };
    let last = tomorrow
        .checked_add((BOOK_DAYS - 1).days())
        .unwrap_or(tomorrow);
    let bands: String = (FIRST_HOUR..END_HOUR)
        .map(|hour| format!("<option value=\"{hour}\">{}</option>", band_text(hour)))
        .collect();
    let dose2 = lang.t(
        "2차 접종은 같은 의료기관, 같은 백신으로 접종 간격에 맞춰 함께 예약됩니다 (얀센은 1회).",
        "Dose 2 is booked with it: same clinic, same vaccine, at the vaccine's interval (Janssen is one dose).",
    );
    let body = format!(
        "<h1>{h1}</h1><form method=\"post\" action=\"/agent/logout\" class=\"logout\"><button class=\"button secondary\" type=\"submit\">{logout}</button></form>\
         <div id=\"error\" class=\"error\" role=\"alert\" tabindex=\"-1\" hidden></div>\
         <p id=\"done\" role=\"status\"></p>\
         <section id=\"identify-section\" aria-labelledby=\"identify-h\"><h2 id=\"identify-h\">{identify_h}</h2><p>{identify_p}</p>\
         <form id=\"identify\" method=\"post\" action=\"/agent\" class=\"stack\" autocomplete=\"off\">\
         <div class=\"field\"><label for=\"name\">{name}</label><input id=\"name\" name=\"name\" required autocomplete=\"off\"></div>\
         <div class=\"field\"><label for=\"rrn\">{rrn}</label><input id=\"rrn\" name=\"rrn\" inputmode=\"numeric\" placeholder=\"000000-0000000\" required autocomplete=\"off\"></div>\
         <div class=\"field\"><label for=\"phone\">{phone}</label><input id=\"phone\" name=\"phone\" type=\"tel\" required autocomplete=\"off\"></div>\
         <label class=\"choice\" for=\"id-checked\"><input type=\"checkbox\" id=\"id-checked\" name=\"id_checked\" required> {checked}</label>\
         <button class=\"button primary\" type=\"submit\">{identify}</button></form></section>\
         <section id=\"person\" aria-labelledby=\"person-h\" hidden><h2 id=\"person-h\" tabindex=\"-1\">{person_h}</h2>\
         <dl class=\"facts\"><dt>{rrn_l}</dt><dd id=\"person-rrn\"></dd><dt>{birth_l}</dt><dd id=\"person-birth\"></dd></dl>\
         <p id=\"eligibility\" class=\"answer\"></p><dl class=\"facts\" id=\"window\" hidden><dt id=\"window-l\"></dt><dd id=\"window-at\"></dd></dl>\
         <p class=\"actions\"><button class=\"button secondary\" type=\"button\" id=\"next-person\">{next}</button></p>\
         <h3>{bookings_h}</h3><ul class=\"cards\" id=\"bookings\"></ul>\
         <h3 id=\"book-h\">{book_h}</h3>\
         <form method=\"get\" action=\"/agent\" id=\"region\" class=\"stack\">\
         <fieldset><legend>{by_region}</legend>\
         <div class=\"field\"><label for=\"province\">{province_l}</label><select id=\"province\" name=\"province\">{provinces}</select></div>\
         <div class=\"field\"><label for=\"municipality\">{municipality_l}</label><select id=\"municipality\" name=\"municipality\">{municipalities}</select></div>\
         <div class=\"field\"><label for=\"product\">{vaccine}</label><select id=\"product\" name=\"product\">{products}</select></div>\
         </fieldset><noscript><button class=\"button secondary\" type=\"submit\">{search}</button></noscript></form>\
         <form id=\"book\" class=\"stack\" data-product=\"{product_code}\">\
         <p id=\"change-note\" class=\"notice\" hidden></p>\
         <div class=\"field\"><label for=\"clinic\">{clinic_l}</label><select id=\"clinic\" name=\"clinic\" required>{clinics}</select></div>\
         <div class=\"field\"><label for=\"date\">{day_l}</label><input id=\"date\" name=\"date\" type=\"date\" min=\"{tomorrow}\" max=\"{last}\" value=\"{tomorrow}\" required></div>\
         <div class=\"field\"><label for=\"hour\">{hour_l}</label><select id=\"hour\" name=\"hour\" required>{bands}</select></div>\
         <p class=\"note\">{dose2}</p>\
         <p class=\"actions\"><button class=\"button primary\" type=\"submit\" id=\"book-submit\">{book}</button>\
         <button class=\"button secondary\" type=\"button\" id=\"change-stop\" hidden>{change_stop}</button></p></form></section>",
        h1 = lang.t("예약 대행", "Book for someone"),
        logout = lang.t("로그아웃", "Sign out"),
        identify_h = lang.t("본인 확인", "Who is it for?"),
        identify_p = lang.t(
            "신분증을 보고 이름, 주민등록번호, 휴대전화 번호를 입력하세요. 휴대전화가 없으면 보호자 번호를 입력합니다.",
            "Check their ID card, then enter their name, registration number and phone (a carer's number if they have none)."
        ),
        name = lang.t("이름", "Name"),
        rrn = lang.t("주민등록번호", "Resident registration number"),
        phone = lang.t("휴대전화 번호", "Mobile number"),
        checked = lang.t("신분증을 확인했습니다", "I have checked their ID"),
        identify = lang.t("확인", "Identify"),
        person_h = lang.t("예약 대상자", "The person"),
        rrn_l = lang.t("주민등록번호", "Registration number"),
        birth_l = lang.t("생년월일", "Born"),
        next = lang.t("다음 사람", "Next person"),
        bookings_h = lang.t("예약 내역", "Bookings"),
        book_h = lang.t("예약하기", "Book"),
        by_region = lang.t("의료기관 찾기", "Find a clinic"),
        province_l = lang.t("시·도", "Province or city"),
        municipality_l = lang.t("시·군·구", "District"),
        vaccine = lang.t("백신", "Vaccine"),
        products = product_options(Some(product.code()), &Product::ALL, lang, false),
        search = lang.t("검색", "Search"),
        product_code = product.code(),
        clinic_l = lang.t("의료기관", "Clinic"),
        day_l = lang.t("날짜", "Day"),
        hour_l = lang.t("시간대", "Time"),
        book = lang.t("예약하기", "Book"),
        change_stop = lang.t("변경 그만두기", "Stop changing"),
    );
    let page = Page {
        lang,
        audience: Audience::Agent,
        title: lang.t("예약 대행", "Book for someone").to_string(),
        here: super::here(&uri).to_string(),
        step: None,
        script: Some("agent.js"),
        body,
    };
    html(page.render(), remember)
}
