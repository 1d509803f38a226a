//! A hash map split into shards, so that it never grows all at once.
//!
//! A hash map doubles its table when it fills: every entry moves, in one call, into a table
//! twice the size whose pages the kernel must first hand over and zero. The maps that grow
//! through an opening night (the ledger's bookings and people, the identity checks' counts, the
//! passes' memory) reach a million entries, and on the full-scale 2021 replay each of their
//! doublings was a stall of 100–300 ms on the thread that made it: the booking side's p99 at
//! 361 ms in that second and the server's memory up 185 MB at once, `perf` putting the time in
//! `hashbrown`'s `reserve_rehash` and the page clearing under it
//! (`bench/loadtest-53-54-2026-12-06-shards/`). Split into [`SHARDS`] maps by a hash of the
//! key, the map grows one shard at a time: a doubling moves about 1/64 of the entries.
//!
//! Written here rather than taken from a crate: `griddle`, which spreads one table's resize
//! over later inserts, is built on an older `hashbrown` (0.14) and its raw table API, which
//! would put a second `hashbrown` in the build for three maps; `dashmap` and `scc`
//! are concurrent maps (a lock or an epoch on every access) for maps their owner already
//! guards. This is the standard library's map, 64 times, behind one extra hash.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{BuildHasher, Hash};

/// Shards per map: a doubling moves about 1/64 of the entries (a million-entry map grows
/// 16,000 entries at a time), and an empty map costs 64 empty tables (no allocation).
pub const SHARDS: usize = 64;

/// Picks a key's shard. Its seed differs from any the shards' own hashers use, so the keys
/// of one shard are spread over that shard's buckets like any others: with the same hash for
/// both, a shard's keys would share the bits its table places them by.
const SELECTOR_SEED: u64 = 0x5eed_5a4d_0bad_cafe;

/// A hash map of `K` to `V` in [`SHARDS`] standard maps, each hashing with an `S`.
pub struct ShardedMap<K, V, S> {
    shards: Box<[HashMap<K, V, S>]>,
}

impl<K, V, S: Default> Default for ShardedMap<K, V, S> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for ShardedMap<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The index of the shard `key` lives in (below [`SHARDS`]), for work that should touch one
/// shard at a time, such as a sweep ([`ShardedMap::shard_mut`]).
pub fn shard_of<K: Hash + ?Sized>(key: &K) -> usize {
    let hash = foldhash::fast::FixedState::with_seed(SELECTOR_SEED).hash_one(key);
    // The top bits: foldhash mixes them best.
    (hash >> (u64::BITS - SHARDS.trailing_zeros())) as usize
}

impl<K: Hash + Eq, V, S: BuildHasher> ShardedMap<K, V, S> {
    /// Shard `index` (below [`SHARDS`]).
    pub fn shard_mut(&mut self, index: usize) -> &mut HashMap<K, V, S> {
        &mut self.shards[index]
    }

    fn shard_of_mut(&mut self, key: &K) -> &mut HashMap<K, V, S> {
        &mut self.shards[shard_of(key)]
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.shards[shard_of(key)].get(key)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.shard_of_mut(key).get_mut(key)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.shards[shard_of(key)].contains_key(key)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.shard_of_mut(&key).insert(key, value)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.shard_of_mut(key).remove(key)
    }

    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        self.shard_of_mut(&key).entry(key)
    }

    /// Keeps only the entries `keep` says to, shard by shard.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for shard in self.shards.iter_mut() {
            shard.retain(&mut keep);
        }
    }
}

impl<K, V, S> ShardedMap<K, V, S> {
    /// Entries in all shards (sums 64 counts).
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    /// Empties every shard, keeping their tables.
    pub fn clear(&mut self) {
        self.shards.iter_mut().for_each(HashMap::clear);
    }

    /// Every entry, shard after shard (in no order to rely on).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(HashMap::iter)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(HashMap::values)
    }

    /// Entries the table of each shard has room for before it grows, summed.
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(HashMap::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foldhash::fast::FixedState;

    type Map = ShardedMap<u64, u64, FixedState>;

    #[test]
    fn it_holds_what_a_map_holds() {
        let mut map = Map::default();
        let mut plain = HashMap::new();
        // Inserts, overwrites and removals, checked against the standard map.
        for i in 0..20_000_u64 {
            let key = i.wrapping_mul(7_919) % 5_000;
            if i % 3 == 0 {
                assert_eq!(map.remove(&key), plain.remove(&key));
            } else {
                assert_eq!(map.insert(key, i), plain.insert(key, i));
            }
        }
        assert_eq!(map.len(), plain.len());
        for (key, value) in &plain {
            assert_eq!(map.get(key), Some(value));
            assert!(map.contains_key(key));
        }
        let mut seen: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
        seen.sort();
        let mut expected: Vec<_> = plain.into_iter().collect();
        expected.sort();
        assert_eq!(seen, expected);
        *map.entry(1_000_000).or_insert(0) += 5;
        assert_eq!(map.get(&1_000_000), Some(&5));
        map.retain(|k, _| k % 2 == 0);
        assert!(map.iter().all(|(k, _)| k % 2 == 0));
        map.clear();
        assert!(map.is_empty());
    }

    /// The point of the map: one insert never moves more than a small part of the entries.
    /// A single map of the same size grows its whole table at once.
    #[test]
    fn no_insert_grows_more_than_a_shard() {
        let mut map = Map::default();
        let mut largest_growth = 0;
        for key in 0..400_000_u64 {
            let before = map.capacity();
            map.insert(key, key);
            largest_growth = largest_growth.max(map.capacity() - before);
        }
        // 400,000 entries over 64 shards: about 6,250 each; a shard's table holds 7/8 of a
        // power of two, so its last doubling added 7,168 places. A single map's last doubling
        // added 229,376.
        assert!(largest_growth <= 16_384, "grew {largest_growth} at once");
        let mut single: HashMap<u64, u64, FixedState> = HashMap::default();
        let mut single_growth = 0;
        for key in 0..400_000_u64 {
            let before = single.capacity();
            single.insert(key, key);
            single_growth = single_growth.max(single.capacity() - before);
        }
        assert!(single_growth > 100_000, "the comparison: {single_growth}");
    }

    /// Keys of one shard spread over that shard's table: the selector's hash is not the one
    /// the shards place keys by. A shard holding its keys in few buckets would probe long
    /// chains; with the same hash for both, its keys would share their top bits, which
    /// `hashbrown` keeps as each slot's tag.
    #[test]
    fn shards_are_even_for_sequential_ids() {
        let mut map = Map::default();
        for key in 0..64_000_u64 {
            map.insert(key, key);
        }
        for shard in map.shards.iter() {
            assert!(
                (800..1_200).contains(&shard.len()),
                "a shard of {} for 1,000 expected",
                shard.len()
            );
        }
    }
}
