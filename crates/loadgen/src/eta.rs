//! Whether the wait a person was shown came true (W5, "honest position and ETA").
//!
//! In 2021 people were shown waits of thousands of minutes and were then let in, or thrown back,
//! at moments that had nothing to do with it. Here each simulated person keeps the first wait
//! the waiting room showed them once the opening had passed (`eta_seconds` in an arrival, reload,
//! status or exchange answer; before the opening nobody has a place yet), and, when an answer
//! first tells them it is their turn, how long that took from the moment they were shown the
//! wait. The report compares the two over everyone who got that far ([`honesty`]).
//!
//! "Told" is when the person's own next request learned of the turn, as it would be for a person
//! at a phone: it includes up to one poll delay after the admission itself, which the waiting room
//! keeps short near the front of the line.

use serde::Serialize;
use tokio::time::Instant;

/// A shown wait is *kept* when the turn came within this share of it either way...
pub const TOLERANCE_SHARE: f64 = 0.25;
/// ...or within this many seconds, for short waits where a poll's delay is most of the error.
pub const TOLERANCE_FLOOR_S: f64 = 30.0;

/// One person's watch over the wait they were shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct EtaWatch {
    /// When the first wait after the opening was shown, and that wait in seconds.
    shown: Option<(Instant, u64)>,
    /// The turn has been told and recorded (an exchange answered 202 later does not count twice).
    told: bool,
}

/// A wait shown and the wait had, for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitShown {
    pub shown_s: u64,
    pub had_ms: u64,
}

impl EtaWatch {
    /// An answer received `at` said the person is still `waiting`, with `eta_seconds`. The
    /// clock is read only while no wait has been kept yet: after the first, a poll's answer
    /// costs the generator a comparison here.
    pub fn saw(
        &mut self,
        at: impl FnOnce() -> Instant,
        opening: Instant,
        waiting: bool,
        eta_seconds: Option<u64>,
    ) {
        let Some(eta) = eta_seconds.filter(|_| waiting && self.shown.is_none()) else {
            return;
        };
        let at = at();
        if at >= opening {
            self.shown = Some((at, eta));
        }
    }

    /// An answer received `at` told the person it is their turn: what was shown against what
    /// came, the first time only, and only if a wait was shown.
    pub fn turn_told(&mut self, at: Instant) -> Option<WaitShown> {
        if self.told {
            return None;
        }
        self.told = true;
        let (shown_at, shown_s) = self.shown?;
        Some(WaitShown {
            shown_s,
            had_ms: at.saturating_duration_since(shown_at).as_millis() as u64,
        })
    }
}

/// How the shown waits of one group of people came out.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Honesty {
    /// Which shown waits: "all", or a band such as "1–5 min".
    pub shown: String,
    pub people: u64,
    /// The turn came within the tolerance of the shown wait.
    pub kept_share: f64,
    /// It came later than the shown wait plus the tolerance: the broken promise.
    pub later_share: f64,
    /// It came earlier than the shown wait less the tolerance.
    pub earlier_share: f64,
    /// The wait had divided by the wait shown (shown waits of 0 s count as 1 s): quantiles.
    pub ratio_p10: f64,
    pub ratio_p50: f64,
    pub ratio_p90: f64,
    /// The longest wait shown, in seconds.
    pub longest_shown_s: u64,
}

/// Bands of the shown wait, in seconds (upper bounds, inclusive), and their names.
const BANDS: [(u64, &str); 4] = [
    (60, "up to 1 min"),
    (300, "1–5 min"),
    (900, "5–15 min"),
    (u64::MAX, "over 15 min"),
];

/// Every person's shown and had waits, all together and by band of the shown wait (bands with
/// nobody in them are left out).
pub fn honesty(waits: &[WaitShown]) -> Vec<Honesty> {
    let mut groups = vec![summarise("all", waits.iter().copied())];
    let mut above: Option<u64> = None;
    for (upper, name) in BANDS {
        let band = waits
            .iter()
            .copied()
            .filter(|k| k.shown_s <= upper && above.is_none_or(|lower| k.shown_s > lower));
        let group = summarise(name, band);
        if group.people > 0 {
            groups.push(group);
        }
        above = Some(upper);
    }
    groups
}

fn summarise(name: &str, waits: impl Iterator<Item = WaitShown>) -> Honesty {
    let (mut later, mut earlier) = (0u64, 0u64);
    let mut longest = 0;
    let mut ratios = Vec::new();
    for w in waits {
        let shown = w.shown_s as f64;
        let had = w.had_ms as f64 / 1000.0;
        let tolerance = (shown * TOLERANCE_SHARE).max(TOLERANCE_FLOOR_S);
        if had > shown + tolerance {
            later += 1;
        } else if had < shown - tolerance {
            earlier += 1;
        }
        longest = longest.max(w.shown_s);
        ratios.push(had / shown.max(1.0));
    }
    let people = ratios.len() as u64;
    if people == 0 {
        return Honesty {
            shown: name.to_string(),
            ..Honesty::default()
        };
    }
    ratios.sort_by(f64::total_cmp);
    let quantile = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    let share = |n: u64| n as f64 / people as f64;
    Honesty {
        shown: name.to_string(),
        people,
        kept_share: share(people - later - earlier),
        later_share: share(later),
        earlier_share: share(earlier),
        ratio_p10: quantile(0.1),
        ratio_p50: quantile(0.5),
        ratio_p90: quantile(0.9),
        longest_shown_s: longest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_first_wait_shown_after_the_opening_is_the_one_kept() {
        let opening = Instant::now();
        let mut watch = EtaWatch::default();
        // Before the opening nobody has a place; a waiting answer without a wait shows none.
        watch.saw(|| opening - Duration::from_secs(5), opening, true, Some(10));
        watch.saw(|| opening + Duration::from_secs(1), opening, true, None);
        // The first wait shown after the opening counts; later ones do not replace it.
        watch.saw(
            || opening + Duration::from_secs(2),
            opening,
            true,
            Some(120),
        );
        watch.saw(|| opening + Duration::from_secs(3), opening, true, Some(5));
        let told = watch.turn_told(opening + Duration::from_secs(92));
        assert_eq!(
            told,
            Some(WaitShown {
                shown_s: 120,
                had_ms: 90_000
            })
        );
        // A second "your turn" (after an exchange answered 202) is not a second person.
        assert_eq!(watch.turn_told(opening + Duration::from_secs(95)), None);
    }

    #[test]
    fn a_turn_without_a_wait_shown_is_not_counted() {
        let opening = Instant::now();
        let mut watch = EtaWatch::default();
        watch.saw(
            || opening + Duration::from_secs(1),
            opening,
            false,
            Some(60),
        );
        assert_eq!(watch.turn_told(opening + Duration::from_secs(2)), None);
    }

    fn wait(shown_s: u64, had_s: u64) -> WaitShown {
        WaitShown {
            shown_s,
            had_ms: had_s * 1000,
        }
    }

    #[test]
    fn a_wait_is_kept_within_a_quarter_or_thirty_seconds_and_banded_by_what_was_shown() {
        let all = [
            wait(600, 700),  // 5–15 min: within a quarter (150 s)
            wait(600, 800),  // later than 600 + 150
            wait(600, 400),  // earlier than 600 − 150
            wait(40, 65),    // up to 1 min: within 30 s
            wait(40, 80),    // later than 40 + 30
            wait(3_600, 10), // over 15 min: far earlier
        ];
        let groups = honesty(&all);
        let names: Vec<&str> = groups.iter().map(|g| g.shown.as_str()).collect();
        assert_eq!(names, ["all", "up to 1 min", "5–15 min", "over 15 min"]);
        let everyone = &groups[0];
        assert_eq!(everyone.people, 6);
        assert!((everyone.kept_share - 2.0 / 6.0).abs() < 1e-9);
        assert!((everyone.later_share - 2.0 / 6.0).abs() < 1e-9);
        assert!((everyone.earlier_share - 2.0 / 6.0).abs() < 1e-9);
        assert_eq!(everyone.longest_shown_s, 3_600);
        let five_to_fifteen = &groups[2];
        assert_eq!(five_to_fifteen.people, 3);
        assert!((five_to_fifteen.ratio_p50 - 700.0 / 600.0).abs() < 1e-9);
        assert!((five_to_fifteen.ratio_p10 - 400.0 / 600.0).abs() < 1e-9);
        assert!((five_to_fifteen.ratio_p90 - 800.0 / 600.0).abs() < 1e-9);
        // A band's edge belongs to the lower band.
        let edges = honesty(&[wait(60, 60), wait(61, 61)]);
        assert_eq!(edges[1].shown, "up to 1 min");
        assert_eq!(edges[1].people, 1);
        assert_eq!(edges[2].shown, "1–5 min");
        assert_eq!(edges[2].people, 1);
    }

    #[test]
    fn nobody_shown_a_wait_gives_one_empty_row() {
        let groups = honesty(&[]);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].people, 0);
        assert_eq!(groups[0].kept_share, 0.0);
    }
}
