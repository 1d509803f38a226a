//! How long a queued person waits before polling again: chosen by the server so that the total
//! poll traffic stays within a budget, whatever the queue length.
//!
//! # Positions (after the opening, and in free flow)
//!
//! The budget for position polls is `B = budget_per_s × (1 − prequeue_share)`. The person at
//! position `k ≥ 1` (index `p = k − 1`) is told to come back after
//!
//! ```text
//! T(p) = clamp((p + p0) · Λ / B,  min_interval,  max_interval)      Λ = 1/p0 + ln((p0 + Q_max − 1) / p0)
//! ```
//!
//! **Budget.** Waiting people hold distinct positions, so the load is at most
//! `Σ_{p<Q} 1/T(p) ≤ (B/Λ) Σ_{p<Q} 1/(p + p0) ≤ (B/Λ)(1/p0 + ln((p0 + Q − 1)/p0)) ≤ B` for every
//! queue length `Q ≤ Q_max` (clamping to `min_interval` only lengthens intervals; construction
//! checks that `max_interval` never shortens one below `Q_max`). A person's last answer is stale but
//! their position only falls, and `T` grows with the position, so a stale interval is never shorter
//! than a fresh one: the bound holds at every instant, not only right after a poll.
//!
//! **Freshness.** With admission rate `r`, `ETA(k) = k / r`, and
//! `T(p) − ETA(k) ≤ p0·Λ/B ≤ min_interval` whenever `r ≤ B / Λ`: everyone is told to poll again no
//! later than one `min_interval` after their turn could come. [`PollPolicy::fresh_rate_limit_per_s`]
//! is that `B / Λ`; give it to the controller as `max_admit_per_s` so the guarantee always holds.
//! (For 10 million places and `B` = 10,000/s, `Λ ≈ 9.1`: up to ~1,100 admissions/s stay fresh.)
//!
//! `p0` is the largest integer with `p0 · Λ(p0) ≤ B · min_interval`, so the front of the line polls
//! about every `min_interval`.
//!
//! # Before the opening
//!
//! Pre-queue tickets have no position until the opening. With `n` pre-queue numbers issued so far
//! (at least `expected_prequeue`), the spread is `S = n / B_pre` seconds, `B_pre = budget_per_s ×
//! prequeue_share`. A pre-queue poll is told to come back after `S`, unless that would be past the
//! opening, in which case it is told to come back at `opens_at + u·S`, `u ∈ [0, 1)` a hash of the
//! ticket: the first polls after the opening are spread evenly over `S` instead of arriving all
//! at once. Both loads are at most `B_pre` when `expected_prequeue ≥ N_P` (otherwise at most
//! `B_pre · (1 + ln(N_P / expected_prequeue))`, since people who last polled when fewer had
//! arrived have shorter spreads). `u` is independent of the drawn order, so the slot gives no
//! advantage that could be planned.

use crate::perm::mix;

/// Poll-budget settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollConfig {
    /// Total server-chosen polls per second that may be caused, all waiting people together.
    pub budget_per_s: f64,
    /// Fraction of the budget kept for pre-queue polls (before and right after the opening).
    pub prequeue_share: f64,
    /// Shortest interval (the front of the line).
    pub min_interval_ms: u64,
    /// Longest interval; `None` picks the shortest one that keeps the budget for `max_queue`.
    pub max_interval_ms: Option<u64>,
    /// The longest queue for which the budget is guaranteed.
    pub max_queue: u64,
    /// Pre-queue size assumed at least (the cohort size known to the operator); keeps the
    /// opening-second spread wide enough even while few have arrived.
    pub expected_prequeue: u64,
}

impl PollConfig {
    /// Defaults: half the budget for the pre-queue, 1 s minimum, 10 million places.
    pub fn with_budget(budget_per_s: f64) -> PollConfig {
        PollConfig {
            budget_per_s,
            prequeue_share: 0.5,
            min_interval_ms: 1_000,
            max_interval_ms: None,
            max_queue: 10_000_000,
            expected_prequeue: 0,
        }
    }
}

/// Why a poll configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum PollConfigError {
    #[error("the poll budget must be a positive number of requests per second")]
    BadBudget,
    #[error("the pre-queue share must be in [0.01, 0.99]")]
    BadShare,
    #[error("the minimum interval must be between 100 ms and the maximum interval")]
    BadMinInterval,
    #[error("max_queue must be at least 1")]
    BadMaxQueue,
    #[error("the maximum interval is too short for the budget: it must be at least {needed_ms} ms")]
    MaxIntervalTooShort { needed_ms: u64 },
}

/// The server's choice of poll intervals. Pure and O(1) per call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPolicy {
    cfg: PollConfig,
    position_budget_per_s: f64,
    prequeue_budget_per_s: f64,
    p0: f64,
    lambda: f64,
    max_interval_ms: u64,
}

fn lambda(p0: f64, max_queue: u64) -> f64 {
    1.0 / p0 + ((p0 + max_queue as f64 - 1.0) / p0).ln()
}

impl PollPolicy {
    pub fn new(cfg: PollConfig) -> Result<PollPolicy, PollConfigError> {
        if !(cfg.budget_per_s.is_finite() && cfg.budget_per_s > 0.0) {
            return Err(PollConfigError::BadBudget);
        }
        if !(0.01..=0.99).contains(&cfg.prequeue_share) {
            return Err(PollConfigError::BadShare);
        }
        if cfg.max_queue == 0 {
            return Err(PollConfigError::BadMaxQueue);
        }
        if cfg.min_interval_ms < 100 {
            return Err(PollConfigError::BadMinInterval);
        }
        let position_budget_per_s = cfg.budget_per_s * (1.0 - cfg.prequeue_share);
        let prequeue_budget_per_s = cfg.budget_per_s * cfg.prequeue_share;
        let b = position_budget_per_s;
        let front = b * cfg.min_interval_ms as f64 / 1000.0;
        // Largest p0 with p0·Λ(p0) ≤ B·min_interval (p0·Λ(p0) grows with p0).
        let (mut lo, mut hi) = (1u64, (front.floor() as u64).max(1));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if mid as f64 * lambda(mid as f64, cfg.max_queue) <= front {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let p0 = lo as f64;
        let lambda = lambda(p0, cfg.max_queue);
        let mut policy = PollPolicy {
            cfg,
            position_budget_per_s,
            prequeue_budget_per_s,
            p0,
            lambda,
            max_interval_ms: u64::MAX,
        };
        let needed_ms = policy.raw_interval_ms(cfg.max_queue);
        policy.max_interval_ms = match cfg.max_interval_ms {
            None => needed_ms,
            Some(max) if max >= needed_ms => max,
            Some(_) => return Err(PollConfigError::MaxIntervalTooShort { needed_ms }),
        };
        if cfg.min_interval_ms > policy.max_interval_ms {
            return Err(PollConfigError::BadMinInterval);
        }
        Ok(policy)
    }

    pub fn config(&self) -> &PollConfig {
        &self.cfg
    }

    /// Longest interval ever given.
    pub fn max_interval_ms(&self) -> u64 {
        self.max_interval_ms
    }

    /// `Λ` of the formula above.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Budget formula for 1-based `position`, before clamping.
    fn raw_interval_ms(&self, position: u64) -> u64 {
        let p = position.saturating_sub(1) as f64;
        let secs = (p + self.p0) * self.lambda / self.position_budget_per_s;
        (secs * 1000.0).ceil().min(u64::MAX as f64) as u64
    }

    /// Interval for someone at `position` (≥ 1; 0 means admitted: no need to poll, exchange now).
    /// Beyond `max_queue` everyone gets `max_interval` (the budget is guaranteed up to
    /// `max_queue` only).
    pub fn interval_ms(&self, position: u64) -> u64 {
        if position == 0 {
            return 0;
        }
        if position > self.cfg.max_queue {
            return self.max_interval_ms;
        }
        self.raw_interval_ms(position)
            .clamp(self.cfg.min_interval_ms, self.max_interval_ms)
    }

    /// Highest admission rate (ranks per second) at which every interval is at most the ETA plus
    /// [`PollPolicy::eta_slack_ms`].
    pub fn fresh_rate_limit_per_s(&self) -> f64 {
        self.position_budget_per_s / self.lambda
    }

    /// How late (at most) after their turn someone polls, while the rate is within
    /// [`PollPolicy::fresh_rate_limit_per_s`].
    pub fn eta_slack_ms(&self) -> u64 {
        self.raw_interval_ms(1).max(self.cfg.min_interval_ms)
    }

    /// The spread of the first polls after the opening, with `pre_reserved` pre-queue numbers
    /// issued so far.
    pub fn prequeue_spread_ms(&self, pre_reserved: u64) -> u64 {
        let n = pre_reserved.max(self.cfg.expected_prequeue).max(1) as f64;
        ((n * 1000.0 / self.prequeue_budget_per_s).ceil() as u64).max(self.cfg.min_interval_ms)
    }

    /// The longest someone admitted at `now_ms` may take to learn of it: the front of the line's
    /// interval, or, during the opening's poll spread, until the spread ends (pre-queue people
    /// were told to come back somewhere in it, before anyone knew their place). The controller
    /// starts an admission's show-up window only after this
    /// ([`crate::Observations::notice_delay_ms`]).
    pub fn notice_delay_ms(&self, state: &crate::QueueState, now_ms: u64) -> u64 {
        let front = self.cfg.min_interval_ms;
        if !state.is_open() {
            return front;
        }
        let spread_ends_ms = state
            .opening()
            .opens_at_ms()
            .saturating_add(self.prequeue_spread_ms(state.pre_reserved()));
        front.max(spread_ends_ms.saturating_sub(now_ms))
    }

    /// Delay before the next poll of a ticket that has no place yet (pre-queue before the
    /// opening). `jitter_seed` identifies the ticket (its class and number).
    pub fn before_opening_ms(
        &self,
        now_ms: u64,
        opens_at_ms: u64,
        jitter_seed: u64,
        pre_reserved: u64,
    ) -> u64 {
        if now_ms >= opens_at_ms {
            // The opening is being committed (at most one controller tick).
            return self.cfg.min_interval_ms;
        }
        let spread = self.prequeue_spread_ms(pre_reserved);
        let until = opens_at_ms - now_ms;
        if until > spread {
            return spread;
        }
        let u = (mix(jitter_seed ^ 0x9e37_79b9_7f4a_7c15) >> 11) as f64 / (1u64 << 53) as f64;
        until + (u * spread as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::eta_ms;
    use proptest::prelude::*;

    fn policy(budget: f64) -> PollPolicy {
        PollPolicy::new(PollConfig::with_budget(budget)).expect("valid")
    }

    /// Σ over positions 1..=q of polls per second.
    fn load(p: &PollPolicy, q: u64) -> f64 {
        (1..=q).map(|k| 1000.0 / p.interval_ms(k) as f64).sum()
    }

    #[test]
    fn ten_million_waiting_stay_within_budget() {
        let p = policy(20_000.0);
        let b = 10_000.0; // half of the budget is for positions
        let mut sum = 0.0;
        let mut checkpoints = vec![1, 10, 1_000, 100_000, 1_000_000, 10_000_000];
        checkpoints.reverse();
        for k in 1..=10_000_000u64 {
            sum += 1000.0 / p.interval_ms(k) as f64;
            if checkpoints.last() == Some(&k) {
                checkpoints.pop();
                assert!(sum <= b, "Q={k}: {sum}");
            }
        }
        assert!(checkpoints.is_empty());
        // Not wastefully conservative either: most of the budget is used by a full queue.
        assert!(sum >= 0.8 * b, "{sum}");
        // Front of the line polls about every second, the back within a few hours.
        assert_eq!(p.interval_ms(1), 1_000);
        assert!(p.interval_ms(100) <= 1_200);
        assert!(
            p.max_interval_ms() <= 4 * 3_600_000,
            "{}",
            p.max_interval_ms()
        );
        assert_eq!(p.interval_ms(10_000_000), p.max_interval_ms());
        assert_eq!(p.interval_ms(0), 0);
    }

    #[test]
    fn intervals_grow_with_position_within_bounds() {
        let p = policy(2_000.0);
        let mut last = 0;
        for k in (1..=10_000_000u64).step_by(997) {
            let t = p.interval_ms(k);
            assert!(t >= last);
            assert!((1_000..=p.max_interval_ms()).contains(&t));
            last = t;
        }
        assert_eq!(p.interval_ms(10_000_001), p.max_interval_ms());
    }

    #[test]
    fn everyone_polls_before_their_turn_while_the_rate_is_fresh() {
        for budget in [200.0, 2_000.0, 20_000.0, 200_000.0] {
            let p = policy(budget);
            let rate = p.fresh_rate_limit_per_s();
            for k in (1..=10_000_000u64).step_by(9_973).chain(1..2_000) {
                let eta = eta_ms(k, rate).unwrap_or(u64::MAX);
                assert!(
                    p.interval_ms(k) <= eta + p.eta_slack_ms() + 1,
                    "budget {budget}, position {k}: {} > {eta} + {}",
                    p.interval_ms(k),
                    p.eta_slack_ms()
                );
            }
            assert!(p.eta_slack_ms() <= 1_001, "{}", p.eta_slack_ms());
        }
        // And the guarantee really depends on the rate: twice as fast and the back polls late.
        let p = policy(20_000.0);
        let fast = 2.0 * p.fresh_rate_limit_per_s();
        let k = 1_000_000;
        assert!(p.interval_ms(k) > eta_ms(k, fast).unwrap_or(0) + p.eta_slack_ms());
    }

    #[test]
    fn bad_configs_are_refused() {
        let ok = PollConfig::with_budget(1_000.0);
        for (cfg, err) in [
            (
                PollConfig {
                    budget_per_s: 0.0,
                    ..ok
                },
                PollConfigError::BadBudget,
            ),
            (
                PollConfig {
                    budget_per_s: f64::NAN,
                    ..ok
                },
                PollConfigError::BadBudget,
            ),
            (
                PollConfig {
                    prequeue_share: 1.0,
                    ..ok
                },
                PollConfigError::BadShare,
            ),
            (
                PollConfig {
                    min_interval_ms: 10,
                    ..ok
                },
                PollConfigError::BadMinInterval,
            ),
            (
                PollConfig { max_queue: 0, ..ok },
                PollConfigError::BadMaxQueue,
            ),
        ] {
            assert_eq!(PollPolicy::new(cfg), Err(err));
        }
        let needed = policy(1_000.0).max_interval_ms();
        assert_eq!(
            PollPolicy::new(PollConfig {
                max_interval_ms: Some(needed - 1),
                ..ok
            }),
            Err(PollConfigError::MaxIntervalTooShort { needed_ms: needed })
        );
        assert!(
            PollPolicy::new(PollConfig {
                max_interval_ms: Some(needed),
                ..ok
            })
            .is_ok()
        );
    }

    #[test]
    fn opening_second_polls_are_spread_within_the_prequeue_budget() {
        let p = policy(2_000.0); // 1,000/s for the pre-queue
        let n = 100_000u64;
        let opens = 10_000_000u64;
        let spread = p.prequeue_spread_ms(n);
        assert_eq!(spread, 100_000);
        // Everyone's last poll before the opening, at various times before it.
        let mut bins = [0u64; 20]; // 10 s bins after the opening
        for seq in 0..n {
            let now = opens - 1 - (mix(seq) % spread);
            let after = p.before_opening_ms(now, opens, seq, n);
            let at = now + after;
            assert!(at >= opens, "{seq}: polls before the opening");
            assert!(at < opens + spread);
            bins[((at - opens) / 10_000) as usize] += 1;
        }
        let expected = 10_000.0; // 1,000/s × 10 s
        for (i, &b) in bins.iter().enumerate().take(10) {
            assert!(b as f64 <= expected * 1.05, "bin {i}: {b}");
        }
        // Far from the opening, people just poll again after the spread.
        assert_eq!(p.before_opening_ms(0, opens, 1, n), spread);
        assert_eq!(p.before_opening_ms(opens, opens, 1, n), 1_000);
    }

    proptest! {
        #[test]
        fn budget_holds_for_random_configs(
            budget in 10.0f64..50_000.0,
            share in 0.05f64..0.95,
            min_ms in 100u64..5_000,
            max_queue in 1u64..30_000,
        ) {
            let cfg = PollConfig { budget_per_s: budget, prequeue_share: share, min_interval_ms: min_ms,
                                   max_interval_ms: None, max_queue, expected_prequeue: 0 };
            if let Ok(p) = PollPolicy::new(cfg) {
                let b = budget * (1.0 - share);
                prop_assert!(load(&p, max_queue) <= b * (1.0 + 1e-9));
                let rate = p.fresh_rate_limit_per_s();
                for k in [1, 2, max_queue / 2 + 1, max_queue] {
                    let eta = eta_ms(k, rate).unwrap_or(u64::MAX);
                    prop_assert!(p.interval_ms(k) <= eta + p.eta_slack_ms() + 1);
                }
            }
        }
    }
}
