//! Eligibility at the edges of windows (E3), on synthetic rules: the opening second, the closing
//! second, Seoul midnight against UTC midnight, leap-day births, priority lists, exclusions, and
//! a brute-force model of the whole decision for random sets of windows.
//!
//! Expected instants are computed here from a fixed UTC+9 offset, independently of the crate's
//! own time helpers (Korea has had no daylight saving time since 1988).

use domain::eligibility::{
    Cohort, CohortId, Decision, ListId, PersonFacts, PriorityList, Rules, Via, Window, decide,
};
use jiff::civil::{Date, date};
use jiff::tz::offset;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

const SECOND: SignedDuration = SignedDuration::from_secs(1);
const NANO: SignedDuration = SignedDuration::from_nanos(1);

/// The instant of a Seoul wall-clock time, computed with a plain +09:00 offset.
fn kst(d: Date, h: i8, mi: i8, s: i8) -> Timestamp {
    offset(9)
        .to_timestamp(d.at(h, mi, s, 0))
        .expect("test times are in range")
}

fn person(birth_date: Date) -> PersonFacts {
    PersonFacts {
        birth_date,
        priority_lists: vec![],
        already_booked: false,
        already_vaccinated: false,
    }
}

fn cohort(id: u32, birth_years: (i16, i16), window: Window) -> Cohort {
    Cohort {
        id: CohortId(id),
        name_ko: format!("코호트 {id}"),
        name_en: format!("cohort {id}"),
        birth_years,
        window,
        rotation: None,
    }
}

fn list(id: u32, window: Window) -> PriorityList {
    PriorityList {
        id: ListId(id),
        name_ko: format!("명단 {id}"),
        name_en: format!("list {id}"),
        window,
    }
}

fn one_cohort(birth_years: (i16, i16), window: Window) -> Rules {
    Rules {
        cohorts: vec![cohort(1, birth_years, window)],
        priority_lists: vec![],
    }
}

/// Instants between 2000 and 2040, to the second.
fn instant() -> impl Strategy<Value = Timestamp> {
    (946_684_800i64..2_208_988_800).prop_map(|s| Timestamp::from_second(s).expect("in range"))
}

/// Any real calendar day from 1900-01-01 to 2010-12-31, leap days included.
fn birth_date() -> impl Strategy<Value = Date> {
    (0i64..40_542).prop_map(|n| {
        date(1900, 1, 1)
            .checked_add(SignedDuration::from_hours(24 * n))
            .expect("in range")
    })
}

/// A non-empty window starting at a random second, lasting one second to sixty days.
fn window() -> impl Strategy<Value = Window> {
    (instant(), 1i64..5_184_000).prop_map(|(opens, len)| Window {
        opens,
        closes: opens + SignedDuration::from_secs(len),
    })
}

fn years_around(birth: Date) -> (i16, i16) {
    (birth.year() - 1, birth.year() + 1)
}

type Check = Result<(), TestCaseError>;

/// Windows within a few days of each other, often overlapping, sometimes abutting: each entry
/// is (start hour, length in hours, abut the previous one, is a list, is the person's).
type Shape = Vec<(i64, i64, bool, bool, bool)>;

proptest! {
    #[test]
    fn the_opening_second_is_the_first_eligible_one(w in window(), birth in birth_date()) {
        check_opening_second(w, birth)?;
    }

    #[test]
    fn the_closing_second_is_the_first_closed_one(w in window(), birth in birth_date()) {
        check_closing_second(w, birth)?;
    }

    #[test]
    fn birth_years_are_inclusive_at_both_ends(
        w in window(),
        first in 1900i16..2010,
        span in 0i16..10,
        at in 0.0f64..1.0,
    ) {
        check_birth_year_ends(w, (first, first + span), at)?;
    }

    /// 00:00 in Seoul is 15:00 UTC the day before: a window opening at Seoul midnight (like the
    /// 55–59 opening on 2021-07-12) opens at 15:00:00Z, not at 00:00Z nor at 09:00Z.
    #[test]
    fn seoul_midnight_is_fifteen_hundred_utc(day in 0i64..14_600, birth in birth_date()) {
        check_seoul_midnight(day, birth)?;
    }

    #[test]
    fn exclusions_win_over_everything(
        w in window(),
        birth in birth_date(),
        now in instant(),
        booked: bool,
    ) {
        check_exclusions(w, birth, now, booked)?;
    }

    #[test]
    fn priority_list_members_book_in_the_lists_window_whatever_their_age(
        w in window(),
        birth in birth_date(),
    ) {
        check_priority_list(w, birth)?;
    }

    /// Against a brute-force model, for random mixes of cohorts and lists: eligible exactly when
    /// a window contains `now`; otherwise the soonest opening; otherwise the latest closing.
    /// For "eligible", booking really stays open until `closes_at` and not at it; for "not yet",
    /// nothing is open before `opens_at` and something is at it.
    #[test]
    fn decide_matches_a_brute_force_model(
        base in instant(),
        shape in prop::collection::vec(
            (0i64..240, 1i64..72, any::<bool>(), any::<bool>(), any::<bool>()),
            0..6,
        ),
        birth in birth_date(),
        probe in (0usize..64, -2i64..=2, -48i64..360),
    ) {
        check_against_model(base, &shape, birth, probe)?;
    }
}

fn check_opening_second(w: Window, birth: Date) -> Check {
    let rules = one_cohort(years_around(birth), w);
    let p = person(birth);
    let via = Via::Cohort(CohortId(1));
    let not_yet = Decision::NotYet {
        opens_at: w.opens,
        via,
    };
    prop_assert_eq!(decide(&p, &rules, w.opens - SECOND), not_yet);
    prop_assert_eq!(decide(&p, &rules, w.opens - NANO), not_yet);
    prop_assert_eq!(
        decide(&p, &rules, w.opens),
        Decision::Eligible {
            via,
            closes_at: w.closes
        }
    );
    Ok(())
}

fn check_closing_second(w: Window, birth: Date) -> Check {
    let rules = one_cohort(years_around(birth), w);
    let p = person(birth);
    let via = Via::Cohort(CohortId(1));
    let open = Decision::Eligible {
        via,
        closes_at: w.closes,
    };
    let closed = Decision::Closed {
        closed_at: w.closes,
    };
    prop_assert_eq!(decide(&p, &rules, w.closes - SECOND), open);
    prop_assert_eq!(decide(&p, &rules, w.closes - NANO), open);
    prop_assert_eq!(decide(&p, &rules, w.closes), closed);
    prop_assert_eq!(decide(&p, &rules, w.closes + SECOND), closed);
    Ok(())
}

/// `at` places `now` inside the window, as a fraction of its length.
fn check_birth_year_ends(w: Window, (first, last): (i16, i16), at: f64) -> Check {
    let rules = one_cohort((first, last), w);
    let len = w.closes.duration_since(w.opens).as_secs_f64();
    let now = w.opens + SignedDuration::from_secs_f64(len * at);
    let now = if w.contains(now) { now } else { w.opens };
    for (born, inside) in [
        (date(first - 1, 12, 31), false),
        (date(first, 1, 1), true),
        (date(last, 12, 31), true),
        (date(last + 1, 1, 1), false),
    ] {
        let d = decide(&person(born), &rules, now);
        prop_assert_eq!(d.is_eligible(), inside, "born {} decided {:?}", born, d);
        if !inside {
            prop_assert_eq!(d, Decision::NotInAnyCohort);
        }
    }
    Ok(())
}

fn check_seoul_midnight(day: i64, birth: Date) -> Check {
    let utc = |d: Date, h| offset(0).to_timestamp(d.at(h, 0, 0, 0)).expect("in range");
    let d = date(2000, 1, 1)
        .checked_add(SignedDuration::from_hours(24 * day))
        .expect("in range");
    let day_before = d.yesterday().expect("in range");
    let opens = kst(d, 0, 0, 0);
    prop_assert_eq!(opens, utc(day_before, 15));
    let w = Window {
        opens,
        closes: kst(d, 18, 0, 0),
    };
    let rules = one_cohort(years_around(birth), w);
    let p = person(birth);
    prop_assert!(!decide(&p, &rules, opens - SECOND).is_eligible());
    prop_assert!(decide(&p, &rules, opens).is_eligible());
    // UTC midnight of `d` is 09:00 KST: open. UTC midnight the day before is 09:00 KST the day
    // before: not open yet.
    prop_assert!(decide(&p, &rules, utc(d, 0)).is_eligible());
    prop_assert!(!decide(&p, &rules, utc(day_before, 0)).is_eligible());
    let (y, m, dd) = (d.year(), d.month(), d.day());
    let expected_en = format!("{y:04}-{m:02}-{dd:02} 00:00 (KST)");
    let expected_ko = format!("{y}년 {m}월 {dd}일 00:00");
    let not_yet = decide(&p, &rules, opens - SECOND);
    prop_assert!(
        not_yet.message_en().contains(&expected_en),
        "{}",
        not_yet.message_en()
    );
    prop_assert!(
        not_yet.message_ko().contains(&expected_ko),
        "{}",
        not_yet.message_ko()
    );
    Ok(())
}

fn check_exclusions(w: Window, birth: Date, now: Timestamp, booked: bool) -> Check {
    let rules = one_cohort(years_around(birth), w);
    let mut p = person(birth);
    p.already_booked = booked;
    p.already_vaccinated = true;
    prop_assert_eq!(decide(&p, &rules, now), Decision::AlreadyVaccinated);
    p.already_vaccinated = false;
    p.already_booked = true;
    prop_assert_eq!(decide(&p, &rules, now), Decision::AlreadyBooked);
    prop_assert_eq!(decide(&p, &rules, w.opens), Decision::AlreadyBooked);
    prop_assert_eq!(decide(&p, &Rules::default(), now), Decision::AlreadyBooked);
    Ok(())
}

fn check_priority_list(w: Window, birth: Date) -> Check {
    // The cohort is for other birth years only.
    let rules = Rules {
        cohorts: vec![cohort(1, (birth.year() + 1, birth.year() + 5), w)],
        priority_lists: vec![list(7, w), list(8, w)],
    };
    let mut p = person(birth);
    prop_assert_eq!(decide(&p, &rules, w.opens), Decision::NotInAnyCohort);
    p.priority_lists = vec![ListId(99)]; // a list the rules do not know
    prop_assert_eq!(decide(&p, &rules, w.opens), Decision::NotInAnyCohort);
    p.priority_lists = vec![ListId(8)];
    let via = Via::List(ListId(8));
    let open = Decision::Eligible {
        via,
        closes_at: w.closes,
    };
    prop_assert_eq!(
        decide(&p, &rules, w.opens - SECOND),
        Decision::NotYet {
            opens_at: w.opens,
            via
        }
    );
    prop_assert_eq!(decide(&p, &rules, w.opens), open);
    prop_assert_eq!(decide(&p, &rules, w.closes - SECOND), open);
    prop_assert_eq!(
        decide(&p, &rules, w.closes),
        Decision::Closed {
            closed_at: w.closes
        }
    );
    Ok(())
}

/// Lays the shape out from `base`; returns the windows with (is a list, is the person's).
fn lay_out(base: Timestamp, shape: &Shape) -> Vec<(Window, bool, bool)> {
    let hours = |n: i64| SignedDuration::from_hours(n);
    let mut windows: Vec<(Window, bool, bool)> = vec![];
    for &(start_h, len_h, abut, is_list, is_mine) in shape {
        let opens = match windows.last() {
            Some((prev, _, _)) if abut => prev.closes,
            _ => base + hours(start_h),
        };
        let closes = opens + hours(len_h);
        windows.push((Window { opens, closes }, is_list, is_mine));
    }
    windows
}

/// `probe` picks `now`: a window boundary (index, shifted by a few seconds) most of the time,
/// since that is where mistakes live, otherwise an hour offset from `base`.
fn check_against_model(
    base: Timestamp,
    shape: &Shape,
    birth: Date,
    (pick, shift_s, offset_h): (usize, i64, i64),
) -> Check {
    let windows = lay_out(base, shape);
    let mut rules = Rules::default();
    let mut p = person(birth);
    let mut mine: Vec<Window> = vec![];
    for (i, &(w, is_list, is_mine)) in windows.iter().enumerate() {
        let id = u32::try_from(i).expect("small");
        if is_list {
            rules.priority_lists.push(list(id, w));
            if is_mine {
                p.priority_lists.push(ListId(id));
            }
        } else {
            let not_theirs = (birth.year() + 2, birth.year() + 3);
            let years = if is_mine {
                years_around(birth)
            } else {
                not_theirs
            };
            rules.cohorts.push(cohort(id, years, w));
        }
        if is_mine {
            mine.push(w);
        }
    }
    let boundaries: Vec<Timestamp> = windows
        .iter()
        .flat_map(|(w, _, _)| [w.opens, w.closes])
        .collect();
    let now = match boundaries.get(pick % (boundaries.len() + 1)) {
        Some(b) => *b + SignedDuration::from_secs(shift_s),
        None => base + SignedDuration::from_hours(offset_h),
    };
    let is_open = |t: Timestamp| mine.iter().any(|w| w.opens <= t && t < w.closes);
    let window_of = |via: Via| match via {
        Via::Cohort(CohortId(i)) | Via::List(ListId(i)) => {
            windows[usize::try_from(i).expect("small")].0
        }
    };
    let d = decide(&p, &rules, now);
    match d {
        Decision::Eligible { via, closes_at } => {
            prop_assert!(is_open(now));
            prop_assert!(window_of(via).contains(now));
            prop_assert!(!is_open(closes_at));
            prop_assert!(is_open(closes_at - NANO));
            // Openness only changes at boundaries: open at each one up to `closes_at` means
            // no gap.
            for b in boundaries.iter().filter(|b| now <= **b && **b < closes_at) {
                prop_assert!(is_open(*b), "gap at {} before {}", b, closes_at);
            }
        }
        Decision::NotYet { opens_at, via } => {
            prop_assert!(!is_open(now));
            let soonest = mine.iter().map(|w| w.opens).filter(|o| *o > now).min();
            prop_assert_eq!(Some(opens_at), soonest);
            prop_assert!(is_open(opens_at));
            prop_assert!(!is_open(opens_at - NANO));
            prop_assert_eq!(window_of(via).opens, opens_at);
        }
        Decision::Closed { closed_at } => {
            prop_assert!(!mine.is_empty());
            prop_assert!(mine.iter().all(|w| w.closes <= now));
            prop_assert_eq!(Some(closed_at), mine.iter().map(|w| w.closes).max());
        }
        Decision::NotInAnyCohort => prop_assert!(mine.is_empty()),
        Decision::AlreadyBooked | Decision::AlreadyVaccinated => {
            prop_assert!(false, "no exclusion was set: {:?}", d);
        }
    }
    Ok(())
}

#[test]
fn born_on_a_leap_day_counts_in_its_birth_year() {
    let w = Window {
        opens: kst(date(2021, 7, 19), 20, 0, 0),
        closes: kst(date(2021, 7, 20), 18, 0, 0),
    };
    let leap = person(date(1968, 2, 29));
    let in_1968 = one_cohort((1967, 1968), w);
    let from_1969 = one_cohort((1969, 1971), w);
    let until_1967 = one_cohort((1962, 1967), w);
    assert!(decide(&leap, &in_1968, w.opens).is_eligible());
    assert_eq!(decide(&leap, &from_1969, w.opens), Decision::NotInAnyCohort);
    assert_eq!(
        decide(&leap, &until_1967, w.opens),
        Decision::NotInAnyCohort
    );
}

#[test]
fn an_empty_window_is_never_open_and_never_announced() {
    let t = kst(date(2021, 7, 19), 20, 0, 0);
    let p = person(date(1968, 2, 29));
    for closes in [t, t - SECOND] {
        let rules = one_cohort((1967, 1968), Window { opens: t, closes });
        for now in [t - SECOND, t, t + SECOND] {
            assert_eq!(decide(&p, &rules, now), Decision::NotInAnyCohort);
        }
    }
}

#[test]
fn abutting_windows_read_as_one_long_window() {
    let d = date(2021, 7, 20);
    let first = Window {
        opens: kst(d, 1, 0, 0),
        closes: kst(d, 3, 0, 0),
    };
    let second = Window {
        opens: kst(d, 3, 0, 0),
        closes: kst(d, 9, 0, 0),
    };
    let rules = Rules {
        cohorts: vec![
            cohort(1, (1967, 1968), first),
            cohort(2, (1960, 1970), second),
        ],
        priority_lists: vec![],
    };
    let p = person(date(1967, 5, 5));
    assert_eq!(
        decide(&p, &rules, kst(d, 2, 0, 0)),
        Decision::Eligible {
            via: Via::Cohort(CohortId(1)),
            closes_at: kst(d, 9, 0, 0)
        }
    );
    assert_eq!(
        decide(&p, &rules, kst(d, 3, 0, 0)),
        Decision::Eligible {
            via: Via::Cohort(CohortId(2)),
            closes_at: kst(d, 9, 0, 0)
        }
    );
}

#[test]
fn not_yet_names_the_soonest_of_several_future_windows() {
    let d = date(2021, 7, 20);
    let later = Window {
        opens: kst(d, 20, 0, 0),
        closes: kst(d, 23, 0, 0),
    };
    let sooner = Window {
        opens: kst(d, 10, 0, 0),
        closes: kst(d, 12, 0, 0),
    };
    let rules = Rules {
        cohorts: vec![cohort(1, (1967, 1968), later)],
        priority_lists: vec![list(5, sooner)],
    };
    let mut p = person(date(1967, 5, 5));
    p.priority_lists = vec![ListId(5)];
    assert_eq!(
        decide(&p, &rules, kst(d, 9, 0, 0)),
        Decision::NotYet {
            opens_at: kst(d, 10, 0, 0),
            via: Via::List(ListId(5))
        }
    );
    assert_eq!(
        decide(&p, &rules, kst(d, 12, 0, 0)),
        Decision::NotYet {
            opens_at: kst(d, 20, 0, 0),
            via: Via::Cohort(CohortId(1))
        }
    );
    assert_eq!(
        decide(&p, &rules, kst(d, 23, 0, 0)),
        Decision::Closed {
            closed_at: kst(d, 23, 0, 0)
        }
    );
}

#[test]
fn codes_are_distinct_and_stable() {
    let t = kst(date(2021, 7, 20), 18, 0, 0);
    let via = Via::Cohort(CohortId(1));
    let all = [
        (Decision::Eligible { via, closes_at: t }, "eligible"),
        (Decision::NotYet { opens_at: t, via }, "not_yet"),
        (Decision::Closed { closed_at: t }, "closed"),
        (Decision::NotInAnyCohort, "not_in_any_cohort"),
        (Decision::AlreadyBooked, "already_booked"),
        (Decision::AlreadyVaccinated, "already_vaccinated"),
    ];
    for (d, code) in all {
        assert_eq!(d.code(), code);
        assert!(!d.message_en().is_empty());
        assert!(
            d.message_ko().chars().any(|c| ('가'..='힣').contains(&c)),
            "{}",
            d.message_ko()
        );
    }
}

#[test]
fn messages_say_when_in_kst() {
    let via = Via::Cohort(CohortId(1));
    let closes = kst(date(2021, 7, 20), 18, 0, 0);
    let opens = kst(date(2021, 7, 21), 20, 0, 0);
    let closed = kst(date(2021, 7, 24), 18, 0, 0);

    let e = Decision::Eligible {
        via,
        closes_at: closes,
    };
    assert!(
        e.message_en().contains("2021-07-20 18:00 (KST)"),
        "{}",
        e.message_en()
    );
    assert!(
        e.message_ko().contains("2021년 7월 20일 18:00"),
        "{}",
        e.message_ko()
    );

    let n = Decision::NotYet {
        opens_at: opens,
        via,
    };
    assert!(
        n.message_en().contains("2021-07-21 20:00 (KST)"),
        "{}",
        n.message_en()
    );
    assert!(
        n.message_ko().contains("2021년 7월 21일 20:00"),
        "{}",
        n.message_ko()
    );

    let c = Decision::Closed { closed_at: closed };
    assert!(
        c.message_en().contains("2021-07-24 18:00 (KST)"),
        "{}",
        c.message_en()
    );
    assert!(
        c.message_ko().contains("2021년 7월 24일 18:00"),
        "{}",
        c.message_ko()
    );

    // 11:00 UTC is 20:00 in Seoul: the message must not show the UTC clock.
    assert!(!n.message_en().contains("11:00"), "{}", n.message_en());
}
