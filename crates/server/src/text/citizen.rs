//! What a citizen reads: the waiting room, eligibility, search, booking and their bookings.
//! One group per page (`text::citizen::wait::TITLE`); what several pages say alike is in
//! [`common`]; texts with values in them are the functions at the end.

use super::{Lang, either};

/// Said alike on several of the citizen's pages.
pub mod common {
    crate::text::entries! {
        NAME = ("이름", "Name");
        MYSELF = ("본인", "Myself");
        VACCINE = ("백신", "Vaccine");
        PROVINCE = ("시·도", "Province or city");
        DISTRICT = ("시·군·구", "District");
        FIND_CLINIC = ("의료기관 찾기", "Find a clinic");
        BOOK_FAMILY = ("가족 예약하기", "Book for a family member");
        LEFTOVERS = ("잔여백신 알림", "Leftover doses");
        FINDING_LOCATION = ("위치를 확인하고 있습니다…", "Finding your location…");
        DEMO_CODE = ("시연용 인증번호:", "Demo code:");
        CODE_SENT_PROMPT = ("인증번호 6자리", "Six-digit code");
        VERIFY = ("본인인증 하기", "Verify now");
        REGION = ("지역", "Region");
    }
}

/// `/`: what the service is, and the way in.
pub mod home {
    crate::text::entries! {
        TITLE = ("예약 안내", "Welcome");
        HEADING = ("코로나19 예방접종 사전예약", "Book your COVID-19 vaccination");
        LEAD = (
            "본인과 가족의 예방접종 날짜와 의료기관을 예약합니다. 1차 접종을 예약하면 2차 접종도 함께 예약됩니다.",
            "Book a day and a clinic for yourself or a family member. Booking dose 1 books dose 2 with it.",
        );
        START = ("예약 시작하기", "Start booking");
        MINE = ("예약 조회·변경·취소", "View, change or cancel a booking");
        KNOW = ("알아두세요", "Good to know");
        FAIR = (
            "예약 시작 전에 오신 분의 순서는 시작 시각에 무작위로 정해집니다. 일찍 오거나 새로고침해도 유리하지 않습니다.",
            "Everyone who arrives before booking opens gets a place drawn at random at the opening: arriving early or refreshing gives no advantage.",
        );
        RELOAD = (
            "대기 중에 새로고침하거나 다시 접속해도 순서는 그대로입니다.",
            "Reloading or reconnecting while you wait keeps your place.",
        );
        FAMILY = (
            "본인인증을 한 뒤 가족(대리) 예약도 할 수 있습니다.",
            "After your identity check you can also book for a family member.",
        );
        RRN = (
            "주민등록번호는 저장하지 않습니다. 생년월일과 확인용 값만 보관합니다.",
            "Your resident registration number is not stored: only your birth date and a check value.",
        );
    }
}

/// `/wait`, and the pages answering its forms.
pub mod wait {
    crate::text::entries! {
        TITLE = ("접속 대기", "Waiting room");
        RELOAD_NOTE = (
            "새로고침하거나 다시 접속해도 순서는 그대로 유지됩니다. 이 화면은 자동으로 새로 고쳐집니다.",
            "Reloading or reconnecting keeps your place. This page updates itself.",
        );
        TURN_HEADING = ("입장 차례입니다", "It is your turn");
        TURN = (
            "지금 예약할 수 있습니다. 입장 후 30분 동안 예약할 수 있습니다.",
            "You may now book. Your pass is valid for 30 minutes.",
        );
        TURN_GO = ("본인인증 하기", "Continue to booking");
        BEFORE_HEADING = ("아직 예약 시작 전입니다", "Booking has not opened yet");
        BEFORE = (
            "시작 전에 오신 분들의 순서는 시작 시각에 무작위로 정해지므로, 일찍 오거나 새로고침을 해도 유리하지 않습니다. 본인인증을 한 분은 한 분당 한 자리로, 인증하지 않은 대기표보다 앞에서 추첨됩니다.",
            "Everyone here before then gets a place drawn at random at the opening: there is no advantage in arriving earlier or refreshing. Verified people get one place each, drawn ahead of every unverified ticket.",
        );
        WAITING_HEADING = ("대기 중입니다", "You are in the queue");
        ETA_MEASURING = ("계산 중", "being measured");
        PROGRESS = ("진행 상황", "Progress");
        NUMBER = ("대기 번호", "Your number");
        POSITION = ("지금 순서", "Your position now");
        ETA = ("예상 대기 시간", "Expected wait");
        VERIFIED = (
            "본인인증을 마쳤습니다. 이 자리가 한 분께 드리는 자리이며, 다른 창이나 기기에서도 같은 자리로 보입니다. 차례가 되면 바로 예약할 수 있습니다.",
            "You are verified. This is your one place, shown the same in every window and device; at your turn you go straight to booking.",
        );
        WILL_TEXT = (
            "차례가 되면 인증한 휴대전화로 문자를 보내 드립니다. 이 화면을 닫으셔도 됩니다.",
            "We will text your verified phone when your turn comes. You may close this page.",
        );
        TEXT_ME_OFFER = (
            "기다리지 않고 화면을 닫으셔도 됩니다: 차례가 되면 문자로 알려 드리고, 10분 동안 자리를 맡아 둡니다.",
            "You need not wait here: close the page, we text you when your turn comes and hold your place for 10 minutes.",
        );
        TEXT_ME = ("문자로 알려 주세요", "Text me instead");
        VERIFY_HEADING = ("기다리는 동안 본인인증", "Verify while you wait");
        VERIFY_WHY = (
            "인증한 분은 한 분당 한 자리로, 인증하지 않은 대기표보다 앞에서 추첨됩니다.",
            "Verified people get one place each, drawn ahead of every unverified ticket.",
        );
        WHERE = ("접종받을 지역", "Where you would be vaccinated");
        SHOW_PLACES = ("남은 자리 보기", "Show places left");
        ALERT_DISTRICT = ("알림 받을 시·군·구", "Tell me about this district");
        ALERT_ME = ("잔여백신 알림 받기", "Tell me about leftover doses");
        VERIFY_FOR_ALERTS = (
            "본인인증을 하시면 기다리는 대신 잔여백신 알림을 받을 수 있습니다.",
            "Verify who you are to be told of leftover doses instead of waiting.",
        );
        MAY_RUN_OUT = (
            "차례가 오기 전에 이 지역의 자리가 모두 찰 수 있습니다.",
            "Places here may run out before your turn.",
        );
        MAY_RUN_OUT_WHY = (
            "앞에서 기다리는 분들 중 이 지역에서 예약할 분의 수가 남은 자리보다 많거나 같습니다. 계속 기다리셔도 되고, 잔여백신이 생기면 문자로 알림을 받으실 수도 있습니다. 새 물량이 들어오면 남은 자리가 다시 늘어납니다.",
            "As many people ahead of you are likely to book here as there are places left. You may keep waiting, or be texted when leftover doses come up near you. New deliveries add places again.",
        );
        TEXTING_HEADING = ("문자로 알려 드립니다", "We will text you");
        TEXTING_REFUSED = ("문자 안내를 신청할 수 없습니다", "We cannot text you");
        ALERTS_HEADING = ("잔여백신 알림을 신청했습니다", "You will be told of leftover doses");
        ALERTS_REFUSED = ("알림을 신청할 수 없습니다", "We cannot set up the alerts");
        BACK = ("대기 화면으로", "Back to the waiting page");
        CHOOSE_DISTRICT = ("시·군·구를 선택해 주세요.", "Choose a district.");
    }
}

/// `/identity` and `/wait/verify`: who the person is, by a code sent to their phone.
pub mod identity {
    crate::text::entries! {
        TITLE = ("본인인증", "Identity check");
        INTRO_BOOKING = (
            "예약하려면 본인인증이 필요합니다. 입력하신 정보가 휴대전화 가입자 정보와 맞으면 그 휴대전화로 인증번호 6자리를 보내 드립니다.",
            "To book, we check who you are: if your details match your mobile phone's subscriber record, we send a six-digit code to that phone.",
        );
        INTRO_WAITING = (
            "기다리는 동안 본인인증을 하면, 시작 시각의 추첨에서 한 분당 한 자리를 받고 차례가 되면 바로 예약으로 넘어갑니다. 이번 예약 대상이 아니면 바로 알려 드리고 본인의 예약 기간을 안내합니다. 입력하신 정보가 휴대전화 가입자 정보와 맞으면 그 휴대전화로 인증번호 6자리를 보내 드립니다.",
            "Verify while you wait: everyone verified gets one place per person in the draw at the opening, ahead of unverified tickets, and goes straight to booking at their turn. If this opening is not for you, we tell you at once, with your own booking window. If your details match your mobile phone's subscriber record, we send a six-digit code to that phone.",
        );
        ALREADY = (
            "이미 본인인증을 하셨습니다. 다른 분으로 인증하려면 아래에 입력하세요.",
            "You have already verified your identity. To verify as someone else, fill in the form below.",
        );
        CONTINUE = ("계속하기", "Continue");
        RRN = ("주민등록번호", "Resident registration number");
        RRN_HINT = (
            "13자리 (예: 680229-1234567). 저장하지 않습니다.",
            "13 digits (e.g. 680229-1234567). It is not stored.",
        );
        PHONE = ("휴대전화 번호 (본인 명의)", "Mobile phone number (in your name)");
        PHONE_HINT = ("예: 010-1234-5678", "e.g. 010-1234-5678");
        SEND = ("인증번호 받기", "Send me a code");
        SENT = (
            "입력하신 정보가 맞으면 인증번호를 보냈습니다. 3분 안에 입력해 주세요.",
            "If your details match, we sent you a code. Enter it within 3 minutes.",
        );
        CONFIRM = ("확인", "Confirm");
        NOT_THIS_OPENING_TITLE = ("예약 대상 안내", "Not this opening");
        NOT_THIS_OPENING = ("이번 예약 대상이 아닙니다", "This opening is not for you");
        YOUR_WINDOW = ("본인의 예약 시작:", "Your booking opens:");
        NO_NEED_TO_WAIT = (
            "기다리실 필요가 없습니다. 대기 자리는 돌려드렸습니다. 본인의 예약 기간에 다시 오세요.",
            "There is no need to wait: your place has been given up. Please come back in your own booking window.",
        );
        MORE_ABOUT_WINDOW = ("예약 가능 여부 자세히 보기", "More about when you can book");
    }
}

/// `/contact`: where the person's notices go.
pub mod contact {
    crate::text::entries! {
        TITLE = ("안내 문자 받는 곳", "Where your notices go");
        INTRO = (
            "예약, 변경, 취소 안내 문자는 마지막으로 본인인증한 휴대전화로 갑니다.",
            "Texts about your bookings go to the phone of your last identity check.",
        );
        PHONE = ("휴대전화", "Mobile phone");
        CHANGE_HEADING = ("번호를 바꾸려면", "To change the number");
        CHANGE = (
            "새 휴대전화로 본인인증을 다시 하세요. 그 휴대전화가 본인 명의일 때만 인증번호가 가며, 인증이 끝나면 안내 문자가 새 번호로 갑니다.",
            "Verify your identity again with the new phone. The code only goes to a phone in your name; once verified, your notices go to the new number.",
        );
        VERIFY_NEW = ("새 번호로 본인인증", "Verify with the new phone");
        BOOKINGS = ("내 예약", "My bookings");
    }
}

/// `/eligibility`: may I book, and if not, why and when.
pub mod eligibility {
    crate::text::entries! {
        TITLE = ("예약 대상 확인", "Eligibility");
        FAMILY_HEADING = ("가족 예약", "Booking for a family member");
        FAMILY = (
            "가족의 예약 가능 여부는 가족의 생년월일로 따로 판단합니다.",
            "A family member's eligibility is decided on their own birth date.",
        );
        CAN_BOOK = ("지금 예약할 수 있습니다", "You can book now");
        CLOSES = ("예약 마감", "Booking closes");
        NOT_YET = ("아직 예약 기간이 아닙니다", "Not yet your turn to book");
        OPENS = ("나의 예약 시작", "Your booking opens");
        ALREADY_BOOKED = ("이미 예약하셨습니다", "You already have a booking");
        SEE_BOOKINGS = ("나의 예약 보기", "See my bookings");
        CANNOT_BOOK = ("지금은 예약할 수 없습니다", "You cannot book now");
        LEFTOVERS = (
            "오늘 남는 백신(잔여백신) 알림 신청",
            "Hear of leftover doses near you today",
        );
    }
}

/// `/search`: clinics by region or near the person.
pub mod search {
    crate::text::entries! {
        ALL_DISTRICTS = ("전체", "All");
        NEAR_NOTE = ("내 위치에서 10km 안의 가까운 순서입니다.", "Nearest first, within 10 km of you.");
        BY_REGION = ("지역으로 찾기", "By region");
        SEARCH = ("검색", "Search");
        NEAR_ME = ("내 위치에서 가까운 곳", "Near me");
        LOCATION_DENIED = (
            "위치를 확인할 수 없습니다. 지역으로 찾아 주세요.",
            "Your location is not available; please search by region.",
        );
        CHANGE_PURPOSE = (
            "예약을 바꿀 의료기관과 날짜를 고르세요. 새 예약이 확정될 때까지 기존 예약은 그대로입니다.",
            "Choose the new clinic and day. Your booking stays as it is until the change is confirmed.",
        );
        FAMILY_PURPOSE = ("가족(대리) 예약입니다.", "You are booking for a family member.");
        NO_PLACES = ("7일 안에 남은 자리가 없습니다", "No places in the next 7 days");
        VACCINES = ("백신", "Vaccines");
        NO_MATCH = ("조건에 맞는 의료기관이 없습니다.", "No clinic matches.");
        MORE = ("다음 의료기관 더 보기", "More clinics");
    }
}

/// `/book`: the day, the hour band and who it is for.
pub mod book {
    crate::text::entries! {
        TITLE = ("날짜와 시간 선택", "Day and time");
        HEADING = ("날짜와 시간 선택", "Choose a day and time");
        WHO = ("누구의 예약인가요?", "Who is this booking for?");
        FAMILY = ("가족 (대리 예약)", "A family member");
        FAMILY_HINT = (
            "가족을 예약할 때만 입력하세요. 가족 본인의 휴대전화로 인증번호를 보내 동의를 확인합니다. 휴대전화가 없는 가족은 콜센터나 주민센터에서 신분증을 확인하고 예약할 수 있습니다.",
            "Only when booking for a family member. We text a code to their own phone to confirm they agree. Without a phone, they can book at a call centre or community centre with their ID.",
        );
        FAMILY_NAME = ("가족 이름", "Their name");
        FAMILY_RRN = ("가족 주민등록번호", "Their resident registration number");
        FAMILY_PHONE = ("가족 휴대전화 번호", "Their mobile number");
        FAMILY_CODE_SENT = (
            "가족의 휴대전화로 인증번호를 보냈습니다. 가족에게 받은 인증번호를 입력하면 동의가 확인됩니다.",
            "We texted a code to their phone. Enter the code they tell you: that is their consent.",
        );
        FAMILY_CODE = ("가족이 받은 인증번호 6자리", "The six-digit code they received");
        SINGLE_DOSE = ("얀센 백신은 1회 접종입니다.", "Janssen is a single dose.");
        DOSE_2_WITH = (
            "2차 접종은 같은 의료기관, 같은 백신으로 접종 간격에 맞춰 함께 예약됩니다.",
            "Dose 2 is booked with it: same clinic, same vaccine, at the vaccine's interval.",
        );
        CHANGE_TO = ("이 일정으로 변경", "Change to this");
        BOOK = ("예약하기", "Book");
        SHOW_VACCINE = ("백신 바꾸기", "Show this vaccine");
        DAY = ("날짜", "Day");
        BUSY = ("접속자가 많아 잠시 후 자동으로 다시 시도합니다…", "Busy; trying again shortly…");
        FAMILY_MISSING = (
            "가족의 이름, 주민등록번호와 휴대전화 번호를 입력해 주세요.",
            "Please enter your family member's name, registration number and phone.",
        );
        HOUR_MISSING = ("시간대를 선택해 주세요.", "Please choose a time.");
        BAND = ("시간대", "Time");
    }
}

/// `/bookings`: my bookings and those I made for family.
pub mod bookings {
    crate::text::entries! {
        TITLE = ("나의 예약", "My bookings");
        BOOKED = ("예약이 완료되었습니다", "Your booking is confirmed");
        CHANGED = ("예약이 변경되었습니다", "Your booking was changed");
        CANCELLED_BANNER = ("예약이 취소되었습니다", "Your booking was cancelled");
        FAMILY = ("가족", "Family member");
        STATUS_BOOKED = ("예약됨", "Booked");
        STATUS_CANCELLED = ("취소됨", "Cancelled");
        DOSE_GIVEN = ("(접종 완료)", "(given)");
        DOSE_CANCELLED = ("(취소)", "(cancelled)");
        MOVE_CANCELLED = ("유지할 수 없어 취소되었습니다", "could not be kept and is cancelled");
        MOVED = ("공급 변경으로 일정이 옮겨졌습니다", "Moved because of a supply change");
        SEEN = ("확인했습니다", "I have seen this");
        CHANGE = ("날짜·의료기관 변경", "Change day or clinic");
        CANCEL = ("예약 취소", "Cancel booking");
        CANCEL_CONFIRM = ("이 예약(1차·2차)을 취소할까요?", "Cancel this booking (both doses)?");
        TEXT_SENT = (
            "안내 문자를 보내 드렸습니다. 접종 당일 신분증을 지참해 주세요.",
            "We sent you a text message. Bring an ID card on the day.",
        );
        NONE = ("예약 내역이 없습니다.", "You have no bookings.");
        BOOK_NOW = ("예약하기", "Book now");
        CONTACT = ("안내 문자 받는 곳", "Where notices go");
    }
}

/// `/leftovers`: same-day leftover doses near a place.
pub mod leftovers {
    crate::text::entries! {
        LEFT = ("남은 백신", "left");
        UNTIL = ("신청 마감", "Until");
        CLAIM_CONFIRM = (
            "오늘 이 의료기관에서 1차 접종을 받으시겠어요? 다른 날 예약이 있으면 그 예약은 취소됩니다.",
            "Take dose 1 here today? A booking you hold for a later day is cancelled.",
        );
        CLAIM = ("오늘 접종 신청", "Claim for today");
        STOP = ("알림 그만 받기", "Stop telling me");
        NONE_NEAR = (
            "지금은 가까운 잔여백신이 없습니다. 생기면 문자로 알려 드립니다.",
            "No leftover doses near you right now. We will text you when there are.",
        );
        TODAY = ("오늘의 잔여백신", "Leftover doses today");
        INTRO = (
            "의료기관에서 오늘 남는 백신이 생기면 가까운 분께 문자로 알려 드립니다. 선착순이며, 예약 기간과 관계없이 신청할 수 있습니다.",
            "When a clinic has doses left over today, people nearby who asked are told by text. First come, first served, whatever your booking window.",
        );
        WHERE = ("알림 받을 곳", "Where to look");
        FOUND = ("현재 위치를 사용합니다.", "Using your location.");
        DENIED = (
            "위치를 확인할 수 없습니다. 지역을 선택해 주세요.",
            "Your location is not available; please choose a district.",
        );
        USE_LOCATION = ("내 위치 사용", "Use my location");
        PLACE_MISSING = (
            "지역을 선택하거나 내 위치를 사용해 주세요.",
            "Choose a district or use your location.",
        );
        DISTANCE = ("거리", "Distance");
        VACCINES = ("맞을 수 있는 백신", "Vaccines you would take");
        VACCINES_HINT = ("선택하지 않으면 모든 백신", "None chosen: any vaccine");
        SUBSCRIBE = ("알림 신청", "Tell me");
    }
}

/// A refusal shown as a page.
pub mod refused {
    crate::text::entries! {
        TITLE = ("오류", "Error");
        HEADING = ("요청을 처리할 수 없습니다", "This cannot be done");
        START_OVER = ("처음으로", "Back to the start");
    }
}

/// "앞에 12명이 있습니다": the people ahead on the waiting page.
pub fn people_ahead(lang: Lang, ahead: u64) -> String {
    either(
        lang,
        || format!("앞에 {ahead}명이 있습니다"),
        || format!("{ahead} people ahead of you"),
    )
}

/// "약 3분": the expected wait, in whole minutes (at least one).
pub fn minutes(lang: Lang, seconds: u64) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    match (lang, minutes) {
        (Lang::En, 1) => "about a minute".into(),
        (Lang::En, m) => format!("about {m} minutes"),
        (Lang::Ko, m) => format!("약 {m}분"),
    }
}

/// The places left in the province a waiting person chose, over the next 7 days.
pub fn places_nearby(lang: Lang, left: u64) -> String {
    either(
        lang,
        || format!("이 지역에 앞으로 7일 동안 남은 자리: {left}곳"),
        || format!("Places left here over the next 7 days: {left}"),
    )
}

/// The answer to "text me instead": how long the place is held once the text goes.
pub fn will_text(lang: Lang, minutes: u64) -> String {
    either(
        lang,
        || {
            format!(
                "이 화면을 닫으셔도 됩니다. 차례가 되면 인증한 휴대전화로 돌아올 링크를 보내 드리고, 그때부터 {minutes}분 동안 자리를 맡아 둡니다. 그 안에 돌아오지 않으시면 자리가 다음 분께 넘어가고, 대기열 맨 뒤에서 다시 기다리실 수 있습니다."
            )
        },
        || {
            format!(
                "You may close this page. When your turn comes we text a link back to your verified phone and hold your place for {minutes} minutes from then. If you do not come back in time, the place goes to the next person and you can rejoin at the back."
            )
        },
    )
}

/// The answer to "tell me of leftover doses instead", naming the district.
pub fn alerts_near(lang: Lang, district: &str) -> String {
    either(
        lang,
        || {
            format!(
                "{district} 10km 안에 잔여백신이 생기면 인증한 휴대전화로 알려 드립니다. 대기 순서는 그대로 유지됩니다."
            )
        },
        || {
            format!(
                "We text your verified phone when leftover doses come up within 10 km of {district}. Your place in the queue is kept."
            )
        },
    )
}

/// "검색 결과 12곳".
pub fn clinics_found(lang: Lang, total: usize) -> String {
    either(
        lang,
        || format!("검색 결과 {total}곳"),
        || format!("{total} clinics found"),
    )
}

/// "1–10번째 의료기관입니다.": the clinics shown of the results.
pub fn clinics_shown(lang: Lang, first: usize, last: usize) -> String {
    either(
        lang,
        || format!("{first}–{last}번째 의료기관입니다."),
        || format!("Showing {first}–{last}."),
    )
}

/// A clinic's soonest day with places and the places over the 7 days shown.
pub fn soonest(lang: Lang, day: &str, left: u64) -> String {
    either(
        lang,
        || format!("가장 빠른 날: {day} · 7일간 남은 자리 {left}"),
        || format!("Soonest: {day} · {left} places in 7 days"),
    )
}

/// "1차 접종" or "Dose 1".
pub fn dose(lang: Lang, n: usize) -> String {
    either(lang, || format!("{n}차 접종"), || format!("Dose {n}"))
}

/// What the person asked to be told of: leftover doses within this radius.
pub fn subscribed(lang: Lang, radius_km: f64) -> String {
    either(
        lang,
        || format!("반경 {radius_km}km 안의 잔여백신을 알려 드립니다."),
        || format!("You will be told of leftover doses within {radius_km} km."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Text;
    use crate::text::shared::{frame, places_left, widgets};
    use std::collections::HashMap;

    /// Every group of the citizen's pages, and the frame and widgets they are shown in.
    fn groups() -> Vec<(&'static str, &'static [(&'static str, Text)])> {
        vec![
            ("common", common::ALL),
            ("home", home::ALL),
            ("wait", wait::ALL),
            ("identity", identity::ALL),
            ("contact", contact::ALL),
            ("eligibility", eligibility::ALL),
            ("search", search::ALL),
            ("book", book::ALL),
            ("bookings", bookings::ALL),
            ("leftovers", leftovers::ALL),
            ("refused", refused::ALL),
            ("frame", frame::ALL),
            ("widgets", widgets::ALL),
        ]
    }

    fn has_hangul(text: &str) -> bool {
        text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
    }

    #[test]
    fn every_entry_has_korean_in_hangul_and_english() {
        for (group, entries) in groups() {
            for (name, text) in entries {
                assert!(has_hangul(text.ko), "{group}::{name}: {:?}", text.ko);
                assert!(!text.en.trim().is_empty(), "{group}::{name} has no English");
                assert!(!has_hangul(text.en), "{group}::{name}: {:?}", text.en);
            }
        }
    }

    #[test]
    fn no_text_is_in_the_catalogue_twice() {
        let mut seen: HashMap<(&str, &str), String> = HashMap::new();
        for (group, entries) in groups() {
            for (name, text) in entries {
                let here = format!("{group}::{name}");
                if let Some(first) = seen.insert((text.ko, text.en), here.clone()) {
                    panic!("{first} and {here} are the same text: {text:?}");
                }
            }
        }
    }

    #[test]
    fn texts_with_values_say_them_in_both_languages() {
        let both = |f: &dyn Fn(Lang) -> String, value: &str| {
            let (ko, en) = (f(Lang::Ko), f(Lang::En));
            assert!(has_hangul(&ko) && ko.contains(value), "{ko}");
            assert!(!has_hangul(&en) && en.contains(value), "{en}");
        };
        both(&|l| people_ahead(l, 4321), "4321");
        both(&|l| minutes(l, 400), "7");
        both(&|l| places_nearby(l, 18), "18");
        both(&|l| will_text(l, 10), "10");
        both(&|l| alerts_near(l, "Haeundae-gu"), "Haeundae-gu");
        both(&|l| clinics_found(l, 37), "37");
        both(&|l| clinics_shown(l, 11, 20), "11–20");
        both(&|l| soonest(l, "2021-07-22", 40), "40");
        both(&|l| dose(l, 2), "2");
        both(&|l| subscribed(l, 3.0), "3");
        both(&|l| places_left(l, 5), "5");
        assert_eq!(minutes(Lang::En, 30), "about a minute");
    }
}
