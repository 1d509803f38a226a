//! The two pages in maud: text escapes by default; `" "` keeps the space between inline
//! elements that the `format!` version had.

use crate::{Frame, Province, STEPS, SearchInput, WaitInput, progress, range};
use maud::{Markup, PreEscaped, html};

fn steps(current: u8) -> Markup {
    html! {
        ol.steps aria-label="예약 단계" {
            @for (i, label) in STEPS.iter().enumerate() {
                @let n = i as u8 + 1;
                @let (class, hidden) = match n.cmp(&current) {
                    std::cmp::Ordering::Less => ("done", "완료"),
                    std::cmp::Ordering::Equal => ("now", "현재"),
                    std::cmp::Ordering::Greater => ("", ""),
                };
                li class=(class) aria-current=[(n == current).then_some("step")] {
                    span.n { (n) } " " span.l { (label) }
                    @if !hidden.is_empty() { span.sr { " (" (hidden) ")" } }
                }
            }
        }
    }
}

fn frame(frame: &Frame, body: Markup) -> Markup {
    html! {
        (PreEscaped("<!doctype html>"))
        html lang="ko" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (frame.title) " · 코로나19 예방접종 사전예약" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/app.css?v=1";
                @if let Some(name) = frame.script {
                    script src="/assets/common.js?v=1" defer {}
                    script src={ "/assets/" (name) "?v=1" } defer {}
                }
            }
            body {
                a.skip href="#main" { "본문 바로가기" }
                header.site { div.bar {
                    a.brand href="/" { "코로나19 예방접종 사전예약" }
                    nav aria-label="주 메뉴" {
                        a href="/bookings" { "예약 조회" }
                        a href=(frame.switch_href) lang="en" hreflang="en" { "English" }
                    }
                } }
                main #main {
                    (steps(frame.step))
                    @if frame.script.is_some() {
                        noscript { p.notice { "이 화면에서 신청·변경하려면 자바스크립트를 켜 주세요. 전화 예약: 1339" } }
                    }
                    (body)
                }
                footer.site { "질병관리청 코로나19 예방접종 대응 · 문의 1339" }
            }
        }
    }
}

fn province_options(provinces: &[Province], selected: Option<u8>) -> Markup {
    html! {
        option value="" { "선택" }
        @for p in provinces {
            option value=(p.code) selected[selected == Some(p.code)] { (p.name) }
        }
    }
}

pub fn wait(input: &WaitInput) -> String {
    let (done, percent) = progress(input);
    let number = input.number.max(1);
    let body = html! {
        h1 { "대기 중입니다" }
        p.big #ahead { "앞에 " (input.ahead) "명이 있습니다" }
        p {
            label for="progress" { "진행 상황" }
            progress #progress max=(number) value=(done) { (percent) "%" }
        }
        dl.facts {
            dt { "대기 번호" } dd #number { (number) }
            dt { "지금 순서" } dd #position { (input.position) }
            dt { "예상 대기 시간" } dd #eta { (input.eta) }
        }
        p.note { "새로고침하거나 다시 접속해도 순서는 그대로 유지됩니다. 이 화면은 자동으로 새로 고쳐집니다." }
        section aria-label="지역" {
            form #where method="get" action="/wait" { p {
                label for="province" { "접종받을 지역" } " "
                select #province name="province" { (province_options(&input.provinces, input.province)) } " "
                button.button.secondary type="submit" { "남은 자리 보기" }
            } }
            p #places-nearby { "이 지역에 앞으로 7일 동안 남은 자리: " (input.places_left) "곳" }
        }
        section aria-labelledby="verify-h" {
            h2 #verify-h { "기다리는 동안 본인인증" }
            p { "인증한 분은 한 분당 한 자리로, 인증하지 않은 대기표보다 앞에서 추첨됩니다." }
            p.actions { a.button.primary #verify-link href="/wait/verify" { "본인인증 하기" } }
        }
    };
    frame(&input.frame, body).into_string()
}

fn results(input: &SearchInput) -> Markup {
    let (first, last) = range(input);
    html! {
        section aria-labelledby="results-h" {
            h2 #results-h { "검색 결과 " (input.total) "곳" }
            p.note { (first) "–" (last) "번째 의료기관입니다." }
            ul.cards #results {
                @for c in &input.clinics {
                    li.card {
                        h3 { (c.name) }
                        p { (c.place) @if let Some(km) = c.distance_km { " · " (format!("{km:.1}")) " km" } }
                        p { "백신: " (c.products.join(", ")) }
                        p { (c.when) }
                        @if c.choosable {
                            a.button.primary href={ "/book?clinic=" (c.id) (input.carry) } {
                                "선택 " span.sr { (c.name) }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = &input.next {
                p.actions { a.button.secondary #next href=(next) { "다음 의료기관 더 보기" } }
            }
        }
    }
}

pub fn search(input: &SearchInput) -> String {
    let body = html! {
        h1 { "의료기관 찾기" }
        p.note { "가족(대리) 예약입니다." }
        form method="get" action="/search" id="search" class="stack" {
            input type="hidden" name="family" value="1";
            fieldset {
                legend { "지역으로 찾기" }
                div.field {
                    label for="province" { "시·도" }
                    select #province name="province" { (province_options(&input.provinces, input.province)) }
                }
            }
            div.field {
                label for="product" { "백신" }
                select #product name="product" {
                    option value="" { "모든 백신" }
                    @for (code, name) in &input.products { option value=(code) { (name) } }
                }
            }
            input type="hidden" name="lat" id="lat";
            input type="hidden" name="lon" id="lon";
            p.actions {
                button.button.primary type="submit" { "검색" }
                button.button.secondary type="button" id="locate" hidden
                    data-denied="위치를 확인할 수 없습니다. 지역으로 찾아 주세요."
                    data-finding="위치를 확인하고 있습니다…" { "내 위치에서 가까운 곳" }
            }
        }
        p #locate-status role="status" {}
        (results(input))
    };
    frame(&input.frame, body).into_string()
}
