//! The frame every page shares — header with the service name, step indicator, language switch,
//! footer — and the helpers pages write with: escaping, the two languages side by side, dates.
//!
//! Every page is plain HTML with one stylesheet and at most one script, both from `/assets`, so
//! the Content-Security-Policy can forbid inline scripts and styles altogether.

use super::assets;
use jiff::Timestamp;
use jiff::civil::Date;

pub use crate::text::Lang;

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
const STEPS: [(&str, &str); 6] = [
    ("대기", "Queue"),
    ("본인인증", "Identity"),
    ("대상 확인", "Eligibility"),
    ("의료기관 선택", "Clinic"),
    ("날짜·시간 선택", "Day and time"),
    ("예약 완료", "Booked"),
];

/// Which step a page is (1-based), for the indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step(pub u8);

fn steps_html(current: Step, lang: Lang) -> String {
    let mut html = format!(
        "<ol class=\"steps\" aria-label=\"{}\">",
        lang.t("예약 단계", "Booking steps")
    );
    for (i, (ko, en)) in STEPS.iter().enumerate() {
        let n = i as u8 + 1;
        let (class, current_attr, hidden) = match n.cmp(&current.0) {
            std::cmp::Ordering::Less => ("done", "", lang.t("완료", "done")),
            std::cmp::Ordering::Equal => {
                ("now", " aria-current=\"step\"", lang.t("현재", "current"))
            }
            std::cmp::Ordering::Greater => ("", "", ""),
        };
        let hidden = if hidden.is_empty() {
            String::new()
        } else {
            format!("<span class=\"sr\"> ({hidden})</span>")
        };
        html.push_str(&format!(
            "<li class=\"{class}\"{current_attr}><span class=\"n\">{n}</span> <span class=\"l\">{}</span>{hidden}</li>",
            lang.t(ko, en)
        ));
    }
    html.push_str("</ol>");
    html
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
    pub body: String,
}

impl Page {
    /// A citizen's page, at a step of the booking flow (1-based) or none.
    pub fn citizen(lang: Lang, title: &str, here: &str, step: Option<u8>, body: String) -> Page {
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
    pub fn render(&self) -> String {
        let lang = self.lang;
        let other = lang.other();
        let (service, home) = match self.audience {
            Audience::Citizen => (
                lang.t("코로나19 예방접종 사전예약", "COVID-19 vaccination booking"),
                "/",
            ),
            Audience::Operator => (lang.t("예약 운영 관리", "Booking operations"), "/operator"),
            Audience::Clinic => (lang.t("접종기관 업무", "Clinic desk"), "/clinic"),
            Audience::Agent => (lang.t("상담원 예약 대행", "Agent desk"), "/agent"),
        };
        let nav = match self.audience {
            Audience::Citizen => format!(
                "<a href=\"/bookings\">{}</a>",
                lang.t("예약 조회", "My bookings")
            ),
            Audience::Clinic => format!(
                "<a href=\"/clinic\">{}</a>",
                lang.t("오늘의 명단", "Today's list")
            ),
            Audience::Agent => format!(
                "<a href=\"/agent\">{}</a>",
                lang.t("예약 대행", "Book for someone")
            ),
            Audience::Operator => format!(
                "<a href=\"/operator\">{}</a><a href=\"/operator/supply\">{}</a><a href=\"/operator/dashboard\">{}</a>",
                lang.t("대기열·오픈", "Queue"),
                lang.t("공급·일정 변경", "Supply"),
                lang.t("현황판", "Dashboard")
            ),
        };
        let steps = self.step.map(|s| steps_html(s, lang)).unwrap_or_default();
        // Reading works without scripts; acting (sending a form to the API) needs this page's.
        let noscript = if self.script.is_some() {
            format!(
                "<noscript><p class=\"notice\">{}</p></noscript>",
                lang.t(
                    "이 화면에서 신청·변경하려면 자바스크립트를 켜 주세요. 전화 예약: 1339",
                    "To send anything from this page, please turn on JavaScript. Or book by phone: 1339"
                )
            )
        } else {
            String::new()
        };
        let script = self
            .script
            .map(|name| {
                format!(
                    "{}<script src=\"{}\" defer></script><script src=\"{}\" defer></script>",
                    assets::texts_block(name, lang).into_string(),
                    assets::url("common.js"),
                    assets::url(name)
                )
            })
            .unwrap_or_default();
        format!(
            "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · {service}</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"{css}\">{script}</head>\
             <body><a class=\"skip\" href=\"#main\">{skip}</a>\
             <header class=\"site\"><div class=\"bar\"><a class=\"brand\" href=\"{home}\">{service}</a>\
             <nav aria-label=\"{menu}\">{nav}<a href=\"{switch}\" lang=\"{other_code}\" hreflang=\"{other_code}\">{other_name}</a></nav></div></header>\
             <main id=\"main\">{steps}{noscript}{body}</main>\
             <footer class=\"site\">{footer}</footer></body></html>",
            code = lang.code(),
            title = escape(&self.title),
            css = assets::url("app.css"),
            skip = lang.t("본문 바로가기", "Skip to content"),
            menu = lang.t("주 메뉴", "Main menu"),
            switch = escape(&switch_href(&self.here, other)),
            other_code = other.code(),
            other_name = other.t("한국어", "English"),
            body = self.body,
            footer = lang.t(
                "질병관리청 코로나19 예방접종 대응 · 문의 1339",
                "Korea Disease Control and Prevention Agency · Help line 1339"
            ),
        )
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
