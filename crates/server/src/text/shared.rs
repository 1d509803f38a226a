//! What every page's frame says (header, steps, footer), what the widgets several pages show
//! alike say (vaccine and region choices, days and hour bands with the places left, the "that
//! time was just taken" box), the page a refusal is shown as, and dates.

use super::{Lang, either};

/// The frame around every page.
pub mod frame {
    crate::text::entries! {
        SERVICE_CITIZEN = ("코로나19 예방접종 사전예약", "COVID-19 vaccination booking");
        SERVICE_OPERATOR = ("예약 운영 관리", "Booking operations");
        SERVICE_CLINIC = ("접종기관 업무", "Clinic desk");
        SERVICE_AGENT = ("상담원 예약 대행", "Agent desk");
        NAV_BOOKINGS = ("예약 조회", "My bookings");
        NAV_CLINIC = ("오늘의 명단", "Today's list");
        NAV_AGENT = ("예약 대행", "Book for someone");
        NAV_OPERATOR_QUEUE = ("대기열·오픈", "Queue");
        NAV_OPERATOR_SUPPLY = ("공급·일정 변경", "Supply");
        NAV_OPERATOR_DASHBOARD = ("현황판", "Dashboard");
        /// The language switch names the other language in that language.
        LANGUAGE_NAME = ("한국어", "English");
        NOSCRIPT = (
            "이 화면에서 신청·변경하려면 자바스크립트를 켜 주세요. 전화 예약: 1339",
            "To send anything from this page, please turn on JavaScript. Or book by phone: 1339",
        );
        SKIP = ("본문 바로가기", "Skip to content");
        MENU = ("주 메뉴", "Main menu");
        FOOTER = (
            "질병관리청 코로나19 예방접종 대응 · 문의 1339",
            "Korea Disease Control and Prevention Agency · Help line 1339",
        );
        STEPS = ("예약 단계", "Booking steps");
        STEP_DONE = ("완료", "done");
        STEP_NOW = ("현재", "current");
        STEP_QUEUE = ("대기", "Queue");
        STEP_IDENTITY = ("본인인증", "Identity");
        STEP_ELIGIBILITY = ("대상 확인", "Eligibility");
        STEP_CLINIC = ("의료기관 선택", "Clinic");
        STEP_DAY = ("날짜·시간 선택", "Day and time");
        STEP_BOOKED = ("예약 완료", "Booked");
    }
}

/// The widgets several pages show.
pub mod widgets {
    crate::text::entries! {
        ANY_VACCINE = ("모든 백신", "Any vaccine");
        CHOOSE = ("선택", "Choose");
        FULL = ("마감", "full");
        NO_VACCINATIONS = ("이 날은 접종하지 않습니다.", "No vaccinations on this day.");
        FILLED_HEADING = (
            "방금 다른 분이 마지막 자리를 예약했습니다",
            "That time was just taken by someone else",
        );
        FILLED_CHANGE = (
            "아직 자리가 남은 가까운 시간대입니다. 누르면 바로 그 시간으로 변경됩니다.",
            "These nearby times still have places. Tap one to change to it.",
        );
        FILLED_BOOK = (
            "아직 자리가 남은 가까운 시간대입니다. 누르면 바로 예약됩니다.",
            "These nearby times still have places. Tap one to book it.",
        );
        NO_OFFERS = (
            "가까운 날짜와 의료기관에 남은 자리가 없습니다.",
            "No nearby day or clinic has a place left.",
        );
        SEARCH_AGAIN = ("다른 의료기관 찾기", "Find another clinic");
        /// For the booking scripts, which put the number in for `{n}`.
        LEFT_TEMPLATE = ("남은 자리 {n}", "{n} left");
        /// For the booking scripts, which put the band in for `{band}`.
        CHOSEN_FILLED = (
            "고르신 {band} 시간대가 방금 마감되었습니다. 다른 시간대를 골라 주세요.",
            "The {band} band you chose has just filled. Please choose another.",
        );
    }
}

/// A refusal shown as a page, on any side.
pub mod refused {
    crate::text::entries! {
        TITLE = ("오류", "Error");
        HEADING = ("요청을 처리할 수 없습니다", "This cannot be done");
        START_OVER = ("처음으로", "Back to the start");
    }
}

/// Days and instants as a person in Korea reads them.
pub mod dates {
    use crate::text::Lang;
    use jiff::Timestamp;
    use jiff::civil::Date;

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

    #[cfg(test)]
    mod tests {
        use super::*;

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
    }
}

/// "남은 자리 3" or "3 left".
pub fn places_left(lang: Lang, left: impl std::fmt::Display) -> String {
    either(
        lang,
        || format!("남은 자리 {left}"),
        || format!("{left} left"),
    )
}
