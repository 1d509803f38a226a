//! Who may book, and when: decided by the server alone, on the server's clock, in Asia/Seoul.
//!
//! In July 2021 people eligible from 07-19 20:00 were told between 02:00 and 09:00 the next
//! morning that they were "not eligible in this period" because the code that read the current
//! time was wrong. Here every rule is an interval of instants (`Timestamp`s) computed once from
//! Seoul wall-clock times, and the current instant is always a parameter: there is no "today",
//! no host time zone and no clock read anywhere on the decision path.
//!
//! A person's *windows* are the intervals in which they may book: their birth-year cohorts'
//! windows (cut down to their birth-day digit's sub-windows where a cohort uses the August 2021
//! "10부제" rotation) and the windows of the priority lists they are on. [`decide`] answers from
//! those windows alone, so every refusal can say when the person's own next window opens.

use std::cmp::Reverse;

use jiff::civil::{self, Date, DateTime, Time};
use jiff::{SignedDuration, Span, Timestamp};

use crate::time::{in_seoul, seoul, seoul_date};

/// 20:00, the hour every 2021 cohort opened at (the evening, after working hours).
const OPENING_TIME: Time = civil::time(20, 0, 0, 0);
/// 18:00, the hour every 2021 window closed at (before the next 20:00 opening).
const CLOSING_TIME: Time = civil::time(18, 0, 0, 0);
/// The birth-day digits of August 2021, one per day from 08-09 (each day's date's last digit).
const DIGITS_2021: [u8; 10] = [9, 0, 1, 2, 3, 4, 5, 6, 7, 8];

/// Identifies a birth-year cohort within a [`Rules`] set.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct CohortId(pub u32);

/// Identifies an uploaded priority list within a [`Rules`] set.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ListId(pub u32);

/// What made a person eligible (or will): a birth-year cohort or a priority list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Via {
    Cohort(CohortId),
    List(ListId),
}

/// A booking window: open from `opens` (inclusive) to `closes` (exclusive), so that 18:00:00 is
/// already closed and 20:00:00 already open. A window with `opens >= closes` is never open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub opens: Timestamp,
    pub closes: Timestamp,
}

impl Window {
    /// Whether booking is open at `now`.
    pub fn contains(&self, now: Timestamp) -> bool {
        self.opens <= now && now < self.closes
    }

    /// Whether the window is never open (misconfigured or cut away entirely).
    pub fn is_empty(&self) -> bool {
        self.opens >= self.closes
    }

    /// The part of both windows, which may be empty.
    pub fn intersect(&self, other: &Window) -> Window {
        Window {
            opens: self.opens.max(other.opens),
            closes: self.closes.min(other.closes),
        }
    }
}

/// The "10부제" of August 2021: on rotation day `k` (the Seoul date `first_day + k`), only people
/// whose birth *day of month* ends in `digits[k]` may book, from `daily_open` that day until the
/// next `daily_close` after it (with 20:00 and 18:00, the following day). It spread 16 million
/// people over ten evenings instead of one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DigitRotation {
    /// Seoul date of rotation day 0.
    pub first_day: Date,
    /// The digit (0–9) of each rotation day; a value above 9 admits nobody that day.
    pub digits: Vec<u8>,
    /// Seoul wall-clock time at which each day's sub-window opens.
    pub daily_open: Time,
    /// Seoul wall-clock time at which each day's sub-window closes: the first such time after
    /// the opening, so a close earlier than the open falls on the next day.
    pub daily_close: Time,
}

impl DigitRotation {
    /// The digit a person is sorted by: the last digit of their birth day of month.
    pub fn digit_of(birth_date: Date) -> u8 {
        birth_date.day().unsigned_abs() % 10
    }

    /// The sub-window of rotation day `k`, whoever it is for; `None` past the last day or beyond
    /// the calendar's range.
    pub fn window_of_day(&self, k: usize) -> Option<Window> {
        if k >= self.digits.len() {
            return None;
        }
        let day = add_days(self.first_day, i64::try_from(k).ok()?)?;
        let opens = seoul_at(day.to_datetime(self.daily_open))?;
        let close_day = if self.daily_close > self.daily_open {
            day
        } else {
            add_days(day, 1)?
        };
        let closes = seoul_at(close_day.to_datetime(self.daily_close))?;
        Some(Window { opens, closes })
    }

    /// The sub-windows, in day order, open to people whose birth day ends in `digit`.
    pub fn windows_for_digit(&self, digit: u8) -> Vec<Window> {
        self.digits
            .iter()
            .enumerate()
            .filter(|&(_, &d)| d == digit)
            .filter_map(|(k, _)| self.window_of_day(k))
            .collect()
    }
}

/// People born in a range of years, with the window in which they may book.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cohort {
    pub id: CohortId,
    pub name_ko: String,
    pub name_en: String,
    /// First and last birth year, both inclusive.
    pub birth_years: (i16, i16),
    /// The whole booking period; with a rotation, a person may book only where their digit's
    /// sub-windows meet it.
    pub window: Window,
    pub rotation: Option<DigitRotation>,
}

impl Cohort {
    /// Whether someone born on `birth_date` belongs to this cohort (by birth year only).
    pub fn includes(&self, birth_date: Date) -> bool {
        let (first, last) = self.birth_years;
        (first..=last).contains(&birth_date.year())
    }

    /// The non-empty windows in which someone born on `birth_date` may book under this cohort.
    pub fn windows_for(&self, birth_date: Date) -> Vec<Window> {
        if !self.includes(birth_date) {
            return Vec::new();
        }
        let windows = match &self.rotation {
            None => vec![self.window],
            Some(rotation) => rotation
                .windows_for_digit(DigitRotation::digit_of(birth_date))
                .iter()
                .map(|sub| sub.intersect(&self.window))
                .collect(),
        };
        windows.into_iter().filter(|w| !w.is_empty()).collect()
    }
}

/// An uploaded list of people (health workers, teachers, …) who may book in its window
/// whatever their birth year. Membership is looked up by RRN hash outside this module.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PriorityList {
    pub id: ListId,
    pub name_ko: String,
    pub name_en: String,
    pub window: Window,
}

/// Everything eligibility depends on besides the person and the instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rules {
    pub cohorts: Vec<Cohort>,
    pub priority_lists: Vec<PriorityList>,
}

impl Rules {
    /// Every non-empty window in which `person` may book, ignoring exclusions: cohorts first, in
    /// rule order, then the priority lists the person is on. Lists the rules do not know are
    /// ignored.
    pub fn windows_for(&self, person: &PersonFacts) -> Vec<(Via, Window)> {
        let by_cohort = self.cohorts.iter().flat_map(|c| {
            c.windows_for(person.birth_date)
                .into_iter()
                .map(move |w| (Via::Cohort(c.id), w))
        });
        let by_list = self
            .priority_lists
            .iter()
            .filter(|l| person.priority_lists.contains(&l.id))
            .filter(|l| !l.window.is_empty())
            .map(|l| (Via::List(l.id), l.window));
        by_cohort.chain(by_list).collect()
    }
}

/// What the server knows about the person asking, already looked up (list membership and
/// exclusions by RRN hash). The birth date comes from a parsed [`crate::rrn::Rrn`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonFacts {
    pub birth_date: Date,
    pub priority_lists: Vec<ListId>,
    pub already_booked: bool,
    pub already_vaccinated: bool,
}

/// The answer to "may I book now?", with what the person needs to know next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Booking is open for them now, without a break until `closes_at` (exclusive).
    Eligible { via: Via, closes_at: Timestamp },
    /// Not now; their soonest own window opens at `opens_at`.
    NotYet { opens_at: Timestamp, via: Via },
    /// They had windows, all over; the last closed at `closed_at`.
    Closed { closed_at: Timestamp },
    /// No cohort or priority list of theirs has a window.
    NotInAnyCohort,
    /// They already hold a booking (change or cancel it instead).
    AlreadyBooked,
    /// They are already vaccinated.
    AlreadyVaccinated,
}

/// Decides whether `person` may book at `now` under `rules`.
///
/// Precedence: vaccinated, then booked, then eligible now, then not yet (the soonest opening),
/// then closed, then not in any cohort. Only `now` is compared with instants; the Seoul calendar
/// was applied when the rules' windows were built, so the host's time zone cannot leak in.
pub fn decide(person: &PersonFacts, rules: &Rules, now: Timestamp) -> Decision {
    if person.already_vaccinated {
        return Decision::AlreadyVaccinated;
    }
    if person.already_booked {
        return Decision::AlreadyBooked;
    }
    let windows = rules.windows_for(person);
    open_now(&windows, now)
        .or_else(|| next_opening(&windows, now))
        .or_else(|| last_closing(&windows))
        .unwrap_or(Decision::NotInAnyCohort)
}

/// Eligible if a window contains `now`: reports the one closing last, and the end of the
/// unbroken run of windows from there, so "until" is really the first instant they cannot book.
fn open_now(windows: &[(Via, Window)], now: Timestamp) -> Option<Decision> {
    let (via, window) = windows
        .iter()
        .filter(|(_, w)| w.contains(now))
        .min_by_key(|(_, w)| Reverse(w.closes))?;
    Some(Decision::Eligible {
        via: *via,
        closes_at: end_of_open_run(windows, window.closes),
    })
}

/// Follows windows that are open at `t` (one opening exactly at a closing, or overlapping it)
/// to the end of the run. Each step moves past one more window's close, so it is bounded.
fn end_of_open_run(windows: &[(Via, Window)], mut t: Timestamp) -> Timestamp {
    for _ in 0..windows.len() {
        let later = windows
            .iter()
            .filter(|(_, w)| w.contains(t))
            .map(|(_, w)| w.closes)
            .max();
        match later {
            Some(closes) => t = closes,
            None => break,
        }
    }
    t
}

/// Not yet if a window opens after `now`: reports the soonest.
fn next_opening(windows: &[(Via, Window)], now: Timestamp) -> Option<Decision> {
    let (via, window) = windows
        .iter()
        .filter(|(_, w)| w.opens > now)
        .min_by_key(|(_, w)| w.opens)?;
    Some(Decision::NotYet {
        opens_at: window.opens,
        via: *via,
    })
}

/// Closed if the person had any window (by now all past): reports when the last one closed.
fn last_closing(windows: &[(Via, Window)]) -> Option<Decision> {
    let closed_at = windows.iter().map(|(_, w)| w.closes).max()?;
    Some(Decision::Closed { closed_at })
}

impl Decision {
    /// Stable machine-readable code for APIs, logs and translations.
    pub fn code(&self) -> &'static str {
        match self {
            Decision::Eligible { .. } => "eligible",
            Decision::NotYet { .. } => "not_yet",
            Decision::Closed { .. } => "closed",
            Decision::NotInAnyCohort => "not_in_any_cohort",
            Decision::AlreadyBooked => "already_booked",
            Decision::AlreadyVaccinated => "already_vaccinated",
        }
    }

    /// Whether the person may book now.
    pub fn is_eligible(&self) -> bool {
        matches!(self, Decision::Eligible { .. })
    }

    /// What the decision means for the person, in Korean, with the time that matters to them.
    pub fn message_ko(&self) -> String {
        match self {
            Decision::Eligible { closes_at, .. } => format!(
                "지금 예약할 수 있습니다. 예약 마감은 {}입니다.",
                kst_ko(*closes_at)
            ),
            Decision::NotYet { opens_at, .. } => format!(
                "지금은 예약 기간이 아닙니다. {}부터 예약할 수 있습니다.",
                kst_ko(*opens_at)
            ),
            Decision::Closed { closed_at } => {
                format!("예약 기간이 {}에 끝났습니다.", kst_ko(*closed_at))
            }
            Decision::NotInAnyCohort => {
                "생년월일이나 우선접종 명단으로 정해진 예약 기간이 없어 예약 대상이 아닙니다."
                    .to_owned()
            }
            Decision::AlreadyBooked => {
                "이미 예약하셨습니다. 새로 예약하는 대신 기존 예약을 변경하거나 취소해 주세요."
                    .to_owned()
            }
            Decision::AlreadyVaccinated => {
                "이미 접종하신 기록이 있어 예약할 수 없습니다.".to_owned()
            }
        }
    }

    /// What the decision means for the person, in English, with the time that matters to them.
    pub fn message_en(&self) -> String {
        match self {
            Decision::Eligible { closes_at, .. } => format!(
                "You can book now. Booking closes at {}.",
                kst_en(*closes_at)
            ),
            Decision::NotYet { opens_at, .. } => format!(
                "Booking is not open for you yet. Your window opens at {}.",
                kst_en(*opens_at)
            ),
            Decision::Closed { closed_at } => {
                format!("Your booking window closed at {}.", kst_en(*closed_at))
            }
            Decision::NotInAnyCohort => "You are not in any cohort or priority list with a \
                booking window."
                .to_owned(),
            Decision::AlreadyBooked => "You already have a booking. Change or cancel it \
                instead of booking again."
                .to_owned(),
            Decision::AlreadyVaccinated => {
                "You are recorded as already vaccinated, so you cannot book.".to_owned()
            }
        }
    }
}

/// `2021-07-21 20:00 (KST)`, with `:ss` only when the instant is not on a whole minute.
fn kst_en(ts: Timestamp) -> String {
    let z = in_seoul(ts);
    format!(
        "{:04}-{:02}-{:02} {} (KST)",
        z.year(),
        z.month(),
        z.day(),
        clock(z.datetime())
    )
}

/// `2021년 7월 21일 20:00`, with `:ss` only when the instant is not on a whole minute.
fn kst_ko(ts: Timestamp) -> String {
    let z = in_seoul(ts);
    format!(
        "{}년 {}월 {}일 {}",
        z.year(),
        z.month(),
        z.day(),
        clock(z.datetime())
    )
}

/// `20:00`, or `20:00:30` when there are seconds, so a window is never shown earlier than it is.
fn clock(dt: DateTime) -> String {
    if dt.second() == 0 && dt.subsec_nanosecond() == 0 {
        format!("{:02}:{:02}", dt.hour(), dt.minute())
    } else {
        format!("{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second())
    }
}

/// The instant of a Seoul wall-clock time, or `None` outside the representable range (unlike
/// `time::seoul_instant`, which is for known-good times and panics there).
fn seoul_at(wall: DateTime) -> Option<Timestamp> {
    wall.to_zoned_datetime(seoul()).ok().map(|z| z.timestamp())
}

/// `day` plus `n` calendar days, or `None` beyond the calendar's range.
fn add_days(day: Date, n: i64) -> Option<Date> {
    day.checked_add(Span::new().try_days(n).ok()?).ok()
}

/// A window between two Seoul wall-clock times given as dates and times of day.
fn seoul_window(opens: (Date, Time), closes: (Date, Time)) -> Option<Window> {
    Some(Window {
        opens: seoul_at(opens.0.to_datetime(opens.1))?,
        closes: seoul_at(closes.0.to_datetime(closes.1))?,
    })
}

/// A cohort without rotation.
fn plain_cohort(id: u32, names: (&str, &str), birth_years: (i16, i16), window: Window) -> Cohort {
    Cohort {
        id: CohortId(id),
        name_ko: names.0.to_owned(),
        name_en: names.1.to_owned(),
        birth_years,
        window,
        rotation: None,
    }
}

/// The 18–49 cohort (born 1972–2003) under the 2021 digit rotation starting on `first_day`:
/// ten days, 20:00 to 18:00 the next day, the whole period from the first 20:00 to the last 18:00.
fn rotation_cohort(id: u32, first_day: Date) -> Option<Cohort> {
    let rotation = DigitRotation {
        first_day,
        digits: DIGITS_2021.to_vec(),
        daily_open: OPENING_TIME,
        daily_close: CLOSING_TIME,
    };
    let first = rotation.window_of_day(0)?;
    let last = rotation.window_of_day(DIGITS_2021.len() - 1)?;
    let window = Window {
        opens: first.opens,
        closes: last.closes,
    };
    let mut cohort = plain_cohort(
        id,
        (
            "18–49세 생년월일 끝자리 10부제 (1972–2003년생)",
            "Ages 18–49 by birth-day digit (born 1972–2003)",
        ),
        (1972, 2003),
        window,
    );
    cohort.rotation = Some(rotation);
    Some(cohort)
}

/// The booking waves of July–August 2021 as they actually ran (times KST), for replays and
/// scenario tests. Sources: `data/cohorts_2021.md`. The 55–59 first opening is included as the
/// window it turned out to be (halted at 15:30 when the confirmed Moderna supply ran out).
pub fn cohorts_2021() -> Rules {
    let d = |month, day| civil::date(2021, month, day);
    let at = |month, day, hour, minute| (d(month, day), civil::time(hour, minute, 0, 0));
    let plain = |id, names, years, opens, closes| {
        seoul_window(opens, closes).map(|w| plain_cohort(id, names, years, w))
    };
    let cohorts = [
        plain(
            1,
            (
                "55–59세 (1962–1966년생) 첫 예약",
                "Ages 55–59 (born 1962–1966), first opening",
            ),
            (1962, 1966),
            at(7, 12, 0, 0),
            at(7, 12, 15, 30),
        ),
        plain(
            2,
            (
                "55–59세 (1962–1966년생) 재개",
                "Ages 55–59 (born 1962–1966), reopened",
            ),
            (1962, 1966),
            at(7, 14, 20, 0),
            at(7, 24, 18, 0),
        ),
        plain(
            3,
            ("53–54세 (1967–1968년생)", "Ages 53–54 (born 1967–1968)"),
            (1967, 1968),
            at(7, 19, 20, 0),
            at(7, 20, 18, 0),
        ),
        plain(
            4,
            ("50–52세 (1969–1971년생)", "Ages 50–52 (born 1969–1971)"),
            (1969, 1971),
            at(7, 20, 20, 0),
            at(7, 21, 18, 0),
        ),
        plain(
            5,
            (
                "50–54세 추가 예약 (1967–1971년생)",
                "Ages 50–54 catch-up (born 1967–1971)",
            ),
            (1967, 1971),
            at(7, 21, 20, 0),
            at(7, 24, 18, 0),
        ),
        rotation_cohort(6, d(8, 9)),
        plain(
            7,
            ("36–49세 (1972–1985년생)", "Ages 36–49 (born 1972–1985)"),
            (1972, 1985),
            at(8, 19, 20, 0),
            at(8, 20, 18, 0),
        ),
        plain(
            8,
            ("18–35세 (1986–2003년생)", "Ages 18–35 (born 1986–2003)"),
            (1986, 2003),
            at(8, 20, 20, 0),
            at(8, 21, 18, 0),
        ),
        plain(
            9,
            (
                "18–49세 추가 예약·변경 (1972–2003년생)",
                "Ages 18–49 catch-up and changes (born 1972–2003)",
            ),
            (1972, 2003),
            at(8, 21, 20, 0),
            at(9, 18, 18, 0),
        ),
    ];
    Rules {
        cohorts: cohorts.into_iter().flatten().collect(),
        priority_lists: Vec::new(),
    }
}

/// Rules for a live demo, placed around `now` so every kind of answer can be seen at once
/// (Seoul times):
/// 1. born 1967–1968: opened at the most recent 20:00 at or before `now`, closes at 18:00 two
///    days after that opening, so it is open now and stays open for at least 22 more hours;
/// 2. born 1969–1971: opens at the first whole hour at least 15 minutes after `now` (later the
///    same day unless `now` is after 22:45), closes 18:00 the day after it opens — soon enough
///    to watch an opening;
/// 3. born 1962–1966: ran from 20:00 five days ago to 18:00 yesterday, so it is closed;
/// 4. born 1972–2003: the 2021 digit rotation, starting tomorrow.
///
/// Near the ends of the representable calendar a cohort that cannot be placed is left out.
pub fn demo_rules(now: Timestamp) -> Rules {
    let today = seoul_date(now);
    let cohorts = [
        demo_open_now(now, today),
        demo_opening_soon(now),
        demo_closed_yesterday(today),
        add_days(today, 1).and_then(|tomorrow| rotation_cohort(4, tomorrow)),
    ];
    Rules {
        cohorts: cohorts.into_iter().flatten().collect(),
        priority_lists: Vec::new(),
    }
}

/// Demo cohort 1: open since the last 20:00, for at least 22 more hours.
fn demo_open_now(now: Timestamp, today: Date) -> Option<Cohort> {
    let tonight = seoul_at(today.to_datetime(OPENING_TIME))?;
    let opening_day = if tonight <= now {
        today
    } else {
        add_days(today, -1)?
    };
    let window = seoul_window(
        (opening_day, OPENING_TIME),
        (add_days(opening_day, 2)?, CLOSING_TIME),
    )?;
    Some(plain_cohort(
        1,
        ("53–54세 (1967–1968년생)", "Ages 53–54 (born 1967–1968)"),
        (1967, 1968),
        window,
    ))
}

/// Demo cohort 2: opens on a whole Seoul hour 15 to 75 minutes from now.
fn demo_opening_soon(now: Timestamp) -> Option<Cohort> {
    let earliest = in_seoul(now.checked_add(SignedDuration::from_mins(15)).ok()?).datetime();
    let hour_start = earliest
        .date()
        .to_datetime(Time::new(earliest.hour(), 0, 0, 0).ok()?);
    let opening = if hour_start == earliest {
        hour_start
    } else {
        hour_start.checked_add(SignedDuration::from_hours(1)).ok()?
    };
    let opens = seoul_at(opening)?;
    let closes = seoul_at(add_days(opening.date(), 1)?.to_datetime(CLOSING_TIME))?;
    Some(plain_cohort(
        2,
        ("50–52세 (1969–1971년생)", "Ages 50–52 (born 1969–1971)"),
        (1969, 1971),
        Window { opens, closes },
    ))
}

/// Demo cohort 3: closed at 18:00 yesterday.
fn demo_closed_yesterday(today: Date) -> Option<Cohort> {
    let window = seoul_window(
        (add_days(today, -5)?, OPENING_TIME),
        (add_days(today, -1)?, CLOSING_TIME),
    )?;
    Some(plain_cohort(
        3,
        ("55–59세 (1962–1966년생)", "Ages 55–59 (born 1962–1966)"),
        (1962, 1966),
        window,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn kst(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Timestamp {
        seoul_at(date(y, mo, d).at(h, mi, s, 0)).expect("valid test time")
    }

    #[test]
    fn formats_whole_minutes_without_seconds() {
        let t = kst(2021, 7, 21, 20, 0, 0);
        assert_eq!(kst_en(t), "2021-07-21 20:00 (KST)");
        assert_eq!(kst_ko(t), "2021년 7월 21일 20:00");
    }

    #[test]
    fn formats_seconds_when_present() {
        let t = kst(2021, 8, 9, 19, 59, 59);
        assert_eq!(kst_en(t), "2021-08-09 19:59:59 (KST)");
        assert_eq!(kst_ko(t), "2021년 8월 9일 19:59:59");
    }

    #[test]
    fn formats_in_seoul_not_utc() {
        let t: Timestamp = "2021-07-20T15:00:00Z".parse().expect("valid");
        assert_eq!(kst_en(t), "2021-07-21 00:00 (KST)");
    }

    #[test]
    fn add_days_and_seoul_at_fail_softly_at_the_calendar_edges() {
        assert_eq!(add_days(Date::MAX, 1), None);
        assert_eq!(add_days(Date::MIN, -1), None);
        assert_eq!(add_days(date(2021, 8, 9), i64::MAX), None);
        assert_eq!(seoul_at(Date::MAX.to_datetime(OPENING_TIME)), None);
    }

    #[test]
    fn rotation_past_its_last_day_has_no_window() {
        let r = DigitRotation {
            first_day: date(2021, 8, 9),
            digits: vec![9, 0],
            daily_open: OPENING_TIME,
            daily_close: CLOSING_TIME,
        };
        assert!(r.window_of_day(1).is_some());
        assert_eq!(r.window_of_day(2), None);
        assert_eq!(r.window_of_day(usize::MAX), None);
    }

    #[test]
    fn a_same_day_close_stays_on_the_same_day() {
        let r = DigitRotation {
            first_day: date(2021, 8, 9),
            digits: vec![1],
            daily_open: civil::time(9, 0, 0, 0),
            daily_close: civil::time(18, 0, 0, 0),
        };
        let w = r.window_of_day(0).expect("in range");
        assert_eq!(w.opens, kst(2021, 8, 9, 9, 0, 0));
        assert_eq!(w.closes, kst(2021, 8, 9, 18, 0, 0));
    }

    #[test]
    fn equal_open_and_close_times_give_a_full_day() {
        let r = DigitRotation {
            first_day: date(2021, 8, 9),
            digits: vec![1],
            daily_open: OPENING_TIME,
            daily_close: OPENING_TIME,
        };
        let w = r.window_of_day(0).expect("in range");
        assert_eq!(
            w.closes.duration_since(w.opens),
            SignedDuration::from_hours(24)
        );
    }

    #[test]
    fn end_of_open_run_follows_abutting_and_overlapping_windows_only() {
        let via = Via::Cohort(CohortId(1));
        let w = |a: (i8, i8), b: (i8, i8)| Window {
            opens: kst(2021, 7, 20, a.0, a.1, 0),
            closes: kst(2021, 7, 20, b.0, b.1, 0),
        };
        let windows = [
            (via, w((1, 0), (3, 0))),
            (via, w((3, 0), (5, 0))), // abuts
            (via, w((4, 0), (7, 0))), // overlaps
            (via, w((7, 1), (9, 0))), // a one-minute gap: not part of the run
        ];
        assert_eq!(
            end_of_open_run(&windows, kst(2021, 7, 20, 3, 0, 0)),
            kst(2021, 7, 20, 7, 0, 0)
        );
    }

    #[test]
    fn demo_rules_survive_the_ends_of_time() {
        for now in [Timestamp::MIN, Timestamp::MAX, Timestamp::UNIX_EPOCH] {
            let rules = demo_rules(now);
            let person = PersonFacts {
                birth_date: date(1968, 2, 29),
                priority_lists: vec![],
                already_booked: false,
                already_vaccinated: false,
            };
            let _ = decide(&person, &rules, now);
        }
        assert_eq!(demo_rules(Timestamp::UNIX_EPOCH).cohorts.len(), 4);
    }

    #[test]
    fn cohorts_2021_has_every_wave() {
        let ids: Vec<u32> = cohorts_2021().cohorts.iter().map(|c| c.id.0).collect();
        assert_eq!(ids, (1..=9).collect::<Vec<_>>());
    }
}
