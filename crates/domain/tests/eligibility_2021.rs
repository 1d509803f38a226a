//! The July 2021 waves as published (`data/cohorts_2021.md`), the 2021-07-20 02:00–09:00 time
//! bug, leap-day births read from a real RRN, and the demo rules placed around any `now`.
//!
//! Expected instants come from a fixed +09:00 offset, not from the crate's time helpers.

use domain::eligibility::{
    CohortId, Decision, PersonFacts, Rules, Via, cohorts_2021, decide, demo_rules,
};
use domain::rrn::Rrn;
use jiff::civil::{Date, date, time};
use jiff::tz::offset;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

const SECOND: SignedDuration = SignedDuration::from_secs(1);

fn kst(d: Date, h: i8, mi: i8, s: i8) -> Timestamp {
    offset(9)
        .to_timestamp(d.at(h, mi, s, 0))
        .expect("test times are in range")
}

fn july(day: i8, h: i8, mi: i8) -> Timestamp {
    kst(date(2021, 7, day), h, mi, 0)
}

fn person(birth_date: Date) -> PersonFacts {
    PersonFacts {
        birth_date,
        priority_lists: vec![],
        already_booked: false,
        already_vaccinated: false,
    }
}

fn cohort(id: u32) -> Via {
    Via::Cohort(CohortId(id))
}

/// A birth date in the given year, any day.
fn born_in(years: std::ops::RangeInclusive<i16>) -> impl Strategy<Value = Date> {
    (years, 0i32..366).prop_map(|(y, n)| {
        let d = date(y, 1, 1).checked_add(SignedDuration::from_hours(24 * i64::from(n)));
        let d = d.expect("in range");
        if d.year() == y { d } else { date(y, 12, 31) }
    })
}

// --- the 2021-07-20 bug ---------------------------------------------------------------------

proptest! {
    /// From 02:00 to 09:00 KST on 07-20, the 53–54 window (07-19 20:00 – 07-20 18:00) was open;
    /// the 2021 site told these people "book after 07-21 20:00". Here they are eligible, until
    /// 18:00 that day, at every second of that interval (including 15:00–24:00 UTC on 07-19 and
    /// 00:00 UTC on 07-20, where a UTC-date reading flips).
    #[test]
    fn born_1967_is_eligible_all_night_on_07_20(
        secs in 0i64..(7 * 3600),
        nanos in 0i64..1_000_000_000,
        birth in born_in(1967..=1968),
    ) {
        let now = july(20, 2, 0)
            + SignedDuration::from_secs(secs)
            + SignedDuration::from_nanos(nanos);
        let d = decide(&person(birth), &cohorts_2021(), now);
        let until_18 = Decision::Eligible { via: cohort(3), closes_at: july(20, 18, 0) };
        prop_assert_eq!(d, until_18);
        prop_assert!(!d.message_en().contains("07-21"), "{}", d.message_en());
        prop_assert!(d.message_en().contains("2021-07-20 18:00 (KST)"), "{}", d.message_en());
        prop_assert!(d.message_ko().contains("2021년 7월 20일 18:00"), "{}", d.message_ko());
    }

    /// The whole 53–54 window, second by second at random, is one unbroken eligibility.
    #[test]
    fn born_1967_1968_eligible_throughout_their_window(
        secs in 0i64..(22 * 3600),
        birth in born_in(1967..=1968),
    ) {
        let now = july(19, 20, 0) + SignedDuration::from_secs(secs);
        prop_assert_eq!(
            decide(&person(birth), &cohorts_2021(), now),
            Decision::Eligible { via: cohort(3), closes_at: july(20, 18, 0) }
        );
    }

    /// Between their window and the catch-up, 1967–1968 births are told the catch-up opening.
    #[test]
    fn born_1967_1968_between_windows_wait_for_the_catch_up(
        secs in 0i64..(26 * 3600),
        birth in born_in(1967..=1968),
    ) {
        let now = july(20, 18, 0) + SignedDuration::from_secs(secs);
        prop_assert_eq!(
            decide(&person(birth), &cohorts_2021(), now),
            Decision::NotYet { opens_at: july(21, 20, 0), via: cohort(5) }
        );
    }
}

// --- the July table, row by row ------------------------------------------------------------

#[test]
fn ages_53_54_born_1967_1968() {
    let rules = cohorts_2021();
    for born in [date(1967, 1, 1), date(1968, 2, 29), date(1968, 12, 31)] {
        let p = person(born);
        assert_eq!(
            decide(&p, &rules, july(19, 20, 0) - SECOND),
            Decision::NotYet {
                opens_at: july(19, 20, 0),
                via: cohort(3)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(19, 20, 0)),
            Decision::Eligible {
                via: cohort(3),
                closes_at: july(20, 18, 0)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(20, 18, 0) - SECOND),
            Decision::Eligible {
                via: cohort(3),
                closes_at: july(20, 18, 0)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(20, 18, 0)),
            Decision::NotYet {
                opens_at: july(21, 20, 0),
                via: cohort(5)
            }
        );
    }
}

#[test]
fn ages_50_52_born_1969_1971() {
    let rules = cohorts_2021();
    for born in [date(1969, 1, 1), date(1971, 12, 31)] {
        let p = person(born);
        // During the 53–54 night they are told their own evening, not the 53–54 one.
        assert_eq!(
            decide(&p, &rules, july(20, 3, 0)),
            Decision::NotYet {
                opens_at: july(20, 20, 0),
                via: cohort(4)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(20, 20, 0)),
            Decision::Eligible {
                via: cohort(4),
                closes_at: july(21, 18, 0)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(21, 18, 0)),
            Decision::NotYet {
                opens_at: july(21, 20, 0),
                via: cohort(5)
            }
        );
    }
}

#[test]
fn ages_50_54_catch_up_and_its_end() {
    let rules = cohorts_2021();
    for born in [date(1967, 6, 1), date(1971, 6, 1)] {
        let p = person(born);
        assert_eq!(
            decide(&p, &rules, july(21, 20, 0)),
            Decision::Eligible {
                via: cohort(5),
                closes_at: july(24, 18, 0)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(24, 18, 0) - SECOND),
            Decision::Eligible {
                via: cohort(5),
                closes_at: july(24, 18, 0)
            }
        );
        let closed = decide(&p, &rules, july(24, 18, 0));
        assert_eq!(
            closed,
            Decision::Closed {
                closed_at: july(24, 18, 0)
            }
        );
        assert!(closed.message_en().contains("2021-07-24 18:00 (KST)"));
        assert!(closed.message_ko().contains("2021년 7월 24일 18:00"));
    }
}

#[test]
fn ages_55_59_first_opening_halt_and_reopening() {
    let rules = cohorts_2021();
    for born in [date(1962, 1, 1), date(1966, 12, 31)] {
        let p = person(born);
        // Opened at Seoul midnight, which is 15:00 UTC on 07-11.
        assert_eq!(
            decide(&p, &rules, july(12, 0, 0) - SECOND),
            Decision::NotYet {
                opens_at: july(12, 0, 0),
                via: cohort(1)
            }
        );
        let utc_15 = offset(0)
            .to_timestamp(date(2021, 7, 11).at(15, 0, 0, 0))
            .expect("valid");
        assert_eq!(
            decide(&p, &rules, utc_15),
            Decision::Eligible {
                via: cohort(1),
                closes_at: july(12, 15, 30)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(12, 15, 30)),
            Decision::NotYet {
                opens_at: july(14, 20, 0),
                via: cohort(2)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(14, 20, 0)),
            Decision::Eligible {
                via: cohort(2),
                closes_at: july(24, 18, 0)
            }
        );
        assert_eq!(
            decide(&p, &rules, july(24, 18, 0)),
            Decision::Closed {
                closed_at: july(24, 18, 0)
            }
        );
    }
}

#[test]
fn outside_every_wave_is_not_in_any_cohort() {
    let rules = cohorts_2021();
    for born in [date(1961, 12, 31), date(2004, 1, 1), date(2010, 5, 5)] {
        for now in [
            july(12, 0, 0),
            july(19, 20, 0),
            kst(date(2021, 8, 21), 20, 0, 0),
        ] {
            assert_eq!(decide(&person(born), &rules, now), Decision::NotInAnyCohort);
        }
    }
}

#[test]
fn exclusions_apply_in_the_2021_rules() {
    let rules = cohorts_2021();
    let mut p = person(date(1967, 5, 5));
    p.already_booked = true;
    assert_eq!(decide(&p, &rules, july(20, 3, 0)), Decision::AlreadyBooked);
    p.already_vaccinated = true;
    assert_eq!(
        decide(&p, &rules, july(20, 3, 0)),
        Decision::AlreadyVaccinated
    );
}

/// From the RRN a person types to the decision: born 1968-02-29, a woman (G = 2).
#[test]
fn leap_day_rrn_books_with_the_53_54_wave() {
    let rrn = Rrn::parse("680229-2123456").expect("valid leap-day RRN");
    let p = person(rrn.birth_date());
    let rules = cohorts_2021();
    assert_eq!(
        decide(&p, &rules, july(19, 20, 0)),
        Decision::Eligible {
            via: cohort(3),
            closes_at: july(20, 18, 0)
        }
    );
    assert!(Rrn::parse("670229-2123456").is_err());
}

#[test]
fn cohort_names_are_bilingual() {
    for c in cohorts_2021().cohorts {
        assert!(
            c.name_ko.chars().any(|ch| ('가'..='힣').contains(&ch)),
            "{}",
            c.name_ko
        );
        assert!(
            c.name_en.is_ascii() || c.name_en.contains('–'),
            "{}",
            c.name_en
        );
        let (first, last) = c.birth_years;
        assert!(first <= last);
        assert!(c.window.opens < c.window.closes);
    }
}

// --- demo rules -----------------------------------------------------------------------------

/// Instants from 2000 to 2100, to the nanosecond.
fn any_now() -> impl Strategy<Value = Timestamp> {
    (946_684_800i64..4_102_444_800, 0i32..1_000_000_000)
        .prop_map(|(s, n)| Timestamp::new(s, n).expect("in range"))
}

fn seoul_wall(t: Timestamp) -> jiff::civil::DateTime {
    offset(9).to_datetime(t)
}

fn check_demo(now: Timestamp) -> Result<(), TestCaseError> {
    let rules: Rules = demo_rules(now);
    prop_assert_eq!(rules.cohorts.len(), 4);
    let wall = seoul_wall(now);
    let today = wall.date();
    let tomorrow = today.tomorrow().expect("in range");
    let yesterday = today.yesterday().expect("in range");

    // 1. Born 1967–1968: open now, since the latest 20:00, for at least 18 more hours.
    match decide(&person(date(1968, 2, 29)), &rules, now) {
        Decision::Eligible { via, closes_at } => {
            prop_assert_eq!(via, cohort(1));
            prop_assert!(closes_at.duration_since(now) >= SignedDuration::from_hours(18));
            prop_assert_eq!(seoul_wall(closes_at).time(), time(18, 0, 0, 0));
        }
        other => prop_assert!(false, "1967–1968 should be open, got {:?}", other),
    }
    let opened = rules.cohorts[0].window.opens;
    prop_assert_eq!(seoul_wall(opened).time(), time(20, 0, 0, 0));
    prop_assert!(opened <= now && now.duration_since(opened) < SignedDuration::from_hours(24));

    // 2. Born 1969–1971: opens on a whole Seoul hour, soon.
    match decide(&person(date(1970, 6, 15)), &rules, now) {
        Decision::NotYet { opens_at, via } => {
            prop_assert_eq!(via, cohort(2));
            let wait = opens_at.duration_since(now);
            prop_assert!(
                wait >= SignedDuration::from_mins(15) && wait < SignedDuration::from_mins(75),
                "wait {:?}",
                wait
            );
            let at = seoul_wall(opens_at);
            prop_assert_eq!(
                (at.minute(), at.second(), at.subsec_nanosecond()),
                (0, 0, 0)
            );
            if wall.time() < time(22, 45, 0, 0) {
                prop_assert_eq!(at.date(), today, "later the same Seoul day");
            }
        }
        other => prop_assert!(false, "1969–1971 should be not yet, got {:?}", other),
    }

    // 3. Born 1962–1966: closed at 18:00 yesterday, Seoul.
    prop_assert_eq!(
        decide(&person(date(1962, 1, 1)), &rules, now),
        Decision::Closed {
            closed_at: kst(yesterday, 18, 0, 0)
        }
    );

    // 4. Born 1972–2003: rotation from tomorrow; digit 9 first, digit 0 the evening after.
    prop_assert_eq!(
        decide(&person(date(1990, 3, 19)), &rules, now),
        Decision::NotYet {
            opens_at: kst(tomorrow, 20, 0, 0),
            via: cohort(4)
        }
    );
    prop_assert_eq!(
        decide(&person(date(2003, 3, 30)), &rules, now),
        Decision::NotYet {
            opens_at: kst(tomorrow.tomorrow().expect("in range"), 20, 0, 0),
            via: cohort(4)
        }
    );
    prop_assert_eq!(
        decide(&person(date(1990, 3, 19)), &rules, kst(tomorrow, 20, 0, 0)),
        Decision::Eligible {
            via: cohort(4),
            closes_at: kst(tomorrow.tomorrow().expect("in range"), 18, 0, 0)
        }
    );

    prop_assert_eq!(
        decide(&person(date(2004, 1, 1)), &rules, now),
        Decision::NotInAnyCohort
    );
    Ok(())
}

proptest! {
    #[test]
    fn demo_rules_show_every_answer_at_any_time(now in any_now()) {
        check_demo(now)?;
    }

    /// Right around Seoul 20:00, 22:45 and midnight, where "the latest 20:00", "later today"
    /// and "today" change.
    #[test]
    fn demo_rules_around_evening_and_midnight(
        day in 0i64..36_000,
        (h, m) in prop::sample::select(vec![(0i8, 0i8), (19, 0), (20, 0), (22, 45), (23, 0)]),
        around in -2i64..=2,
    ) {
        let d = date(2000, 1, 1)
            .checked_add(SignedDuration::from_hours(24 * day))
            .expect("in range");
        check_demo(kst(d, h, m, 0) + SignedDuration::from_secs(around))?;
    }
}
