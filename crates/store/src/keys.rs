//! An in-memory filter over every `(actor, key)` in the idempotency table, so the writer asks
//! the database only when a request's key may have been used before. Almost every key is new,
//! and the lookup of a new key was a B-tree search per request on the writer thread.
//!
//! A Bloom filter: it may answer "maybe" for a key never recorded (then the database decides),
//! but never "no" for a recorded one, as long as every recorded key went through [`insert`]. The
//! writer connection is the only writer of the idempotency table, and it loads the table at open
//! (true of both backends while one node writes; several nodes would each need the others' keys).
//! Keys of a rolled-back batch stay in the filter: that only costs a database lookup. It grows
//! without rehashing by adding a part twice as large as the last when that one is full
//! ("scalable" Bloom filter), so a long-running writer never stalls to rebuild it.
//!
//! [`insert`]: KeyFilter::insert

use std::hash::{DefaultHasher, Hash, Hasher};

/// Bits per key and probes per lookup: about 1% false "maybe" per part.
const BITS_PER_KEY: usize = 10;
const PROBES: u64 = 7;
const FIRST_CAPACITY: usize = 1 << 16;

#[derive(Debug)]
struct Part {
    bits: Vec<u64>,
    capacity: usize,
    len: usize,
}

impl Part {
    fn new(capacity: usize) -> Part {
        let words = (capacity * BITS_PER_KEY).div_ceil(64).next_power_of_two();
        Part {
            bits: vec![0; words],
            capacity,
            len: 0,
        }
    }

    fn insert(&mut self, hash: u64) {
        for bit in probes(self.bits.len(), hash) {
            self.bits[bit / 64] |= 1 << (bit % 64);
        }
        self.len += 1;
    }

    fn may_contain(&self, hash: u64) -> bool {
        probes(self.bits.len(), hash).all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The bits probed for `hash` in a part of `words` 64-bit words (a power of two), by double
/// hashing.
fn probes(words: usize, hash: u64) -> impl Iterator<Item = usize> {
    let mask = (words * 64 - 1) as u64;
    let (h1, h2) = (hash, hash.rotate_left(32) | 1);
    (0..PROBES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) & mask) as usize)
}

#[derive(Debug)]
pub struct KeyFilter {
    parts: Vec<Part>,
}

impl KeyFilter {
    /// An empty filter with room for `expected` keys before it first grows.
    pub fn with_capacity(expected: usize) -> KeyFilter {
        KeyFilter {
            parts: vec![Part::new(expected.max(FIRST_CAPACITY))],
        }
    }

    pub fn insert(&mut self, actor: u64, key: &str) {
        let hash = hash(actor, key);
        let last = self.parts.last().map_or(FIRST_CAPACITY, |p| p.capacity);
        if self.parts.last().is_none_or(|p| p.len >= p.capacity) {
            self.parts.push(Part::new(last * 2));
        }
        if let Some(part) = self.parts.last_mut() {
            part.insert(hash);
        }
    }

    /// False only if `(actor, key)` was never inserted.
    pub fn may_contain(&self, actor: u64, key: &str) -> bool {
        let hash = hash(actor, key);
        self.parts.iter().any(|part| part.may_contain(hash))
    }
}

fn hash(actor: u64, key: &str) -> u64 {
    // Fixed keys: the filter never leaves the process, and its answers are only hints.
    let mut hasher = DefaultHasher::new();
    actor.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_forgets_a_key_and_rarely_imagines_one() {
        let mut filter = KeyFilter::with_capacity(0);
        let n = 300_000u64; // several parts
        for i in 0..n {
            filter.insert(i % 1_000, &format!("key-{i}"));
        }
        assert!(filter.parts.len() > 2);
        assert!((0..n).all(|i| filter.may_contain(i % 1_000, &format!("key-{i}"))));
        let imagined = (0..100_000u64)
            .filter(|i| filter.may_contain(i % 1_000, &format!("other-{i}")))
            .count();
        assert!(imagined < 5_000, "{imagined} false positives in 100,000");
        assert!(!KeyFilter::with_capacity(10).may_contain(1, "k"));
    }
}
