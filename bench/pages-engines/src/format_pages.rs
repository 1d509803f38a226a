//! The two pages as `crates/server/src/pages` wrote them before maud: `format!` and `escape()`.

use crate::{Frame, Province, STEPS, SearchInput, WaitInput, progress, range};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn steps_html(current: u8) -> String {
    let mut html = "<ol class=\"steps\" aria-label=\"예약 단계\">".to_string();
    for (i, label) in STEPS.iter().enumerate() {
        let n = i as u8 + 1;
        let (class, current_attr, hidden) = match n.cmp(&current) {
            std::cmp::Ordering::Less => ("done", "", "완료"),
            std::cmp::Ordering::Equal => ("now", " aria-current=\"step\"", "현재"),
            std::cmp::Ordering::Greater => ("", "", ""),
        };
        let hidden = if hidden.is_empty() {
            String::new()
        } else {
            format!("<span class=\"sr\"> ({hidden})</span>")
        };
        html.push_str(&format!(
            "<li class=\"{class}\"{current_attr}><span class=\"n\">{n}</span> <span class=\"l\">{label}</span>{hidden}</li>"
        ));
    }
    html.push_str("</ol>");
    html
}

fn frame(frame: &Frame, body: &str) -> String {
    let noscript = if frame.script.is_some() {
        "<noscript><p class=\"notice\">이 화면에서 신청·변경하려면 자바스크립트를 켜 주세요. 전화 예약: 1339</p></noscript>".to_string()
    } else {
        String::new()
    };
    let script = frame
        .script
        .map(|name| {
            format!(
                "<script src=\"/assets/common.js?v=1\" defer></script><script src=\"/assets/{name}?v=1\" defer></script>"
            )
        })
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · 코로나19 예방접종 사전예약</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/assets/app.css?v=1\">{script}</head>\
         <body><a class=\"skip\" href=\"#main\">본문 바로가기</a>\
         <header class=\"site\"><div class=\"bar\"><a class=\"brand\" href=\"/\">코로나19 예방접종 사전예약</a>\
         <nav aria-label=\"주 메뉴\"><a href=\"/bookings\">예약 조회</a><a href=\"{switch}\" lang=\"en\" hreflang=\"en\">English</a></nav></div></header>\
         <main id=\"main\">{steps}{noscript}{body}</main>\
         <footer class=\"site\">질병관리청 코로나19 예방접종 대응 · 문의 1339</footer></body></html>",
        title = escape(&frame.title),
        switch = escape(&frame.switch_href),
        steps = steps_html(frame.step),
    )
}

fn province_options(provinces: &[Province], selected: Option<u8>) -> String {
    let mut html = "<option value=\"\">선택</option>".to_string();
    for p in provinces {
        let sel = if selected == Some(p.code) {
            " selected"
        } else {
            ""
        };
        html.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            p.code,
            escape(&p.name)
        ));
    }
    html
}

pub fn wait(input: &WaitInput) -> String {
    let choose = format!(
        "<form id=\"where\" method=\"get\" action=\"/wait\"><p><label for=\"province\">접종받을 지역</label> \
         <select id=\"province\" name=\"province\">{provinces}</select> \
         <button class=\"button secondary\" type=\"submit\">남은 자리 보기</button></p></form>",
        provinces = province_options(&input.provinces, input.province),
    );
    let left = format!(
        "이 지역에 앞으로 7일 동안 남은 자리: {}곳",
        input.places_left
    );
    let stock = format!(
        "<section aria-label=\"지역\">{choose}<p id=\"places-nearby\">{}</p></section>",
        escape(&left)
    );
    let (done, percent) = progress(input);
    let number = input.number.max(1);
    let body = format!(
        "<h1>대기 중입니다</h1><p class=\"big\" id=\"ahead\">앞에 {ahead}명이 있습니다</p>\
         <p><label for=\"progress\">진행 상황</label>\
         <progress id=\"progress\" max=\"{number}\" value=\"{done}\">{percent}%</progress></p>\
         <dl class=\"facts\"><dt>대기 번호</dt><dd id=\"number\">{number}</dd><dt>지금 순서</dt><dd id=\"position\">{position}</dd>\
         <dt>예상 대기 시간</dt><dd id=\"eta\">{eta}</dd></dl><p class=\"note\">{note}</p>{stock}\
         <section aria-labelledby=\"verify-h\"><h2 id=\"verify-h\">기다리는 동안 본인인증</h2><p>{verify}</p>\
         <p class=\"actions\"><a class=\"button primary\" id=\"verify-link\" href=\"/wait/verify\">본인인증 하기</a></p></section>",
        ahead = input.ahead,
        position = input.position,
        eta = escape(&input.eta),
        note = "새로고침하거나 다시 접속해도 순서는 그대로 유지됩니다. 이 화면은 자동으로 새로 고쳐집니다.",
        verify = "인증한 분은 한 분당 한 자리로, 인증하지 않은 대기표보다 앞에서 추첨됩니다.",
    );
    frame(&input.frame, &body)
}

fn results(input: &SearchInput) -> String {
    let (first, last) = range(input);
    let mut html = format!(
        "<section aria-labelledby=\"results-h\"><h2 id=\"results-h\">검색 결과 {total}곳</h2>\
         <p class=\"note\">{first}–{last}번째 의료기관입니다.</p><ul class=\"cards\" id=\"results\">",
        total = input.total
    );
    for c in &input.clinics {
        let (id, name, place) = (c.id, escape(&c.name), escape(&c.place));
        let distance = c
            .distance_km
            .map(|km| format!(" · {km:.1} km"))
            .unwrap_or_default();
        let choose = if c.choosable {
            format!(
                "<a class=\"button primary\" href=\"/book?clinic={id}{carry}\">선택 <span class=\"sr\">{name}</span></a>",
                carry = input.carry
            )
        } else {
            String::new()
        };
        html.push_str(&format!(
            "<li class=\"card\"><h3>{name}</h3><p>{place}{distance}</p><p>백신: {}</p><p>{}</p>{choose}</li>",
            c.products.join(", "),
            escape(&c.when)
        ));
    }
    html.push_str("</ul>");
    if let Some(next) = &input.next {
        html.push_str(&format!(
            "<p class=\"actions\"><a class=\"button secondary\" id=\"next\" href=\"{}\">다음 의료기관 더 보기</a></p>",
            escape(next)
        ));
    }
    html.push_str("</section>");
    html
}

pub fn search(input: &SearchInput) -> String {
    let mut products = "<option value=\"\">모든 백신</option>".to_string();
    for (code, name) in &input.products {
        products.push_str(&format!("<option value=\"{code}\">{name}</option>"));
    }
    let body = format!(
        "<h1>의료기관 찾기</h1><p class=\"note\">가족(대리) 예약입니다.</p>\
         <form method=\"get\" action=\"/search\" id=\"search\" class=\"stack\"><input type=\"hidden\" name=\"family\" value=\"1\">\
         <fieldset><legend>지역으로 찾기</legend>\
         <div class=\"field\"><label for=\"province\">시·도</label><select id=\"province\" name=\"province\">{provinces}</select></div>\
         </fieldset>\
         <div class=\"field\"><label for=\"product\">백신</label><select id=\"product\" name=\"product\">{products}</select></div>\
         <input type=\"hidden\" name=\"lat\" id=\"lat\"><input type=\"hidden\" name=\"lon\" id=\"lon\">\
         <p class=\"actions\"><button class=\"button primary\" type=\"submit\">검색</button>\
         <button class=\"button secondary\" type=\"button\" id=\"locate\" hidden data-denied=\"{denied}\" data-finding=\"{finding}\">내 위치에서 가까운 곳</button></p>\
         </form><p id=\"locate-status\" role=\"status\"></p>{results}",
        provinces = province_options(&input.provinces, input.province),
        denied = "위치를 확인할 수 없습니다. 지역으로 찾아 주세요.",
        finding = "위치를 확인하고 있습니다…",
        results = results(input),
    );
    frame(&input.frame, &body)
}
