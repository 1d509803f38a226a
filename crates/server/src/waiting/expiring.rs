//! A map whose entries leave once their expiry has passed, swept in order of expiry.
//!
//! The gate keeps what admitted people's passes have done (who holds a pass, what it was used
//! for, whom it was bound to) until each pass expires. Those maps hold an entry per admitted
//! person, hundreds of thousands at an opening's peak, and the gate's tick walked every one of
//! them four times a second under the lock that every pass check takes (2.7% of the server's
//! CPU in the 40% replay's profile, 2026-12-05). Here a sweep visits only the entries that
//! expired: a min-heap of expiries beside the map, with a heap entry pushed only when a key's
//! expiry changes (a pass used again keeps its expiry, so using it pushes nothing).
//!
//! The map is a [`ShardedMap`]: at an opening's peak it grows past a million entries, and a
//! single map's doubling stopped every pass check behind the lock for as long as it took.

use domain::sharded::ShardedMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::hash_map::RandomState;
use std::hash::Hash;

/// Replaced expiries the heap may hold beyond twice the live entries before it is rebuilt.
const STALE_SLACK: usize = 1_024;

pub struct Expiring<K, V> {
    /// Each value with its expiry (milliseconds).
    entries: ShardedMap<K, (V, u64), RandomState>,
    /// Every expiry a key was given and not yet swept; one that a later one replaced is
    /// skipped when it comes up (the map holds the key's current expiry).
    by_expiry: BinaryHeap<Reverse<(u64, K)>>,
}

impl<K, V> Default for Expiring<K, V> {
    fn default() -> Self {
        Expiring {
            entries: ShardedMap::default(),
            by_expiry: BinaryHeap::new(),
        }
    }
}

impl<K: Hash + Eq + Ord + Copy, V> Expiring<K, V> {
    /// The value under `key` and its expiry, until a sweep past that expiry.
    pub fn get(&self, key: &K) -> Option<(&V, u64)> {
        self.entries
            .get(key)
            .map(|(value, expires_at_ms)| (value, *expires_at_ms))
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(value, _)| value)
    }

    /// Puts `value` under `key` until `expires_at_ms`.
    pub fn insert(&mut self, key: K, value: V, expires_at_ms: u64) {
        let before = self.entries.insert(key, (value, expires_at_ms));
        self.expires(key, before.map(|(_, at)| at), expires_at_ms);
    }

    /// The value under `key` (a default one if there is none), now to expire at
    /// `expires_at_ms`.
    pub fn entry(&mut self, key: K, expires_at_ms: u64) -> &mut V
    where
        V: Default,
    {
        let before = self.entries.get(&key).map(|(_, at)| *at);
        self.expires(key, before, expires_at_ms);
        let entry = self
            .entries
            .entry(key)
            .or_insert_with(|| (V::default(), expires_at_ms));
        entry.1 = expires_at_ms;
        &mut entry.0
    }

    /// Remembers `key`'s expiry in the heap, unless it already is (`before`, its last one).
    /// Expiries a later one replaced stay in the heap until they come up; once they outnumber
    /// the live entries (plus [`STALE_SLACK`]) the heap is rebuilt from the map, so a client
    /// changing one key's expiry over and over (a pass exchanged again and again) holds memory
    /// for its one entry, not for every change (amortised: a rebuild follows at least as many
    /// pushes as it visits entries).
    fn expires(&mut self, key: K, before: Option<u64>, expires_at_ms: u64) {
        if before == Some(expires_at_ms) {
            return;
        }
        self.by_expiry.push(Reverse((expires_at_ms, key)));
        if self.by_expiry.len() > 2 * self.entries.len() + STALE_SLACK {
            self.by_expiry = self
                .entries
                .iter()
                .map(|(key, (_, at))| Reverse((*at, *key)))
                .collect();
        }
    }

    /// Removes every entry whose expiry is at or before `now_ms`.
    pub fn sweep(&mut self, now_ms: u64) {
        while let Some(&Reverse((at, key))) = self.by_expiry.peek() {
            if at > now_ms {
                break;
            }
            self.by_expiry.pop();
            if self
                .entries
                .get(&key)
                .is_some_and(|(_, current)| *current == at)
            {
                self.entries.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn an_entry_leaves_at_its_expiry_and_not_before() {
        let mut map = Expiring::default();
        map.insert(1_u64, "a", 1_000);
        map.insert(2, "b", 2_000);
        map.sweep(999);
        assert_eq!(map.get(&1), Some((&"a", 1_000)));
        map.sweep(1_000);
        assert_eq!(map.get(&1), None);
        assert_eq!(map.get(&2), Some((&"b", 2_000)));
        map.sweep(5_000);
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn a_later_expiry_replaces_the_earlier_one() {
        let mut map = Expiring::default();
        map.insert(1_u64, "a", 1_000);
        map.insert(1, "a again", 3_000);
        map.sweep(2_000);
        assert_eq!(map.get(&1), Some((&"a again", 3_000)));
        // And an earlier one the later: the entry leaves at the one it has now.
        map.insert(1, "a shortened", 2_500);
        map.sweep(2_500);
        assert_eq!(map.get(&1), None);
    }

    #[test]
    fn an_entry_kept_at_its_expiry_pushes_nothing_more() {
        let mut map: Expiring<u64, u32> = Expiring::default();
        for _ in 0..1_000 {
            *map.entry(7, 1_000) += 1;
        }
        map.insert(8, 0, 1_000);
        map.insert(8, 1, 1_000);
        assert_eq!(map.by_expiry.len(), 2, "one heap entry per key and expiry");
        assert_eq!(map.get(&7), Some((&1_000, 1_000)));
        *map.entry(7, 4_000) += 1;
        map.sweep(1_000);
        assert_eq!(map.get(&7), Some((&1_001, 4_000)));
        assert_eq!(map.get(&8), None);
        assert_eq!(map.by_expiry.len(), 1);
    }

    /// A key whose expiry changes on every call (a script exchanging its pass again and again)
    /// leaves the heap bounded, and the entry still leaves at its last expiry.
    #[test]
    fn one_key_changed_a_million_times_holds_a_bounded_heap() {
        let mut map = Expiring::default();
        map.insert(0_u64, (), 10);
        for at in 1..1_000_000_u64 {
            map.insert(7, (), 1_000 + at);
            assert!(map.by_expiry.len() <= 2 * map.len() + STALE_SLACK);
        }
        map.sweep(10);
        assert_eq!(map.get(&0), None);
        map.sweep(1_000_998);
        assert_eq!(map.get(&7), Some((&(), 1_000_999)));
        map.sweep(1_000_999);
        assert_eq!(map.len(), 0);
    }

    /// Against the walk it replaces: after any inserts and sweeps, the same entries remain as a
    /// plain map that drops every expired entry at each sweep.
    #[test]
    fn it_keeps_what_a_full_walk_would_keep() {
        let mut map = Expiring::default();
        let mut plain: HashMap<u64, (u64, u64)> = HashMap::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut now = 0;
        for step in 0..20_000_u64 {
            let key = next() % 500;
            let expires = now + next() % 3_000;
            map.insert(key, step, expires);
            plain.insert(key, (step, expires));
            if step % 37 == 0 {
                now += next() % 400;
                map.sweep(now);
                plain.retain(|_, (_, at)| *at > now);
                assert_eq!(map.len(), plain.len());
                for (key, (value, at)) in &plain {
                    assert_eq!(map.get(key), Some((value, *at)));
                }
            }
        }
    }
}
