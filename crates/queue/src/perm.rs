//! A keyed pseudorandom permutation of `[0, n)`: the fair order of the pre-queue, with no stored
//! list.
//!
//! * `n ≤ 256`: an explicit Fisher–Yates shuffle driven by HMAC-SHA256 in counter mode (unbiased
//!   index draws), so even tiny pre-queues get an exactly uniform order.
//! * `n > 256`: an 8-round balanced Feistel network over `2^(2h) ≥ n` (the next even power of two,
//!   so the domain is less than `4n`) with cycle walking: apply the network until the value falls in
//!   `[0, n)`. Cycle walking over a bijection of the larger domain restricts it to a bijection of
//!   `[0, n)`; the expected number of walks is below 4.
//!
//! The round keys are derived from the 32-byte key *and* `n` with HMAC-SHA256, so the same key
//! gives unrelated orders for different `n`. The round function is a strong 64-bit mixer, not a
//! cipher: the key only needs to be unpredictable until the opening second (it is drawn then), and
//! after that knowing it does not help anyone, because nobody can get a new pre-queue ticket.
//! Uniformity is checked statistically by the chi-square tests in `tests/fairness.rs`.

use hmac::{KeyInit, Mac};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use std::fmt;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const ROUNDS: usize = 8;
const TABLE_MAX: u64 = 256;

/// The 32-byte key of a permutation, drawn at the opening second. Secret until then; never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermKey(pub [u8; 32]);

impl PermKey {
    /// Draws a key from a cryptographic random source supplied by the caller.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> PermKey {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        PermKey(key)
    }
}

impl fmt::Debug for PermKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PermKey(<redacted>)")
    }
}

/// Why a permutation could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PermError {
    #[error("a permutation needs at least one element")]
    Empty,
}

/// A bijection of `[0, n)`, determined by `(key, n)`.
#[derive(Clone)]
pub struct Permutation {
    n: u64,
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Table {
        forward: Vec<u16>,
        inverse: Vec<u16>,
    },
    Feistel {
        half_bits: u32,
        keys: [u64; ROUNDS],
    },
}

impl fmt::Debug for Permutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permutation").field("n", &self.n).finish()
    }
}

/// HMAC-SHA256(key, label ‖ n ‖ block) as a stream of u64 words.
struct Stream {
    mac: HmacSha256,
    n: u64,
    block: u64,
    words: [u64; 4],
    used: usize,
}

impl Stream {
    fn new(key: &PermKey, n: u64) -> Stream {
        let mac = <HmacSha256 as KeyInit>::new_from_slice(&key.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
            .chain_update(b"yeyak queue permutation v1");
        Stream {
            mac,
            n,
            block: 0,
            words: [0; 4],
            used: 4,
        }
    }

    fn next_u64(&mut self) -> u64 {
        if self.used == 4 {
            let out = self
                .mac
                .clone()
                .chain_update(self.n.to_be_bytes())
                .chain_update(self.block.to_be_bytes())
                .finalize()
                .into_bytes();
            for (word, chunk) in self.words.iter_mut().zip(out.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                *word = u64::from_be_bytes(b);
            }
            self.block += 1;
            self.used = 0;
        }
        let w = self.words[self.used];
        self.used += 1;
        w
    }

    /// Uniform in `[0, bound)`, `bound ≥ 1`, by rejection (no modulo bias).
    fn below(&mut self, bound: u64) -> u64 {
        loop {
            let x = self.next_u64();
            let r = x % bound;
            if x - r <= u64::MAX - (bound - 1) {
                return r;
            }
        }
    }
}

/// SplitMix64's finaliser: a bijective 64-bit mixer with full avalanche.
pub(crate) fn mix(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Permutation {
    /// The permutation of `[0, n)` for `key`.
    pub fn new(key: &PermKey, n: u64) -> Result<Permutation, PermError> {
        if n == 0 {
            return Err(PermError::Empty);
        }
        let mut stream = Stream::new(key, n);
        let inner = if n <= TABLE_MAX {
            let mut forward: Vec<u16> = (0..n as u16).collect();
            for i in (1..forward.len()).rev() {
                let j = stream.below(i as u64 + 1) as usize;
                forward.swap(i, j);
            }
            let mut inverse = vec![0u16; forward.len()];
            for (x, &y) in forward.iter().enumerate() {
                inverse[usize::from(y)] = x as u16;
            }
            Inner::Table { forward, inverse }
        } else {
            // Bits needed for n − 1, rounded up to an even count: the domain is below 4n.
            let bits = 64 - (n - 1).leading_zeros();
            let half_bits = bits.div_ceil(2);
            let mut keys = [0u64; ROUNDS];
            for k in &mut keys {
                *k = stream.next_u64();
            }
            Inner::Feistel { half_bits, keys }
        };
        Ok(Permutation { n, inner })
    }

    /// The number of elements, `n`.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Always false: a permutation has at least one element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The image of `x`, or `None` when `x ≥ n`.
    pub fn apply(&self, x: u64) -> Option<u64> {
        if x >= self.n {
            return None;
        }
        match &self.inner {
            Inner::Table { forward, .. } => forward.get(x as usize).map(|&y| u64::from(y)),
            Inner::Feistel { half_bits, keys } => {
                let mut y = feistel(*half_bits, keys, x);
                while y >= self.n {
                    y = feistel(*half_bits, keys, y);
                }
                Some(y)
            }
        }
    }

    /// The preimage of `y`, or `None` when `y ≥ n`: who sits at place `y`.
    pub fn invert(&self, y: u64) -> Option<u64> {
        if y >= self.n {
            return None;
        }
        match &self.inner {
            Inner::Table { inverse, .. } => inverse.get(y as usize).map(|&x| u64::from(x)),
            Inner::Feistel { half_bits, keys } => {
                let mut x = feistel_inverse(*half_bits, keys, y);
                while x >= self.n {
                    x = feistel_inverse(*half_bits, keys, x);
                }
                Some(x)
            }
        }
    }
}

fn round(key: u64, half: u64, mask: u64) -> u64 {
    mix(half ^ key).wrapping_add(key.rotate_left(32)) & mask
}

fn feistel(half_bits: u32, keys: &[u64; ROUNDS], x: u64) -> u64 {
    let mask = (1u64 << half_bits) - 1;
    let (mut left, mut right) = (x >> half_bits, x & mask);
    for &k in keys {
        (left, right) = (right, left ^ round(k, right, mask));
    }
    (left << half_bits) | right
}

fn feistel_inverse(half_bits: u32, keys: &[u64; ROUNDS], y: u64) -> u64 {
    let mask = (1u64 << half_bits) - 1;
    let (mut left, mut right) = (y >> half_bits, y & mask);
    for &k in keys.iter().rev() {
        (left, right) = (right ^ round(k, left, mask), left);
    }
    (left << half_bits) | right
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8) -> PermKey {
        PermKey([b; 32])
    }

    fn perm(k: &PermKey, n: u64) -> Permutation {
        Permutation::new(k, n).expect("n ≥ 1")
    }

    fn assert_bijection(p: &Permutation) {
        let n = p.len();
        let mut seen = vec![false; n as usize];
        for x in 0..n {
            let y = p.apply(x).expect("in range");
            assert!(y < n, "n={n}: {x} -> {y}");
            assert!(!seen[y as usize], "n={n}: {y} hit twice");
            seen[y as usize] = true;
            assert_eq!(p.invert(y), Some(x));
        }
        assert_eq!(p.apply(n), None);
        assert_eq!(p.invert(n), None);
    }

    #[test]
    fn zero_is_rejected() {
        assert_eq!(
            Permutation::new(&key(1), 0).map(|_| ()),
            Err(PermError::Empty)
        );
    }

    #[test]
    fn exhaustive_bijection_for_many_sizes() {
        let sizes = (1..=300).chain([
            511, 512, 513, 1000, 1023, 1024, 1025, 4097, 65_535, 65_536, 100_003,
        ]);
        for n in sizes {
            assert_bijection(&perm(&key(n as u8), n));
        }
    }

    #[test]
    fn large_domains_spot_checks() {
        for n in [
            1_u64 << 32,
            (1 << 40) + 7,
            10_000_019,
            u64::MAX / 3,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let p = perm(&key(3), n);
            let mut images = Vec::new();
            for x in [0, 1, 2, n / 2, n - 2, n - 1] {
                let y = p.apply(x).expect("in range");
                assert!(y < n);
                assert_eq!(p.invert(y), Some(x));
                images.push(y);
            }
            images.sort_unstable();
            images.dedup();
            assert_eq!(images.len(), 6, "n={n}");
        }
    }

    #[test]
    fn deterministic_per_key_and_different_keys_differ() {
        for n in [3, 10, 256, 257, 10_000] {
            let a: Vec<_> = (0..n).filter_map(|x| perm(&key(1), n).apply(x)).collect();
            let b: Vec<_> = (0..n).filter_map(|x| perm(&key(1), n).apply(x)).collect();
            assert_eq!(a, b);
            // Over several other keys at least one order differs (n = 3 has only 6 orders).
            let differs = (2..10u8).any(|k| {
                (0..n)
                    .filter_map(|x| perm(&key(k), n).apply(x))
                    .collect::<Vec<_>>()
                    != a
            });
            assert!(differs, "n={n}");
        }
        // For a large n, two keys agree on almost no element.
        let (p, q) = (perm(&key(1), 1_000_000), perm(&key(2), 1_000_000));
        let same = (0..10_000).filter(|&x| p.apply(x) == q.apply(x)).count();
        assert!(same < 10, "{same}");
    }

    #[test]
    fn same_key_other_size_is_an_unrelated_order() {
        let (p, q) = (perm(&key(1), 100_000), perm(&key(1), 100_001));
        let same = (0..10_000).filter(|&x| p.apply(x) == q.apply(x)).count();
        assert!(same < 10, "{same}");
    }

    #[test]
    fn the_order_is_not_close_to_arrival_order() {
        // Spearman-like check: displacement of a random shuffle averages n/3.
        let n = 100_000u64;
        let p = perm(&key(9), n);
        let total: u64 = (0..n).map(|x| p.apply(x).unwrap_or(x).abs_diff(x)).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - n as f64 / 3.0).abs() < n as f64 * 0.01, "{mean}");
    }

    proptest! {
        #[test]
        fn bijection_for_random_sizes(n in 1u64..5_000, k in any::<[u8; 32]>()) {
            let p = Permutation::new(&PermKey(k), n).expect("n ≥ 1");
            let mut images: Vec<u64> = (0..n).filter_map(|x| p.apply(x)).collect();
            images.sort_unstable();
            prop_assert_eq!(images, (0..n).collect::<Vec<_>>());
        }

        #[test]
        fn invert_undoes_apply_for_huge_sizes(n in 1u64.., x in any::<u64>(), k in any::<[u8; 32]>()) {
            let p = Permutation::new(&PermKey(k), n).expect("n ≥ 1");
            let x = x % n;
            let y = p.apply(x).expect("in range");
            prop_assert!(y < n);
            prop_assert_eq!(p.invert(y), Some(x));
        }
    }
}
