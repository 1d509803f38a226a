//! What every page's frame says (header, steps, footer) and what the widgets several pages show
//! alike say (vaccine and region choices, days and hour bands with the places left, the "that
//! time was just taken" box).

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

/// "남은 자리 3" or "3 left".
pub fn places_left(lang: Lang, left: impl std::fmt::Display) -> String {
    either(
        lang,
        || format!("남은 자리 {left}"),
        || format!("{left} left"),
    )
}
