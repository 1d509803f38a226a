//! What the desks read: clinic staff, agents on the phone line and operators.
//!
//! One module per desk, and `sign_in` for what the clinic and agent desks' sign-in shares. A
//! page whose title is its link in the header takes it from the frame (`shared::frame::NAV_*`).

// What every desk says alike.
crate::text::entries! {
    SIGN_OUT = ("로그아웃", "Sign out");
    SIGN_IN = ("로그인", "Sign in");
    VACCINE = ("백신", "Vaccine");
    NAME = ("이름", "Name");
    BORN = ("생년월일", "Born");
    DOSE = ("차수", "Dose");
}

/// The staff sign-in the clinic and agent desks share.
pub mod sign_in {
    crate::text::entries! {
        CLINIC_TITLE = ("접종기관 로그인", "Clinic sign-in");
        AGENT_TITLE = ("상담원 로그인", "Agent sign-in");
        REFUSED = ("직원 토큰이 맞지 않거나 사용이 중지되었습니다.", "That staff token is unknown or was revoked.");
        INTRO = (
            "운영자에게 받은 직원 토큰을 입력하세요. 로그인은 12시간 동안 유지됩니다.",
            "Enter the staff token your operator gave you. The sign-in lasts 12 hours.",
        );
        TOKEN = ("직원 토큰", "Staff token");
    }
}

/// The clinic desk: the day's list, doses given, leftover doses.
pub mod clinic {
    use crate::text::{Lang, either};

    crate::text::entries! {
        TITLE = ("오늘의 접종 명단", "Today's list");
        GIVEN = ("접종 완료", "Given");
        DONE = ("완료", "Done");
        NO_APPOINTMENTS = ("오늘 예약이 없습니다.", "No appointments today.");
        LEFT = ("남음", "left");
        TO_GIVE = ("접종 예정", "To give");
        TIME = ("시간", "Time");
        ACTION = ("처리", "Action");
        LEFTOVER_TITLE = ("잔여백신 알리기", "Offer leftover doses");
        LEFTOVER_INTRO = (
            "오늘 남는 백신을 알림을 신청한 가까운 분들께 선착순으로 안내합니다.",
            "Tell people nearby who asked to hear of leftover doses; first come, first served.",
        );
        DOSES = ("회분", "Doses");
        CLAIMS_CLOSE = ("신청 마감 (오늘, 한국시간)", "Claims close (today, Korea time)");
        OFFER = ("잔여백신 등록", "Offer them");
        OFFERED_TODAY = ("오늘 등록한 잔여백신", "Offered today");
    }

    /// "2차" or "dose 2": which dose of the vaccine an appointment is.
    pub fn dose(lang: Lang, dose: u8) -> String {
        either(lang, || format!("{dose}차"), || format!("dose {dose}"))
    }
}

/// The agent desk: identify a person, then book, change or cancel for them.
pub mod agent {
    crate::text::entries! {
        NO_CLINIC_IN_DISTRICT = ("이 지역에는 의료기관이 없습니다.", "No clinic in this district.");
        NEAREST_FIRST = (
            "고른 시·군·구 중심에서 10km 안, 가까운 순서입니다. 날짜별 남은 자리를 보고 고르세요.",
            "Nearest the middle of the district first, within 10 km, with the places left each day.",
        );
        NO_CLINIC_NEARBY = ("이 백신을 접종하는 가까운 의료기관이 없습니다.", "No clinic nearby gives this vaccine.");
        MORE_CLINICS = ("다음 의료기관 더 보기", "More clinics");
        NO_PLACES_THIS_WEEK = ("7일 안에 남은 자리가 없습니다", "No places in the next 7 days");
        PLACES_PER_DAY = ("날짜별 남은 자리", "Places left per day");
        CHOOSE_DISTRICT_FIRST = (
            "위에서 시·군·구를 고르고 의료기관을 선택하세요.",
            "Choose a district above, then a clinic.",
        );
        DAYS = ("날짜 (남은 자리)", "Day (places left)");
        BAND = ("시간대", "Time");
        DOSE_2 = (
            "2차 접종은 같은 의료기관, 같은 백신으로 접종 간격에 맞춰 함께 예약됩니다 (얀센은 1회).",
            "Dose 2 is booked with it: same clinic, same vaccine, at the vaccine's interval (Janssen is one dose).",
        );
        IDENTIFY_TITLE = ("본인 확인", "Who is it for?");
        IDENTIFY_INTRO = (
            "신분증을 보고 이름, 주민등록번호, 휴대전화 번호를 입력하세요. 휴대전화가 없으면 보호자 번호를 입력합니다.",
            "Check their ID card, then enter their name, registration number and phone (a carer's number if they have none).",
        );
        RRN = ("주민등록번호", "Resident registration number");
        PHONE = ("휴대전화 번호", "Mobile number");
        ID_CHECKED = ("신분증을 확인했습니다", "I have checked their ID");
        IDENTIFY = ("확인", "Identify");
        PERSON_TITLE = ("예약 대상자", "The person");
        RRN_SHORT = ("주민등록번호", "Registration number");
        NEXT_PERSON = ("다음 사람", "Next person");
        BOOKINGS = ("예약 내역", "Bookings");
        BOOK = ("예약하기", "Book");
        FIND_CLINIC = ("의료기관 찾기", "Find a clinic");
        PROVINCE = ("시·도", "Province or city");
        DISTRICT = ("시·군·구", "District");
        SEARCH = ("검색", "Search");
        STOP_CHANGING = ("변경 그만두기", "Stop changing");
    }
}

/// The operators' pages: sign-in, the queue and openings, supply, the dashboard.
pub mod operator {
    crate::text::entries! {
        SIGN_IN_TITLE = ("운영자 로그인", "Operator sign-in");
        REFUSED = ("운영자 토큰이 맞지 않습니다.", "That is not the operator token.");
        SIGN_IN_INTRO = (
            "서버의 data/operator.token 파일에 있는 운영자 토큰을 입력하세요. 로그인은 8시간 동안 유지됩니다.",
            "Enter the operator token from the server's data/operator.token. The sign-in lasts 8 hours.",
        );
        TOKEN = ("운영자 토큰", "Operator token");
    }

    /// `/operator`: the queue now and scheduling an opening.
    pub mod queue {
        crate::text::entries! {
            HEADING = ("대기열과 예약 오픈", "Queue and openings");
            FREE_FLOW = ("없음 (바로 입장)", "none (free flow)");
            QUEUE = ("대기열 번호", "Queue");
            PREQUEUE_STARTS = ("사전 대기 시작", "Pre-queue starts");
            OPENS = ("예약 시작", "Opens");
            MAX_ACTIVE = ("동시 이용 최대", "Max active");
            ARRIVALS = ("도착", "Arrivals");
            WAITING = ("대기 중", "Waiting");
            ADMITTED = ("입장", "Admitted");
            ACTIVE = ("이용 중", "Active");
            ADMISSION_RATE = ("입장 속도 (명/초)", "Admission rate (per s)");
            NOW = ("현재 대기열", "The queue now");
            SCHEDULE = ("예약 오픈 예약하기", "Schedule an opening");
            EXPLAIN = (
                "사전 대기 시작부터 예약 시작 전까지 온 사람은 시작 시각에 무작위 순서를 받습니다. 시각은 한국시간입니다.",
                "Everyone who arrives between the pre-queue start and the opening gets a random place at the opening. Times are Korea time.",
            );
            PREQUEUE_FIELD = ("사전 대기 시작 (한국시간)", "Pre-queue starts (Korea time)");
            OPENS_FIELD = ("예약 시작 (한국시간)", "Opens (Korea time)");
            MAX_ACTIVE_FIELD = ("동시 이용 최대 인원", "Most people booking at once");
            SUBMIT = ("등록", "Schedule");
        }
    }

    /// `/operator/supply`: a delivery cut, its rescheduling plan, and a clinic's supply.
    pub mod supply {
        crate::text::entries! {
            HEADING = ("공급과 일정 변경", "Supply and rescheduling");
            CUT = ("배송량 변경 (공급 축소·지연)", "Change a delivery (cut or delay)");
            CUT_INTRO = (
                "새 배송량을 넣고 계획을 미리 봅니다. 적용하기 전에는 아무것도 바뀌지 않습니다. 옮겨지는 분께는 한 번씩 안내 문자가 갑니다.",
                "Enter the new delivery and preview the plan. Nothing changes until you apply it; each person moved gets one message.",
            );
            CLINIC = ("의료기관 번호", "Clinic number");
            DAY = ("날짜", "Day");
            DELIVERY = ("새 배송량 (회분)", "New delivery (doses)");
            PREVIEW = ("계획 미리보기", "Preview the plan");
            SHOW = ("공급 현황 보기", "Show supply");
            PLAN = ("일정 변경 계획", "Rescheduling plan");
            PEOPLE_MOVED = ("옮겨지는 사람", "People moved");
            DOSES_MOVED = ("옮겨지는 접종 (1·2차)", "Doses moved (dose 1 and 2)");
            OTHER_CLINIC = ("다른 의료기관으로", "To another clinic");
            UNPLACED = ("자리를 찾지 못함 (취소·안내)", "Not placed (cancelled, told)");
            SHIFT = ("며칠 옮겨지는지", "How many days people move");
            DAYS_MOVED = ("이동 일수", "Days moved");
            DOSES = ("접종 수", "Doses");
            SAMPLE = ("옮겨지는 예약 (일부)", "Moves (sample)");
            BOOKING = ("예약", "Booking");
            FROM = ("기존", "From");
            TO = ("변경", "To");
            APPLY = ("이 계획 적용", "Apply this plan");
            SUPPLY = ("공급 현황", "Supply");
            PLANNED = ("계획", "Planned");
            PROMISED = ("예약됨", "Promised");
            LEFT = ("남음", "Left");
        }
    }

    /// `/operator/dashboard`: the live charts and their tables.
    pub mod dashboard {
        crate::text::entries! {
            HEADING = ("실시간 현황판", "Live dashboard");
            ARRIVALS = ("도착 (명/초)", "Arrivals per second");
            QUEUED = ("대기 인원", "Queue length");
            ADMISSION_RATE = ("입장 속도 (명/초)", "Admission rate per second");
            ACTIVE = ("이용 중인 세션", "Active sessions");
            BOOKINGS = ("예약 (건/분)", "Bookings per minute");
            NOW = ("현재", "now");
            LOADING = ("불러오는 중…", "Loading…");
            PERIOD = ("기간", "Period");
            FINE = ("최근 2분 (1초 간격)", "Last 2 minutes (every second)");
            COARSE = ("최근 1시간 (10초 간격)", "Last hour (every 10 seconds)");
            AS_TABLE = ("표로 보기 (읽기·복사용)", "Show as a table (to read or copy)");
            TABLE_CAPTION = (
                "기간의 모든 값, 최근 것부터 (한국시간)",
                "Every value of the period, newest first (Korea time)",
            );
            TIME = ("시각", "Time");
            PROVINCE = ("시·도", "Province");
            PLACES_LEFT = ("남은 인원", "Places left");
            CAPACITY = (
                "시·도별 남은 예약 가능 인원 (내일부터 7일)",
                "Places left by province (7 days from tomorrow)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::checks::{self, Groups};
    use crate::text::{Lang, shared};

    /// Every group of the desks' pages, and the frame and widgets they are shown in.
    const GROUPS: &Groups = &[
        ("desks", ALL),
        ("sign_in", sign_in::ALL),
        ("clinic", clinic::ALL),
        ("agent", agent::ALL),
        ("operator", operator::ALL),
        ("operator::queue", operator::queue::ALL),
        ("operator::supply", operator::supply::ALL),
        ("operator::dashboard", operator::dashboard::ALL),
        ("frame", shared::frame::ALL),
        ("widgets", shared::widgets::ALL),
    ];

    #[test]
    fn every_entry_has_korean_in_hangul_and_english() {
        checks::every_entry_has_korean_in_hangul_and_english(GROUPS);
    }

    #[test]
    fn no_text_is_in_the_catalogue_twice() {
        checks::no_text_is_in_the_catalogue_twice(GROUPS);
    }

    #[test]
    fn the_dose_says_its_number_in_both_languages() {
        assert_eq!(clinic::dose(Lang::Ko, 2), "2차");
        assert_eq!(clinic::dose(Lang::En, 2), "dose 2");
    }
}
