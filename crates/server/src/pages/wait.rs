//! The waiting room's pages: `GET /wait` (position, people ahead, ETA and progress, refreshed
//! by the server's `Refresh` header; no script, so it works everywhere; with `?province=NN`,
//! the places left there and a plain warning when they may run out before the person's turn),
//! `POST /wait/text-me` ("leave and we'll text you") and `POST /wait/leftover-alerts` ("tell
//! me of leftover doses near me instead").

use super::layout::{Lang, Page, escape, instant_text};
use super::respond::{html, negotiate};
use crate::error::ApiError;
use crate::routes;
use crate::routes::queue::{Nearby, StatusBody, WaitPlace};
use crate::state::AppState;
use crate::text::errors;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;
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
    let mut response = html(waiting(&place, lang, here, &stock), remember);
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
fn stock_section(state: &AppState, place: &WaitPlace, province: Option<u8>, lang: Lang) -> String {
    let StatusBody::Waiting {
        people_ahead_eligible,
        ..
    } = place.status
    else {
        return String::new();
    };
    let (provinces, municipalities) =
        super::widgets::region_options(state, lang, province, None, lang.t("선택", "Choose"));
    let (provinces, municipalities) = (provinces.into_string(), municipalities.into_string());
    let choose = format!(
        "<form id=\"where\" method=\"get\" action=\"/wait\"><p><label for=\"province\">{label}</label> \
         <select id=\"province\" name=\"province\">{provinces}</select> \
         <button class=\"button secondary\" type=\"submit\">{show}</button></p></form>",
        label = lang.t("접종받을 지역", "Where you would be vaccinated"),
        show = lang.t("남은 자리 보기", "Show places left"),
    );
    let nearby = province.and_then(|code| Nearby::in_province(state, code));
    let Some(nearby) = nearby else {
        return format!(
            "<section aria-label=\"{}\">{choose}</section>",
            lang.t("지역", "Region")
        );
    };
    let left = match lang {
        Lang::Ko => format!(
            "이 지역에 앞으로 7일 동안 남은 자리: {}곳",
            nearby.places_left
        ),
        Lang::En => format!(
            "Places left here over the next 7 days: {}",
            nearby.places_left
        ),
    };
    let mut section = format!("{choose}<p id=\"places-nearby\">{}</p>", escape(&left));
    if nearby.may_run_out(people_ahead_eligible) {
        let instead = if place.verified {
            format!(
                "<form id=\"leftover-alerts\" method=\"post\" action=\"/wait/leftover-alerts\">\
                 <p><label for=\"municipality\">{label}</label> \
                 <select id=\"municipality\" name=\"municipality\" required>{municipalities}</select></p>\
                 <p><button class=\"button primary\" type=\"submit\">{button}</button></p></form>",
                label = lang.t("알림 받을 시·군·구", "Tell me about this district"),
                button = lang.t("잔여백신 알림 받기", "Tell me about leftover doses"),
            )
        } else {
            format!(
                "<p><a href=\"/wait/verify\">{}</a></p>",
                lang.t(
                    "본인인증을 하시면 기다리는 대신 잔여백신 알림을 받을 수 있습니다.",
                    "Verify who you are to be told of leftover doses instead of waiting."
                )
            )
        };
        section.push_str(&format!(
            "<div class=\"notice\" id=\"may-run-out\" role=\"status\"><p><strong>{warn}</strong></p><p>{why}</p>{instead}</div>",
            warn = lang.t(
                "차례가 오기 전에 이 지역의 자리가 모두 찰 수 있습니다.",
                "Places here may run out before your turn."
            ),
            why = lang.t(
                "앞에서 기다리는 분들 중 이 지역에서 예약할 분의 수가 남은 자리보다 많거나 같습니다. 계속 기다리셔도 되고, 잔여백신이 생기면 문자로 알림을 받으실 수도 있습니다. 새 물량이 들어오면 남은 자리가 다시 늘어납니다.",
                "As many people ahead of you are likely to book here as there are places left. You may keep waiting, or be texted when leftover doses come up near you. New deliveries add places again."
            ),
        ));
    }
    format!(
        "<section aria-label=\"{}\">{section}</section>",
        lang.t("지역", "Region")
    )
}

fn waiting(place: &WaitPlace, lang: Lang, here: &str, stock: &str) -> String {
    let admitted = place.pass.is_some();
    let reload_note = lang.t(
        "새로고침하거나 다시 접속해도 순서는 그대로 유지됩니다. 이 화면은 자동으로 새로 고쳐집니다.",
        "Reloading or reconnecting keeps your place. This page updates itself.",
    );
    let body = if admitted {
        format!(
            "<h1>{}</h1><p>{}</p><p class=\"actions\"><a class=\"button primary\" href=\"/identity\">{}</a></p>",
            lang.t("입장 차례입니다", "It is your turn"),
            lang.t(
                "지금 예약할 수 있습니다. 입장 후 30분 동안 예약할 수 있습니다.",
                "You may now book. Your pass is valid for 30 minutes."
            ),
            lang.t("본인인증 하기", "Continue to booking")
        )
    } else if let StatusBody::BeforeOpening { opens_at, .. } = &place.status {
        let opens = opens_at.map(|t| instant_text(t, lang)).unwrap_or_default();
        format!(
            "<h1>{}</h1><p class=\"big\">{}</p><p>{}</p><p class=\"note\">{reload_note}</p>",
            lang.t("아직 예약 시작 전입니다", "Booking has not opened yet"),
            escape(&opens),
            lang.t(
                "시작 전에 오신 분들의 순서는 시작 시각에 무작위로 정해지므로, 일찍 오거나 새로고침을 해도 유리하지 않습니다. 본인인증을 한 분은 한 분당 한 자리로, 인증하지 않은 대기표보다 앞에서 추첨됩니다.",
                "Everyone here before then gets a place drawn at random at the opening: there is no advantage in arriving earlier or refreshing. Verified people get one place each, drawn ahead of every unverified ticket."
            ),
        )
    } else {
        let Standing {
            ahead,
            position,
            number,
            eta_seconds,
        } = Standing::of(&place.status);
        let number = number.max(1);
        let done = number.saturating_sub(position);
        let percent = done * 100 / number;
        let eta = eta_seconds.map_or_else(
            || lang.t("계산 중", "being measured").to_string(),
            |s| minutes_text(s, lang),
        );
        format!(
            "<h1>{h1}</h1><p class=\"big\" id=\"ahead\">{ahead_text}</p>\
             <p><label for=\"progress\">{progress_label}</label>\
             <progress id=\"progress\" max=\"{number}\" value=\"{done}\">{percent}%</progress></p>\
             <dl class=\"facts\"><dt>{num_label}</dt><dd id=\"number\">{number}</dd><dt>{pos_label}</dt><dd id=\"position\">{position}</dd>\
             <dt>{eta_label}</dt><dd id=\"eta\">{eta}</dd></dl><p class=\"note\">{reload_note}</p>",
            h1 = lang.t("대기 중입니다", "You are in the queue"),
            ahead_text = match lang {
                Lang::Ko => format!("앞에 {ahead}명이 있습니다"),
                Lang::En => format!("{ahead} people ahead of you"),
            },
            progress_label = lang.t("진행 상황", "Progress"),
            num_label = lang.t("대기 번호", "Your number"),
            pos_label = lang.t("지금 순서", "Your position now"),
            eta_label = lang.t("예상 대기 시간", "Expected wait"),
            eta = escape(&eta),
        )
    };
    let verify = if admitted {
        String::new()
    } else if place.verified {
        let verified = format!(
            "<p class=\"success\" id=\"verified\" role=\"status\">{}</p>",
            lang.t(
                "본인인증을 마쳤습니다. 이 자리가 한 분께 드리는 자리이며, 다른 창이나 기기에서도 같은 자리로 보입니다. 차례가 되면 바로 예약할 수 있습니다.",
                "You are verified. This is your one place, shown the same in every window and device; at your turn you go straight to booking."
            )
        );
        let text = if place.texting {
            format!(
                "<p class=\"note\" id=\"will-text\">{}</p>",
                lang.t(
                    "차례가 되면 인증한 휴대전화로 문자를 보내 드립니다. 이 화면을 닫으셔도 됩니다.",
                    "We will text your verified phone when your turn comes. You may close this page."
                )
            )
        } else {
            format!(
                "<form id=\"text-me\" method=\"post\" action=\"/wait/text-me\"><p>{p}</p>\
                 <button class=\"button secondary\" type=\"submit\">{b}</button></form>",
                p = lang.t(
                    "기다리지 않고 화면을 닫으셔도 됩니다: 차례가 되면 문자로 알려 드리고, 10분 동안 자리를 맡아 둡니다.",
                    "You need not wait here: close the page, we text you when your turn comes and hold your place for 10 minutes."
                ),
                b = lang.t("문자로 알려 주세요", "Text me instead"),
            )
        };
        format!("{verified}{text}")
    } else {
        format!(
            "<section aria-labelledby=\"verify-h\"><h2 id=\"verify-h\">{h}</h2><p>{p}</p>\
             <p class=\"actions\"><a class=\"button primary\" id=\"verify-link\" href=\"/wait/verify\">{a}</a></p></section>",
            h = lang.t("기다리는 동안 본인인증", "Verify while you wait"),
            p = lang.t(
                "인증한 분은 한 분당 한 자리로, 인증하지 않은 대기표보다 앞에서 추첨됩니다.",
                "Verified people get one place each, drawn ahead of every unverified ticket."
            ),
            a = lang.t("본인인증 하기", "Verify now"),
        )
    };
    let body = format!("{body}{stock}{verify}");
    let title = lang.t("접속 대기", "Waiting room");
    Page::citizen(lang, title, here, Some(1), maud::PreEscaped(body)).render()
}

fn minutes_text(seconds: u64, lang: Lang) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    match (lang, minutes) {
        (Lang::En, 1) => "about a minute".into(),
        (Lang::En, m) => format!("about {m} minutes"),
        (Lang::Ko, m) => format!("약 {m}분"),
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
            lang.t("문자로 알려 드립니다", "We will text you"),
            match lang {
                Lang::Ko => format!(
                    "이 화면을 닫으셔도 됩니다. 차례가 되면 인증한 휴대전화로 돌아올 링크를 보내 드리고, 그때부터 {minutes}분 동안 자리를 맡아 둡니다. 그 안에 돌아오지 않으시면 자리가 다음 분께 넘어가고, 대기열 맨 뒤에서 다시 기다리실 수 있습니다."
                ),
                Lang::En => format!(
                    "You may close this page. When your turn comes we text a link back to your verified phone and hold your place for {minutes} minutes from then. If you do not come back in time, the place goes to the next person and you can rejoin at the back."
                ),
            },
            axum::http::StatusCode::OK,
        ),
        Err(e) => (
            lang.t("문자 안내를 신청할 수 없습니다", "We cannot text you"),
            lang.t(&e.message_ko, &e.message_en).to_string(),
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
            lang.t(
                "잔여백신 알림을 신청했습니다",
                "You will be told of leftover doses",
            ),
            match lang {
                Lang::Ko => format!(
                    "{district} 10km 안에 잔여백신이 생기면 인증한 휴대전화로 알려 드립니다. 대기 순서는 그대로 유지됩니다."
                ),
                Lang::En => format!(
                    "We text your verified phone when leftover doses come up within 10 km of {district}. Your place in the queue is kept."
                ),
            },
            axum::http::StatusCode::OK,
        ),
        Err(e) => (
            lang.t("알림을 신청할 수 없습니다", "We cannot set up the alerts"),
            lang.t(&e.message_ko, &e.message_en).to_string(),
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
    (h1, message, status): (&str, &str, axum::http::StatusCode),
    result_id: &str,
) -> Response {
    let body = format!(
        "<h1>{h1}</h1><p id=\"{result_id}\">{message}</p>\
         <p class=\"actions\"><a class=\"button secondary\" href=\"/wait\">{back}</a></p>",
        message = escape(message),
        back = lang.t("대기 화면으로", "Back to the waiting page"),
    );
    let mut response = html(
        Page::citizen(
            lang,
            h1,
            super::respond::here(uri),
            Some(1),
            maud::PreEscaped(body),
        )
        .render(),
        None,
    );
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
