//! The frame every page shares — header with the service name, step indicator, language switch,
//! footer — and the helpers pages write with: the language of data that comes in both, dates.
//!
//! Every page is plain HTML with one stylesheet and at most one script, both from `/assets`, so
//! the Content-Security-Policy can forbid inline scripts and styles altogether.

use super::assets;
use crate::text::Text;
use crate::text::shared::frame;
use jiff::Timestamp;
use jiff::civil::Date;
use maud::{Markup, PreEscaped, html};

pub use crate::text::Lang;

/// The Korean or the English of something that comes in both from the data (a product's or a
/// region's name, an API refusal's message). Texts written for the pages come from the
/// catalogue ([`crate::text`]) instead.
pub fn in_lang<'a>(lang: Lang, ko: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Ko => ko,
        Lang::En => en,
    }
}

/// Escapes text for HTML element content and quoted attribute values, for the pages still
/// written with `format!` (maud escapes by itself).
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

const WEEKDAYS_KO: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
const WEEKDAYS_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "2021년 7월 26일 (월)" or "Mon 26 Jul 2021".
pub fn date_text(day: Date, lang: Lang) -> String {
    let weekday = usize::try_from(day.weekday().to_monday_zero_offset()).unwrap_or(0);
    match lang {
        Lang::Ko => format!(
            "{}년 {}월 {}일 ({})",
            day.year(),
            day.month(),
            day.day(),
            WEEKDAYS_KO[weekday]
        ),
        Lang::En => format!(
            "{} {} {} {}",
            WEEKDAYS_EN[weekday],
            day.day(),
            MONTHS_EN[usize::try_from(day.month() - 1).unwrap_or(0)],
            day.year()
        ),
    }
}

/// "12월 2일 (수)" or "Wed 2 Dec": a day within the next weeks.
pub fn short_date_text(day: Date, lang: Lang) -> String {
    let weekday = usize::try_from(day.weekday().to_monday_zero_offset()).unwrap_or(0);
    match lang {
        Lang::Ko => format!(
            "{}월 {}일 ({})",
            day.month(),
            day.day(),
            WEEKDAYS_KO[weekday]
        ),
        Lang::En => format!(
            "{} {} {}",
            WEEKDAYS_EN[weekday],
            day.day(),
            MONTHS_EN[usize::try_from(day.month() - 1).unwrap_or(0)]
        ),
    }
}

/// An instant as a person in Korea reads it, whatever the server's or browser's time zone.
pub fn instant_text(at: Timestamp, lang: Lang) -> String {
    let seoul = domain::time::in_seoul(at);
    let day = date_text(seoul.date(), lang);
    let time = format!("{:02}:{:02}", seoul.hour(), seoul.minute());
    match lang {
        Lang::Ko => format!("{day} {time} (한국시간)"),
        Lang::En => format!("{day}, {time} (Korea time)"),
    }
}

/// "10:00–11:00".
pub fn band_text(hour: u8) -> String {
    format!("{hour:02}:00–{:02}:00", hour + 1)
}

/// The citizen's steps, shown on every page of the booking flow.
const STEPS: [Text; 6] = [
    frame::STEP_QUEUE,
    frame::STEP_IDENTITY,
    frame::STEP_ELIGIBILITY,
    frame::STEP_CLINIC,
    frame::STEP_DAY,
    frame::STEP_BOOKED,
];

/// Which step a page is (1-based), for the indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step(pub u8);

fn steps(current: Step, lang: Lang) -> Markup {
    html! {
        ol class="steps" aria-label=(frame::STEPS.get(lang)) {
            @for (n, label) in (1u8..).zip(STEPS) {
                @let (class, hidden) = match n.cmp(&current.0) {
                    std::cmp::Ordering::Less => ("done", Some(frame::STEP_DONE)),
                    std::cmp::Ordering::Equal => ("now", Some(frame::STEP_NOW)),
                    std::cmp::Ordering::Greater => ("", None),
                };
                li class=(class) aria-current=[(n == current.0).then_some("step")] {
                    span class="n" { (n) } " " span class="l" { (label.get(lang)) }
                    @if let Some(hidden) = hidden {
                        span class="sr" { " (" (hidden.get(lang)) ")" }
                    }
                }
            }
        }
    }
}

/// Who the page is for: the header's service name and links differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Citizen,
    Operator,
    Clinic,
    Agent,
}

/// One page, before it is wrapped in the frame.
pub struct Page {
    pub lang: Lang,
    pub audience: Audience,
    pub title: String,
    /// The path and query of this page, for the language switch.
    pub here: String,
    pub step: Option<Step>,
    /// The page's own script in `/assets`, if it has one.
    pub script: Option<&'static str>,
    pub body: Markup,
}

impl Page {
    /// A citizen's page, at a step of the booking flow (1-based) or none.
    pub fn citizen(lang: Lang, title: &str, here: &str, step: Option<u8>, body: Markup) -> Page {
        Page {
            lang,
            audience: Audience::Citizen,
            title: title.to_string(),
            here: here.to_string(),
            step: step.map(Step),
            script: None,
            body,
        }
    }
}

/// The same address with one parameter set (the others kept, in order).
pub fn with_param(here: &str, key: &str, value: &str) -> String {
    let (path, query) = here.split_once('?').unwrap_or((here, ""));
    let prefix = format!("{key}=");
    let mut parts: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with(&prefix))
        .collect();
    let pair = format!("{key}={value}");
    parts.push(&pair);
    format!("{path}?{}", parts.join("&"))
}

/// The same address in the other language.
fn switch_href(here: &str, to: Lang) -> String {
    with_param(here, "lang", to.code())
}

impl Page {
    /// The service's name and home in the header, and the links beside the language switch.
    fn header(&self) -> (Text, &'static str, Markup) {
        let lang = self.lang;
        let link = |href: &'static str, text: Text| html! { a href=(href) { (text.get(lang)) } };
        match self.audience {
            Audience::Citizen => (
                frame::SERVICE_CITIZEN,
                "/",
                link("/bookings", frame::NAV_BOOKINGS),
            ),
            Audience::Operator => (
                frame::SERVICE_OPERATOR,
                "/operator",
                html! {
                    (link("/operator", frame::NAV_OPERATOR_QUEUE))
                    (link("/operator/supply", frame::NAV_OPERATOR_SUPPLY))
                    (link("/operator/dashboard", frame::NAV_OPERATOR_DASHBOARD))
                },
            ),
            Audience::Clinic => (
                frame::SERVICE_CLINIC,
                "/clinic",
                link("/clinic", frame::NAV_CLINIC),
            ),
            Audience::Agent => (
                frame::SERVICE_AGENT,
                "/agent",
                link("/agent", frame::NAV_AGENT),
            ),
        }
    }

    pub fn render(&self) -> String {
        let lang = self.lang;
        let other = lang.other();
        let (service, home, nav) = self.header();
        let service = service.get(lang);
        let page = html! {
            (PreEscaped("<!doctype html>"))
            html lang=(lang.code()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " · " (service) }
                    link rel="icon" href="data:,";
                    link rel="stylesheet" href=(assets::url("app.css"));
                    @if let Some(name) = self.script {
                        (assets::texts_block(name, lang))
                        script src=(assets::url("common.js")) defer {}
                        script src=(assets::url(name)) defer {}
                    }
                }
                body {
                    a class="skip" href="#main" { (frame::SKIP.get(lang)) }
                    header class="site" {
                        div class="bar" {
                            a class="brand" href=(home) { (service) }
                            nav aria-label=(frame::MENU.get(lang)) {
                                (nav)
                                a href=(switch_href(&self.here, other)) lang=(other.code()) hreflang=(other.code()) {
                                    (frame::LANGUAGE_NAME.get(other))
                                }
                            }
                        }
                    }
                    main id="main" {
                        @if let Some(step) = self.step { (steps(step, lang)) }
                        // Reading works without scripts; acting (sending a form to the API) needs
                        // this page's.
                        @if self.script.is_some() {
                            noscript { p class="notice" { (frame::NOSCRIPT.get(lang)) } }
                        }
                        (self.body)
                    }
                    footer class="site" { (frame::FOOTER.get(lang)) }
                }
            }
        };
        page.into_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_keeps_other_parameters() {
        assert_eq!(
            switch_href("/book?clinic=3&lang=ko", Lang::En),
            "/book?clinic=3&lang=en"
        );
        assert_eq!(switch_href("/", Lang::Ko), "/?lang=ko");
    }

    #[test]
    fn dates_read_naturally_in_both_languages() {
        let day = jiff::civil::date(2021, 7, 26);
        assert_eq!(date_text(day, Lang::Ko), "2021년 7월 26일 (월)");
        assert_eq!(date_text(day, Lang::En), "Mon 26 Jul 2021");
        let at: Timestamp = "2021-07-19T11:00:00Z".parse().unwrap_or_default();
        assert_eq!(
            instant_text(at, Lang::Ko),
            "2021년 7월 19일 (월) 20:00 (한국시간)"
        );
    }

    #[test]
    fn escaping_covers_attributes() {
        assert_eq!(
            escape("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
