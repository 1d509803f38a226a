//! What the desks read: clinic staff, agents on the phone line and operators.
//!
//! One module per desk, and `sign_in` for what the clinic and agent desks' sign-in shares.

use super::{Lang, Text, text};

/// Both languages' "Sign out" and "Sign in", on every desk.
pub const SIGN_OUT: Text = text!("로그아웃", "Sign out");
pub const SIGN_IN: Text = text!("로그인", "Sign in");
pub const VACCINE: Text = text!("백신", "Vaccine");
pub const NAME: Text = text!("이름", "Name");
pub const BORN: Text = text!("생년월일", "Born");
pub const DOSE: Text = text!("차수", "Dose");

/// The staff sign-in the clinic and agent desks share.
pub mod sign_in {
    use super::{Text, text};

    pub const CLINIC_TITLE: Text = text!("접종기관 로그인", "Clinic sign-in");
    pub const AGENT_TITLE: Text = text!("상담원 로그인", "Agent sign-in");
    pub const REFUSED: Text = text!(
        "직원 토큰이 맞지 않거나 사용이 중지되었습니다.",
        "That staff token is unknown or was revoked."
    );
    pub const INTRO: Text = text!(
        "운영자에게 받은 직원 토큰을 입력하세요. 로그인은 12시간 동안 유지됩니다.",
        "Enter the staff token your operator gave you. The sign-in lasts 12 hours."
    );
    pub const TOKEN: Text = text!("직원 토큰", "Staff token");
}

/// The clinic desk: the day's list, doses given, leftover doses.
pub mod clinic {
    use super::{Lang, Text, text};

    pub const TITLE: Text = text!("오늘의 접종 명단", "Today's list");
    pub const GIVEN: Text = text!("접종 완료", "Given");
    pub const DONE: Text = text!("완료", "Done");
    pub const NO_APPOINTMENTS: Text = text!("오늘 예약이 없습니다.", "No appointments today.");
    pub const LEFT: Text = text!("남음", "left");
    pub const TO_GIVE: Text = text!("접종 예정", "To give");
    pub const TIME: Text = text!("시간", "Time");
    pub const ACTION: Text = text!("처리", "Action");
    pub const LEFTOVER_TITLE: Text = text!("잔여백신 알리기", "Offer leftover doses");
    pub const LEFTOVER_INTRO: Text = text!(
        "오늘 남는 백신을 알림을 신청한 가까운 분들께 선착순으로 안내합니다.",
        "Tell people nearby who asked to hear of leftover doses; first come, first served."
    );
    pub const DOSES: Text = text!("회분", "Doses");
    pub const CLAIMS_CLOSE: Text = text!(
        "신청 마감 (오늘, 한국시간)",
        "Claims close (today, Korea time)"
    );
    pub const OFFER: Text = text!("잔여백신 등록", "Offer them");
    pub const OFFERED_TODAY: Text = text!("오늘 등록한 잔여백신", "Offered today");

    /// "2차" or "dose 2": which dose of the vaccine an appointment is.
    pub fn dose(dose: u8, lang: Lang) -> String {
        match lang {
            Lang::Ko => format!("{dose}차"),
            Lang::En => format!("dose {dose}"),
        }
    }
}

/// The agent desk: identify a person, then book, change or cancel for them.
pub mod agent {
    use super::{Text, text};

    pub const TITLE: Text = text!("예약 대행", "Book for someone");
    pub const NO_CLINIC_IN_DISTRICT: Text = text!(
        "이 지역에는 의료기관이 없습니다.",
        "No clinic in this district."
    );
    pub const NEAREST_FIRST: Text = text!(
        "고른 시·군·구 중심에서 10km 안, 가까운 순서입니다. 날짜별 남은 자리를 보고 고르세요.",
        "Nearest the middle of the district first, within 10 km, with the places left each day."
    );
    pub const NO_CLINIC_NEARBY: Text = text!(
        "이 백신을 접종하는 가까운 의료기관이 없습니다.",
        "No clinic nearby gives this vaccine."
    );
    pub const MORE_CLINICS: Text = text!("다음 의료기관 더 보기", "More clinics");
    pub const FULL: Text = text!("마감", "full");
    pub const CHOOSE: Text = text!("선택", "Choose");
    pub const NO_PLACES_THIS_WEEK: Text = text!(
        "7일 안에 남은 자리가 없습니다",
        "No places in the next 7 days"
    );
    pub const PLACES_PER_DAY: Text = text!("날짜별 남은 자리", "Places left per day");
    pub const CHOOSE_DISTRICT_FIRST: Text = text!(
        "위에서 시·군·구를 고르고 의료기관을 선택하세요.",
        "Choose a district above, then a clinic."
    );
    pub const DAYS: Text = text!("날짜 (남은 자리)", "Day (places left)");
    pub const BAND: Text = text!("시간대", "Time");
    pub const DOSE_2: Text = text!(
        "2차 접종은 같은 의료기관, 같은 백신으로 접종 간격에 맞춰 함께 예약됩니다 (얀센은 1회).",
        "Dose 2 is booked with it: same clinic, same vaccine, at the vaccine's interval (Janssen is one dose)."
    );
    pub const IDENTIFY_TITLE: Text = text!("본인 확인", "Who is it for?");
    pub const IDENTIFY_INTRO: Text = text!(
        "신분증을 보고 이름, 주민등록번호, 휴대전화 번호를 입력하세요. 휴대전화가 없으면 보호자 번호를 입력합니다.",
        "Check their ID card, then enter their name, registration number and phone (a carer's number if they have none)."
    );
    pub const RRN: Text = text!("주민등록번호", "Resident registration number");
    pub const PHONE: Text = text!("휴대전화 번호", "Mobile number");
    pub const ID_CHECKED: Text = text!("신분증을 확인했습니다", "I have checked their ID");
    pub const IDENTIFY: Text = text!("확인", "Identify");
    pub const PERSON_TITLE: Text = text!("예약 대상자", "The person");
    pub const RRN_SHORT: Text = text!("주민등록번호", "Registration number");
    pub const NEXT_PERSON: Text = text!("다음 사람", "Next person");
    pub const BOOKINGS: Text = text!("예약 내역", "Bookings");
    pub const BOOK: Text = text!("예약하기", "Book");
    pub const FIND_CLINIC: Text = text!("의료기관 찾기", "Find a clinic");
    pub const PROVINCE: Text = text!("시·도", "Province or city");
    pub const DISTRICT: Text = text!("시·군·구", "District");
    pub const SEARCH: Text = text!("검색", "Search");
    pub const STOP_CHANGING: Text = text!("변경 그만두기", "Stop changing");
}

/// The operators' pages: sign-in, the queue and openings, supply, the dashboard.
pub mod operator {
    use super::{Text, text};

    pub const SIGN_IN_TITLE: Text = text!("운영자 로그인", "Operator sign-in");
    pub const REFUSED: Text = text!(
        "운영자 토큰이 맞지 않습니다.",
        "That is not the operator token."
    );
    pub const SIGN_IN_INTRO: Text = text!(
        "서버의 data/operator.token 파일에 있는 운영자 토큰을 입력하세요. 로그인은 8시간 동안 유지됩니다.",
        "Enter the operator token from the server's data/operator.token. The sign-in lasts 8 hours."
    );
    pub const TOKEN: Text = text!("운영자 토큰", "Operator token");

    /// `/operator`: the queue now and scheduling an opening.
    pub mod queue {
        use super::{Text, text};

        pub const TITLE: Text = text!("대기열·오픈", "Queue");
        pub const HEADING: Text = text!("대기열과 예약 오픈", "Queue and openings");
        pub const FREE_FLOW: Text = text!("없음 (바로 입장)", "none (free flow)");
        pub const QUEUE: Text = text!("대기열 번호", "Queue");
        pub const PREQUEUE_STARTS: Text = text!("사전 대기 시작", "Pre-queue starts");
        pub const OPENS: Text = text!("예약 시작", "Opens");
        pub const MAX_ACTIVE: Text = text!("동시 이용 최대", "Max active");
        pub const ARRIVALS: Text = text!("도착", "Arrivals");
        pub const WAITING: Text = text!("대기 중", "Waiting");
        pub const ADMITTED: Text = text!("입장", "Admitted");
        pub const ACTIVE: Text = text!("이용 중", "Active");
        pub const ADMISSION_RATE: Text = text!("입장 속도 (명/초)", "Admission rate (per s)");
        pub const NOW: Text = text!("현재 대기열", "The queue now");
        pub const SCHEDULE: Text = text!("예약 오픈 예약하기", "Schedule an opening");
        pub const EXPLAIN: Text = text!(
            "사전 대기 시작부터 예약 시작 전까지 온 사람은 시작 시각에 무작위 순서를 받습니다. 시각은 한국시간입니다.",
            "Everyone who arrives between the pre-queue start and the opening gets a random place at the opening. Times are Korea time."
        );
        pub const PREQUEUE_FIELD: Text =
            text!("사전 대기 시작 (한국시간)", "Pre-queue starts (Korea time)");
        pub const OPENS_FIELD: Text = text!("예약 시작 (한국시간)", "Opens (Korea time)");
        pub const MAX_ACTIVE_FIELD: Text =
            text!("동시 이용 최대 인원", "Most people booking at once");
        pub const SUBMIT: Text = text!("등록", "Schedule");
    }

    /// `/operator/supply`: a delivery cut, its rescheduling plan, and a clinic's supply.
    pub mod supply {
        use super::{Text, text};

        pub const TITLE: Text = text!("공급·일정 변경", "Supply");
        pub const HEADING: Text = text!("공급과 일정 변경", "Supply and rescheduling");
        pub const CUT: Text = text!(
            "배송량 변경 (공급 축소·지연)",
            "Change a delivery (cut or delay)"
        );
        pub const CUT_INTRO: Text = text!(
            "새 배송량을 넣고 계획을 미리 봅니다. 적용하기 전에는 아무것도 바뀌지 않습니다. 옮겨지는 분께는 한 번씩 안내 문자가 갑니다.",
            "Enter the new delivery and preview the plan. Nothing changes until you apply it; each person moved gets one message."
        );
        pub const CLINIC: Text = text!("의료기관 번호", "Clinic number");
        pub const DAY: Text = text!("날짜", "Day");
        pub const DELIVERY: Text = text!("새 배송량 (회분)", "New delivery (doses)");
        pub const PREVIEW: Text = text!("계획 미리보기", "Preview the plan");
        pub const SHOW: Text = text!("공급 현황 보기", "Show supply");
        pub const PLAN: Text = text!("일정 변경 계획", "Rescheduling plan");
        pub const PEOPLE_MOVED: Text = text!("옮겨지는 사람", "People moved");
        pub const DOSES_MOVED: Text = text!("옮겨지는 접종 (1·2차)", "Doses moved (dose 1 and 2)");
        pub const OTHER_CLINIC: Text = text!("다른 의료기관으로", "To another clinic");
        pub const UNPLACED: Text = text!(
            "자리를 찾지 못함 (취소·안내)",
            "Not placed (cancelled, told)"
        );
        pub const SHIFT: Text = text!("며칠 옮겨지는지", "How many days people move");
        pub const DAYS_MOVED: Text = text!("이동 일수", "Days moved");
        pub const DOSES: Text = text!("접종 수", "Doses");
        pub const SAMPLE: Text = text!("옮겨지는 예약 (일부)", "Moves (sample)");
        pub const BOOKING: Text = text!("예약", "Booking");
        pub const FROM: Text = text!("기존", "From");
        pub const TO: Text = text!("변경", "To");
        pub const APPLY: Text = text!("이 계획 적용", "Apply this plan");
        pub const SUPPLY: Text = text!("공급 현황", "Supply");
        pub const PLANNED: Text = text!("계획", "Planned");
        pub const PROMISED: Text = text!("예약됨", "Promised");
        pub const LEFT: Text = text!("남음", "Left");
    }

    /// `/operator/dashboard`: the live charts and their tables.
    pub mod dashboard {
        use super::{Text, text};

        pub const TITLE: Text = text!("현황판", "Dashboard");
        pub const HEADING: Text = text!("실시간 현황판", "Live dashboard");
        pub const ARRIVALS: Text = text!("도착 (명/초)", "Arrivals per second");
        pub const QUEUED: Text = text!("대기 인원", "Queue length");
        pub const ADMISSION_RATE: Text = text!("입장 속도 (명/초)", "Admission rate per second");
        pub const ACTIVE: Text = text!("이용 중인 세션", "Active sessions");
        pub const BOOKINGS: Text = text!("예약 (건/분)", "Bookings per minute");
        pub const NOW: Text = text!("현재", "now");
        pub const LOADING: Text = text!("불러오는 중…", "Loading…");
        pub const PERIOD: Text = text!("기간", "Period");
        pub const FINE: Text = text!("최근 2분 (1초 간격)", "Last 2 minutes (every second)");
        pub const COARSE: Text = text!("최근 1시간 (10초 간격)", "Last hour (every 10 seconds)");
        pub const AS_TABLE: Text = text!(
            "표로 보기 (읽기·복사용)",
            "Show as a table (to read or copy)"
        );
        pub const TABLE_CAPTION: Text = text!(
            "기간의 모든 값, 최근 것부터 (한국시간)",
            "Every value of the period, newest first (Korea time)"
        );
        pub const TIME: Text = text!("시각", "Time");
        pub const PROVINCE: Text = text!("시·도", "Province");
        pub const PLACES_LEFT: Text = text!("남은 인원", "Places left");
        pub const CAPACITY: Text = text!(
            "시·도별 남은 예약 가능 인원 (내일부터 7일)",
            "Places left by province (7 days from tomorrow)"
        );
    }
}
