//! How long a queued person waits before polling again: chosen by the server so that the total
//! poll traffic stays within a budget, whatever the queue length, while the people whose turn is
//! near learn of it within one short interval however fast admission runs.
//!
//! # Positions (after the opening, and in free flow)
//!
//! The budget for position polls is `B = budget_per_s × (1 − prequeue_share)` while pre-queue
//! polls may come, and the whole `budget_per_s` otherwise ("Two schedules", below). It is split
//! in two:
//!
//! * the **front zone**: the next `F = ⌈front_rate_per_s × front_horizon⌉` positions, the people
//!   due within `front_horizon` at the admission rate the zone is sized for (the booking side's
//!   capacity), poll every `min_interval`. They cost at most `B_F = F ÷ min_interval` polls per
//!   second (refused above `B ÷ 2`);
//! * the **tail**: everyone behind, on a harmonic schedule paid from `B_T = B − B_F`.
//!
//! The person at position `k ≥ 1` (index `p = k − 1`) is told to come back after
//!
//! ```text
//! T(p) = min_interval                                            p < F
//! T(p) = clamp((p + p0) · Λ / B_T,  min_interval,  max_interval)  p ≥ F
//!        Λ = 1/(F + p0) + ln((p0 + Q_max − 1) / (F + p0))
//! ```
//!
//! (with no zone, `F = 0`, `B_T = B`, and this is a plain harmonic schedule).
//!
//! **Budget.** Waiting people hold distinct positions, so the load is at most
//! `F/min_interval + Σ_{F≤p<Q} 1/T(p) ≤ B_F + (B_T/Λ)(1/(F + p0) + ln((p0 + Q − 1)/(F + p0))) ≤ B`
//! for every queue length `Q ≤ Q_max` (clamping to `min_interval` only lengthens tail intervals;
//! construction checks that `max_interval` never shortens one below `Q_max`). A person's last
//! answer is stale but their position only falls, and `T` grows with the position, so a stale
//! interval is never shorter than a fresh one: the bound holds at every instant, whatever the
//! admission rate, and also while admission is stopped.
//!
//! **The front learns at once, at any admission rate.** Someone admitted while in the front zone
//! was told `min_interval` at their last poll, so they learn of their turn at most
//! [`Schedule::front_notice_ms`] `= min_interval` after it — whether the watermark moves at 100
//! or 100,000 ranks per second. The admission rate is therefore no longer tied to the budget: give
//! the controller the booking side's capacity (or nothing), not a poll-derived cap.
//!
//! **The tail.** Someone behind the zone learns of their turn no later than the end of their
//! current interval, `T(p)`, i.e. no later than they would have been admitted at the *tail pace*
//! `B_T ÷ Λ` ([`Schedule::fresh_rate_limit_per_s`]; for 10 million places, `B` = 10,000/s and a
//! zone of 1,500 positions at 1 s, `Λ ≈ 8.3`, about 1,030/s against 1,100/s
//! without a zone). While the admission rate `r` is at most
//! that pace, everyone is told to come back no later than [`Schedule::eta_slack_ms`] after their
//! turn could come (`T(p) − p/r ≤ p0·Λ/B_T`). Faster than that, people far back are admitted
//! before their next poll and learn at its end, as they would have under a cap at the tail pace:
//! lifting the cap makes nobody learn later, and the front earlier. No position-only schedule can
//! do better within the budget: keeping everyone up to `Q` fresh at rate `r` needs
//! `T(p) ≤ p/r`, hence `Σ 1/T ≥ r · ln(Q/F)` polls per second; a longer reach at a higher rate
//! costs budget (`--poll-budget`), a status poll costing a few microseconds.
//!
//! **Unaware admissions are counted.** People admitted before they could know it hold their room
//! until they can: [`PollPolicy::notice_delay_ms`] includes [`Schedule::tail_notice_ms`] at the
//! measured rate, and the controller starts their show-up window only after it. Without that,
//! their room went to the next people and they came back on top of them (in `tests/simulation.rs`
//! at a budget of 120/s, 815 active sessions against `max_active` = 400). With it, active
//! sessions stay bounded, and the booking side is fed at the rate people *learn* of their turn:
//! the front zone at once, the tail at its pace. The budget therefore still sets how fast a long
//! queue can drain; what the zone changes is that the front is never held back by it.
//!
//! `p0` is the largest integer with `p0 · Λ(p0) ≤ B_T · min_interval`, so the front of the tail
//! polls about every `min_interval` when there is no zone.
//!
//! # Two schedules
//!
//! The pre-queue's share of the budget is only spent from the pre-queue's start until the spread
//! of the first polls after the opening ends (below): no pre-queue ticket polls outside that
//! window, and in free flow there is none. Outside it, position polls may use the whole budget.
//! So there are two schedules of the formula above, with the same front zone `F`: the
//! **shared** one (`B = budget × (1 − prequeue_share)`, [`PollPolicy::shared`]) and the
//! **settled** one (`B = budget`, [`PollPolicy::settled`]). With the defaults the settled tail
//! pace is ≈ 2,340/s against ≈ 1,030/s: after the opening's first half minute the tail keeps up
//! with 1,500 admissions a second at the default budget.
//!
//! A status poll at `now` gets the settled interval unless `now` is before the window's end and
//! `now + T_settled(p)` reaches past its start. Then it gets the shared interval if that ends
//! inside the window, and otherwise `min(T_shared(p), (end − now) + T_settled(p))`: its next
//! poll falls after the window, on the settled schedule counted from the window's end
//! ([`PollPolicy::interval_ms`]). Without that, the whole pre-queue, which polls in the window,
//! was told the shared schedule's long intervals and came back minutes after the settled one
//! would have had them back. **Budget.** Inside the window the polls that come are pre-queue
//! polls (within their share) and position polls from shared intervals (within the shared
//! bound); an interval ending after the window adds no poll to it. Outside it, every running
//! interval is at least the settled interval at its holder's place: settled ones, the ones
//! counted from the window's end, and shared ones, because each settled interval is at most the
//! shared one at the same place (the settled `p0` is capped at `p0 · B'_T / B_T`, and `Λ` falls
//! as `p0` grows) and places only fall, so the settled bound holds. The window's end is fixed
//! once the opening passes (no pre-queue numbers are issued after it).
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
    /// Admission rate (ranks per second) the front zone is sized for: the booking side's
    /// capacity. 0: no zone.
    pub front_rate_per_s: f64,
    /// The front zone holds this much of admissions at `front_rate_per_s`.
    pub front_horizon_ms: u64,
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
            front_rate_per_s: 0.0,
            front_horizon_ms: 1_000,
        }
    }

    /// The same, with a front zone holding one `min_interval` of admissions at `rate_per_s`.
    pub fn with_front(self, rate_per_s: f64) -> PollConfig {
        PollConfig {
            front_rate_per_s: rate_per_s,
            front_horizon_ms: self.min_interval_ms,
            ..self
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
    #[error(
        "the front zone would take more than half the position budget: at most {max_positions} positions polling every min_interval"
    )]
    FrontZoneTooLarge { max_positions: u64 },
}

/// The server's choice of poll intervals. Pure and O(1) per call.
///
/// It holds two schedules of position polls (see "Two schedules" in the module docs): the
/// [`PollPolicy::shared`] one while pre-queue polls may come, the [`PollPolicy::settled`] one,
/// paid from the whole budget, otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollPolicy {
    cfg: PollConfig,
    prequeue_budget_per_s: f64,
    shared: Schedule,
    settled: Schedule,
}

/// The intervals of position polls paid from one share of the budget: the front zone every
/// `min_interval`, the tail on the harmonic schedule of the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    min_interval_ms: u64,
    max_queue: u64,
    /// `F`: positions `1..=F` poll every `min_interval`.
    front_positions: u64,
    /// `B_T`: what the tail may cause.
    tail_budget_per_s: f64,
    p0: f64,
    lambda: f64,
    max_interval_ms: u64,
}

/// `Λ`: a bound on `Σ_{front ≤ p < max_queue} 1/(p + p0)`.
fn lambda(p0: f64, front: u64, max_queue: u64) -> f64 {
    let first = front as f64 + p0;
    1.0 / first + ((p0 + max_queue as f64 - 1.0) / first).ln().max(0.0)
}

impl Schedule {
    /// The schedule that spends `positions_per_s` on position polls, `front_positions` of them
    /// polling every `min_interval`, with `p0` at most `p0_cap`.
    fn new(
        cfg: &PollConfig,
        positions_per_s: f64,
        front_positions: u64,
        p0_cap: f64,
    ) -> Result<Schedule, PollConfigError> {
        let min_s = cfg.min_interval_ms as f64 / 1000.0;
        let tail_budget_per_s = positions_per_s - front_positions as f64 / min_s;
        let front = tail_budget_per_s * min_s;
        // Largest p0 with p0·Λ(p0) ≤ B_T·min_interval (p0·Λ(p0) grows with p0).
        let (mut lo, mut hi) = (1u64, (front.floor() as u64).max(1));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if mid as f64 * lambda(mid as f64, front_positions, cfg.max_queue) <= front {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let p0 = (lo as f64).min(p0_cap).max(1.0);
        let mut schedule = Schedule {
            min_interval_ms: cfg.min_interval_ms,
            max_queue: cfg.max_queue,
            front_positions,
            tail_budget_per_s,
            p0,
            lambda: lambda(p0, front_positions, cfg.max_queue),
            max_interval_ms: u64::MAX,
        };
        let needed_ms = schedule.raw_interval_ms(cfg.max_queue);
        schedule.max_interval_ms = match cfg.max_interval_ms {
            // A budget that lets even the last place poll every `min_interval` needs no longer.
            None => needed_ms.max(cfg.min_interval_ms),
            Some(max) if max >= needed_ms => max,
            Some(_) => return Err(PollConfigError::MaxIntervalTooShort { needed_ms }),
        };
        if cfg.min_interval_ms > schedule.max_interval_ms {
            return Err(PollConfigError::BadMinInterval);
        }
        Ok(schedule)
    }

    /// Longest interval ever given.
    pub fn max_interval_ms(&self) -> u64 {
        self.max_interval_ms
    }

    /// `Λ` of the formula above.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// `F`: positions `1..=F` are the front zone and poll every `min_interval`.
    pub fn front_positions(&self) -> u64 {
        self.front_positions
    }

    /// The longest someone in the front zone takes to learn of their turn, at any admission rate.
    pub fn front_notice_ms(&self) -> u64 {
        self.min_interval_ms
    }

    /// Tail formula for 1-based `position`, before clamping.
    fn raw_interval_ms(&self, position: u64) -> u64 {
        let p = position.saturating_sub(1) as f64;
        let secs = (p + self.p0) * self.lambda / self.tail_budget_per_s;
        (secs * 1000.0).ceil().min(u64::MAX as f64) as u64
    }

    /// Interval for someone at `position` (≥ 1; 0 means admitted: no need to poll, exchange now).
    /// Beyond `max_queue` everyone gets `max_interval` (the budget is guaranteed up to
    /// `max_queue` only).
    pub fn interval_ms(&self, position: u64) -> u64 {
        if position == 0 {
            return 0;
        }
        if position > self.max_queue {
            return self.max_interval_ms;
        }
        if position <= self.front_positions {
            return self.min_interval_ms;
        }
        self.raw_interval_ms(position)
            .clamp(self.min_interval_ms, self.max_interval_ms)
    }

    /// The tail pace: the highest admission rate (ranks per second) at which every interval,
    /// the tail's included, is at most the ETA plus [`Schedule::eta_slack_ms`]. Not a cap on
    /// admission: faster, the front zone still learns within [`Schedule::front_notice_ms`].
    pub fn fresh_rate_limit_per_s(&self) -> f64 {
        self.tail_budget_per_s / self.lambda
    }

    /// How late (at most) after their turn someone polls, while the rate is within
    /// [`Schedule::fresh_rate_limit_per_s`]: `p0·Λ/B_T`, at least `min_interval`.
    pub fn eta_slack_ms(&self) -> u64 {
        let secs = self.p0 * self.lambda / self.tail_budget_per_s;
        ((secs * 1000.0).ceil() as u64).max(self.min_interval_ms)
    }

    /// The longest someone admitted now, at `rate_per_s`, may take to learn of it, with `queued`
    /// people waiting: someone who last polled from position `k` was told `T(k)` and reached the
    /// front `(k − 1) ÷ rate` later, so they come back `T(k) − (k − 1)/rate` after their turn.
    /// At most [`Schedule::eta_slack_ms`] while the rate is within the tail pace; faster, it
    /// grows with the queue (people far back learn at the tail pace, see the module docs).
    pub fn tail_notice_ms(&self, rate_per_s: f64, queued: u64) -> u64 {
        if !(rate_per_s.is_finite() && rate_per_s > 0.0) || queued == 0 {
            return self.front_notice_ms();
        }
        let late = |k: u64| {
            let turn = (k - 1) as f64 * 1000.0 / rate_per_s;
            (self.interval_ms(k) as f64 - turn).max(0.0) as u64
        };
        // `T(k) − (k − 1)/rate` is piecewise linear in `k`: its largest value is at an end or
        // where `T` stops growing (`max_interval`).
        let last = queued.min(self.max_queue).max(1);
        let first = (self.front_positions + 1).min(last);
        let stops_growing =
            (self.max_interval_ms as f64 / 1000.0 * self.tail_budget_per_s / self.lambda - self.p0
                + 1.0)
                .clamp(first as f64, last as f64) as u64;
        [first, stops_growing, last]
            .into_iter()
            .map(late)
            .max()
            .unwrap_or(0)
            .max(self.front_notice_ms())
    }
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
        if !(cfg.front_rate_per_s.is_finite() && cfg.front_rate_per_s >= 0.0) {
            return Err(PollConfigError::BadBudget);
        }
        let min_s = cfg.min_interval_ms as f64 / 1000.0;
        let shared_positions_per_s = cfg.budget_per_s * (1.0 - cfg.prequeue_share);
        let front_positions = (cfg.front_rate_per_s * cfg.front_horizon_ms as f64 / 1000.0)
            .ceil()
            .min(cfg.max_queue as f64) as u64;
        let max_positions = (shared_positions_per_s * min_s / 2.0).floor() as u64;
        if front_positions > max_positions {
            return Err(PollConfigError::FrontZoneTooLarge { max_positions });
        }
        let shared = Schedule::new(&cfg, shared_positions_per_s, front_positions, f64::INFINITY)?;
        // The settled schedule's `p0` grows at most with its budget, so that each of its
        // intervals is at most the shared one's at the same place: with `p0' ≤ p0·B'_T/B_T`
        // and `Λ' ≤ Λ` (Λ falls as `p0` grows), `(p + p0')·Λ'/B'_T ≤ (p + p0)·Λ/B_T`.
        let settled_tail_per_s = cfg.budget_per_s - front_positions as f64 / min_s;
        let p0_cap = shared.p0 * settled_tail_per_s / shared.tail_budget_per_s;
        let settled = Schedule::new(&cfg, cfg.budget_per_s, front_positions, p0_cap)?;
        Ok(PollPolicy {
            cfg,
            prequeue_budget_per_s: cfg.budget_per_s * cfg.prequeue_share,
            shared,
            settled,
        })
    }

    pub fn config(&self) -> &PollConfig {
        &self.cfg
    }

    /// The schedule while pre-queue polls may come: the position half of the budget.
    pub fn shared(&self) -> &Schedule {
        &self.shared
    }

    /// The schedule while no pre-queue poll can come: the whole budget.
    pub fn settled(&self) -> &Schedule {
        &self.settled
    }

    /// Longest interval ever given (the shared schedule's; the settled one's is shorter).
    pub fn max_interval_ms(&self) -> u64 {
        self.shared.max_interval_ms
    }

    /// `F`, the same in both schedules.
    pub fn front_positions(&self) -> u64 {
        self.shared.front_positions
    }

    /// The longest someone in the front zone takes to learn of their turn, at any admission rate.
    pub fn front_notice_ms(&self) -> u64 {
        self.cfg.min_interval_ms
    }

    /// When pre-queue polls may come in `state`: from the pre-queue's start until the spread of
    /// the first polls after the opening ends. `None` when it has no pre-queue (free flow).
    fn prequeue_window(&self, state: &crate::QueueState) -> Option<(u64, u64)> {
        let opening = state.opening();
        let starts = opening.prequeue_starts_at_ms();
        if starts == u64::MAX {
            return None;
        }
        let ends = opening
            .opens_at_ms()
            .saturating_add(self.prequeue_spread_ms(state.pre_reserved()));
        Some((starts, ends))
    }

    /// The interval for someone at `position` at `now_ms` (see "Two schedules" in the module
    /// docs): the settled schedule's when it ends before the pre-queue's window or starts after
    /// it; inside the window the shared schedule's when it ends inside the window too, and
    /// otherwise the settled one counted from the window's end (their next poll falls after
    /// it), if that is sooner.
    pub fn interval_ms(&self, state: &crate::QueueState, now_ms: u64, position: u64) -> u64 {
        let settled = self.settled.interval_ms(position);
        match self.prequeue_window(state) {
            Some((starts, ends)) if now_ms < ends && now_ms.saturating_add(settled) > starts => {
                let shared = self.shared.interval_ms(position);
                let until_end = ends - now_ms;
                if shared <= until_end {
                    shared
                } else {
                    shared.min(until_end.saturating_add(settled))
                }
            }
            _ => settled,
        }
    }

    /// The spread of the first polls after the opening, with `pre_reserved` pre-queue numbers
    /// issued so far.
    pub fn prequeue_spread_ms(&self, pre_reserved: u64) -> u64 {
        let n = pre_reserved.max(self.cfg.expected_prequeue).max(1) as f64;
        ((n * 1000.0 / self.prequeue_budget_per_s).ceil() as u64).max(self.cfg.min_interval_ms)
    }

    /// The longest someone admitted at `now_ms` may take to learn of it: one front interval, or,
    /// when admission runs faster than the tail pace, until people who last polled from the tail
    /// come back ([`Schedule::tail_notice_ms`] of the settled schedule; people told in the
    /// pre-queue's window come back by its end or on the settled schedule from its end, from a
    /// place they held up to one spread earlier, so while their intervals run that spread is
    /// added), or, during the opening's poll spread, until the spread ends (pre-queue people were
    /// told to come back somewhere in it, before anyone knew their place). The controller starts
    /// an admission's show-up window only after this ([`crate::Observations::notice_delay_ms`]),
    /// so people admitted before they could know it keep their room instead of coming back to
    /// find it given away twice.
    pub fn notice_delay_ms(&self, state: &crate::QueueState, now_ms: u64) -> u64 {
        let queued = state.tail().saturating_sub(state.watermark());
        let spread_ms = self.prequeue_spread_ms(state.pre_reserved());
        let mut tail = self.settled.tail_notice_ms(state.rate_per_s(), queued);
        if let Some((starts, ends)) = self.prequeue_window(state) {
            let longest = self.settled.interval_ms(queued.max(1));
            if now_ms.saturating_add(longest) > starts && now_ms < ends.saturating_add(longest) {
                tail = tail.saturating_add(spread_ms);
            }
        }
        let front = self.front_notice_ms().max(tail);
        if !state.is_open() {
            return front;
        }
        let spread_ends_ms = state.opening().opens_at_ms().saturating_add(spread_ms);
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
        (1..=q)
            .map(|k| 1000.0 / p.shared().interval_ms(k) as f64)
            .sum()
    }

    #[test]
    fn ten_million_waiting_stay_within_budget() {
        let p = policy(20_000.0);
        let b = 10_000.0; // half of the budget is for positions
        let mut sum = 0.0;
        let mut checkpoints = vec![1, 10, 1_000, 100_000, 1_000_000, 10_000_000];
        checkpoints.reverse();
        for k in 1..=10_000_000u64 {
            sum += 1000.0 / p.shared().interval_ms(k) as f64;
            if checkpoints.last() == Some(&k) {
                checkpoints.pop();
                assert!(sum <= b, "Q={k}: {sum}");
            }
        }
        assert!(checkpoints.is_empty());
        // Not wastefully conservative either: most of the budget is used by a full queue.
        assert!(sum >= 0.8 * b, "{sum}");
        // Front of the line polls about every second, the back within a few hours.
        assert_eq!(p.shared().interval_ms(1), 1_000);
        assert!(p.shared().interval_ms(100) <= 1_200);
        assert!(
            p.max_interval_ms() <= 4 * 3_600_000,
            "{}",
            p.max_interval_ms()
        );
        assert_eq!(p.shared().interval_ms(10_000_000), p.max_interval_ms());
        assert_eq!(p.shared().interval_ms(0), 0);
    }

    /// A load test at scale `s` gives the server every count and rate × `s` (loadgen's
    /// `ServerSettings::at_scale`) so that it is a miniature of the full night: that holds only
    /// if the schedule at place `s·p` equals the full one's at `p`.
    #[test]
    fn a_scaled_queue_polls_as_the_full_one_at_scaled_places() {
        let full = PollConfig {
            max_queue: 10_000_000,
            ..PollConfig::with_budget(20_000.0)
        }
        .with_front(1_500.0);
        let full_policy = PollPolicy::new(full).expect("valid");
        for s in [0.05, 0.1, 0.2, 0.5] {
            let scaled = PollPolicy::new(
                PollConfig {
                    max_queue: (10_000_000.0 * s) as u64,
                    ..PollConfig::with_budget(20_000.0 * s)
                }
                .with_front(1_500.0 * s),
            )
            .expect("valid");
            let tail_pace = full_policy.shared().fresh_rate_limit_per_s() * s;
            assert!(
                (scaled.shared().fresh_rate_limit_per_s() / tail_pace - 1.0).abs() < 0.02,
                "s={s}: {} against {tail_pace}",
                scaled.shared().fresh_rate_limit_per_s()
            );
            for p in [1, 1_000, 1_600, 5_000, 50_000, 276_000, 900_000, 5_000_000] {
                let at = ((p as f64 * s).round() as u64).max(1);
                let (want, got) = (
                    full_policy.shared().interval_ms(p),
                    scaled.shared().interval_ms(at),
                );
                assert!(
                    got.abs_diff(want) as f64 <= 0.02 * want as f64 + 1.0,
                    "s={s}, place {p} (scaled {at}): {got} ms against {want} ms"
                );
            }
        }
    }

    /// Once no pre-queue poll can come, positions are paid from the whole budget: the same
    /// bound over ten million places, and a tail pace more than twice the shared one's.
    #[test]
    fn the_settled_schedule_spends_the_whole_budget_within_it() {
        let p = with_front_zone();
        let (shared, settled) = (p.shared(), p.settled());
        let mut sum = 0.0;
        for k in 1..=10_000_000u64 {
            sum += 1000.0 / settled.interval_ms(k) as f64;
            if k.is_power_of_two() || k == 10_000_000 {
                assert!(sum <= 20_000.0, "Q={k}: {sum}");
            }
        }
        assert!(sum >= 0.8 * 20_000.0, "{sum}");
        assert_eq!(settled.front_positions(), shared.front_positions());
        let (fast, slow) = (
            settled.fresh_rate_limit_per_s(),
            shared.fresh_rate_limit_per_s(),
        );
        assert!(fast > 2.0 * slow, "{fast} against {slow}");
        assert!(
            fast > 1_500.0,
            "the booking side's rate is kept fresh: {fast}"
        );
    }

    /// An interval given from the settled schedule is never longer than the shared one's at the
    /// same place, so intervals told in the pre-queue's window and still running after it never
    /// load the settled phase beyond its budget (the module docs' argument), whatever the budget
    /// and the longest queue.
    #[test]
    fn a_settled_interval_is_never_longer_than_a_shared_one() {
        for budget in [500.0, 2_000.0, 20_000.0, 200_000.0] {
            for max_queue in [100_000, 2_000_000, 10_000_000] {
                for front_rate in [0.0, budget / 8.0] {
                    let p = PollPolicy::new(
                        PollConfig {
                            max_queue,
                            ..PollConfig::with_budget(budget)
                        }
                        .with_front(front_rate),
                    )
                    .expect("valid");
                    for k in (1..5_000u64).chain((5_000..=max_queue + 1).step_by(997)) {
                        assert!(
                            p.settled().interval_ms(k) <= p.shared().interval_ms(k),
                            "budget {budget}, max_queue {max_queue}, front {front_rate}, place {k}"
                        );
                    }
                }
            }
        }
    }

    /// Which schedule a status poll gets: the shared one while its interval would end inside
    /// the pre-queue's window, the settled one counted from the window's end when it would end
    /// after it, the settled one before, after and in free flow.
    #[test]
    fn the_shared_schedule_covers_every_interval_reaching_into_the_prequeue_window() {
        use crate::{Opening, QueueId, QueueState};
        let p = with_front_zone();
        let (starts, opens) = (3_600_000, 7_200_000);
        let state = QueueState::new(
            Opening::new(QueueId(2), starts, opens, 60_000, 1_800_000).expect("valid"),
        );
        let place = 400_000;
        let (shared, settled) = (
            p.shared().interval_ms(place),
            p.settled().interval_ms(place),
        );
        assert!(settled < shared);
        let spread_ends = opens + p.prequeue_spread_ms(state.pre_reserved());
        let spread = spread_ends - opens;
        assert!(spread < shared && spread + settled < shared);
        for (now, want) in [
            // Ends before the window: settled.
            (0, settled),
            (starts - settled, settled),
            // Reaches into the window and ends inside it: shared.
            (starts - settled + 1, shared),
            (starts, shared),
            (spread_ends - shared, shared),
            // Ends after the window: the settled interval from its end, sooner than shared.
            (spread_ends - shared + 1, shared),
            (opens, spread + settled),
            (spread_ends - 1, 1 + settled),
            // After the window: settled.
            (spread_ends, settled),
        ] {
            assert_eq!(p.interval_ms(&state, now, place), want, "at {now}");
        }
        let free = QueueState::new(Opening::free_flow(QueueId(1), 5_000, 1_800_000).expect("ok"));
        assert_eq!(p.interval_ms(&free, 0, place), settled);
    }

    #[test]
    fn intervals_grow_with_position_within_bounds() {
        let p = policy(2_000.0);
        let mut last = 0;
        for k in (1..=10_000_000u64).step_by(997) {
            let t = p.shared().interval_ms(k);
            assert!(t >= last);
            assert!((1_000..=p.max_interval_ms()).contains(&t));
            last = t;
        }
        assert_eq!(p.shared().interval_ms(10_000_001), p.max_interval_ms());
    }

    #[test]
    fn everyone_polls_before_their_turn_while_the_rate_is_fresh() {
        for budget in [200.0, 2_000.0, 20_000.0, 200_000.0] {
            let p = policy(budget);
            let rate = p.shared().fresh_rate_limit_per_s();
            for k in (1..=10_000_000u64).step_by(9_973).chain(1..2_000) {
                let eta = eta_ms(k, rate).unwrap_or(u64::MAX);
                assert!(
                    p.shared().interval_ms(k) <= eta + p.shared().eta_slack_ms() + 1,
                    "budget {budget}, position {k}: {} > {eta} + {}",
                    p.shared().interval_ms(k),
                    p.shared().eta_slack_ms()
                );
            }
            assert!(
                p.shared().eta_slack_ms() <= 1_001,
                "{}",
                p.shared().eta_slack_ms()
            );
        }
        // And the guarantee really depends on the rate: twice as fast and the back polls late.
        let p = policy(20_000.0);
        let fast = 2.0 * p.shared().fresh_rate_limit_per_s();
        let k = 1_000_000;
        assert!(
            p.shared().interval_ms(k) > eta_ms(k, fast).unwrap_or(0) + p.shared().eta_slack_ms()
        );
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

    /// The server's defaults: 20,000 polls/s, a front zone sized for 1,500 admissions/s.
    fn with_front_zone() -> PollPolicy {
        PollPolicy::new(PollConfig::with_budget(20_000.0).with_front(1_500.0)).expect("valid")
    }

    /// When someone starting at `position` learns of their turn at admission `rate`: they poll as
    /// told, and each poll finds the position the rate has brought them to. Returns (their turn,
    /// when they learn it, their position at the last poll before it), in ms.
    fn learns(p: &PollPolicy, position: u64, rate: f64) -> (u64, u64, u64) {
        let turn_ms = (position - 1) as f64 * 1000.0 / rate;
        let (mut at_ms, mut last) = (0u64, position);
        loop {
            let now = position as f64 - at_ms as f64 * rate / 1000.0;
            if now < 1.0 {
                return (turn_ms.ceil() as u64, at_ms, last);
            }
            last = now.ceil() as u64;
            at_ms += p.shared().interval_ms(last);
        }
    }

    #[test]
    fn ten_million_waiting_stay_within_budget_with_a_front_zone() {
        let p = with_front_zone();
        assert_eq!(p.front_positions(), 1_500);
        let b = 10_000.0;
        let mut sum = 0.0;
        for k in 1..=10_000_000u64 {
            sum += 1000.0 / p.shared().interval_ms(k) as f64;
            if k.is_power_of_two() || k == 10_000_000 {
                assert!(sum <= b, "Q={k}: {sum}");
            }
        }
        assert!(sum >= 0.8 * b, "{sum}");
        // The next 1,500 places poll every second; far places poll slower, within hours.
        assert!((1..=1_500).all(|k| p.shared().interval_ms(k) == 1_000));
        assert!(
            p.shared().interval_ms(1_501) <= 3_000,
            "{}",
            p.shared().interval_ms(1_501)
        );
        assert!(p.shared().interval_ms(1_000_000) > 60_000);
        assert!(p.max_interval_ms() <= 4 * 3_600_000);
        // The tail's pace is what the budget buys after the zone, stated in the module docs.
        let pace = p.shared().fresh_rate_limit_per_s();
        assert!((1_000.0..1_100.0).contains(&pace), "{pace}");
    }

    /// Admission at booking capacity, well above what the budget could keep everyone fresh
    /// at: whoever is in the front zone at their last poll learns within one second of their
    /// turn, and nobody learns later than they would have been admitted at the tail pace.
    #[test]
    fn the_front_learns_within_one_interval_at_any_admission_rate() {
        let p = with_front_zone();
        let pace = p.shared().fresh_rate_limit_per_s();
        let slack = p.shared().eta_slack_ms();
        let mut front_checked = 0;
        for rate in [pace, 1_500.0, 3.0 * pace, 20_000.0] {
            for start in (1..20_000u64).chain((20_000..10_000_000).step_by(99_991)) {
                let (turn, learned, last) = learns(&p, start, rate);
                let late = learned.saturating_sub(turn);
                if last <= p.front_positions() {
                    front_checked += 1;
                    assert!(
                        late <= p.front_notice_ms(),
                        "rate {rate}, from {start}: {late} ms late from the front"
                    );
                }
                assert!(
                    late <= p.shared().tail_notice_ms(rate, start) + 2,
                    "rate {rate}, from {start}: {late} ms late, beyond the controller's notice delay"
                );
                let at_pace = ((start - 1) as f64 * 1000.0 / pace) as u64;
                assert!(
                    learned <= turn.max(at_pace) + slack + 2,
                    "rate {rate}, from {start}: learned at {learned}, turn {turn}, pace {at_pace}"
                );
            }
        }
        assert!(front_checked >= 4 * 1_500, "{front_checked}");
        assert!(p.shared().tail_notice_ms(pace, 10_000_000) <= slack);
        assert!(p.shared().tail_notice_ms(3.0 * pace, 1_000_000) > 600_000);
        // Without the zone, the front at 20,000/s learns later than one interval.
        let plain = policy(20_000.0);
        let worst = (1..3_000)
            .map(|k| {
                let (turn, learned, _) = learns(&plain, k, 20_000.0);
                learned.saturating_sub(turn)
            })
            .max();
        assert!(worst > Some(1_000), "{worst:?}");
    }

    /// The server no longer gives the controller a poll-derived cap: with a booking side that
    /// takes everyone admitted at once, admission runs at the capacity the limit allows, far
    /// above the tail pace.
    #[test]
    fn admission_is_not_capped_by_the_poll_budget() {
        use crate::{
            Class, Controller, ControllerConfig, Observations, Opening, QueueId, QueueState,
        };
        use rand::SeedableRng;
        let p = with_front_zone();
        let o = Opening::free_flow(QueueId(1), 4_000, 60_000).expect("valid");
        let mut c = Controller::new(ControllerConfig::for_opening(&o));
        let mut s = QueueState::new(o);
        let _ = s
            .reserve_block(Class::Fifo, crate::MAX_BLOCK, 10)
            .expect("reserved")
            .persisted();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let (mut now, mut started) = (1_000, Vec::new());
        let mut admitted = 0;
        for _ in 0..40 {
            now += 250;
            let d = c.tick(
                now,
                &Observations {
                    active_sessions: 0,
                    latency_p99_ms: Some(10),
                    saturated: false,
                    started: std::mem::take(&mut started),
                    empty: Vec::new(),
                    notice_delay_ms: p.front_notice_ms(),
                },
                &mut s,
                &mut rng,
            );
            started = (d.watermark_before..d.watermark).map(crate::Rank).collect();
            admitted += d.admitted;
        }
        let per_s = admitted as f64 / 10.0;
        assert!(
            per_s > 2.0 * p.shared().fresh_rate_limit_per_s(),
            "{per_s}/s"
        );
    }

    proptest! {
        #[test]
        fn budget_holds_for_random_configs(
            budget in 10.0f64..50_000.0,
            share in 0.05f64..0.95,
            min_ms in 100u64..5_000,
            max_queue in 1u64..30_000,
            front_rate in prop_oneof![Just(0.0), 0.0f64..20_000.0],
            front_horizon_ms in 100u64..5_000,
        ) {
            let cfg = PollConfig { budget_per_s: budget, prequeue_share: share, min_interval_ms: min_ms,
                                   max_interval_ms: None, max_queue, expected_prequeue: 0,
                                   front_rate_per_s: front_rate, front_horizon_ms };
            if let Ok(p) = PollPolicy::new(cfg) {
                let b = budget * (1.0 - share);
                prop_assert!(load(&p, max_queue) <= b * (1.0 + 1e-9));
                for k in 1..=p.front_positions().min(max_queue) {
                    prop_assert_eq!(p.shared().interval_ms(k), min_ms);
                }
                let rate = p.shared().fresh_rate_limit_per_s();
                for k in [1, 2, max_queue / 2 + 1, max_queue] {
                    let eta = eta_ms(k, rate).unwrap_or(u64::MAX);
                    prop_assert!(p.shared().interval_ms(k) <= eta + p.shared().eta_slack_ms() + 1);
                }
            }
        }
    }
}
