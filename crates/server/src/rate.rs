//! Counting calls per key in fixed windows: the limits on identity checks and on a person's
//! leftover-alert changes. In memory, per node (a node that restarts starts its counts over).

use jiff::SignedDuration;
use std::collections::HashMap;
use std::hash::Hash;

/// At most this many calls in any window of `per` (fixed windows from the first call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub per: SignedDuration,
}

/// `count` calls per `minutes`.
pub const fn limit(count: u32, minutes: i64) -> Limit {
    Limit {
        count,
        per: SignedDuration::from_mins(minutes),
    }
}

/// Keys kept before expired windows are first swept out.
const SWEEP_AT: usize = 100_000;

/// Calls per key in fixed windows that start at a key's first call.
pub struct Counter<K> {
    limit: Limit,
    windows: HashMap<K, (i64, u32)>,
    /// Keys held when the next sweep runs: twice what the last one left, so that an evening
    /// with more live keys than `SWEEP_AT` does not sweep them all on every call.
    sweep_at: usize,
}

impl<K: Hash + Eq + Copy> Counter<K> {
    pub fn new(limit: Limit) -> Self {
        Counter {
            limit,
            windows: HashMap::new(),
            sweep_at: SWEEP_AT,
        }
    }

    fn length_ms(&self) -> i64 {
        self.limit.per.as_millis() as i64
    }

    /// Seconds until `key` may call again, when its window is full.
    pub fn retry_after(&self, key: K, now_ms: i64) -> Option<u64> {
        let &(start, count) = self.windows.get(&key)?;
        let ends = start + self.length_ms();
        (now_ms < ends && count >= self.limit.count)
            .then(|| ((ends - now_ms + 999) / 1000).max(1) as u64)
    }

    /// Counts a call of `key`.
    pub fn hit(&mut self, key: K, now_ms: i64) {
        let length = self.length_ms();
        if self.windows.len() >= self.sweep_at {
            self.windows
                .retain(|_, (start, _)| *start + length > now_ms);
            self.sweep_at = SWEEP_AT.max(2 * self.windows.len());
        }
        let window = self.windows.entry(key).or_insert((now_ms, 0));
        if window.0 + length <= now_ms {
            *window = (now_ms, 0);
        }
        window.1 = window.1.saturating_add(1);
    }

    /// Counts a call of `key` unless its window is full; then the seconds until it may call.
    pub fn try_hit(&mut self, key: K, now_ms: i64) -> Result<(), u64> {
        match self.retry_after(key, now_ms) {
            Some(seconds) => Err(seconds),
            None => {
                self.hit(key, now_ms);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn a_full_window_refuses_until_it_ends_then_counts_again() {
        let mut counter = Counter::new(limit(3, 60));
        for second in 0..3 {
            assert_eq!(counter.try_hit(7u64, second * 1000), Ok(()));
        }
        // The window opened at 0 and ends an hour later: 3,598 s from 2 s, rounded up.
        assert_eq!(counter.try_hit(7, 2_000), Err(3_598));
        assert_eq!(
            counter.try_hit(8, 2_000),
            Ok(()),
            "another key has its own window"
        );
        assert_eq!(counter.try_hit(7, HOUR_MS - 1), Err(1));
        assert_eq!(counter.try_hit(7, HOUR_MS), Ok(()));
    }

    #[test]
    fn a_sweep_keeps_live_windows_and_the_next_waits_for_twice_as_many() {
        let mut counter = Counter::new(limit(1, 60));
        // More live keys than the first sweep's threshold: the sweep keeps every one of them
        // (their windows are open) and moves the next sweep to twice as many.
        for key in 0..SWEEP_AT as u64 + 1 {
            counter.hit(key, 0);
        }
        assert_eq!(counter.sweep_at, 2 * SWEEP_AT);
        assert_eq!(
            counter.try_hit(0, 1_000),
            Err(3_599),
            "a live window survives a sweep"
        );
        // An hour later new keys fill it to the new threshold: that sweep drops every expired
        // window and keeps the 99,999 new ones, and the next waits for twice those.
        for key in 0..SWEEP_AT as u64 {
            counter.hit(1_000_000 + key, HOUR_MS);
        }
        assert_eq!(counter.windows.len(), SWEEP_AT);
        assert_eq!(counter.sweep_at, 2 * (SWEEP_AT - 1));
    }
}
