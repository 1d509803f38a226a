//! A small deterministic random source (SplitMix64): every simulated person draws from a stream
//! seeded by the scenario seed and their own index, so a run is repeatable and people can be
//! generated lazily, in any order, without shared state.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// An independent stream for item `index` of stream family `seed`.
    pub fn for_item(seed: u64, index: u64) -> Rng {
        let mut r = Rng::new(
            seed.wrapping_mul(0xD134_2543_DE82_EF95) ^ index.wrapping_mul(0xA076_1D64_78BD_642F),
        );
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Exponentially distributed with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }

    /// Index drawn with probability proportional to `weights` (cumulative sums expected).
    pub fn weighted(&mut self, cumulative: &[f64]) -> usize {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = self.f64() * total;
        cumulative
            .partition_point(|c| *c <= x)
            .min(cumulative.len().saturating_sub(1))
    }

    /// Geometric count with the given mean (0, 1, 2, …).
    pub fn geometric(&mut self, mean: f64) -> u32 {
        if mean <= 0.0 {
            return 0;
        }
        let p = 1.0 / (1.0 + mean);
        let mut n = 0;
        while n < 1_000 && !self.chance(p) {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_repeatable_and_in_range() {
        let mut a = Rng::for_item(7, 3);
        let mut b = Rng::for_item(7, 3);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.f64();
            assert!((0.0..1.0).contains(&x));
            assert!(a.below(10) < 10);
            b.f64();
            b.below(10);
        }
        let mean: f64 = (0..20_000)
            .map(|_| f64::from(a.geometric(3.0)))
            .sum::<f64>()
            / 20_000.0;
        assert!((mean - 3.0).abs() < 0.2, "{mean}");
    }
}
