//! What the JSON API and the error pages say when a request is refused: one entry per error
//! code, so the same refusal says the same words wherever it is raised (`crate::error::ApiError`
//! takes its words from here). The codes are the API's contract and never change; the words
//! may. A text that carries a value names it in braces (`{line}`), filled by [`ErrorText::fill`].
//!
//! Refusals decided by the pure crates' rules (`domain`: a registration number, a booking, a
//! supply change, eligibility; `queue`: tickets and passes) keep their words beside the rule
//! that refuses, in those crates, and reach an answer through [`Words::from_rules`].

use super::{Text, text};
use std::borrow::Cow;
use std::fmt::Display;

/// A refusal's machine-readable code and its words in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorText {
    pub code: &'static str,
    pub text: Text,
}

impl ErrorText {
    /// The words with `{name}` replaced by `value` in both languages.
    pub fn fill(self, name: &str, value: impl Display) -> Words {
        Words::from(self).fill(name, value)
    }
}

/// A refusal's code and words as one answer carries them (an entry, filled in or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub code: &'static str,
    pub ko: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Words {
    /// Words that a pure crate keeps beside the rule that refuses (see the module's doc).
    pub fn from_rules(
        code: &'static str,
        ko: impl Into<Cow<'static, str>>,
        en: impl Into<Cow<'static, str>>,
    ) -> Words {
        Words {
            code,
            ko: ko.into(),
            en: en.into(),
        }
    }

    /// These words with `{name}` replaced by `value` in both languages.
    pub fn fill(self, name: &str, value: impl Display) -> Words {
        let value = value.to_string();
        self.fill_each(name, &value, &value)
    }

    /// These words with `{name}` replaced by a text, each language by its own.
    pub fn fill_text(self, name: &str, value: Text) -> Words {
        self.fill_each(name, value.ko, value.en)
    }

    fn fill_each(self, name: &str, ko: &str, en: &str) -> Words {
        let slot = format!("{{{name}}}");
        Words {
            code: self.code,
            ko: Cow::Owned(self.ko.replace(&slot, ko)),
            en: Cow::Owned(self.en.replace(&slot, en)),
        }
    }
}

impl From<ErrorText> for Words {
    fn from(entry: ErrorText) -> Words {
        Words {
            code: entry.code,
            ko: Cow::Borrowed(entry.text.ko),
            en: Cow::Borrowed(entry.text.en),
        }
    }
}

/// Words from the pure crates' rules: each refusal there has its code and its words.
macro_rules! words_from_rules {
    ($($refusal:ty),* $(,)?) => {
        $(impl From<$refusal> for Words {
            fn from(refusal: $refusal) -> Words {
                Words::from_rules(refusal.code(), refusal.message_ko(), refusal.message_en())
            }
        })*
    };
}

words_from_rules!(
    domain::booking::BookingError,
    domain::rrn::RrnError,
    domain::search::SearchError,
    domain::leftover::OfferError,
    domain::leftover::ClaimError,
    domain::ledger::reschedule::PlanError,
    queue::RoomError,
    queue::TokenError,
);

/// Declares each entry as a constant and lists them all in [`ALL`], so no entry can be left
/// out of the checks below.
macro_rules! catalogue {
    ($($(#[$meta:meta])* $name:ident = $code:literal: $ko:expr, $en:expr;)*) => {
        $($(#[$meta])* pub const $name: ErrorText = ErrorText { code: $code, text: text!($ko, $en) };)*
        /// Every entry of the catalogue.
        pub const ALL: &[ErrorText] = &[$($name),*];
    };
}

catalogue! {
    // Every route: the HTTP layer, sessions, storage and load.
    UNAUTHENTICATED = "unauthenticated":
        "본인인증이 필요합니다. 본인인증을 다시 진행해 주세요.",
        "Please verify your identity first.";
    NOT_FOUND = "not_found":
        "요청하신 항목을 찾을 수 없습니다.",
        "Not found.";
    METHOD_NOT_ALLOWED = "method_not_allowed":
        "이 주소에서는 사용할 수 없는 요청 방식입니다.",
        "This method is not allowed here (see the Allow header).";
    REQUEST_TIMEOUT = "request_timeout":
        "요청을 제시간에 다 받지 못했습니다. 다시 보내 주세요.",
        "The request was not received in time; send it again.";
    BODY_TOO_LARGE = "body_too_large":
        "요청 내용이 너무 큽니다.",
        "The request body is larger than this route accepts.";
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type":
        "요청 형식(Content-Type)이 올바르지 않습니다.",
        "Unsupported Content-Type for this route.";
    INVALID_REQUEST = "invalid_request":
        "요청 형식이 올바르지 않습니다.",
        "The request is not valid.";
    INVALID_BODY = "invalid_body":
        "요청 형식이 올바르지 않습니다.",
        "The request body is not valid: {detail}";
    INVALID_QUERY = "invalid_query":
        "검색 조건이 올바르지 않습니다.",
        "The query parameters are not valid: {detail}";
    BUSY = "busy":
        "접속자가 많아 잠시 후 자동으로 다시 시도합니다. 이미 진행한 예약은 안전합니다.",
        "Too many requests right now; retry shortly. Nothing you already booked is lost.";
    OVERLOADED = "overloaded":
        "접속자가 많아 요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요. 대기 순서와 예약은 그대로입니다.",
        "The server is at its limit and did not handle this request; retry shortly. Your place in the queue and your bookings are unchanged.";
    TIMEOUT = "timeout":
        "응답이 늦어지고 있습니다. 같은 요청 키(Idempotency-Key)로 다시 시도하면 결과를 확인할 수 있습니다.",
        "The answer took too long. Retry with the same Idempotency-Key to learn the outcome.";
    STORAGE_FULL = "storage_full":
        "서버의 저장 공간이 가득 차 지금은 저장할 수 없습니다. 요청은 처리되지 않았습니다. \
         잠시 후 다시 시도해 주세요.",
        "The server's storage is full, so nothing can be saved right now. Your request \
         was not carried out; please retry in a little while.";
    STORAGE_UNAVAILABLE = "storage_unavailable":
        "지금은 예약을 저장할 수 없습니다 (저장소 장애에서 복구하는 중이거나 이 서버가 \
         예약을 저장하지 않습니다). 요청은 처리되지 않았습니다. 잠시 후 다시 시도해 주세요.",
        "Bookings cannot be saved right now (the server is recovering from a storage \
         fault, or this server is not saving bookings). Your request was not carried out; \
         please retry shortly.";
    UNAVAILABLE = "unavailable":
        "일시적인 오류입니다. 잠시 후 다시 시도해 주세요. 예약은 완료되지 않았습니다.",
        "A temporary failure; please retry. Nothing was booked.";
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused":
        "같은 요청 키(Idempotency-Key)가 다른 요청에 이미 사용되었습니다.",
        "This Idempotency-Key was already used for a different request.";
    CROSS_SITE_REQUEST = "cross_site_request":
        "다른 사이트에서 보낸 요청은 처리할 수 없습니다. 예약 화면에서 다시 시도해 주세요.",
        "Requests from other sites are refused. Please try again from the booking pages.";
    FOREIGN_ORIGIN = "foreign_origin":
        "다른 사이트에서 보낸 요청은 처리할 수 없습니다. 예약 화면에서 다시 시도해 주세요.",
        "Requests from other sites are refused. Please try again from the booking pages.";
    ORIGIN_REQUIRED = "origin_required":
        "다른 사이트에서 보낸 요청은 처리할 수 없습니다. 예약 화면에서 다시 시도해 주세요.",
        "Requests from other sites are refused. Please try again from the booking pages.";
    // The waiting room and its pass.
    TICKET_REQUIRED = "ticket_required":
        "대기표가 없습니다. 대기열에 다시 들어와 주세요.",
        "No ticket: please join the queue.";
    ALREADY_VACCINATED = "already_vaccinated":
        "이미 접종을 마치셨습니다.",
        "You are already vaccinated.";
    TEXT_ME_NEEDS_VERIFICATION = "text_me_needs_verification":
        "문자 안내는 대기 중 본인인증을 마친 분께 드립니다. 먼저 본인인증을 해 주세요.",
        "We can text you once you have verified your identity while waiting. Please verify first.";
    PASS_OTHER_PERSON = "pass_other_person":
        "이 입장권은 대기열에서 본인인증을 한 분의 것입니다. 다른 분은 대기열을 거쳐 직접 입장해 주세요. 가족 예약은 가족 동의 절차로 할 수 있습니다.",
        "This admission belongs to the person verified in the queue. Anyone else must go through the queue; family members can be booked with their consent.";
    TOO_MANY_TICKETS = "too_many_tickets":
        "이 주소에서 대기표를 너무 많이 받았습니다. 이미 받은 대기표를 그대로 쓰시거나 잠시 후 다시 시도해 주세요.",
        "Too many queue tickets from this address. Keep the ticket you have, or try again shortly.";
    PERSON_HAS_PASS = "person_has_pass":
        "이미 다른 기기나 창에서 입장하셨습니다. 처음 입장한 곳에서 예약을 이어 가 주세요. (5분 동안 쓰지 않으면 여기서 입장할 수 있습니다.)",
        "You were already let in on another device or window. Please continue there. (If it stays unused for 5 minutes, you can enter here.)";
    TEXTING_FULL = "texting_full":
        "지금은 문자 안내를 더 받을 수 없습니다. 이 화면을 열어 두고 기다려 주세요.",
        "We cannot take more texting requests right now. Please keep this page open.";
    AGENT_CALLERS_FULL = "agent_callers_full":
        "상담원이 대기열에 올릴 수 있는 인원이 가득 찼습니다. 잠시 후 다시 시도해 주세요.",
        "Agents hold as many callers in the queue as they may. Please try again shortly.";
    PLACE_PASSED_ON = "place_passed_on":
        "차례가 되어 문자를 보내 드린 뒤 돌아오실 시간이 지나 자리가 다음 분께 넘어갔습니다. 대기열에 다시 들어와 주세요.",
        "Your turn came and we texted you, but the time to come back has passed: your place went to the next person. Please join the queue again.";
    QUEUE_NUMBERS_NOT_READY = "queue_numbers_not_ready":
        "대기 번호를 준비하고 있습니다. 잠시 후 다시 시도해 주세요.",
        "Queue numbers are being prepared. Please try again in a moment.";
    PASS_REQUIRED = "pass_required":
        "대기열을 거쳐 입장한 후 이용할 수 있습니다. 대기 화면으로 이동해 주세요.",
        "Please go through the waiting room first.";
    CALLER_NOT_ADMITTED = "caller_not_admitted":
        "예약 시작 중에는 상담원도 대기열을 거칩니다. 이 분의 대기 차례가 되면 예약할 수 있습니다.",
        "During an opening agents queue too: you can book for this caller once their place comes up.";
    PASS_LIMIT = "pass_limit":
        "한 번 입장으로 {use} 수 있습니다.",
        "One admission may {use}.";
    // Identity checks and family consent.
    INVALID_NAME = "invalid_name":
        "이름을 정확히 입력해 주세요 (1~50자, 제어 문자나 글자 방향을 바꾸는 문자 없이).",
        "Please enter the name as registered (1–50 characters, without control or text-direction characters).";
    INVALID_PHONE = "invalid_phone":
        "휴대전화 번호를 정확히 입력해 주세요 (예: 010-1234-5678).",
        "Please enter a Korean mobile number (e.g. 010-1234-5678).";
    FAMILY_IS_SELF = "family_is_self":
        "본인 예약은 가족 예약이 아닌 본인 예약으로 진행해 주세요.",
        "To book for yourself, leave out the family member.";
    PERSONAL_DATA_IN_URL = "personal_data_in_url":
        "주민등록번호·이름·전화번호는 주소(URL)에 담아 보낼 수 없습니다. 양식으로 보내 주세요.",
        "Names, registration numbers and phone numbers may not be sent in a URL; send the form instead.";
    IDENTITY_RATE_LIMITED = "identity_rate_limited":
        "{why} 약 {minutes}분 후에 다시 시도해 주세요.",
        "{why} Please try again in about {minutes} minutes.";
    ALERTS_RATE_LIMITED = "alerts_rate_limited":
        "잔여 백신 알림 설정을 너무 자주 바꿨습니다. 약 {minutes}분 후에 다시 시도해 주세요.",
        "The leftover-dose alert was changed too often. Please try again in about {minutes} minutes.";
    TOO_MANY_ATTEMPTS = "too_many_attempts":
        "인증번호를 여러 번 잘못 입력했습니다. 인증번호를 다시 받아 주세요.",
        "Too many wrong codes for this check. Please request a new code.";
    VERIFICATION_EXPIRED = "verification_expired":
        "인증번호 유효시간이 지났습니다. 인증번호를 다시 받아 주세요.",
        "The code has expired. Please request a new one.";
    WRONG_CODE = "wrong_code":
        "인증번호가 맞지 않습니다. {attempts_left}번 더 시도할 수 있습니다.",
        "Wrong code. {attempts_left} attempts left.";
    IDENTITY_SERVICE_BUSY = "identity_service_busy":
        "본인인증 기관에 요청이 많습니다. 잠시 후 다시 시도해 주세요.",
        "The identity service is busy. Please retry shortly.";
    // Bookings and leftover doses.
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key":
        "Idempotency-Key 값이 올바르지 않습니다 (영문·숫자 1~128자).",
        "Idempotency-Key must be 1–128 visible ASCII characters.";
    INVALID_PRODUCT = "invalid_product":
        "백신 종류가 올바르지 않습니다 (pfizer, moderna, astrazeneca, janssen).",
        "Unknown product (use pfizer, moderna, astrazeneca or janssen).";
    FAMILY_CONSENT_REQUIRED = "family_consent_required":
        "가족 예약에는 가족 본인의 휴대전화로 받은 인증번호로 동의 확인이 필요합니다.",
        "Booking for a family member needs their consent: the code sent to their own phone.";
    FAMILY_NOT_BOOKABLE = "family_not_bookable":
        "지금은 이 가족을 예약할 수 없습니다. 가족 본인이 예약 현황과 대상 여부를 확인할 수 있습니다.",
        "This family member cannot be booked now. They can check their own bookings and eligibility.";
    INVALID_PLACE = "invalid_place":
        "위치를 확인해 주세요: 국내의 시·군·구 또는 위치, 최대 10km의 반경.",
        "Check the place: a district or a place in Korea, and a radius of at most 10 km.";
    INVALID_DATE = "invalid_date":
        "날짜 형식이 올바르지 않습니다 (예: 2021-08-16).",
        "Dates look like 2021-08-16.";
    SEARCH_SCOPE_REQUIRED = "search_scope_required":
        "시도, 시군구 또는 위치(위도·경도) 중 하나로 검색해 주세요.",
        "Search by exactly one of: province, municipality, or lat and lon.";
    FAMILY_LIMIT = "family_limit":
        "가족 예약은 {max}명까지 할 수 있습니다.",
        "You may hold bookings for at most {max} family members.";
    // Staff, operators and supply.
    WRONG_ROLE = "wrong_role":
        "이 기능을 사용할 권한이 없습니다.",
        "Your role does not allow this.";
    NOT_AN_OPERATOR = "not_an_operator":
        "운영자 권한이 없습니다.",
        "This needs an operator's token.";
    STAFF_TOKEN_INVALID = "staff_token_invalid":
        "직원 인증 정보가 올바르지 않거나 사용이 중지되었습니다.",
        "This staff token is unknown or was revoked.";
    STAFF_TOKEN_REQUIRED = "staff_token_required":
        "직원 인증이 필요합니다.",
        "Staff authentication required.";
    OPERATOR_SIGNED_OUT = "operator_signed_out":
        "운영자 로그인이 만료되었습니다. 다시 로그인해 주세요.",
        "Your operator sign-in has expired; please sign in again.";
    OPERATOR_TOKEN_REQUIRED = "operator_token_required":
        "운영자 인증이 필요합니다.",
        "Operator authentication required.";
    INVALID_STAFF = "invalid_staff":
        "역할(clinic 또는 agent), 이름, 의료기관(clinic 역할만)을 확인해 주세요.",
        "Give a role (clinic, with its clinic id, or agent) and a name of 1–50 characters.";
    CHANGE_ACROSS_PARTS = "change_across_parts":
        "이 의료기관으로는 예약을 옮길 수 없습니다. 지금 예약을 취소한 뒤 새로 예약해 주세요.",
        "Your booking cannot be moved to this clinic. Cancel it, then book there anew.";
    NOT_FORWARDED = "not_forwarded":
        "다른 서버가 전달한 요청만 받는 주소입니다.",
        "This address takes only requests forwarded by another yeyak node.";
    INVALID_PRIORITY_LIST = "invalid_priority_list":
        "명단 이름, 예약 기간(시작 < 마감), 인원(최대 100만 명)을 확인해 주세요.",
        "Check the list's name, its window (opens before it closes) and its size (at most 1,000,000).";
    INVALID_DOSE = "invalid_dose":
        "접종 차수는 1 또는 2입니다.",
        "The dose is 1 or 2.";
    TOO_MANY_DELIVERIES = "too_many_deliveries":
        "한 번에 최대 200,000줄까지 올릴 수 있습니다.",
        "At most 200,000 deliveries per upload.";
    INVALID_REGION = "invalid_region":
        "시·도(province) 또는 시·군·구(municipality) 중 하나를 지정해 주세요.",
        "Give exactly one of province or municipality.";
    NO_CLINICS_IN_REGION = "no_clinics_in_region":
        "해당 지역에 의료기관이 없습니다.",
        "There are no clinics in that region.";
    CSV_NOT_UTF8 = "csv_not_utf8":
        "파일은 UTF-8 텍스트여야 합니다. 엑셀에서는 'CSV UTF-8'로 저장해 주세요.",
        "The upload must be UTF-8 text (in Excel, save as 'CSV UTF-8').";
    EMPTY_CSV = "empty_csv":
        "올린 파일에 배송 계획이 없습니다.",
        "The upload holds no deliveries.";
    INVALID_CSV_LINE = "invalid_csv_line":
        "{line}번째 줄이 올바르지 않습니다 (의료기관,날짜,백신,수량).",
        "Line {line} is not clinic,day,product,doses.";
    PLAN_REQUIRED = "plan_required":
        "이 변경으로 예약을 옮겨야 합니다. 먼저 계획을 확인한 뒤 적용해 주세요.",
        "This change moves bookings: preview its plan, then apply that plan.";
    PLAN_CHANGED = "plan_changed":
        "계획을 확인한 뒤 예약이 바뀌었습니다. 새 계획을 확인해 주세요.",
        "Bookings changed since the preview; check the new plan.";
    PLANNER_BUSY = "planner_busy":
        "다른 공급 변경의 계획을 세우는 중입니다. 잠시 후 다시 시도해 주세요.",
        "Another supply change is being planned; try again in a few seconds.";
    SUPPLY_ACROSS_PARTS = "supply_change_across_parts":
        "예약 장부가 여러 부분으로 나뉘어 있어, 이 변경은 한 번에 적용할 수 없습니다. 같은 부분의 의료기관끼리 나누어 적용해 주세요 (접종 간격 변경은 지원되지 않습니다).",
        "The ledger is cut in parts: apply this change in pieces, one part's clinics at a time (an interval change cannot be applied on a ledger in parts).";
}

/// Why an identity check is rate-limited, by the limit it hit (`{why}` in
/// [`IDENTITY_RATE_LIMITED`]).
pub const TOO_MANY_FOR_PHONE: Text = text!(
    "이 휴대전화로 인증번호를 너무 많이 요청했습니다.",
    "Too many codes were asked for this phone.",
);
pub const TOO_MANY_FOR_PERSON: Text = text!(
    "이 주민등록번호로 인증을 너무 많이 요청했습니다.",
    "Too many checks were asked for this registration number.",
);
pub const TOO_MANY_FROM_HERE: Text = text!(
    "인증 요청이 너무 많습니다.",
    "Too many identity checks from here."
);
pub const TOO_MANY_WRONG_CODES: Text = text!(
    "잘못된 인증번호를 너무 많이 입력했습니다.",
    "Too many wrong codes were entered from here.",
);

/// What one admission allows, by use (`{use}` in [`PASS_LIMIT`], then `{limit}`).
pub const PASS_IDENTITY_STARTS: Text = text!(
    "본인인증은 {limit}번까지 요청할",
    "start at most {limit} identity checks",
);
pub const PASS_FAMILY_BOOKINGS: Text = text!(
    "가족 예약은 {limit}건까지 할",
    "make at most {limit} family bookings",
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The braces a text leaves to fill, in order.
    fn slots(text: &str) -> Vec<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_error_code_maps_to_one_entry() {
        let mut seen: BTreeMap<&str, Text> = BTreeMap::new();
        for entry in ALL {
            if let Some(earlier) = seen.insert(entry.code, entry.text) {
                panic!(
                    "`{}` has two entries: {earlier:?} and {:?}",
                    entry.code, entry.text
                );
            }
        }
        assert!(
            seen.len() > 50,
            "the catalogue lost entries: {}",
            seen.len()
        );
    }

    #[test]
    fn every_entry_has_both_languages_and_the_same_slots() {
        for entry in ALL {
            assert!(
                !entry.text.ko.trim().is_empty() && !entry.text.en.trim().is_empty(),
                "{entry:?}"
            );
            // Both languages fill the same values, except `{detail}`: the HTTP layer's own
            // (English) account of a rejection, which the Korean text leaves out.
            let mut ko = slots(entry.text.ko);
            let mut en = slots(entry.text.en);
            en.retain(|slot| *slot != "detail" || ko.contains(slot));
            ko.sort_unstable();
            en.sort_unstable();
            assert_eq!(
                ko, en,
                "{}: the languages fill different values",
                entry.code
            );
            assert!(
                entry
                    .code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}: codes are snake_case",
                entry.code
            );
        }
    }

    #[test]
    fn filling_replaces_the_slot_in_both_languages() {
        let words = INVALID_CSV_LINE.fill("line", 7);
        assert_eq!(words.code, "invalid_csv_line");
        assert!(words.ko.starts_with("7번째 줄"), "{}", words.ko);
        assert_eq!(words.en, "Line 7 is not clinic,day,product,doses.");
        let words = Words::from(PASS_LIMIT)
            .fill_text("use", PASS_FAMILY_BOOKINGS)
            .fill("limit", 4);
        assert_eq!(
            words.en,
            "One admission may make at most 4 family bookings."
        );
        assert_eq!(
            words.ko,
            "한 번 입장으로 가족 예약은 4건까지 할 수 있습니다."
        );
    }
}
