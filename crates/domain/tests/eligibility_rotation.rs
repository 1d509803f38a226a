//! The birth-day digit rotation ("10부제", August 2021) at its sub-window boundaries: 19:59:59,
//! 20:00:00, 17:59:59 and 18:00:00 Seoul time, and across Seoul midnight (15:00 UTC), for
//! arbitrary rotations, digits and birth days; then the real 2021 rotation against a model
//! written from `data/cohorts_2021.md`.
//!
//! Expected instants come from a fixed +09:00 offset, not from the crate's time helpers.

use domain::eligibility::{
    Cohort, CohortId, Decision, DigitRotation, PersonFacts, Rules, Via, Window, cohorts_2021,
    decide,
};
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

fn plus_days(d: Date, n: usize) -> Date {
    let n = i64::try_from(n).expect("small");
    d.checked_add(SignedDuration::from_hours(24 * n))
        .expect("in range")
}

fn person(birth_date: Date) -> PersonFacts {
    PersonFacts {
        birth_date,
        priority_lists: vec![],
        already_booked: false,
        already_vaccinated: false,
    }
}

/// One cohort for everyone born 1900–2010, rotating 20:00 → 18:00 over `digits` from `first_day`,
/// inside an outer window from the first 20:00 to the last 18:00.
fn rotating_rules(first_day: Date, digits: Vec<u8>) -> Rules {
    let n = digits.len();
    let window = Window {
        opens: kst(first_day, 20, 0, 0),
        closes: kst(plus_days(first_day, n), 18, 0, 0),
    };
    let rotation = DigitRotation {
        first_day,
        digits,
        daily_open: time(20, 0, 0, 0),
        daily_close: time(18, 0, 0, 0),
    };
    Rules {
        cohorts: vec![Cohort {
            id: CohortId(6),
            name_ko: "10부제".to_owned(),
            name_en: "rotation".to_owned(),
            birth_years: (1900, 2010),
            window,
            rotation: Some(rotation),
        }],
        priority_lists: vec![],
    }
}

/// A birth date in 1900–2010 whose day of month ends in `digit`; `pick` chooses among them.
fn born_with_digit(digit: u8, year: i16, month: i8, pick: usize) -> Date {
    let days: Vec<i8> = (1..=31)
        .filter(|d: &i8| d.unsigned_abs() % 10 == digit)
        .filter(|d| Date::new(year, month, *d).is_ok())
        .collect();
    // Every month has a day ending in each digit (days 1–28 cover them all but 0 → 10, 20).
    let day = days[pick % days.len()];
    date(year, month, day)
}

fn first_day() -> impl Strategy<Value = Date> {
    (0usize..14_000).prop_map(|n| plus_days(date(2000, 1, 1), n))
}

/// What the announcement says, written out: at Seoul wall time `w`, the sub-window open is the
/// one that opened at 20:00 on the same Seoul day, or, before 18:00, the one from the day before.
fn model_open_digit(rules_first_day: Date, digits: &[u8], t: Timestamp) -> Option<u8> {
    let w = offset(9).to_datetime(t);
    let opened_on = if w.time() >= time(20, 0, 0, 0) {
        w.date()
    } else if w.time() < time(18, 0, 0, 0) {
        w.date().yesterday().expect("in range")
    } else {
        return None;
    };
    let k = opened_on
        .since(rules_first_day)
        .expect("in range")
        .get_days();
    usize::try_from(k).ok().and_then(|k| digits.get(k).copied())
}

type Check = Result<(), TestCaseError>;

/// Year, month and which of the month's days with the wanted last digit.
type BirthPick = (i16, i8, usize);

fn birth_pick() -> impl Strategy<Value = BirthPick> {
    (1900i16..2010, 1i8..=12, 0usize..4)
}

const VIA: Via = Via::Cohort(CohortId(6));

proptest! {
    #[test]
    fn each_day_opens_at_20_00_and_closes_at_18_00_the_next_day_seoul(
        first in first_day(),
        digits in prop::collection::vec(0u8..10, 1..15),
        k in any::<prop::sample::Index>(),
        birth in birth_pick(),
    ) {
        check_own_day(first, &digits, k.index(digits.len()), birth)?;
    }

    /// People whose digit is not the day's cannot book in that day's sub-window, and at Seoul
    /// midnight the next day's digit has not started: it starts at 20:00 Seoul.
    #[test]
    fn other_digits_wait_for_their_own_day(
        first in first_day(),
        digits in prop::collection::vec(0u8..10, 2..15),
        k in any::<prop::sample::Index>(),
        other in 0u8..10,
        birth in birth_pick(),
    ) {
        let k = k.index(digits.len());
        prop_assume!(digits[k] != other);
        check_other_day(first, &digits, k, other, birth)?;
    }

    /// At any instant in and around the rotation, a person may book exactly when the model
    /// (written from the announcement, in Seoul wall time) says their digit's sub-window is open.
    #[test]
    fn matches_the_wall_clock_model_at_any_instant(
        first in first_day(),
        digits in prop::collection::vec(0u8..10, 1..12),
        offset_s in -86_400i64..(13 * 86_400),
        digit in 0u8..10,
        birth in birth_pick(),
    ) {
        check_model(first, &digits, offset_s, digit, birth)?;
    }
}

/// The first rotation day after day `k` with `digit`, if any.
fn next_day_with(digits: &[u8], k: usize, digit: u8) -> Option<usize> {
    (k + 1..digits.len()).find(|&j| digits[j] == digit)
}

fn check_own_day(first: Date, digits: &[u8], k: usize, (y, m, pick): BirthPick) -> Check {
    let digit = digits[k];
    let rules = rotating_rules(first, digits.to_vec());
    let p = person(born_with_digit(digit, y, m, pick));
    let day = plus_days(first, k);
    let next = plus_days(first, k + 1);

    // 19:59:59 on their day: nothing of theirs is open; the next thing is tonight 20:00.
    prop_assert_eq!(
        decide(&p, &rules, kst(day, 19, 59, 59)),
        Decision::NotYet {
            opens_at: kst(day, 20, 0, 0),
            via: VIA
        }
    );
    // 20:00:00: open until 18:00 the next day.
    let open = Decision::Eligible {
        via: VIA,
        closes_at: kst(next, 18, 0, 0),
    };
    prop_assert_eq!(decide(&p, &rules, kst(day, 20, 0, 0)), open);
    // Seoul midnight (15:00 UTC) does not end it, nor does UTC midnight (09:00 KST).
    prop_assert_eq!(decide(&p, &rules, kst(next, 0, 0, 0) - SECOND), open);
    prop_assert_eq!(decide(&p, &rules, kst(next, 0, 0, 0)), open);
    prop_assert_eq!(decide(&p, &rules, kst(next, 9, 0, 0)), open);
    // 17:59:59 the next day: still open; 18:00:00: over.
    prop_assert_eq!(decide(&p, &rules, kst(next, 17, 59, 59)), open);
    let after = decide(&p, &rules, kst(next, 18, 0, 0));
    let expected = match next_day_with(digits, k, digit) {
        Some(j) => Decision::NotYet {
            opens_at: kst(plus_days(first, j), 20, 0, 0),
            via: VIA,
        },
        None => Decision::Closed {
            closed_at: kst(next, 18, 0, 0),
        },
    };
    prop_assert_eq!(after, expected);
    Ok(())
}

fn check_other_day(
    first: Date,
    digits: &[u8],
    k: usize,
    other: u8,
    (y, m, pick): BirthPick,
) -> Check {
    let rules = rotating_rules(first, digits.to_vec());
    let p = person(born_with_digit(other, y, m, pick));
    let day = plus_days(first, k);
    let next = plus_days(first, k + 1);
    let expected = match (
        next_day_with(digits, k, other),
        digits[..k].iter().rposition(|&d| d == other),
    ) {
        (Some(j), _) => Decision::NotYet {
            opens_at: kst(plus_days(first, j), 20, 0, 0),
            via: VIA,
        },
        (None, Some(last)) => Decision::Closed {
            closed_at: kst(plus_days(first, last + 1), 18, 0, 0),
        },
        (None, None) => Decision::NotInAnyCohort,
    };
    for now in [
        kst(day, 20, 0, 0),
        kst(next, 0, 0, 0),
        kst(next, 17, 59, 59),
    ] {
        prop_assert_eq!(
            decide(&p, &rules, now),
            expected,
            "digit {} at {}",
            other,
            now
        );
    }
    Ok(())
}

fn check_model(
    first: Date,
    digits: &[u8],
    offset_s: i64,
    digit: u8,
    (y, m, pick): BirthPick,
) -> Check {
    let rules = rotating_rules(first, digits.to_vec());
    let p = person(born_with_digit(digit, y, m, pick));
    let now = kst(first, 0, 0, 0) + SignedDuration::from_secs(offset_s);
    let expected = model_open_digit(first, digits, now) == Some(digit);
    let d = decide(&p, &rules, now);
    let wall = offset(9).to_datetime(now);
    prop_assert_eq!(
        d.is_eligible(),
        expected,
        "digit {} at {} KST: {:?}",
        digit,
        wall,
        d
    );
    Ok(())
}

#[test]
fn digit_is_the_last_digit_of_the_day_of_month() {
    for (d, digit) in [
        (1, 1),
        (9, 9),
        (10, 0),
        (19, 9),
        (20, 0),
        (29, 9),
        (30, 0),
        (31, 1),
    ] {
        assert_eq!(DigitRotation::digit_of(date(1990, 1, d)), digit, "day {d}");
    }
    assert_eq!(DigitRotation::digit_of(date(2000, 2, 29)), 9);
}

#[test]
fn a_digit_above_nine_admits_nobody() {
    let first = date(2021, 8, 9);
    let rules = rotating_rules(first, vec![10, 11]);
    for day in 1..=31 {
        let p = person(date(1990, 1, day));
        assert!(!decide(&p, &rules, kst(first, 21, 0, 0)).is_eligible());
    }
}

// --- the real rotation of August 2021 -------------------------------------------------------

/// 2021-08-DD 20:00 to 08-(DD+1) 18:00, DD = 9…18, was for birth days ending in DD's last digit.
#[test]
fn august_2021_each_evening_is_for_the_dates_own_last_digit() {
    let rules = cohorts_2021();
    for dd in 9..=18i8 {
        let day = date(2021, 8, dd);
        let next = date(2021, 8, dd + 1);
        for birth_day in 1..=31i8 {
            let p = person(date(1990, 1, birth_day));
            let theirs = birth_day % 10 == dd % 10;
            for now in [
                kst(day, 20, 0, 0),
                kst(next, 0, 0, 0),
                kst(next, 17, 59, 59),
            ] {
                assert_eq!(
                    decide(&p, &rules, now).is_eligible(),
                    theirs,
                    "born day {birth_day} at 08-{dd} evening run, {now}"
                );
            }
            assert!(!decide(&p, &rules, kst(day, 19, 59, 59)).is_eligible());
            assert!(!decide(&p, &rules, kst(next, 18, 0, 0)).is_eligible());
        }
    }
}

#[test]
fn august_2021_before_the_rotation_each_person_is_told_their_own_evening() {
    let rules = cohorts_2021();
    let now = kst(date(2021, 8, 9), 12, 0, 0);
    for birth_day in 1..=31i8 {
        let p = person(date(1995, 1, birth_day));
        let digit = birth_day % 10;
        // 08-09 is digit 9, 08-10 digit 0, … 08-18 digit 8: the evening whose date ends in it.
        let evening = (9..=18i8)
            .find(|dd| dd % 10 == digit)
            .expect("every digit has a day");
        assert_eq!(
            decide(&p, &rules, now),
            Decision::NotYet {
                opens_at: kst(date(2021, 8, evening), 20, 0, 0),
                via: Via::Cohort(CohortId(6))
            },
            "born day {birth_day}"
        );
    }
}

/// Someone who missed their evening waits for their age group's catch-up.
#[test]
fn august_2021_missed_digit_day_points_to_the_age_groups_catch_up() {
    let rules = cohorts_2021();
    let now = kst(date(2021, 8, 12), 21, 0, 0); // digit 2's evening; digit 9's (08-09) is past
    let older = person(date(1980, 3, 9)); // 36–49
    let younger = person(date(1995, 3, 19)); // 18–35
    assert_eq!(
        decide(&older, &rules, now),
        Decision::NotYet {
            opens_at: kst(date(2021, 8, 19), 20, 0, 0),
            via: Via::Cohort(CohortId(7))
        }
    );
    assert_eq!(
        decide(&younger, &rules, now),
        Decision::NotYet {
            opens_at: kst(date(2021, 8, 20), 20, 0, 0),
            via: Via::Cohort(CohortId(8))
        }
    );
    // Everyone 18–49 from 08-21 20:00 to 09-18 18:00.
    for p in [
        &older,
        &younger,
        &person(date(1972, 1, 1)),
        &person(date(2003, 12, 31)),
    ] {
        assert_eq!(
            decide(p, &rules, kst(date(2021, 8, 21), 20, 0, 0)),
            Decision::Eligible {
                via: Via::Cohort(CohortId(9)),
                closes_at: kst(date(2021, 9, 18), 18, 0, 0)
            }
        );
        assert_eq!(
            decide(p, &rules, kst(date(2021, 9, 18), 18, 0, 0)),
            Decision::Closed {
                closed_at: kst(date(2021, 9, 18), 18, 0, 0)
            }
        );
    }
}

#[test]
fn august_2021_age_group_evenings() {
    let rules = cohorts_2021();
    let at_1919 = kst(date(2021, 8, 19), 20, 0, 0);
    let at_2020 = kst(date(2021, 8, 20), 20, 0, 0);
    // 36–49 (born 1972–1985) on 08-19 20:00 – 08-20 18:00, whatever their digit.
    for born in [date(1972, 1, 1), date(1985, 12, 31)] {
        assert_eq!(
            decide(&person(born), &rules, at_1919),
            Decision::Eligible {
                via: Via::Cohort(CohortId(7)),
                closes_at: kst(date(2021, 8, 20), 18, 0, 0)
            }
        );
    }
    // 18–35 (born 1986–2003) wait for 08-20 20:00.
    for born in [date(1986, 1, 1), date(2003, 12, 31)] {
        assert_eq!(
            decide(&person(born), &rules, at_1919),
            Decision::NotYet {
                opens_at: at_2020,
                via: Via::Cohort(CohortId(8))
            }
        );
        assert_eq!(
            decide(&person(born), &rules, at_2020),
            Decision::Eligible {
                via: Via::Cohort(CohortId(8)),
                closes_at: kst(date(2021, 8, 21), 18, 0, 0)
            }
        );
    }
}

/// Born on a leap day: day 29, digit 9, the very first evening (08-09).
#[test]
fn august_2021_leap_day_birth_books_on_the_first_evening() {
    let rules = cohorts_2021();
    let p = person(date(2000, 2, 29));
    let via = Via::Cohort(CohortId(6));
    assert_eq!(
        decide(&p, &rules, kst(date(2021, 8, 9), 19, 59, 59)),
        Decision::NotYet {
            opens_at: kst(date(2021, 8, 9), 20, 0, 0),
            via
        }
    );
    assert_eq!(
        decide(&p, &rules, kst(date(2021, 8, 9), 20, 0, 0)),
        Decision::Eligible {
            via,
            closes_at: kst(date(2021, 8, 10), 18, 0, 0)
        }
    );
}
