//! Server-rendered pages. For now the waiting page: small, readable on a phone, no scripts,
//! refreshed by the server's `Refresh` header at the interval the server chooses.

use serde_json::Value;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn minutes_text(seconds: u64, english: bool) -> String {
    let minutes = seconds.div_ceil(60);
    match (english, minutes) {
        (true, 0 | 1) => "about a minute".into(),
        (true, m) => format!("about {m} minutes"),
        (false, 0 | 1) => "약 1분".into(),
        (false, m) => format!("약 {m}분"),
    }
}

pub fn waiting(status: &Value, english: bool, admitted: bool) -> String {
    let (lang, title) = if english {
        ("en", "Waiting room")
    } else {
        ("ko", "접속 대기 중")
    };
    let body = if admitted {
        if english {
            "<h1>It is your turn</h1><p>You may now book. Your pass is valid for 30 minutes.</p>\
             <p><a class=\"button\" href=\"/\">Continue to booking</a></p>"
                .to_string()
        } else {
            "<h1>입장 차례입니다</h1><p>지금 예약할 수 있습니다. 입장권은 30분 동안 유효합니다.</p>\
             <p><a class=\"button\" href=\"/\">예약 계속하기</a></p>"
                .to_string()
        }
    } else if status["state"] == "before_opening" {
        let opens = escape(status["opens_at"].as_str().unwrap_or(""));
        if english {
            format!(
                "<h1>Booking has not opened yet</h1><p>It opens at <time>{opens}</time>. Everyone who is here before then gets a place drawn at random at the opening: there is no advantage in arriving earlier or refreshing.</p>"
            )
        } else {
            format!(
                "<h1>아직 예약 시작 전입니다</h1><p>예약은 <time>{opens}</time>에 시작합니다. 시작 전에 오신 분들의 순서는 시작 시각에 무작위로 정해지므로, 일찍 오거나 새로고침을 해도 유리하지 않습니다.</p>"
            )
        }
    } else {
        let ahead = status["people_ahead"].as_u64().unwrap_or(0);
        let eta = status["eta_seconds"]
            .as_u64()
            .map(|s| minutes_text(s, english));
        if english {
            format!(
                "<h1>You are in the queue</h1><p class=\"big\">{ahead} people ahead of you</p><p>Expected wait: {}</p>",
                escape(&eta.unwrap_or_else(|| "being measured".into()))
            )
        } else {
            format!(
                "<h1>대기 중입니다</h1><p class=\"big\">앞에 {ahead}명이 있습니다</p><p>예상 대기 시간: {}</p>",
                escape(&eta.unwrap_or_else(|| "계산 중".into()))
            )
        }
    };
    let reload_note = if english {
        "This page updates itself. Reloading or reconnecting keeps your place; closing your browser's cookies loses it."
    } else {
        "이 화면은 자동으로 새로고침됩니다. 새로고침하거나 다시 접속해도 순서는 그대로 유지됩니다."
    };
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · yeyak</title><style>\
         body{{font:1.25rem/1.6 system-ui,sans-serif;margin:0 auto;max-width:36rem;padding:1.5rem;color:#1d1d1d}}\
         h1{{font-size:1.6rem}}.big{{font-size:2rem;font-weight:700}}\
         .button{{display:inline-block;background:#0b50d0;color:#fff;padding:.9rem 1.4rem;border-radius:.5rem;text-decoration:none}}\
         </style></head><body><main>{body}<p role=\"note\">{reload_note}</p>\
         <p><a href=\"?lang={other}\">{other_name}</a></p></main></body></html>",
        other = if english { "ko" } else { "en" },
        other_name = if english { "한국어" } else { "English" },
    )
}
