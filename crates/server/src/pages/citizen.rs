//! The citizen's pages: start, waiting room, identity check, eligibility, clinic search, day and
//! time, and "my bookings" (view, change, cancel, accept a move), for oneself or a family member.
//!
//! Pages read through the same handlers as the JSON API (so a page never shows what the API
//! would not say), render plain HTML, and leave the state changes to their script, which sends
//! the API's own requests.

use super::layout::{Audience, Lang, Page, date_text, escape, instant_text, with_param};
use super::respond::{Detour, html, negotiate};
use super::widgets::{
    band_choices, bookable_days, clinic_identity, day_links, district_centre, error_box, filled,
    filled_section, places_texts, product_name, product_options, region_options, when_where,
};
use crate::error::ApiError;
use crate::routes;
use crate::routes::clinics::Found;
use crate::routes::eligibility::DecisionView;
use crate::routes::views::AppointmentView;
use crate::session::IdentitySession;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use domain::booking::DoseStatus;
use domain::eligibility::Decision;
use domain::product::Product;
use jiff::Timestamp;
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

/// `GET /`: what the service is, and the way in.
pub async fn home(uri: Uri, headers: HeaderMap) -> Response {
    let (lang, remember) = negotiate(&uri, &headers);
    let body = format!(
        "<h1>{h1}</h1><p class=\"lead\">{lead}</p>\
         <p class=\"actions\"><a class=\"button primary\" href=\"/wait\">{start}</a>\
         <a class=\"button secondary\" href=\"/bookings\">{mine}</a></p>\
         <section><h2>{know}</h2><ul class=\"plain\"><li>{fair}</li><li>{reload}</li><li>{family}</li><li>{rrn}</li></ul></section>",
        h1 = lang.t(
            "코로나19 예방접종 사전예약",
            "Book your COVID-19 vaccination"
        ),
        lead = lang.t(
            "본인과 가족의 예방접종 날짜와 의료기관을 예약합니다. 1차 접종을 예약하면 2차 접종도 함께 예약됩니다.",
            "Book a day and a clinic for yourself or a family member. Booking dose 1 books dose 2 with it."
        ),
        start = lang.t("예약 시작하기", "Start booking"),
        mine = lang.t("예약 조회·변경·취소", "View, change or cancel a booking"),
        know = lang.t("알아두세요", "Good to know"),
        fair = lang.t(
            "예약 시작 전에 오신 분의 순서는 시작 시각에 무작위로 정해집니다. 일찍 오거나 새로고침해도 유리하지 않습니다.",
            "Everyone who arrives before booking opens gets a place drawn at random at the opening: arriving early or refreshing gives no advantage."
        ),
        reload = lang.t(
            "대기 중에 새로고침하거나 다시 접속해도 순서는 그대로입니다.",
            "Reloading or reconnecting while you wait keeps your place."
        ),
        family = lang.t(
            "본인인증을 한 뒤 가족(대리) 예약도 할 수 있습니다.",
            "After your identity check you can also book for a family member."
        ),
        rrn = lang.t(
            "주민등록번호는 저장하지 않습니다. 생년월일과 확인용 값만 보관합니다.",
            "Your resident registration number is not stored: only your birth date and a check value."
        ),
    );
    let title = lang.t("예약 안내", "Welcome");
    html(
        Page::citizen(
            lang,
            title,
            super::respond::here(&uri),
            None,
            maud::PreEscaped(body),
        )
        .render(),
        remember,
    )
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
    let (action, intro) = match serves {
        IdentityFor::Booking => (
            "/identity",
            lang.t(
                "예약하려면 본인인증이 필요합니다. 입력하신 정보가 휴대전화 가입자 정보와 맞으면 그 휴대전화로 인증번호 6자리를 보내 드립니다.",
                "To book, we check who you are: if your details match your mobile phone's subscriber record, we send a six-digit code to that phone.",
            ),
        ),
        IdentityFor::Waiting => (
            "/wait/verify",
            lang.t(
                "기다리는 동안 본인인증을 하면, 시작 시각의 추첨에서 한 분당 한 자리를 받고 차례가 되면 바로 예약으로 넘어갑니다. 이번 예약 대상이 아니면 바로 알려 드리고 본인의 예약 기간을 안내합니다. 입력하신 정보가 휴대전화 가입자 정보와 맞으면 그 휴대전화로 인증번호 6자리를 보내 드립니다.",
                "Verify while you wait: everyone verified gets one place per person in the draw at the opening, ahead of unverified tickets, and goes straight to booking at their turn. If this opening is not for you, we tell you at once, with your own booking window. If your details match your mobile phone's subscriber record, we send a six-digit code to that phone.",
            ),
        ),
    };
    let already = if signed_in && serves == IdentityFor::Booking {
        format!(
            "<div class=\"success\" role=\"status\"><p>{}</p><p class=\"actions\"><a class=\"button primary\" href=\"/eligibility\">{}</a></p></div>",
            lang.t(
                "이미 본인인증을 하셨습니다. 다른 분으로 인증하려면 아래에 입력하세요.",
                "You have already verified your identity. To verify as someone else, fill in the form below."
            ),
            lang.t("계속하기", "Continue")
        )
    } else {
        String::new()
    };
    let (start_hidden, verify_hidden, id_value, demo_text) = match stage {
        IdentityStage::Details => ("", " hidden", String::new(), String::new()),
        IdentityStage::Code {
            verification_id,
            demo_code,
        } => (
            " hidden",
            "",
            escape(verification_id),
            demo_code
                .as_deref()
                .map(|c| format!("{} {}", lang.t("시연용 인증번호:", "Demo code:"), escape(c)))
                .unwrap_or_default(),
        ),
    };
    let demo_hidden = if demo_text.is_empty() { " hidden" } else { "" };
    let error = match error {
        Some(e) => format!(
            "<div id=\"error\" class=\"error\" role=\"alert\" tabindex=\"-1\">{}</div>",
            escape(lang.t(&e.message_ko, &e.message_en))
        ),
        None => error_box().into_string(),
    };
    let body = format!(
        "<h1>{h1}</h1>{already}<p>{intro}</p>\
         <form id=\"start\" method=\"post\" action=\"{action}\" class=\"stack\" novalidate{start_hidden}>\
         <div class=\"field\"><label for=\"name\">{name}</label><input id=\"name\" name=\"name\" autocomplete=\"name\" required></div>\
         <div class=\"field\"><label for=\"rrn\">{rrn}</label><p class=\"hint\" id=\"rrn-hint\">{rrn_hint}</p>\
         <input id=\"rrn\" name=\"rrn\" inputmode=\"numeric\" autocomplete=\"off\" aria-describedby=\"rrn-hint\" required></div>\
         <div class=\"field\"><label for=\"phone\">{phone}</label><p class=\"hint\" id=\"phone-hint\">{phone_hint}</p>\
         <input id=\"phone\" name=\"phone\" type=\"tel\" autocomplete=\"tel\" aria-describedby=\"phone-hint\" required></div>\
         <button class=\"button primary\" type=\"submit\">{send}</button></form>\
         <form id=\"verify\" method=\"post\" action=\"{action}\" class=\"stack\"{verify_hidden} data-demo=\"{demo}\">\
         <input type=\"hidden\" name=\"verification_id\" value=\"{id_value}\">\
         <p id=\"sent\" role=\"status\">{sent}</p><p id=\"demo-code\" class=\"demo\"{demo_hidden}>{demo_text}</p>\
         <div class=\"field\"><label for=\"code\">{code}</label>\
         <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"6\" required></div>\
         <button class=\"button primary\" type=\"submit\">{confirm}</button></form>{error}",
        h1 = lang.t("본인인증", "Identity check"),
        name = lang.t("이름", "Name"),
        rrn = lang.t("주민등록번호", "Resident registration number"),
        rrn_hint = lang.t(
            "13자리 (예: 680229-1234567). 저장하지 않습니다.",
            "13 digits (e.g. 680229-1234567). It is not stored."
        ),
        phone = lang.t(
            "휴대전화 번호 (본인 명의)",
            "Mobile phone number (in your name)"
        ),
        phone_hint = lang.t("예: 010-1234-5678", "e.g. 010-1234-5678"),
        send = lang.t("인증번호 받기", "Send me a code"),
        demo = lang.t("시연용 인증번호:", "Demo code:"),
        sent = lang.t(
            "입력하신 정보가 맞으면 인증번호를 보냈습니다. 3분 안에 입력해 주세요.",
            "If your details match, we sent you a code. Enter it within 3 minutes."
        ),
        code = lang.t("인증번호 6자리", "Six-digit code"),
        confirm = lang.t("확인", "Confirm"),
    );
    let title = lang.t("본인인증", "Identity check");
    let mut page = Page::citizen(
        lang,
        title,
        super::respond::here(uri),
        Some(2),
        maud::PreEscaped(body),
    );
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
    routes::pass::use_pass(state, pass, crate::waiting::PassUse::IdentityStart)?;
    let started = routes::identity::start_check(state, claim, who).await?;
    Ok(IdentityStage::Code {
        verification_id: started.verification_id,
        demo_code: started.demo_code,
    })
}

/// Told at once: this opening is not theirs, and when theirs is (Seoul time). No place taken.
fn not_this_opening(uri: &Uri, lang: Lang, eligibility: &DecisionView) -> String {
    let window = eligibility
        .opens_at
        .map(|t| {
            format!(
                "<p class=\"big\" id=\"window\">{} {}</p>",
                lang.t("본인의 예약 시작:", "Your booking opens:"),
                escape(&instant_text(t, lang))
            )
        })
        .unwrap_or_default();
    let reason = lang.t(&eligibility.message_ko, &eligibility.message_en);
    let body = format!(
        "<h1>{h1}</h1><div class=\"error\" role=\"status\"><p>{reason}</p></div>{window}<p>{note}</p>\
         <p class=\"actions\"><a class=\"button secondary\" href=\"/eligibility\">{more}</a></p>",
        h1 = lang.t("이번 예약 대상이 아닙니다", "This opening is not for you"),
        reason = escape(reason),
        note = lang.t(
            "기다리실 필요가 없습니다. 대기 자리는 돌려드렸습니다. 본인의 예약 기간에 다시 오세요.",
            "There is no need to wait: your place has been given up. Please come back in your own booking window."
        ),
        more = lang.t("예약 가능 여부 자세히 보기", "More about when you can book"),
    );
    let title = lang.t("예약 대상 안내", "Not this opening");
    Page::citizen(
        lang,
        title,
        super::respond::here(uri),
        Some(1),
        maud::PreEscaped(body),
    )
    .render()
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
    let body = format!(
        "<h1>{h1}</h1><p>{intro}</p>\
         <dl class=\"facts\" id=\"contact\"><dt>{name_h}</dt><dd id=\"contact-name\">{name}</dd>\
         <dt>{phone_h}</dt><dd id=\"contact-phone\">{phone}</dd></dl>\
         <section aria-labelledby=\"change-h\"><h2 id=\"change-h\">{change_h}</h2><p>{change}</p>\
         <p class=\"actions\"><a class=\"button primary\" href=\"/identity\">{verify}</a>\
         <a class=\"button secondary\" href=\"/bookings\">{bookings}</a></p></section>",
        h1 = lang.t("안내 문자 받는 곳", "Where your notices go"),
        intro = lang.t(
            "예약, 변경, 취소 안내 문자는 마지막으로 본인인증한 휴대전화로 갑니다.",
            "Texts about your bookings go to the phone of your last identity check."
        ),
        name_h = lang.t("이름", "Name"),
        name = escape(&contact.name),
        phone_h = lang.t("휴대전화", "Mobile phone"),
        phone = escape(&contact.phone),
        change_h = lang.t("번호를 바꾸려면", "To change the number"),
        change = lang.t(
            "새 휴대전화로 본인인증을 다시 하세요. 그 휴대전화가 본인 명의일 때만 인증번호가 가며, 인증이 끝나면 안내 문자가 새 번호로 갑니다.",
            "Verify your identity again with the new phone. The code only goes to a phone in your name; once verified, your notices go to the new number."
        ),
        verify = lang.t("새 번호로 본인인증", "Verify with the new phone"),
        bookings = lang.t("내 예약", "My bookings"),
    );
    let title = lang.t("안내 문자 받는 곳", "Where your notices go");
    html(
        Page::citizen(
            lang,
            title,
            super::respond::here(&uri),
            None,
            maud::PreEscaped(body),
        )
        .render(),
        remember,
    )
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
    let when = |at: Timestamp| escape(&instant_text(at, lang));
    let family = format!(
        "<section><h2>{}</h2><p>{}</p><p><a class=\"button secondary\" href=\"/search?family=1\">{}</a></p></section>",
        lang.t("가족 예약", "Booking for a family member"),
        lang.t(
            "가족의 예약 가능 여부는 가족의 생년월일로 따로 판단합니다.",
            "A family member's eligibility is decided on their own birth date."
        ),
        lang.t("가족 예약하기", "Book for a family member"),
    );
    let (h1, main) = match decision {
        Decision::Eligible { closes_at, .. } => (
            lang.t("지금 예약할 수 있습니다", "You can book now"),
            format!(
                "<p class=\"answer ok\">{}</p><dl class=\"facts\"><dt>{}</dt><dd>{}</dd></dl>\
                 <p class=\"actions\"><a class=\"button primary\" href=\"/search\">{}</a></p>",
                escape(&message),
                lang.t("예약 마감", "Booking closes"),
                when(closes_at),
                lang.t("의료기관 찾기", "Find a clinic")
            ),
        ),
        Decision::NotYet { opens_at, .. } => (
            lang.t("아직 예약 기간이 아닙니다", "Not yet your turn to book"),
            format!(
                "<p class=\"answer wait\">{}</p><dl class=\"facts\"><dt>{}</dt><dd class=\"big\" id=\"opens\">{}</dd></dl>",
                escape(&message),
                lang.t("나의 예약 시작", "Your booking opens"),
                when(opens_at)
            ),
        ),
        Decision::AlreadyBooked => (
            lang.t("이미 예약하셨습니다", "You already have a booking"),
            format!(
                "<p class=\"answer\">{}</p><p class=\"actions\"><a class=\"button primary\" href=\"/bookings\">{}</a></p>",
                escape(&message),
                lang.t("나의 예약 보기", "See my bookings")
            ),
        ),
        _ => (
            lang.t("지금은 예약할 수 없습니다", "You cannot book now"),
            format!("<p class=\"answer no\">{}</p>", escape(&message)),
        ),
    };
    let leftover = format!(
        "<p><a href=\"/leftovers\">{}</a></p>",
        lang.t(
            "오늘 남는 백신(잔여백신) 알림 신청",
            "Hear of leftover doses near you today"
        )
    );
    let body = format!("<h1>{h1}</h1>{main}{family}{leftover}");
    let title = lang.t("예약 대상 확인", "Eligibility");
    html(
        Page::citizen(
            lang,
            title,
            super::respond::here(&uri),
            Some(3),
            maud::PreEscaped(body),
        )
        .render(),
        remember,
    )
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

fn hidden_carry(change: Option<&str>, family: bool) -> String {
    let mut out = String::new();
    if let Some(id) = change.filter(|id| id.bytes().all(|b| b.is_ascii_digit())) {
        out.push_str(&format!(
            "<input type=\"hidden\" name=\"change\" value=\"{id}\">"
        ));
    }
    if family {
        out.push_str("<input type=\"hidden\" name=\"family\" value=\"1\">");
    }
    out
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

    let (provinces, municipalities) =
        region_options(&state, lang, province, municipality, lang.t("전체", "All"));
    let (provinces, municipalities) = (provinces.into_string(), municipalities.into_string());
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
        None => String::new(),
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
                Err(e) => format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    escape(lang.t(&e.message_ko, &e.message_en))
                ),
            }
        }
    };
    let near_note = if lat.is_some() && lon.is_some() {
        format!(
            "<p class=\"note\">{}</p>",
            lang.t(
                "내 위치에서 10km 안의 가까운 순서입니다.",
                "Nearest first, within 10 km of you."
            )
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>{h1}</h1>{purpose}\
         <form method=\"get\" action=\"/search\" id=\"search\" class=\"stack\">{carry}\
         <fieldset><legend>{by_region}</legend>\
         <div class=\"field\"><label for=\"province\">{province_label}</label><select id=\"province\" name=\"province\">{provinces}</select></div>\
         <div class=\"field\"><label for=\"municipality\">{municipality_label}</label><select id=\"municipality\" name=\"municipality\">{municipalities}</select></div>\
         </fieldset>\
         <div class=\"field\"><label for=\"product\">{product_label}</label><select id=\"product\" name=\"product\">{products}</select></div>\
         <input type=\"hidden\" name=\"lat\" id=\"lat\"><input type=\"hidden\" name=\"lon\" id=\"lon\">\
         <p class=\"actions\"><button class=\"button primary\" type=\"submit\">{search}</button>\
         <button class=\"button secondary\" type=\"button\" id=\"locate\" hidden data-denied=\"{denied}\" data-finding=\"{finding}\">{near}</button></p>\
         </form><p id=\"locate-status\" role=\"status\"></p>{near_note}{results}",
        h1 = lang.t("의료기관 찾기", "Find a clinic"),
        purpose = purpose_note(change, family, lang),
        carry = hidden_carry(change, family),
        by_region = lang.t("지역으로 찾기", "By region"),
        province_label = lang.t("시·도", "Province or city"),
        municipality_label = lang.t("시·군·구", "District"),
        product_label = lang.t("백신", "Vaccine"),
        products = product_options(product, &Product::ALL, lang, true).into_string(),
        search = lang.t("검색", "Search"),
        near = lang.t("내 위치에서 가까운 곳", "Near me"),
        denied = lang.t(
            "위치를 확인할 수 없습니다. 지역으로 찾아 주세요.",
            "Your location is not available; please search by region."
        ),
        finding = lang.t("위치를 확인하고 있습니다…", "Finding your location…"),
    );
    let title = lang.t("의료기관 찾기", "Find a clinic");
    let mut page = Page::citizen(
        lang,
        title,
        super::respond::here(&uri),
        Some(4),
        maud::PreEscaped(body),
    );
    page.script = Some("search.js");
    html(page.render(), remember)
}

fn purpose_note(change: Option<&str>, family: bool, lang: Lang) -> String {
    if change.is_some() {
        format!(
            "<p class=\"note\">{}</p>",
            lang.t(
                "예약을 바꿀 의료기관과 날짜를 고르세요. 새 예약이 확정될 때까지 기존 예약은 그대로입니다.",
                "Choose the new clinic and day. Your booking stays as it is until the change is confirmed."
            )
        )
    } else if family {
        format!(
            "<p class=\"note\">{}</p>",
            lang.t(
                "가족(대리) 예약입니다.",
                "You are booking for a family member."
            )
        )
    } else {
        String::new()
    }
}

fn results_html(
    found: &Found,
    lang: Lang,
    carry: &str,
    offset: usize,
    next: Option<String>,
) -> String {
    let clinics = &found.clinics;
    let total = found.total;
    let heading = match lang {
        Lang::Ko => format!("검색 결과 {total}곳"),
        Lang::En => format!("{total} clinics found"),
    };
    let range = if clinics.is_empty() {
        String::new()
    } else {
        let (first, last) = (offset + 1, offset + clinics.len());
        format!(
            "<p class=\"note\">{}</p>",
            match lang {
                Lang::Ko => format!("{first}–{last}번째 의료기관입니다."),
                Lang::En => format!("Showing {first}–{last}."),
            }
        )
    };
    let mut html = format!(
        "<section aria-labelledby=\"results-h\"><h2 id=\"results-h\">{heading}</h2>{range}<ul class=\"cards\" id=\"results\">"
    );
    for c in clinics {
        let (id, name, place) = clinic_identity(&c.clinic, lang);
        let (name, place) = (escape(name), escape(place));
        let distance = c
            .distance_km
            .map(|km| format!(" · {km:.1} km"))
            .unwrap_or_default();
        let products: Vec<&str> = c
            .clinic
            .products
            .iter()
            .map(|p| lang.t(p.name_ko(), p.name_en()))
            .collect();
        let mut left_total = 0u64;
        let mut first_day = None;
        for day in &c.availability {
            let left = u64::from(day.remaining.most());
            left_total += left;
            if left > 0 && first_day.is_none() {
                first_day = Some(day.date);
            }
        }
        let when = match first_day {
            Some(day) => match lang {
                Lang::Ko => format!(
                    "가장 빠른 날: {} · 7일간 남은 자리 {left_total}",
                    date_text(day, lang)
                ),
                Lang::En => format!(
                    "Soonest: {} · {left_total} places in 7 days",
                    date_text(day, lang)
                ),
            },
            None => lang
                .t(
                    "7일 안에 남은 자리가 없습니다",
                    "No places in the next 7 days",
                )
                .to_string(),
        };
        let choose = if first_day.is_some() {
            format!(
                "<a class=\"button primary\" href=\"/book?clinic={id}{carry}\">{} <span class=\"sr\">{name}</span></a>",
                lang.t("선택", "Choose")
            )
        } else {
            String::new()
        };
        html.push_str(&format!(
            "<li class=\"card\"><h3>{name}</h3><p>{place}{distance}</p><p>{}: {}</p><p>{}</p>{choose}</li>",
            lang.t("백신", "Vaccines"),
            products.join(", "),
            escape(&when)
        ));
    }
    if clinics.is_empty() {
        html.push_str(&format!(
            "<li>{}</li>",
            lang.t("조건에 맞는 의료기관이 없습니다.", "No clinic matches.")
        ));
    }
    html.push_str("</ul>");
    if let Some(next) = next {
        html.push_str(&format!(
            "<p class=\"actions\"><a class=\"button secondary\" id=\"next\" href=\"{}\">{}</a></p>",
            escape(&next),
            lang.t("다음 의료기관 더 보기", "More clinics")
        ));
    }
    html.push_str("</section>");
    html
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
    let day_links = day_links(&days, date, &base, lang).into_string();
    let bands = band_choices(&state, clinic, date, product, lang).into_string();
    let who = if change.is_some() {
        String::new()
    } else {
        format!(
            "<fieldset><legend>{legend}</legend>\
             <label class=\"choice\"><input type=\"radio\" name=\"who\" value=\"self\"{self_checked}> {me}</label>\
             <label class=\"choice\"><input type=\"radio\" name=\"who\" value=\"family\"{family_checked}> {fam}</label>\
             <div id=\"family-fields\" class=\"stack\">\
             <p class=\"hint\">{fam_hint}</p>\
             <div class=\"field\"><label for=\"family-name\">{name}</label><input id=\"family-name\" name=\"family_name\" autocomplete=\"off\"></div>\
             <div class=\"field\"><label for=\"family-rrn\">{rrn}</label><input id=\"family-rrn\" name=\"family_rrn\" inputmode=\"numeric\" autocomplete=\"off\"></div>\
             <div class=\"field\"><label for=\"family-phone\">{phone}</label><input id=\"family-phone\" name=\"family_phone\" type=\"tel\" autocomplete=\"off\"></div>\
             <div id=\"family-code\" class=\"stack\" hidden><p role=\"status\">{code_sent}</p><p id=\"family-demo-code\" class=\"demo\" hidden></p>\
             <div class=\"field\"><label for=\"family-code-input\">{code}</label><input id=\"family-code-input\" name=\"family_code\" inputmode=\"numeric\" autocomplete=\"off\" maxlength=\"6\"></div></div>\
             </div></fieldset>",
            legend = lang.t("누구의 예약인가요?", "Who is this booking for?"),
            self_checked = if family { "" } else { " checked" },
            family_checked = if family { " checked" } else { "" },
            me = lang.t("본인", "Myself"),
            fam = lang.t("가족 (대리 예약)", "A family member"),
            fam_hint = lang.t(
                "가족을 예약할 때만 입력하세요. 가족 본인의 휴대전화로 인증번호를 보내 동의를 확인합니다. 휴대전화가 없는 가족은 콜센터나 주민센터에서 신분증을 확인하고 예약할 수 있습니다.",
                "Only when booking for a family member. We text a code to their own phone to confirm they agree. Without a phone, they can book at a call centre or community centre with their ID."
            ),
            name = lang.t("가족 이름", "Their name"),
            rrn = lang.t("가족 주민등록번호", "Their resident registration number"),
            phone = lang.t("가족 휴대전화 번호", "Their mobile number"),
            code_sent = lang.t(
                "가족의 휴대전화로 인증번호를 보냈습니다. 가족에게 받은 인증번호를 입력하면 동의가 확인됩니다.",
                "We texted a code to their phone. Enter the code they tell you: that is their consent."
            ),
            code = lang.t("가족이 받은 인증번호 6자리", "The six-digit code they received"),
        )
    };
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
        lang.t("얀센 백신은 1회 접종입니다.", "Janssen is a single dose.")
    } else {
        lang.t(
            "2차 접종은 같은 의료기관, 같은 백신으로 접종 간격에 맞춰 함께 예약됩니다.",
            "Dose 2 is booked with it: same clinic, same vaccine, at the vaccine's interval.",
        )
    };
    let submit = if change.is_some() {
        lang.t("이 일정으로 변경", "Change to this")
    } else {
        lang.t("예약하기", "Book")
    };
    let body = format!(
        "<h1>{h1}</h1>{purpose}<p class=\"clinic\"><strong>{clinic_name}</strong> · {place}</p>\
         <form method=\"get\" action=\"/book\" id=\"product-form\" class=\"stack\">\
         <input type=\"hidden\" name=\"clinic\" value=\"{clinic_id}\">{hidden}\
         <div class=\"field\"><label for=\"product\">{product_label}</label><select id=\"product\" name=\"product\">{products}</select></div>\
         <noscript><button class=\"button secondary\" type=\"submit\">{apply}</button></noscript></form>\
         <section aria-labelledby=\"days-h\"><h2 id=\"days-h\">{days_h}</h2><ul class=\"days\">{day_links}</ul></section>\
         <form id=\"book\" method=\"post\" action=\"/book\" class=\"stack\" data-clinic=\"{clinic_id}\" data-date=\"{date}\" data-product=\"{product_code}\" data-change=\"{change_id}\" data-busy=\"{busy}\" data-family-missing=\"{family_missing}\" data-demo=\"{demo}\" data-hour-missing=\"{hour_missing}\" {places_texts}>\
         <fieldset><legend>{band_h} — {date_text}</legend><div class=\"choices\">{bands}</div>\
         <p id=\"bands-status\" class=\"note\" role=\"status\"></p></fieldset>{who}\
         <p class=\"note\">{dose2}</p><button class=\"button primary\" type=\"submit\">{submit}</button></form>{error}{filled}",
        h1 = lang.t("날짜와 시간 선택", "Choose a day and time"),
        purpose = purpose_note(change, family, lang),
        clinic_name = escape(&clinic.name),
        place = escape(&place),
        clinic_id = clinic.id.0,
        hidden = hidden_carry(change, family),
        product_label = lang.t("백신", "Vaccine"),
        products =
            product_options(Some(product.code()), &clinic.products, lang, false).into_string(),
        apply = lang.t("백신 바꾸기", "Show this vaccine"),
        days_h = lang.t("날짜", "Day"),
        product_code = product.code(),
        change_id = change.unwrap_or(""),
        busy = lang.t(
            "접속자가 많아 잠시 후 자동으로 다시 시도합니다…",
            "Busy; trying again shortly…"
        ),
        family_missing = lang.t(
            "가족의 이름, 주민등록번호와 휴대전화 번호를 입력해 주세요.",
            "Please enter your family member's name, registration number and phone."
        ),
        demo = lang.t("시연용 인증번호:", "Demo code:"),
        hour_missing = lang.t("시간대를 선택해 주세요.", "Please choose a time."),
        places_texts = places_texts(lang).attributes(),
        filled = filled_section(
            lang,
            change.is_some(),
            &format!("/search{}", carry(change, family).replacen('&', "?", 1)),
        )
        .into_string(),
        band_h = lang.t("시간대", "Time"),
        date_text = date_text(date, lang),
        error = error_box().into_string(),
    );
    let title = lang.t("날짜와 시간 선택", "Day and time");
    let mut page = Page::citizen(
        lang,
        title,
        super::respond::here(&uri),
        Some(5),
        maud::PreEscaped(body),
    );
    page.script = Some("book.js");
    html(page.render(), remember)
}

#[derive(Deserialize)]
pub struct BookingsParams {
    booked: Option<String>,
    changed: Option<String>,
    cancelled: Option<String>,
}

fn appointment_text(a: &AppointmentView, lang: Lang) -> String {
    escape(&when_where(a.date, a.hour, a.clinic.name(), lang))
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
    let banner_for = |id: &Option<String>, ko: &'static str, en: &'static str| {
        filled(id).map(|id| (id.to_string(), lang.t(ko, en)))
    };
    let banner = banner_for(
        &params.booked,
        "예약이 완료되었습니다",
        "Your booking is confirmed",
    )
    .or_else(|| {
        banner_for(
            &params.changed,
            "예약이 변경되었습니다",
            "Your booking was changed",
        )
    })
    .or_else(|| {
        banner_for(
            &params.cancelled,
            "예약이 취소되었습니다",
            "Your booking was cancelled",
        )
    });
    let mut html_list = String::new();
    for b in &bookings {
        let id = b.id;
        let active = b.active;
        let whose = if b.for_self {
            lang.t("본인", "Myself")
        } else {
            lang.t("가족", "Family member")
        };
        let product = escape(lang.t(b.product.name_ko, b.product.name_en));
        let status = if active {
            lang.t("예약됨", "Booked")
        } else {
            lang.t("취소됨", "Cancelled")
        };
        let mut doses = String::new();
        for dose in &b.doses {
            let n = dose.dose;
            let label = match lang {
                Lang::Ko => format!("{n}차 접종"),
                Lang::En => format!("Dose {n}"),
            };
            let state_text = match dose.status {
                DoseStatus::Given => lang.t(" (접종 완료)", " (given)"),
                DoseStatus::Cancelled => lang.t(" (취소)", " (cancelled)"),
                DoseStatus::Booked => "",
            };
            doses.push_str(&format!(
                "<dt>{label}</dt><dd class=\"dose{n}\">{}{state_text}</dd>",
                escape(&when_where(dose.date, dose.hour, dose.clinic.name(), lang))
            ));
        }
        let mut moved = String::new();
        for m in b.moved.iter().flatten() {
            let to = match &m.to {
                None => lang
                    .t(
                        "유지할 수 없어 취소되었습니다",
                        "could not be kept and is cancelled",
                    )
                    .to_string(),
                Some(to) => format!("→ {}", appointment_text(to, lang)),
            };
            moved.push_str(&format!(
                "<p>{}: {} {to}</p>",
                lang.t(
                    "공급 변경으로 일정이 옮겨졌습니다",
                    "Moved because of a supply change"
                ),
                appointment_text(&m.from, lang)
            ));
        }
        if !moved.is_empty() {
            moved = format!(
                "<div class=\"notice\">{moved}<button class=\"button secondary\" type=\"button\" data-accept=\"{id}\">{}</button></div>",
                lang.t("확인했습니다", "I have seen this")
            );
        }
        let actions = if active {
            format!(
                "<p class=\"actions\"><a class=\"button secondary\" href=\"/search?change={id}\">{change}</a>\
                 <button class=\"button danger\" type=\"button\" data-cancel=\"{id}\" data-confirm=\"{confirm}\">{cancel}</button></p>",
                change = lang.t("날짜·의료기관 변경", "Change day or clinic"),
                cancel = lang.t("예약 취소", "Cancel booking"),
                confirm = lang.t(
                    "이 예약(1차·2차)을 취소할까요?",
                    "Cancel this booking (both doses)?"
                ),
            )
        } else {
            String::new()
        };
        let highlight = match &banner {
            Some((bid, _)) if *bid == id.to_string() => " highlight",
            _ => "",
        };
        html_list.push_str(&format!(
            "<li class=\"card{highlight}\" id=\"booking-{id}\"><h2>{whose} · {product} <span class=\"status\">{status}</span></h2>\
             <dl class=\"facts\">{doses}</dl>{moved}{actions}</li>"
        ));
    }
    let banner_html = banner
        .map(|(_, text)| {
            format!(
                "<div class=\"success\" role=\"status\"><h2>{text}</h2><p>{}</p></div>",
                lang.t(
                    "안내 문자를 보내 드렸습니다. 접종 당일 신분증을 지참해 주세요.",
                    "We sent you a text message. Bring an ID card on the day."
                )
            )
        })
        .unwrap_or_default();
    let empty = if bookings.is_empty() {
        format!(
            "<p>{}</p><p class=\"actions\"><a class=\"button primary\" href=\"/eligibility\">{}</a></p>",
            lang.t("예약 내역이 없습니다.", "You have no bookings."),
            lang.t("예약하기", "Book now")
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>{h1}</h1>{banner_html}<ul class=\"cards\" id=\"bookings\">{html_list}</ul>{empty}\
         <p class=\"actions\"><a class=\"button secondary\" href=\"/search?family=1\">{family}</a>\
         <a class=\"button secondary\" href=\"/leftovers\">{leftover}</a>\
         <a class=\"button secondary\" href=\"/contact\">{contact}</a></p>{error}",
        h1 = lang.t("나의 예약", "My bookings"),
        contact = lang.t("안내 문자 받는 곳", "Where notices go"),
        family = lang.t("가족 예약하기", "Book for a family member"),
        leftover = lang.t("잔여백신 알림", "Leftover doses"),
        error = error_box().into_string(),
    );
    let title = lang.t("나의 예약", "My bookings");
    let step = if params.booked.is_some() {
        Some(6)
    } else {
        None
    };
    let mut page = Page::citizen(
        lang,
        title,
        super::respond::here(&uri),
        step,
        maud::PreEscaped(body),
    );
    page.script = Some("bookings.js");
    html(page.render(), remember)
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
    let (provinces, municipalities) = region_options(
        &state,
        lang,
        province,
        municipality,
        lang.t("선택", "Choose"),
    );
    let (provinces, municipalities) = (provinces.into_string(), municipalities.into_string());
    let centre = municipality.and_then(|m| district_centre(&state, m));
    let (lat, lon) = centre.map_or((String::new(), String::new()), |(lat, lon)| {
        (format!("{lat:.5}"), format!("{lon:.5}"))
    });
    let subscribed = match &near.subscription {
        Some(s) => format!(
            "<div class=\"success\" role=\"status\" id=\"subscribed\"><p>{}</p><button class=\"button secondary\" type=\"button\" id=\"unsubscribe\">{}</button></div>",
            match lang {
                Lang::Ko => format!("반경 {}km 안의 잔여백신을 알려 드립니다.", s.radius_km),
                Lang::En => format!(
                    "You will be told of leftover doses within {} km.",
                    s.radius_km
                ),
            },
            lang.t("알림 그만 받기", "Stop telling me")
        ),
        None => String::new(),
    };
    let mut offers = String::new();
    for o in &near.offers {
        let id = o.id;
        let until = o.until.map(|t| instant_text(t, lang)).unwrap_or_default();
        let name = escape(o.clinic.name.as_deref().unwrap_or(""));
        // As JSON writes it ("3.0"): the page has always shown the API's number.
        let distance = o.distance_km.unwrap_or_default();
        offers.push_str(&format!(
            "<li class=\"card\"><h3>{name}</h3><p>{} · {} {} · {:?} km</p><p>{}: {}</p>\
             <button class=\"button primary\" type=\"button\" data-claim=\"{id}\" data-confirm=\"{confirm}\">{claim} <span class=\"sr\">{name}</span></button></li>",
            product_name(o.product, lang),
            lang.t("남은 백신", "left"),
            o.left,
            distance,
            lang.t("신청 마감", "Until"),
            escape(&until),
            confirm = lang.t(
                "오늘 이 의료기관에서 1차 접종을 받으시겠어요? 다른 날 예약이 있으면 그 예약은 취소됩니다.",
                "Take dose 1 here today? A booking you hold for a later day is cancelled."
            ),
            claim = lang.t("오늘 접종 신청", "Claim for today"),
        ));
    }
    let offers_html = if near.subscription.is_none() {
        String::new()
    } else if offers.is_empty() {
        format!(
            "<p>{}</p>",
            lang.t(
                "지금은 가까운 잔여백신이 없습니다. 생기면 문자로 알려 드립니다.",
                "No leftover doses near you right now. We will text you when there are."
            )
        )
    } else {
        format!(
            "<h2>{}</h2><ul class=\"cards\" id=\"offers\">{offers}</ul>",
            lang.t("오늘의 잔여백신", "Leftover doses today")
        )
    };
    let products: String = Product::ALL
        .iter()
        .map(|p| {
            format!(
                "<label class=\"choice\"><input type=\"checkbox\" name=\"product\" value=\"{}\"> {}</label>",
                p.code(),
                lang.t(p.name_ko(), p.name_en())
            )
        })
        .collect();
    let body = format!(
        "<h1>{h1}</h1><p>{intro}</p>{subscribed}{offers_html}{error}\
         <section aria-labelledby=\"sub-h\"><h2 id=\"sub-h\">{sub_h}</h2>\
         <form method=\"get\" action=\"/leftovers\" id=\"area\" class=\"stack\">\
         <div class=\"field\"><label for=\"province\">{province_label}</label><select id=\"province\" name=\"province\">{provinces}</select></div>\
         <div class=\"field\"><label for=\"municipality\">{municipality_label}</label><select id=\"municipality\" name=\"municipality\">{municipalities}</select></div>\
         <noscript><button class=\"button secondary\" type=\"submit\">{choose}</button></noscript></form>\
         <p class=\"actions\"><button class=\"button secondary\" type=\"button\" id=\"locate\" hidden data-finding=\"{finding}\" data-found=\"{found}\" data-denied=\"{denied}\">{near_me}</button></p>\
         <p id=\"locate-status\" role=\"status\"></p>\
         <form id=\"subscribe\" class=\"stack\" data-lat=\"{lat}\" data-lon=\"{lon}\" data-place-missing=\"{missing}\">\
         <div class=\"field\"><label for=\"radius\">{radius_label}</label><select id=\"radius\" name=\"radius\">\
         <option value=\"1\">1 km</option><option value=\"3\" selected>3 km</option><option value=\"5\">5 km</option><option value=\"10\">10 km</option></select></div>\
         <fieldset><legend>{products_label}</legend><p class=\"hint\">{products_hint}</p><div class=\"choices\">{products}</div></fieldset>\
         <button class=\"button primary\" type=\"submit\">{subscribe}</button></form></section>",
        h1 = lang.t("잔여백신 알림", "Leftover doses"),
        intro = lang.t(
            "의료기관에서 오늘 남는 백신이 생기면 가까운 분께 문자로 알려 드립니다. 선착순이며, 예약 기간과 관계없이 신청할 수 있습니다.",
            "When a clinic has doses left over today, people nearby who asked are told by text. First come, first served, whatever your booking window."
        ),
        error = error_box().into_string(),
        sub_h = lang.t("알림 받을 곳", "Where to look"),
        province_label = lang.t("시·도", "Province or city"),
        municipality_label = lang.t("시·군·구", "District"),
        choose = lang.t("선택", "Choose"),
        finding = lang.t("위치를 확인하고 있습니다…", "Finding your location…"),
        found = lang.t("현재 위치를 사용합니다.", "Using your location."),
        denied = lang.t(
            "위치를 확인할 수 없습니다. 지역을 선택해 주세요.",
            "Your location is not available; please choose a district."
        ),
        near_me = lang.t("내 위치 사용", "Use my location"),
        missing = lang.t(
            "지역을 선택하거나 내 위치를 사용해 주세요.",
            "Choose a district or use your location."
        ),
        radius_label = lang.t("거리", "Distance"),
        products_label = lang.t("맞을 수 있는 백신", "Vaccines you would take"),
        products_hint = lang.t("선택하지 않으면 모든 백신", "None chosen: any vaccine"),
        subscribe = lang.t("알림 신청", "Tell me"),
    );
    let title = lang.t("잔여백신 알림", "Leftover doses");
    let mut page = Page::citizen(
        lang,
        title,
        super::respond::here(&uri),
        None,
        maud::PreEscaped(body),
    );
    page.script = Some("leftovers.js");
    html(page.render(), remember)
}
