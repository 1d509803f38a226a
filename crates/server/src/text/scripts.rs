//! The strings the page scripts show, handed to them by the page (scripts hold no texts of their own).
//!
//! A page with a script carries, in its language, the texts of `common.js` and of its own script
//! as a JSON data block (`pages::assets::texts_block`); the scripts read them with `text(key)` or
//! `text(key, {name: value})`, which fills the `{name}` places. Keys are `area.what`, the area
//! being the script's name, so a key says where it is shown. A text the page also shows is the
//! page's entry, named here, so that it is written once.

use super::shared::widgets;
use super::{Lang, Text, desks, text};

/// One script's texts: its key and the pair.
pub type Entry = (&'static str, Text);

/// `common.js`: the API calls, error display and the band choices the booking scripts share.
pub const COMMON: &[Entry] = &[
    (
        "common.no_connection",
        text!(
            "연결이 끊겼습니다. 다시 시도해 주세요.",
            "No connection. Please try again."
        ),
    ),
    (
        "common.went_wrong",
        text!("문제가 생겼습니다.", "Something went wrong."),
    ),
    ("common.places_left", widgets::LEFT_TEMPLATE),
    ("common.places_full", widgets::FULL),
    ("common.chosen_filled", widgets::CHOSEN_FILLED),
];

/// `agent.js`: the person the agent books for, their bookings and the answers to each action.
pub const AGENT: &[Entry] = &[
    (
        "agent.in_korea_time",
        text!("{at} (한국시간)", "{at} (Korea time)"),
    ),
    ("agent.booking_opens", text!("예약 시작", "Booking opens")),
    ("agent.booking_closes", text!("예약 마감", "Booking closes")),
    (
        "agent.turn_came",
        text!(
            "차례가 되었습니다: 이 분의 예약을 진행할 수 있습니다.",
            "Their turn has come: you can book for them now."
        ),
    ),
    (
        "agent.queued_before_opening",
        text!(
            "대기열에 올렸습니다. 예약 시작 시각에 순서가 정해집니다: {at}",
            "Queued. The order is drawn at the opening: {at}"
        ),
    ),
    (
        "agent.queue_place",
        text!(
            "대기 번호 {number} · 앞에 {ahead}명",
            "Queue number {number} · {ahead} ahead"
        ),
    ),
    (
        "agent.no_bookings",
        text!("예약 내역이 없습니다.", "No bookings."),
    ),
    ("agent.booking_active", text!("예약됨", "Booked")),
    ("agent.booking_cancelled", text!("취소됨", "Cancelled")),
    ("agent.dose", text!("{n}차 접종", "Dose {n}")),
    ("agent.dose_given", text!("(접종 완료)", "(given)")),
    ("agent.dose_cancelled", text!("(취소)", "(cancelled)")),
    (
        "agent.change",
        text!("날짜·의료기관 변경", "Change day or clinic"),
    ),
    ("agent.cancel", text!("예약 취소", "Cancel booking")),
    (
        "agent.cancel_confirm",
        text!(
            "이 예약(1차·2차)을 취소할까요?",
            "Cancel this booking (both doses)?"
        ),
    ),
    (
        "agent.cancelled",
        text!("예약이 취소되었습니다.", "The booking was cancelled."),
    ),
    (
        "agent.changing",
        text!(
            "예약 변경 중: 새 의료기관과 날짜를 고르세요.",
            "Changing a booking: choose the new clinic and day."
        ),
    ),
    (
        "agent.change_submit",
        text!("이 일정으로 변경", "Change to this"),
    ),
    ("agent.book_submit", desks::agent::BOOK),
    (
        "agent.id_not_checked",
        text!(
            "신분증을 확인했는지 표시해 주세요.",
            "Please confirm you have checked their ID."
        ),
    ),
    (
        "agent.choose_clinic_and_time",
        text!(
            "의료기관과 시간대를 고르세요.",
            "Please choose a clinic and a time."
        ),
    ),
    (
        "agent.changed",
        text!("예약이 변경되었습니다.", "The booking was changed."),
    ),
    (
        "agent.booked",
        text!("예약이 완료되었습니다.", "The booking is made."),
    ),
];

/// `clinic.js`: offering leftover doses.
pub const CLINIC: &[Entry] = &[(
    "clinic.told",
    text!(
        "등록했습니다. 안내한 사람: {n}",
        "Offered. People told: {n}"
    ),
)];

/// `openings.js`: scheduling an opening.
pub const OPENINGS: &[Entry] = &[(
    "openings.scheduled",
    text!(
        "예약 오픈을 등록했습니다. 대기열 번호: {queue}",
        "Opening scheduled. Queue: {queue}"
    ),
)];

/// `supply.js`: the rescheduling plan and its application.
pub const SUPPLY: &[Entry] = &[
    ("supply.shift_days", text!("{n}일", "{n} d")),
    (
        "supply.applied",
        text!(
            "적용했습니다: 변경 {change}, {people}명 이동, 안내 문자 {messages}건.",
            "Applied: change {change}, {people} people moved, {messages} messages."
        ),
    ),
];

/// `dashboard.js`: the live charts' labels.
pub const DASHBOARD: &[Entry] = &[
    ("dashboard.updated", text!("마지막 갱신", "Updated")),
    (
        "dashboard.stale",
        text!("갱신 실패, 다시 시도 중", "Update failed, retrying"),
    ),
    (
        "dashboard.no_data",
        text!("아직 자료가 없습니다", "No data yet"),
    ),
    ("dashboard.now", desks::operator::dashboard::NOW),
    ("dashboard.peak", text!("최고", "peak")),
    ("dashboard.korea_time", text!("한국시간", "Korea time")),
];

/// The "demo code" label of the identity and family checks (only a `--demo` server shows one).
const DEMO_CODE: Text = text!("시연용 인증번호:", "Demo code:");

/// `identity.js`: the identity check.
pub const IDENTITY: &[Entry] = &[("identity.demo_code", DEMO_CODE)];

/// `search.js`: "near me" on the clinic search.
pub const SEARCH: &[Entry] = &[
    (
        "search.finding",
        text!("위치를 확인하고 있습니다…", "Finding your location…"),
    ),
    (
        "search.denied",
        text!(
            "위치를 확인할 수 없습니다. 지역으로 찾아 주세요.",
            "Your location is not available; please search by region."
        ),
    ),
];

/// `book.js`: booking, for oneself or a family member.
pub const BOOK: &[Entry] = &[
    (
        "book.busy",
        text!(
            "접속자가 많아 잠시 후 자동으로 다시 시도합니다…",
            "Busy; trying again shortly…"
        ),
    ),
    (
        "book.family_missing",
        text!(
            "가족의 이름, 주민등록번호와 휴대전화 번호를 입력해 주세요.",
            "Please enter your family member's name, registration number and phone."
        ),
    ),
    ("book.demo_code", DEMO_CODE),
    (
        "book.hour_missing",
        text!("시간대를 선택해 주세요.", "Please choose a time."),
    ),
];

/// `bookings.js`: cancelling from "my bookings".
pub const BOOKINGS: &[Entry] = &[(
    "bookings.cancel_confirm",
    text!(
        "이 예약(1차·2차)을 취소할까요?",
        "Cancel this booking (both doses)?"
    ),
)];

/// `leftovers.js`: leftover-dose alerts near a place, and claiming one.
pub const LEFTOVERS: &[Entry] = &[
    (
        "leftovers.finding",
        text!("위치를 확인하고 있습니다…", "Finding your location…"),
    ),
    (
        "leftovers.found",
        text!("현재 위치를 사용합니다.", "Using your location."),
    ),
    (
        "leftovers.denied",
        text!(
            "위치를 확인할 수 없습니다. 지역을 선택해 주세요.",
            "Your location is not available; please choose a district."
        ),
    ),
    (
        "leftovers.place_missing",
        text!(
            "지역을 선택하거나 내 위치를 사용해 주세요.",
            "Choose a district or use your location."
        ),
    ),
    (
        "leftovers.claim_confirm",
        text!(
            "오늘 이 의료기관에서 1차 접종을 받으시겠어요? 다른 날 예약이 있으면 그 예약은 취소됩니다.",
            "Take dose 1 here today? A booking you hold for a later day is cancelled."
        ),
    ),
];

/// Every script and its own texts (besides [`COMMON`], which every page with a script carries).
pub const BY_SCRIPT: &[(&str, &[Entry])] = &[
    ("common.js", COMMON),
    ("agent.js", AGENT),
    ("clinic.js", CLINIC),
    ("openings.js", OPENINGS),
    ("supply.js", SUPPLY),
    ("dashboard.js", DASHBOARD),
    ("identity.js", IDENTITY),
    ("search.js", SEARCH),
    ("book.js", BOOK),
    ("bookings.js", BOOKINGS),
    ("leftovers.js", LEFTOVERS),
];

/// A script's own texts; none for a script that shows no text of its own.
pub fn of_script(script: &str) -> &'static [Entry] {
    BY_SCRIPT
        .iter()
        .find(|(name, _)| *name == script)
        .map_or(&[], |(_, entries)| entries)
}

/// What a page with `script` hands it: the common texts and the script's own, in `lang`, as a
/// JSON object from key to text.
pub fn json_for(script: &str, lang: Lang) -> String {
    let texts: serde_json::Map<String, serde_json::Value> = COMMON
        .iter()
        .chain(of_script(script))
        .map(|(key, text)| ((*key).to_string(), text.get(lang).into()))
        .collect();
    serde_json::Value::Object(texts).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_named_after_their_script() {
        let mut seen = std::collections::HashSet::new();
        for (script, entries) in BY_SCRIPT {
            let area = script.trim_end_matches(".js");
            for (key, _) in *entries {
                assert!(seen.insert(*key), "{key} twice");
                assert_eq!(key.split_once('.').map(|(a, _)| a), Some(area), "{key}");
            }
        }
    }

    #[test]
    fn a_page_gets_the_common_texts_and_its_scripts_in_its_language() {
        let json: serde_json::Value =
            serde_json::from_str(&json_for("clinic.js", Lang::En)).unwrap_or_default();
        assert_eq!(json["clinic.told"], "Offered. People told: {n}");
        assert_eq!(json["common.places_full"], "full");
        assert!(json.get("agent.booked").is_none());
        let json: serde_json::Value =
            serde_json::from_str(&json_for("clinic.js", Lang::Ko)).unwrap_or_default();
        assert_eq!(json["common.places_full"], "마감");
    }
}
