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
use super::layout::{Audience, Lang, Page, date_text, escape, short_date_text};
use super::respond::{Detour, html, negotiate};
use super::widgets::{
    band_choices, bookable_days, clinic_identity, day_links, district_centre, filled_section,
    places_texts, product_options, region_options,
};
use crate::error::ApiError;
use crate::routes;
use crate::routes::clinics::FoundClinic;
use crate::staff::Agent;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use domain::product::Product;
use jiff::civil::Date;
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
) -> Result<String, ApiError> {
    let Some((lat, lon)) = district_centre(state, municipality) else {
        return Ok(format!(
            "<p>{}</p>",
            lang.t(
                "이 지역에는 의료기관이 없습니다.",
                "No clinic in this district."
            )
        ));
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
    let mut html = format!(
        "<p class=\"note\">{}</p><ul class=\"cards\" id=\"clinics\">",
        lang.t(
            "고른 시·군·구 중심에서 10km 안, 가까운 순서입니다. 날짜별 남은 자리를 보고 고르세요.",
            "Nearest the middle of the district first, within 10 km, with the places left each day."
        )
    );
    for c in clinics {
        html.push_str(&clinic_card(c, product, lang, base));
    }
    if clinics.is_empty() {
        html.push_str(&format!(
            "<li>{}</li>",
            lang.t(
                "이 백신을 접종하는 가까운 의료기관이 없습니다.",
                "No clinic nearby gives this vaccine."
            )
        ));
    }
    html.push_str("</ul>");
    let next = offset + clinics.len();
    if next < found.total {
        html.push_str(&format!(
            "<p class=\"actions\"><a class=\"button secondary\" id=\"more-clinics\" href=\"{base}&offset={next}\">{}</a></p>",
            lang.t("다음 의료기관 더 보기", "More clinics")
        ));
    }
    Ok(html)
}

/// One clinic of the list: name, district and distance, places left per day, "choose".
fn clinic_card(c: &FoundClinic, product: Product, lang: Lang, base: &str) -> String {
    let (id, name, place) = clinic_identity(&c.clinic, lang);
    let (name, place) = (escape(name), escape(place));
    let distance = c.distance_km.unwrap_or(0.0);
    let mut days = String::new();
    let mut any = false;
    for day in &c.availability {
        let date = day.date;
        let left = day.remaining.of(product);
        any |= left > 0;
        let left_text = if left == 0 {
            lang.t("마감", "full").to_string()
        } else {
            left.to_string()
        };
        days.push_str(&format!(
            "<li{}><span>{}</span> <strong>{left_text}</strong></li>",
            if left == 0 { " class=\"off\"" } else { "" },
            short_date_text(date, lang)
        ));
    }
    let choose = if any {
        format!(
            "<a class=\"button primary\" href=\"{base}&clinic={id}#slot-h\">{} <span class=\"sr\">{name}</span></a>",
            lang.t("선택", "Choose")
        )
    } else {
        format!(
            "<p>{}</p>",
            lang.t(
                "7일 안에 남은 자리가 없습니다",
                "No places in the next 7 days"
            )
        )
    };
    format!(
        "<li class=\"card\" data-clinic=\"{id}\"><h4>{name}</h4><p>{place} · {distance:.1} km</p>\
         <p class=\"note\">{per_day}</p><ul class=\"perday\">{days}</ul>{choose}</li>",
        per_day = lang.t("날짜별 남은 자리", "Places left per day"),
    )
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
) -> (String, Option<Date>) {
    let Some(clinic) = clinic else {
        return (
            format!(
                "<p class=\"note\" id=\"no-clinic\">{}</p>",
                lang.t(
                    "위에서 시·군·구를 고르고 의료기관을 선택하세요.",
                    "Choose a district above, then a clinic."
                )
            ),
            None,
        );
    };
    let Some((days, date)) = bookable_days(state, clinic, product, asked_date) else {
        return (String::new(), None);
    };
    let base = format!("{base}&clinic={}", clinic.id.0);
    let html = format!(
        "<h4 id=\"slot-h\" tabindex=\"-1\">{clinic_name}</h4>\
         <p class=\"note\">{days_h}</p><ul class=\"days\" id=\"days\">{days}</ul>\
         <fieldset><legend>{band_h} — {date_text}</legend><div class=\"choices\">{bands}</div>\
         <p id=\"bands-status\" class=\"note\" role=\"status\"></p></fieldset>",
        clinic_name = escape(&clinic.name),
        days_h = lang.t("날짜 (남은 자리)", "Day (places left)"),
        days = day_links(&days, date, &base, lang).into_string(),
        band_h = lang.t("시간대", "Time"),
        date_text = date_text(date, lang),
        bands = band_choices(state, clinic, date, product, lang).into_string(),
    );
    (html, Some(date))
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
    let (provinces, municipalities) = (provinces.into_string(), municipalities.into_string());
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
        None => String::new(),
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
         <p id=\"queue-place\" class=\"notice\" role=\"status\" hidden></p>\
         <p class=\"actions\"><button class=\"button secondary\" type=\"button\" id=\"next-person\">{next}</button></p>\
         <h3>{bookings_h}</h3><ul class=\"cards\" id=\"bookings\"></ul>\
         <h3 id=\"book-h\">{book_h}</h3>\
         <form method=\"get\" action=\"/agent\" id=\"region\" class=\"stack\">\
         <fieldset><legend>{by_region}</legend>\
         <div class=\"field\"><label for=\"province\">{province_l}</label><select id=\"province\" name=\"province\">{provinces}</select></div>\
         <div class=\"field\"><label for=\"municipality\">{municipality_l}</label><select id=\"municipality\" name=\"municipality\">{municipalities}</select></div>\
         <div class=\"field\"><label for=\"product\">{vaccine}</label><select id=\"product\" name=\"product\">{products}</select></div>\
         </fieldset><noscript><button class=\"button secondary\" type=\"submit\">{search}</button></noscript></form>\
         {clinics}\
         <form id=\"book\" class=\"stack\" data-product=\"{product_code}\" data-clinic=\"{clinic_id}\" data-date=\"{date}\" {places_texts}>\
         <p id=\"change-note\" class=\"notice\" hidden></p>{slots}\
         <p class=\"note\">{dose2}</p>\
         <p class=\"actions\"><button class=\"button primary\" type=\"submit\" id=\"book-submit\">{book}</button>\
         <button class=\"button secondary\" type=\"button\" id=\"change-stop\" hidden>{change_stop}</button></p></form>{filled}</section>",
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
        products = product_options(Some(product.code()), &Product::ALL, lang, false).into_string(),
        search = lang.t("검색", "Search"),
        product_code = product.code(),
        clinic_id = clinic.map(|c| c.id.0.to_string()).unwrap_or_default(),
        date = date.map(|d| d.to_string()).unwrap_or_default(),
        places_texts = places_texts(lang).attributes(),
        filled = filled_section(lang, false, &base).into_string(),
        book = lang.t("예약하기", "Book"),
        change_stop = lang.t("변경 그만두기", "Stop changing"),
    );
    let page = Page {
        lang,
        audience: Audience::Agent,
        title: lang.t("예약 대행", "Book for someone").to_string(),
        here: super::respond::here(&uri).to_string(),
        step: None,
        script: Some("agent.js"),
        body: maud::PreEscaped(body),
    };
    html(page.render(), remember)
}
