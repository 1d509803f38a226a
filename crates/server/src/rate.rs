//! Counting calls per key in fixed windows: the limits on identity checks and on a person's
//! leftover-alert changes. In memory, per node (a node that restarts starts its counts over).

use domain::sharded::{SHARDS, ShardedMap, shard_of};
use jiff::SignedDuration;
use std::collections::hash_map::RandomState;
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

/// Keys kept in a shard of the map before its expired windows are first swept out (100,000
/// in all).
const SWEEP_AT: usize = 100_000 / SHARDS;

/// Calls per key in fixed windows that start at a key's first call.
///
/// The windows are one entry per phone or person checked this hour: a million on an opening
/// night. They are kept in a [`ShardedMap`] and swept shard by shard, so neither the map's
/// growth nor a sweep ever stops the caller for the whole map (a single map's doubling was a
/// 300 ms stall of every identity check on the full-scale replay).
pub struct Counter<K> {
    limit: Limit,
    windows: ShardedMap<K, (i64, u32), RandomState>,
    /// Keys a shard holds when its next sweep runs: twice what its last one left, so that an
    /// evening with more live keys than `SWEEP_AT` does not sweep them all on every call.
    sweep_at: Vec<usize>,
}

impl<K: Hash + Eq + Copy> Counter<K> {
    pub fn new(limit: Limit) -> Self {
        Counter {
            limit,
            windows: ShardedMap::default(),
            sweep_at: vec![SWEEP_AT; SHARDS],
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
        let index = shard_of(&key);
        let shard = self.windows.shard_mut(index);
        if shard.len() >= self.sweep_at[index] {
            shard.retain(|_, (start, _)| *start + length > now_ms);
            self.sweep_at[index] = SWEEP_AT.max(2 * shard.len());
        }
        let window = shard.entry(key).or_insert((now_ms, 0));
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

    /// Keys that live in shard `index` of the counter's map, from `from` on.
    fn keys_of_shard(index: usize, from: u64) -> impl Iterator<Item = u64> {
        (from..).filter(move |key| shard_of(key) == index)
    }

    #[test]
    fn a_sweep_keeps_live_windows_and_the_next_waits_for_twice_as_many() {
        let mut counter = Counter::new(limit(1, 60));
        let first: Vec<u64> = keys_of_shard(5, 0).take(SWEEP_AT + 1).collect();
        // More live keys in one shard than its first sweep's threshold: the sweep keeps every
        // one of them (their windows are open) and moves that shard's next sweep to twice as
        // many; the other shards are not touched.
        for &key in &first {
            counter.hit(key, 0);
        }
        assert_eq!(counter.sweep_at[5], 2 * SWEEP_AT);
        assert!(
            counter
                .sweep_at
                .iter()
                .enumerate()
                .all(|(i, &at)| i == 5 || at == SWEEP_AT)
        );
        assert_eq!(
            counter.try_hit(first[0], 1_000),
            Err(3_599),
            "a live window survives a sweep"
        );
        // An hour later new keys fill the shard to its new threshold: that sweep drops every
        // expired window and keeps the new ones, and the next waits for twice those.
        for key in keys_of_shard(5, 1_000_000).take(SWEEP_AT) {
            counter.hit(key, HOUR_MS);
        }
        assert_eq!(counter.windows.len(), SWEEP_AT);
        assert_eq!(counter.sweep_at[5], 2 * (SWEEP_AT - 1));
    }

    #[test]
    fn a_sweep_visits_one_shard_and_keeps_the_others_expired_windows() {
        let mut counter = Counter::new(limit(1, 60));
        for key in keys_of_shard(1, 0).take(10) {
            counter.hit(key, 0);
        }
        // An hour later shard 2 fills up and is swept; shard 1's ten expired windows stay
        // until shard 1 itself fills (they refuse nothing: each is past its end).
        for key in keys_of_shard(2, 0).take(SWEEP_AT + 1) {
            counter.hit(key, HOUR_MS);
        }
        assert_eq!(counter.windows.len(), 10 + SWEEP_AT + 1);
        let expired = keys_of_shard(1, 0).next().unwrap();
        assert_eq!(
            counter.try_hit(expired, HOUR_MS),
            Ok(()),
            "an expired window counts afresh"
        );
    }
}
