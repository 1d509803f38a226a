//! The notification texts (SMS and the like) a booking, a change or a leftover offer sends.
//!
//! Each is formatted where nothing waits on it: before the work is submitted to the writer (a
//! leftover offer, a booking's head), or from the plan beside the writer (a supply change), never
//! by the writer inside a transaction, except a booking's doses, which only its decision knows.

use super::{Text, text};
use domain::booking::PersonId;
use domain::ledger::reschedule::Reason;
use store::OutboxMessage;
use store::writer::MessageText;

/// A notification's text in both languages and the template it is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub template: &'static str,
    pub ko: String,
    pub en: String,
}

impl Notification {
    /// The message for the outbox, to a recipient known already (their sealed phone number).
    pub fn to(self, person: Option<PersonId>, recipient: Vec<u8>) -> OutboxMessage {
        OutboxMessage {
            person,
            recipient,
            template: self.template.into(),
            body_ko: self.ko,
            body_en: self.en,
        }
    }
}

/// The text of a message the writer addresses itself (a supply change's, a leftover offer's).
impl From<Notification> for MessageText {
    fn from(text: Notification) -> MessageText {
        MessageText {
            template: text.template.into(),
            ko: text.ko,
            en: text.en,
        }
    }
}

/// "It is your turn": the waiting room's text to a person whose turn came while away.
pub fn queue_turn(until: &str, link: &str) -> Notification {
    Notification {
        template: "queue_turn",
        ko: format!("[예약] 예약 차례가 되었습니다. {until}까지 이 링크로 돌아와 주세요: {link}"),
        en: format!("[yeyak] It is your turn to book. Come back by {until} (Seoul time): {link}"),
    }
}

/// The identity check's code.
pub fn identity_code(code: impl std::fmt::Display) -> Notification {
    Notification {
        template: "identity_code",
        ko: format!("[예약] 본인확인 인증번호 [{code}]를 입력해 주세요. (3분 이내)"),
        en: format!("[yeyak] Your verification code is {code} (valid 3 minutes)."),
    }
}

/// What a booking's message says happened, by its template.
pub fn booking_event(template: &str) -> Text {
    match template {
        "booking_cancelled" => text!("예약이 취소되었습니다", "your booking was cancelled"),
        "booking_changed" => text!("예약이 변경되었습니다", "your booking was changed"),
        "leftover_claimed" => text!(
            "오늘 잔여백신 접종이 예약되었습니다",
            "a leftover dose is booked for you today",
        ),
        _ => text!(
            "코로나19 예방접종 예약이 완료되었습니다",
            "your COVID-19 vaccination is booked",
        ),
    }
}

/// A booking message's head: the person's masked name and what happened (the doses follow).
pub fn booking_head(name: &str, event: Text) -> (String, String) {
    (
        format!("[예약] {name}님, {}. ", event.ko),
        format!("[yeyak] {name}: {}. ", event.en),
    )
}

/// One dose in a booking's message, appended to `text` (`first`: no separator before it).
pub fn booking_dose(
    text: &mut String,
    korean: bool,
    first: bool,
    dose: usize,
    when: (jiff::civil::Date, u8),
    clinic: &str,
) {
    use std::fmt::Write;
    let sep = if first { "" } else { ", " };
    let (day, hour) = when;
    let _ = if korean {
        write!(text, "{sep}{dose}차 {day} {hour:02}:00 {clinic}")
    } else {
        write!(text, "{sep}dose {dose} {day} {hour:02}:00 {clinic}")
    };
}

/// "Leftover doses near you", written with the offer. `product` is the product's name in each
/// language.
pub fn leftover_offer(clinic: &str, until: &str, product: Text, doses: u32) -> Notification {
    Notification {
        template: "leftover_offer",
        ko: format!(
            "[예약] 가까운 {clinic}에 오늘 {until}까지 {} 잔여백신 {}회분이 있습니다. 선착순이며 예약 화면에서 신청할 수 있습니다.",
            product.ko, doses
        ),
        en: format!(
            "[yeyak] {clinic} near you has {} leftover {} dose(s) today until {until}. First come, first served: claim one on the booking site.",
            doses, product.en
        ),
    }
}

/// Why a supply change moved people, as their message begins.
pub fn supply_reason(reason: Reason) -> Text {
    match reason {
        Reason::DeliveryChanged => text!(
            "백신 공급 일정이 바뀌어",
            "Because a vaccine delivery changed,",
        ),
        Reason::ProductSwitched => text!(
            "접종 백신이 바뀌어",
            "Because the vaccine for your clinic changed,",
        ),
        Reason::IntervalChanged => text!(
            "2차 접종 간격이 바뀌어",
            "Because the interval between doses changed,",
        ),
    }
}

/// A dose a supply change could not keep (`when`: the appointment, in each language).
pub fn supply_unplaced(why: Text, dose: u8, when: (&str, &str)) -> Notification {
    let (why_ko, why_en) = (why.ko, why.en);
    Notification {
        template: "supply_unplaced",
        ko: format!(
            "[예약] {why_ko} {}차 접종 예약({})을 유지할 수 없어 취소되었습니다. 죄송합니다. \
             예약 사이트나 1339에서 다시 예약해 주세요.",
            dose, when.0
        ),
        en: format!(
            "[yeyak] {why_en} your dose {} appointment ({}) could not be kept and is \
             cancelled. We are sorry. Please book again on the site or call 1339.",
            dose, when.1
        ),
    }
}

/// A person a supply change does not move, told their appointments stay (`booked`: the list,
/// in each language).
pub fn supply_informed(why: Text, booked: (&str, &str)) -> Notification {
    let (why_ko, why_en) = (why.ko, why.en);
    Notification {
        template: "supply_informed",
        ko: format!(
            "[예약] {why_ko} 안내드립니다. 예약하신 일정은 그대로입니다: {}",
            booked.0
        ),
        en: format!(
            "[yeyak] {why_en} we let you know: your appointments stay as booked: {}",
            booked.1
        ),
    }
}

/// A person whose appointments a supply change moved (`moves`: the list, in each language).
pub fn supply_moved(why: Text, moves: (&str, &str)) -> Notification {
    let (why_ko, why_en) = (why.ko, why.en);
    Notification {
        template: "supply_moved",
        ko: format!(
            "[예약] {why_ko} 접종 일정이 변경되었습니다: {}. 다른 날짜나 의료기관을 원하시면 예약 조회에서 바꿀 수 있습니다.",
            moves.0
        ),
        en: format!(
            "[yeyak] {why_en} your appointment moved: {}. To pick another day or clinic, open My bookings.",
            moves.1
        ),
    }
}

/// One move in a supply change's message, in either language.
pub fn supply_move(korean: bool, dose: u8, from: &str, to: &str) -> String {
    if korean {
        format!("{dose}차 {from} → {to}")
    } else {
        format!("dose {dose} {from} → {to}")
    }
}

/// An appointment in a supply change's message.
pub fn supply_when(day: jiff::civil::Date, hour: u8, clinic: &str, product: &str) -> String {
    format!("{day} {hour:02}:00 {clinic} ({product})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_keep_their_wording() {
        let moved = supply_moved(supply_reason(Reason::IntervalChanged), ("a", "b"));
        assert_eq!(
            moved.ko,
            "[예약] 2차 접종 간격이 바뀌어 접종 일정이 변경되었습니다: a. 다른 날짜나 의료기관을 원하시면 예약 조회에서 바꿀 수 있습니다."
        );
        let lost = supply_unplaced(supply_reason(Reason::DeliveryChanged), 2, ("x", "y"));
        assert_eq!(
            lost.en,
            "[yeyak] Because a vaccine delivery changed, your dose 2 appointment (y) could not be kept and is cancelled. We are sorry. Please book again on the site or call 1339."
        );
        assert_eq!(
            lost.ko,
            "[예약] 백신 공급 일정이 바뀌어 2차 접종 예약(x)을 유지할 수 없어 취소되었습니다. 죄송합니다. 예약 사이트나 1339에서 다시 예약해 주세요."
        );
        assert_eq!(supply_move(true, 2, "p", "q"), "2차 p → q");
        assert_eq!(supply_move(false, 2, "p", "q"), "dose 2 p → q");
    }
}
