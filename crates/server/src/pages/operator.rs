//! The operators' pages: sign-in with the operator token, openings and the queue, supply and
//! the rescheduling plan (preview a delivery cut, see who moves by how many days, apply), and a
//! live dashboard drawn by its script from `GET /api/v1/admin/dashboard`.
//!
//! Signing in checks the token once and sets an HttpOnly, SameSite=Strict cookie that the
//! `Operator` extractor accepts, so the pages' scripts call the same admin API as curl does.

use super::layout::{Audience, Lang, Page, escape, instant_text};
use super::respond::{Detour, html, negotiate};
use crate::operator::{OPERATOR_COOKIE, OPERATOR_COOKIE_HOURS};
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::product::Product;
use serde::Deserialize;
use std::sync::Arc;

fn page(lang: Lang, title: &str, uri: &Uri, script: Option<&'static str>, body: String) -> Page {
    Page {
        lang,
        audience: Audience::Operator,
        title: title.to_string(),
        here: super::respond::here(uri).to_string(),
        step: None,
        script,
        body: maud::PreEscaped(body),
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
    let error = if failed {
        format!(
            "<div id=\"error\" class=\"error\" role=\"alert\">{}</div>",
            lang.t(
                "운영자 토큰이 맞지 않습니다.",
                "That is not the operator token."
            )
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>{h1}</h1>{error}<p>{intro}</p>\
         <form method=\"post\" action=\"/operator/login\" class=\"stack\">\
         <div class=\"field\"><label for=\"token\">{label}</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required></div>\
         <button class=\"button primary\" type=\"submit\">{submit}</button></form>",
        h1 = lang.t("운영자 로그인", "Operator sign-in"),
        intro = lang.t(
            "서버의 data/operator.token 파일에 있는 운영자 토큰을 입력하세요. 로그인은 8시간 동안 유지됩니다.",
            "Enter the operator token from the server's data/operator.token. The sign-in lasts 8 hours."
        ),
        label = lang.t("운영자 토큰", "Operator token"),
        submit = lang.t("로그인", "Sign in"),
    );
    page(
        lang,
        lang.t("운영자 로그인", "Operator sign-in"),
        uri,
        None,
        body,
    )
    .render()
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

fn logout_form(lang: Lang) -> String {
    format!(
        "<form method=\"post\" action=\"/operator/logout\" class=\"logout\"><button class=\"button secondary\" type=\"submit\">{}</button></form>",
        lang.t("로그아웃", "Sign out")
    )
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
    // The free-flowing queue a server starts with has no opening: its instants are u64::MAX.
    let at = |ms: u64| {
        if i64::try_from(ms).is_err() {
            return lang.t("없음 (바로 입장)", "none (free flow)").to_string();
        }
        jiff::Timestamp::from_millisecond(ms as i64)
            .map(|t| escape(&instant_text(t, lang)))
            .unwrap_or_default()
    };
    let rows = [
        (
            lang.t("대기열 번호", "Queue"),
            opening.queue().0.to_string(),
        ),
        (
            lang.t("사전 대기 시작", "Pre-queue starts"),
            at(opening.prequeue_starts_at_ms()),
        ),
        (lang.t("예약 시작", "Opens"), at(opening.opens_at_ms())),
        (
            lang.t("동시 이용 최대", "Max active"),
            opening.max_active().to_string(),
        ),
        (lang.t("도착", "Arrivals"), snapshot.arrivals.to_string()),
        (lang.t("대기 중", "Waiting"), snapshot.queued.to_string()),
        (lang.t("입장", "Admitted"), snapshot.admitted.to_string()),
        (
            lang.t("이용 중", "Active"),
            snapshot
                .active
                .map_or_else(|| "–".into(), |a| a.to_string()),
        ),
        (
            lang.t("입장 속도 (명/초)", "Admission rate (per s)"),
            format!("{:.1}", snapshot.admission_rate_per_s),
        ),
    ];
    let facts: String = rows
        .iter()
        .map(|(k, v)| format!("<dt>{k}</dt><dd>{v}</dd>"))
        .collect();
    let body = format!(
        "<h1>{h1}</h1>{logout}<section><h2>{now}</h2><dl class=\"facts\" id=\"queue\">{facts}</dl></section>\
         <section><h2>{schedule}</h2><p>{explain}</p>\
         <form id=\"opening\" class=\"stack\" data-done=\"{done}\">\
         <div class=\"field\"><label for=\"prequeue\">{pre}</label><input id=\"prequeue\" name=\"prequeue\" type=\"datetime-local\" required></div>\
         <div class=\"field\"><label for=\"opens\">{opens}</label><input id=\"opens\" name=\"opens\" type=\"datetime-local\" required></div>\
         <div class=\"field\"><label for=\"max-active\">{max}</label><input id=\"max-active\" name=\"max_active\" type=\"number\" min=\"1\" value=\"5000\" required></div>\
         <button class=\"button primary\" type=\"submit\">{submit}</button></form>\
         <p id=\"result\" role=\"status\"></p><div id=\"error\" class=\"error\" role=\"alert\" hidden></div></section>",
        h1 = lang.t("대기열과 예약 오픈", "Queue and openings"),
        logout = logout_form(lang),
        now = lang.t("현재 대기열", "The queue now"),
        schedule = lang.t("예약 오픈 예약하기", "Schedule an opening"),
        explain = lang.t(
            "사전 대기 시작부터 예약 시작 전까지 온 사람은 시작 시각에 무작위 순서를 받습니다. 시각은 한국시간입니다.",
            "Everyone who arrives between the pre-queue start and the opening gets a random place at the opening. Times are Korea time."
        ),
        done = lang.t("예약 오픈을 등록했습니다. 대기열 번호:", "Opening scheduled. Queue:"),
        pre = lang.t("사전 대기 시작 (한국시간)", "Pre-queue starts (Korea time)"),
        opens = lang.t("예약 시작 (한국시간)", "Opens (Korea time)"),
        max = lang.t("동시 이용 최대 인원", "Most people booking at once"),
        submit = lang.t("등록", "Schedule"),
    );
    let title = lang.t("대기열·오픈", "Queue");
    html(
        page(lang, title, &uri, Some("openings.js"), body).render(),
        remember,
    )
}

/// `GET /operator/supply`: a clinic's supply, and a delivery cut previewed as a plan, then applied.
pub async fn supply(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(r) = require_operator(&state, &headers) {
        return r.into_response();
    }
    let (lang, remember) = negotiate(&uri, &headers);
    let products = super::widgets::product_options(None, &Product::ALL, lang, false).into_string();
    let body = format!(
        "<h1>{h1}</h1>{logout}\
         <section><h2>{cut_h}</h2><p>{cut_p}</p>\
         <form id=\"cut\" class=\"stack\">\
         <div class=\"field\"><label for=\"clinic\">{clinic}</label><input id=\"clinic\" name=\"clinic\" type=\"number\" min=\"0\" required></div>\
         <div class=\"field\"><label for=\"day\">{day}</label><input id=\"day\" name=\"day\" type=\"date\" required></div>\
         <div class=\"field\"><label for=\"product\">{product}</label><select id=\"product\" name=\"product\">{products}</select></div>\
         <div class=\"field\"><label for=\"doses\">{doses}</label><input id=\"doses\" name=\"doses\" type=\"number\" min=\"0\" required></div>\
         <p class=\"actions\"><button class=\"button primary\" type=\"submit\">{preview}</button>\
         <button class=\"button secondary\" type=\"button\" id=\"show-supply\">{show}</button></p></form>\
         <div id=\"error\" class=\"error\" role=\"alert\" hidden></div>\
         <section id=\"plan\" hidden aria-labelledby=\"plan-h\"><h2 id=\"plan-h\">{plan_h}</h2>\
         <dl class=\"facts\"><dt>{moved}</dt><dd id=\"people-moved\"></dd><dt>{doses_moved}</dt><dd id=\"doses-moved\"></dd><dt>{other}</dt><dd id=\"other-clinics\"></dd>\
         <dt>{unplaced}</dt><dd id=\"unplaced\"></dd></dl>\
         <figure class=\"chart wide\"><figcaption id=\"shift-caption\">{shift_h}</figcaption><div id=\"shift-chart\"></div></figure>\
         <table id=\"shift-table\"><caption class=\"sr\">{shift_h}</caption><thead><tr><th scope=\"col\">{by}</th><th scope=\"col\">{people}</th></tr></thead><tbody></tbody></table>\
         <h3>{sample_h}</h3><table id=\"moves\"><thead><tr><th scope=\"col\">{booking}</th><th scope=\"col\">{dose}</th><th scope=\"col\">{from}</th><th scope=\"col\">{to}</th></tr></thead><tbody></tbody></table>\
         <p class=\"actions\"><button class=\"button primary\" type=\"button\" id=\"apply\">{apply}</button></p></section>\
         <p id=\"applied\" role=\"status\"></p></section>\
         <section id=\"supply\" hidden aria-labelledby=\"supply-h\"><h2 id=\"supply-h\">{supply_h}</h2>\
         <table><thead><tr><th scope=\"col\">{day}</th><th scope=\"col\">{product}</th><th scope=\"col\">{planned}</th><th scope=\"col\">{promised}</th><th scope=\"col\">{left}</th></tr></thead><tbody id=\"supply-rows\"></tbody></table></section>",
        h1 = lang.t("공급과 일정 변경", "Supply and rescheduling"),
        logout = logout_form(lang),
        cut_h = lang.t("배송량 변경 (공급 축소·지연)", "Change a delivery (cut or delay)"),
        cut_p = lang.t(
            "새 배송량을 넣고 계획을 미리 봅니다. 적용하기 전에는 아무것도 바뀌지 않습니다. 옮겨지는 분께는 한 번씩 안내 문자가 갑니다.",
            "Enter the new delivery and preview the plan. Nothing changes until you apply it; each person moved gets one message."
        ),
        clinic = lang.t("의료기관 번호", "Clinic number"),
        day = lang.t("날짜", "Day"),
        product = lang.t("백신", "Vaccine"),
        doses = lang.t("새 배송량 (회분)", "New delivery (doses)"),
        preview = lang.t("계획 미리보기", "Preview the plan"),
        show = lang.t("공급 현황 보기", "Show supply"),
        plan_h = lang.t("일정 변경 계획", "Rescheduling plan"),
        moved = lang.t("옮겨지는 사람", "People moved"),
        doses_moved = lang.t("옮겨지는 접종 (1·2차)", "Doses moved (dose 1 and 2)"),
        other = lang.t("다른 의료기관으로", "To another clinic"),
        unplaced = lang.t("자리를 찾지 못함 (취소·안내)", "Not placed (cancelled, told)"),
        shift_h = lang.t("며칠 옮겨지는지", "How many days people move"),
        by = lang.t("이동 일수", "Days moved"),
        people = lang.t("접종 수", "Doses"),
        sample_h = lang.t("옮겨지는 예약 (일부)", "Moves (sample)"),
        booking = lang.t("예약", "Booking"),
        dose = lang.t("차수", "Dose"),
        from = lang.t("기존", "From"),
        to = lang.t("변경", "To"),
        apply = lang.t("이 계획 적용", "Apply this plan"),
        supply_h = lang.t("공급 현황", "Supply"),
        planned = lang.t("계획", "Planned"),
        promised = lang.t("예약됨", "Promised"),
        left = lang.t("남음", "Left"),
    );
    let title = lang.t("공급·일정 변경", "Supply");
    html(
        page(lang, title, &uri, Some("supply.js"), body).render(),
        remember,
    )
}

/// The dashboard's charts: id, Korean and English titles, and the unit.
const CHARTS: [(&str, &str, &str, &str); 5] = [
    (
        "arrivals_per_s",
        "도착 (명/초)",
        "Arrivals per second",
        "/s",
    ),
    ("queued", "대기 인원", "Queue length", ""),
    (
        "admission_rate_per_s",
        "입장 속도 (명/초)",
        "Admission rate per second",
        "/s",
    ),
    ("active", "이용 중인 세션", "Active sessions", ""),
    (
        "bookings_per_min",
        "예약 (건/분)",
        "Bookings per minute",
        "/min",
    ),
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
    let mut charts = String::new();
    let mut columns = String::new();
    let now_label = lang.t("현재", "now");
    for (id, ko, en, unit) in CHARTS {
        let title = lang.t(ko, en);
        charts.push_str(&format!(
            "<figure class=\"chart\" id=\"chart-{id}\" data-series=\"{id}\" data-unit=\"{unit}\">\
             <figcaption><span class=\"title\">{title}</span> <span class=\"now\">{now_label} <strong class=\"value\">–</strong></span></figcaption>\
             <svg viewBox=\"0 0 300 152\" role=\"img\" aria-label=\"{title}\"></svg><p class=\"max note\"></p></figure>"
        ));
        columns.push_str(&format!("<th scope=\"col\">{title}</th>"));
    }
    let body = format!(
        "<h1>{h1}</h1>{logout}<p id=\"updated\" data-label=\"{updated}\" data-stale=\"{stale}\" \
         data-no-data=\"{no_data}\" data-now=\"{now}\" data-peak=\"{peak}\" data-kst=\"{kst}\">{wait}</p>\
         <div class=\"field\"><label for=\"span\">{span}</label><select id=\"span\"><option value=\"fine\">{fine}</option><option value=\"coarse\">{coarse}</option></select></div>\
         <div class=\"charts\">{charts}</div>\
         <details id=\"series-details\"><summary>{as_table}</summary><div class=\"scroll\">\
         <table id=\"series-table\"><caption>{table_caption}</caption><thead><tr><th scope=\"col\">{time}</th>{columns}</tr></thead><tbody></tbody></table></div></details>\
         <section aria-labelledby=\"capacity-h\"><h2 id=\"capacity-h\">{capacity}</h2>\
         <figure class=\"chart wide\" id=\"chart-provinces\"><svg role=\"img\" aria-label=\"{capacity}\" viewBox=\"0 0 400 344\"></svg></figure>\
         <details id=\"provinces-details\"><summary>{as_table}</summary><div class=\"scroll\">\
         <table id=\"provinces-table\"><caption>{capacity}</caption><thead><tr><th scope=\"col\">{province}</th><th scope=\"col\">{left}</th></tr></thead><tbody></tbody></table></div></details></section>",
        h1 = lang.t("실시간 현황판", "Live dashboard"),
        logout = logout_form(lang),
        updated = lang.t("마지막 갱신", "Updated"),
        stale = lang.t("갱신 실패, 다시 시도 중", "Update failed, retrying"),
        no_data = lang.t("아직 자료가 없습니다", "No data yet"),
        now = lang.t("현재", "now"),
        peak = lang.t("최고", "peak"),
        kst = lang.t("한국시간", "Korea time"),
        wait = lang.t("불러오는 중…", "Loading…"),
        span = lang.t("기간", "Period"),
        fine = lang.t("최근 2분 (1초 간격)", "Last 2 minutes (every second)"),
        coarse = lang.t("최근 1시간 (10초 간격)", "Last hour (every 10 seconds)"),
        as_table = lang.t(
            "표로 보기 (읽기·복사용)",
            "Show as a table (to read or copy)"
        ),
        table_caption = lang.t(
            "기간의 모든 값, 최근 것부터 (한국시간)",
            "Every value of the period, newest first (Korea time)"
        ),
        time = lang.t("시각", "Time"),
        province = lang.t("시·도", "Province"),
        left = lang.t("남은 인원", "Places left"),
        capacity = lang.t(
            "시·도별 남은 예약 가능 인원 (내일부터 7일)",
            "Places left by province (7 days from tomorrow)"
        ),
    );
    let title = lang.t("현황판", "Dashboard");
    html(
        page(lang, title, &uri, Some("dashboard.js"), body).render(),
        remember,
    )
}
