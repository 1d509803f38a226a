//! The admission controller: how fast the watermark moves.
//!
//! One leader runs [`Controller::tick`] every few hundred milliseconds. Each tick:
//!
//! 1. makes the phase transitions the clock calls for (close the free-flow segment when the
//!    pre-queue starts; at the opening second freeze `N_P` and draw the order key);
//! 2. adjusts a concurrency *limit* by AIMD: when the booking side's p99 latency is above target
//!    (or it reports saturation) the limit is multiplied by `decrease_factor` (at most once per
//!    `decrease_cooldown_ms`) and nobody is admitted this tick; otherwise, if the limit is actually
//!    in use, it grows by `additive_increase_per_s`. It always stays within
//!    `[min_limit, max_active]`;
//! 3. admits `room = limit − active − in_flight` more ranks (never negative), where `in_flight`
//!    are ranks admitted whose people have not shown up yet, for at most the time they need to
//!    learn of it (`notice_delay_ms`) plus `show_up_window_ms`. The
//!    shell reports the rank of every session that showed up (exchanged its ticket for a pass, or
//!    used a pass, which carries the rank) for the first time, so each start is matched exactly to
//!    the tick that admitted it. After the window
//!    an admission that never showed up counts as a no-show and its room is given to someone else:
//!    that is how no-shows, people who left, and empty ranks (numbers lost in a crash) are made up
//!    for. When paced ([`PaceConfig`]) or capped, `room` is also at most what a token bucket at the
//!    pace (under the cap) holds: one second of it at most. The pace grows while it is what held
//!    admission back and the booking side kept up, and is cut with the limit;
//! 4. never lets the watermark run more than `room` ahead of the last issued rank, so a quiet queue
//!    lets the next arrivals straight through but a sudden surge cannot walk in all at once;
//! 5. measures the admission rate (ranks per second, an exponentially weighted mean over the ticks
//!    in which demand exceeded admission) for ETAs.
//!
//! Overshoot bound (documented, and checked by the simulation): `active` can exceed the limit only
//! by people who show up after their admission left the in-flight window (late returners), and
//! after a restart of the leader by people admitted just before it (the in-flight window is not
//! persisted; the restarted controller starts from the conservative `initial_limit`, which absorbs
//! them unless more than `max_active − initial_limit` were in flight). The shell passes the
//! opening-second poll spread and the front-of-line poll interval ([`crate::PollPolicy`]) as
//! `notice_delay_ms`, so only people who really left (or come back after more than
//! `show_up_window_ms`) are late returners.

use crate::opening::Opening;
use crate::perm::PermKey;
use crate::state::QueueState;
use crate::types::{Phase, Rank};
use rand::CryptoRng;
use serde::Serialize;
use std::collections::VecDeque;

/// Controller tuning. [`ControllerConfig::for_opening`] gives sensible defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    /// p99 latency of the booking side above which admission stops and the limit shrinks.
    pub latency_target_ms: u32,
    /// Limit right after a start or restart.
    pub initial_limit: u32,
    /// The limit never goes below this.
    pub min_limit: u32,
    /// Additive increase of the limit, per second, while it is in use and latency is fine.
    pub additive_increase_per_s: f64,
    /// Multiplicative decrease on overload, in `(0, 1)`.
    pub decrease_factor: f64,
    /// At most one decrease per this many ms (latency needs time to react).
    pub decrease_cooldown_ms: u64,
    /// How long an admitted person has to show up (exchange their ticket for a pass) once they
    /// could have learned of their turn ([`Observations::notice_delay_ms`]) before the place
    /// counts as a no-show and its room goes to the next person. Short, so that people who left
    /// do not stall admission; someone who comes back later is still admitted (the watermark
    /// never moves back), they are only no longer reserved room.
    pub show_up_window_ms: u64,
    /// Time constant of the admission-rate average.
    pub rate_time_constant_ms: u64,
    /// Optional cap on admissions per second. Not the poll budget's pace: the front zone of
    /// [`crate::PollPolicy`] tells the people near the front at any rate.
    pub max_admit_per_s: Option<f64>,
    /// Optional admission pace that follows the booking side (see [`PaceConfig`]); under
    /// `max_admit_per_s` when both are set.
    pub pace: Option<PaceConfig>,
}

/// An admission pace: admissions per second, adjusted by AIMD on the same signal as the limit.
///
/// Why: the limit alone bounds how many people are on the booking side, not how fast they come
/// in. When room opens (the limit grows, a crowd finishes at once), the whole room is admitted
/// at one tick; on a machine with no CPU to spare those people's first requests arrive together,
/// the booking side's latency crosses its target, the limit is cut, and nobody is admitted for
/// seconds while the people just let in finish (`bench/loadtest-53-54-2026-12-06-amd/`: bursts of
/// 9,700 a second, then 42 s of stalls with the machine idle over the full 2021 night). A fixed
/// cap smoothed that where the machine was short and held people back where it was not (the
/// same cap at 40%). The pace starts at about the booking side's stated rate, grows while it is
/// what holds admission back and the booking side keeps up, and is cut with the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceConfig {
    /// The pace at the start (or a restart of the leader), admissions per second.
    pub start_per_s: f64,
    /// The pace never goes below this.
    pub min_per_s: f64,
    /// Additive increase of the pace, per second, while it binds and latency is fine.
    pub increase_per_s2: f64,
}

impl PaceConfig {
    /// A pace for a booking side stated to take about `rate_per_s` people a second: it starts
    /// at [`PACE_START`] times the rate, grows by [`PACE_INCREASE`] of it per second while it
    /// binds, and never drops below [`PACE_MIN`] of it. `None` for an unknown rate (0).
    pub fn for_rate(rate_per_s: f64) -> Option<PaceConfig> {
        (rate_per_s.is_finite() && rate_per_s > 0.0).then(|| PaceConfig {
            start_per_s: rate_per_s * PACE_START,
            min_per_s: (rate_per_s * PACE_MIN).max(1.0),
            increase_per_s2: rate_per_s * PACE_INCREASE,
        })
    }
}

/// The pace's start, as a multiple of the stated rate: the fixed cap that did best at full scale
/// on two cores (`bench/loadtest-53-54-2026-12-06-amd/`: 1.2× against 1× and 1.5×).
pub const PACE_START: f64 = 1.2;
/// How fast the pace grows while it binds, as a share of the stated rate per second: from the
/// start to twice the stated rate in about four seconds, so a machine that takes more than it
/// was said to (the 40% night took ~1,400 a second against a stated 600) is not held back for long.
pub const PACE_INCREASE: f64 = 0.2;
/// The pace's floor, as a share of the stated rate.
pub const PACE_MIN: f64 = 0.25;

impl ControllerConfig {
    pub fn for_opening(opening: &Opening) -> ControllerConfig {
        let max = opening.max_active();
        ControllerConfig {
            latency_target_ms: 500,
            initial_limit: (max / 4).max(1),
            min_limit: (max / 100).max(1),
            additive_increase_per_s: (f64::from(max) / 20.0).max(1.0),
            decrease_factor: 0.7,
            decrease_cooldown_ms: 2_000,
            // Measured in `tests/simulation.rs` (10% of people abandon): a no-show stalls its
            // room for 1 s + this, against 60 s before; at 10 s the booking side ran over its
            // latency target in 5.7% of ticks (more admissions replacing no-shows make AIMD
            // probe harder), at 20 s in 4.2%, at 60 s in 2.5%.
            show_up_window_ms: 20_000,
            rate_time_constant_ms: 30_000,
            max_admit_per_s: None,
            pace: None,
        }
    }

    /// Sizes the limit's start and growth for a booking side that takes about `rate_per_s`
    /// people a second, where that is smaller than the defaults from `max_active`: the limit
    /// starts at [`OPENING_STEP_S`] seconds of the rate and grows by at most one second of it per
    /// second. `max_active` still bounds it, and AIMD on latency still decides; only the opening
    /// step and the speed of the probe change. A rate of 0 (unknown) leaves the config as it is.
    pub fn sized_for_rate(mut self, rate_per_s: f64) -> ControllerConfig {
        if !(rate_per_s.is_finite() && rate_per_s > 0.0) {
            return self;
        }
        let step = (rate_per_s * OPENING_STEP_S)
            .ceil()
            .min(f64::from(u32::MAX)) as u32;
        self.initial_limit = self.initial_limit.min(step.max(self.min_limit));
        self.additive_increase_per_s = self.additive_increase_per_s.min(rate_per_s);
        self
    }
}

/// How many seconds of the booking side's rate one step may admit: the limit right after an
/// opening or a restart (see [`ControllerConfig::sized_for_rate`]).
///
/// Measured, not derived (`bench/loadtest-53-54-2026-12-04/`, 10% of the 2021 opening on two
/// cores at about 1,500 bookings/s): a step of 7,500 people (five seconds' worth) kept every
/// request under 11 ms at p99; a step of 15,000 kept both cores busy for 20 s and the front door's
/// p99 went to 0.8 s. Each person let in starts with a burst of their own (an identity check, a
/// search, a booking), so a step is worked off at the booking side's rate, not all at once.
pub const OPENING_STEP_S: f64 = 5.0;

/// What the shell measured since the last tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observations {
    /// Distinct sessions that used a pass recently (the shell keeps a set of active sessions,
    /// bounded by roughly `max_active`; a queued person costs nothing).
    pub active_sessions: u64,
    /// Booking side's p99 latency over the last interval; `None` when there was no traffic.
    pub latency_p99_ms: Option<u32>,
    /// The booking side refused work (its bounded queue was full, 503s were sent).
    pub saturated: bool,
    /// Ranks ([`crate::Pass::rank`]) of the sessions seen using a pass for the first time since
    /// the last tick: admitted people who showed up. At most one entry per admitted person, so
    /// bounded by the admissions of one show-up window.
    pub started: Vec<Rank>,
    /// Ranks known to hold nobody: pre-queue numbers a node reserved and never handed out (the
    /// pre-queue is closed, so it never will). Admitting one is not waiting for someone to show
    /// up, so it takes no room for a show-up window. Sent once per rank.
    pub empty: Vec<Rank>,
    /// The longest an admitted person may take to learn of it: the poll interval of the front of
    /// the line, or, right after the opening, until the end of the opening-second poll spread
    /// (nobody in the pre-queue knows their place before their first poll after the opening).
    /// Each admission's show-up window starts after this.
    pub notice_delay_ms: u64,
}

/// A phase change made by a tick; already applied to the state, to be persisted with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Transition {
    /// `F0` frozen: the pre-queue started.
    PrequeueStarted,
    /// `N_P` frozen and the order key drawn: the opening happened.
    Opened,
}

/// The outcome of one tick. The state passed to the tick has already been changed accordingly;
/// persist it (if [`Decision::changed`]) before publishing the new watermark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    pub at_ms: u64,
    pub transitions: [Option<Transition>; 2],
    pub watermark_before: u64,
    pub watermark: u64,
    /// Ranks admitted this tick.
    pub admitted: u64,
    pub limit: u64,
    pub room: u64,
    pub in_flight: u64,
    pub overloaded: bool,
    /// Measured admission rate, ranks per second (0 until measured).
    pub rate_per_s: f64,
    /// Whether the record changed and must be persisted.
    pub changed: bool,
}

/// The ranks `[from, to)` admitted at one tick; `outstanding` of them have not shown up yet, and
/// stop counting at `expires_ms`.
#[derive(Debug, Clone, Copy)]
struct WindowEntry {
    expires_ms: u64,
    from: u64,
    to: u64,
    outstanding: u64,
}

/// Longest tick gap taken into account (a paused leader must not make a huge jump).
const MAX_TICK_GAP_MS: u64 = 10_000;
/// Bound on the window's length; older entries are merged into their neighbour.
const MAX_WINDOW_ENTRIES: usize = 4_096;

/// The admission controller's in-memory state. Not persisted: after a restart it starts again
/// from `initial_limit` (conservative), while the watermark and rate come from the record.
#[derive(Debug, Clone)]
pub struct Controller {
    cfg: ControllerConfig,
    limit: f64,
    last_tick_ms: Option<u64>,
    last_decrease_ms: Option<u64>,
    window: VecDeque<WindowEntry>,
    rate_sum: f64,
    rate_weight: f64,
    rate_allowance: f64,
    /// The admission pace now, when [`ControllerConfig::pace`] is set.
    pace_per_s: Option<f64>,
    last: Option<(LastObservations, Decision)>,
    /// Empty ranks not yet admitted ([`Observations::empty`]): they count as showed up when the
    /// watermark passes them. At most the pre-queue numbers the nodes had left at the opening.
    empty: std::collections::BTreeSet<u64>,
}

/// What the last tick saw (for the snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastObservations {
    pub active_sessions: u64,
    pub latency_p99_ms: Option<u32>,
    pub started: u64,
}

impl Controller {
    pub fn new(cfg: ControllerConfig) -> Controller {
        let limit = f64::from(cfg.initial_limit.max(cfg.min_limit).max(1));
        let pace_per_s = cfg.pace.map(|p| p.start_per_s.max(p.min_per_s));
        Controller {
            cfg,
            limit,
            last_tick_ms: None,
            last_decrease_ms: None,
            window: VecDeque::new(),
            rate_sum: 0.0,
            rate_weight: 0.0,
            rate_allowance: 0.0,
            pace_per_s,
            last: None,
            empty: std::collections::BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.cfg
    }

    /// The current concurrency limit.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The last tick's observations and decision.
    pub fn last(&self) -> Option<&(LastObservations, Decision)> {
        self.last.as_ref()
    }

    /// One control step at `now_ms`. `rng` is used only at the opening second, to draw the order
    /// key. Changes `state` in place (transitions, watermark, rate).
    pub fn tick<R: CryptoRng + ?Sized>(
        &mut self,
        now_ms: u64,
        obs: &Observations,
        state: &mut QueueState,
        rng: &mut R,
    ) -> Decision {
        let revision_before = state.revision();
        let mut transitions = [None, None];
        let phase = state.opening().phase_at(now_ms);
        if phase != Phase::BeforePrequeue && state.start_prequeue() {
            transitions[0] = Some(Transition::PrequeueStarted);
        }
        if phase == Phase::Open && !state.is_open() && state.open(PermKey::generate(rng)) {
            transitions[1] = Some(Transition::Opened);
        }

        let dt_ms = self
            .last_tick_ms
            .map_or(0, |t| now_ms.saturating_sub(t).min(MAX_TICK_GAP_MS));
        let dt_s = dt_ms as f64 / 1000.0;
        self.last_tick_ms = Some(self.last_tick_ms.map_or(now_ms, |t| t.max(now_ms)));

        // The show-up window. Each start is matched to the tick that admitted its rank (entries
        // are sorted by rank); admissions still unmatched after `show_up_window_ms` are no-shows
        // (or empty ranks) and stop counting. Starts of ranks no longer in the window (late
        // returners) are simply in `active` from now on.
        // An empty rank already admitted resolves like a start; one still ahead waits in
        // `self.empty` for its admission.
        let mut resolved: Vec<u64> = obs.started.iter().map(|r| r.0).collect();
        for rank in obs.empty.iter().map(|r| r.0) {
            if rank < state.watermark() {
                resolved.push(rank);
            } else {
                self.empty.insert(rank);
            }
        }
        for rank in resolved {
            let i = self.window.partition_point(|e| e.to <= rank);
            if let Some(e) = self.window.get_mut(i)
                && e.from <= rank
            {
                e.outstanding = e.outstanding.saturating_sub(1);
            }
        }
        // Entries are pushed in time order and expiries rarely go backwards (the notice delay
        // shrinks as the opening spread passes); one that does only counts a little longer.
        while self
            .window
            .front()
            .is_some_and(|e| e.expires_ms <= now_ms || e.outstanding == 0)
        {
            self.window.pop_front();
        }
        let in_flight: u64 = self.window.iter().map(|e| e.outstanding).sum();

        // AIMD on the concurrency limit.
        let max_active = f64::from(state.opening().max_active());
        let min_limit = f64::from(self.cfg.min_limit.max(1)).min(max_active);
        let overloaded = obs.saturated
            || obs
                .latency_p99_ms
                .is_some_and(|l| l > self.cfg.latency_target_ms);
        let used = (obs.active_sessions + in_flight) as f64;
        let decrease = self.cfg.decrease_factor.clamp(0.05, 0.95);
        if overloaded {
            let cooled = self
                .last_decrease_ms
                .is_none_or(|t| now_ms.saturating_sub(t) >= self.cfg.decrease_cooldown_ms);
            if cooled {
                self.limit *= decrease;
                self.last_decrease_ms = Some(now_ms);
                self.cut_pace(decrease);
            }
        } else if used >= 0.9 * self.limit {
            self.limit += self.cfg.additive_increase_per_s.max(0.0) * dt_s;
        }
        self.limit = self.limit.clamp(min_limit, max_active);

        let unpaced_room = if overloaded {
            0
        } else {
            (self.limit.floor() as u64).saturating_sub(obs.active_sessions + in_flight)
        };
        let mut room = unpaced_room;
        let max_rate = self.max_rate();
        if let Some(max_rate) = max_rate {
            // A token bucket holding at most one second of admissions.
            self.rate_allowance = (self.rate_allowance + max_rate * dt_s).min(max_rate.max(1.0));
            if self.last.is_none() {
                self.rate_allowance = max_rate.max(1.0);
            }
            room = room.min(self.rate_allowance.floor() as u64);
        }

        let before = state.watermark();
        let tail = state.tail();
        let run_ahead_cap = tail.saturating_add(room);
        let target = before
            .saturating_add(room)
            .min(run_ahead_cap)
            .min(state.watermark_cap())
            .max(before);
        let admitted = target - before;
        if max_rate.is_some() {
            self.rate_allowance -= admitted as f64;
        }

        // Rate: only ticks where demand exceeded admission measure capacity.
        let backlogged = before < tail && target < tail;
        if !overloaded && backlogged && room < unpaced_room {
            // The pace held people back while the booking side kept up: it may go faster.
            self.raise_pace(dt_s);
        }
        if backlogged && dt_ms > 0 {
            let sample = admitted as f64 / dt_s;
            let tau = self.cfg.rate_time_constant_ms.max(1) as f64;
            let keep = (-(dt_ms as f64) / tau).exp();
            self.rate_sum = keep * self.rate_sum + (1.0 - keep) * sample;
            self.rate_weight = keep * self.rate_weight + (1.0 - keep);
        }
        let rate_per_s = if self.rate_weight > 0.0 {
            self.rate_sum / self.rate_weight
        } else {
            state.rate_per_s()
        };
        let watermark = state.advance(target, rate_per_s);

        // Empty ranks passed now hold nobody to wait for.
        let passed_empty = {
            let ahead = self.empty.split_off(&watermark);
            let passed = std::mem::replace(&mut self.empty, ahead);
            passed.range(before..).count() as u64
        };
        let outstanding = admitted.saturating_sub(passed_empty);
        if outstanding > 0 {
            self.window.push_back(WindowEntry {
                expires_ms: now_ms
                    .saturating_add(obs.notice_delay_ms)
                    .saturating_add(self.cfg.show_up_window_ms),
                from: before,
                to: watermark,
                outstanding,
            });
        }
        if self.window.len() > MAX_WINDOW_ENTRIES
            && let (Some(a), Some(b)) = (self.window.pop_front(), self.window.front_mut())
        {
            // Merged into the younger neighbour: counted a little longer, never shorter.
            b.from = a.from;
            b.outstanding += a.outstanding;
            b.expires_ms = b.expires_ms.max(a.expires_ms);
        }

        let decision = Decision {
            at_ms: now_ms,
            transitions,
            watermark_before: before,
            watermark,
            admitted,
            limit: self.limit.floor() as u64,
            room,
            in_flight,
            overloaded,
            rate_per_s: state.rate_per_s(),
            changed: state.revision() != revision_before,
        };
        self.last = Some((
            LastObservations {
                active_sessions: obs.active_sessions,
                latency_p99_ms: obs.latency_p99_ms,
                started: obs.started.len() as u64,
            },
            decision,
        ));
        decision
    }

    /// The admission pace now, admissions per second (`None`: not paced).
    pub fn pace_per_s(&self) -> Option<f64> {
        self.pace_per_s
    }

    /// The operator's fixed cap on admissions per second, if one is set (0 or less: none).
    fn fixed_cap(&self) -> Option<f64> {
        self.cfg.max_admit_per_s.filter(|r| *r > 0.0)
    }

    /// The most admissions per second now: the pace, under the fixed cap if there is one.
    fn max_rate(&self) -> Option<f64> {
        match (self.fixed_cap(), self.pace_per_s) {
            (Some(cap), Some(pace)) => Some(cap.min(pace)),
            (cap, pace) => cap.or(pace),
        }
    }

    /// Cuts the pace with the limit, to no less than its floor.
    fn cut_pace(&mut self, factor: f64) {
        if let (Some(pace), Some(cfg)) = (&mut self.pace_per_s, self.cfg.pace) {
            *pace = (*pace * factor).max(cfg.min_per_s);
        }
    }

    /// Raises the pace for `dt_s` seconds of growth, never above the fixed cap (above it the
    /// pace would grow without ever being what binds).
    fn raise_pace(&mut self, dt_s: f64) {
        let cap = self.fixed_cap();
        if let (Some(pace), Some(cfg)) = (&mut self.pace_per_s, self.cfg.pace) {
            *pace += cfg.increase_per_s2.max(0.0) * dt_s;
            if let Some(cap) = cap {
                *pace = pace.min(cap.max(cfg.min_per_s));
            }
        }
    }

    /// The operators' view, from this controller (the leader) and the record.
    pub fn snapshot(&self, now_ms: u64, state: &QueueState) -> Snapshot {
        let mut s = Snapshot::from_state(now_ms, state);
        if let Some((obs, d)) = &self.last {
            s.active = Some(obs.active_sessions);
            s.latency_p99_ms = obs.latency_p99_ms;
            s.limit = Some(d.limit);
            s.in_flight = Some(d.in_flight);
        }
        s.admission_pace_per_s = self.pace_per_s;
        s
    }
}

/// What operators see (JSON endpoint, Prometheus gauges). Counts of ranks are upper bounds on
/// people: numbers lost in a crash are empty ranks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub at_ms: u64,
    pub phase: Phase,
    /// Tickets issued, at most.
    pub arrivals: u64,
    /// Waiting, at most.
    pub queued: u64,
    /// Admitted so far (ranks below the watermark that hold an issued number, at most).
    pub admitted: u64,
    /// Active sessions at the last tick (leader only).
    pub active: Option<u64>,
    pub latency_p99_ms: Option<u32>,
    pub limit: Option<u64>,
    pub in_flight: Option<u64>,
    /// The controller's admission pace (leader only, when paced).
    pub admission_pace_per_s: Option<f64>,
    pub watermark: u64,
    pub admission_rate_per_s: f64,
    /// Time to admit everyone queued at the current rate; `None` when the rate is unknown.
    pub drain_ms: Option<u64>,
}

impl Snapshot {
    /// The part every node can compute from its copy of the record.
    pub fn from_state(now_ms: u64, state: &QueueState) -> Snapshot {
        let r = state.record();
        let admitted = state
            .watermark()
            .min(state.tail())
            .saturating_sub(r.fifo_skipped);
        let arrivals = state.issued_at_most();
        let queued = arrivals.saturating_sub(admitted);
        let rate = state.rate_per_s();
        Snapshot {
            at_ms: now_ms,
            phase: state.phase_at(now_ms),
            arrivals,
            queued,
            admitted,
            active: None,
            latency_p99_ms: None,
            limit: None,
            in_flight: None,
            admission_pace_per_s: None,
            watermark: state.watermark(),
            admission_rate_per_s: rate,
            drain_ms: eta_ms(queued, rate),
        }
    }
}

/// `position ÷ rate`, in ms; `None` when the rate is unknown (0).
pub fn eta_ms(position: u64, rate_per_s: f64) -> Option<u64> {
    if position == 0 {
        return Some(0);
    }
    (rate_per_s > 0.0 && rate_per_s.is_finite()).then(|| {
        (position as f64 * 1000.0 / rate_per_s)
            .ceil()
            .min(u64::MAX as f64) as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Class, QueueId};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn setup(max_active: u32) -> (QueueState, Controller, ChaCha20Rng) {
        let o = Opening::new(QueueId(1), 10_000, 20_000, max_active, 60_000).expect("valid");
        let c = Controller::new(ControllerConfig::for_opening(&o));
        (QueueState::new(o), c, ChaCha20Rng::seed_from_u64(1))
    }

    fn fill(s: &mut QueueState, class: Class, n: u64, now: u64) {
        let _ = s.reserve_block(class, n, now).expect("ok").persisted();
    }

    fn obs(active: u64, latency: u32, started: std::ops::Range<u64>) -> Observations {
        Observations {
            active_sessions: active,
            latency_p99_ms: Some(latency),
            saturated: false,
            started: started.map(Rank).collect(),
            empty: Vec::new(),
            notice_delay_ms: 1_000,
        }
    }

    /// A large `max_active` with the booking side's rate stated: the opening lets in five
    /// seconds of that rate, not a quarter of `max_active`, and the limit grows by at most one
    /// second of it per second while people keep showing up.
    #[test]
    fn the_opening_step_is_sized_for_the_booking_rate() {
        let o = Opening::new(QueueId(1), 1_000_000, 2_000_000, 60_000, 60_000).expect("valid");
        let defaults = ControllerConfig::for_opening(&o);
        assert_eq!(defaults.initial_limit, 15_000);
        let cfg = defaults.clone().sized_for_rate(1_500.0);
        assert_eq!(cfg.initial_limit, 7_500);
        assert_eq!(cfg.additive_increase_per_s, 1_500.0);
        assert_eq!(cfg.min_limit, defaults.min_limit);
        assert_eq!(
            defaults.clone().sized_for_rate(0.0),
            defaults,
            "an unknown rate"
        );
        assert_eq!(
            defaults.clone().sized_for_rate(100_000.0),
            defaults,
            "a rate above what max_active allows changes nothing"
        );

        let mut c = Controller::new(cfg);
        let (mut s, mut rng) = (QueueState::new(o), ChaCha20Rng::seed_from_u64(1));
        fill(&mut s, Class::Fifo, 100_000, 0);
        let first = c.tick(250, &obs(0, 10, 0..0), &mut s, &mut rng);
        assert_eq!(first.admitted, 7_500, "the opening step");
        // Everyone admitted shows up at once; latency stays fine for ten seconds.
        let (mut before, mut shown) = (0, first.watermark);
        let mut now = 250;
        for _ in 0..40 {
            now += 250;
            let d = c.tick(now, &obs(shown, 10, before..shown), &mut s, &mut rng);
            (before, shown) = (shown, d.watermark);
            assert!(d.admitted <= 376, "at most a second of the rate per second");
        }
        assert!(
            (21_000.0..=22_600.0).contains(&c.limit()),
            "7,500 + 10 s × 1,500/s: {}",
            c.limit()
        );
    }

    /// 2021-style no-shows: the first five admitted never come. Admission stalls for the notice
    /// delay plus the show-up window, not a minute, and then goes on to the next people.
    #[test]
    fn no_shows_hold_their_room_only_for_the_show_up_window() {
        let o = Opening::new(QueueId(1), 1_000_000, 2_000_000, 5, 60_000).expect("valid");
        let cfg = ControllerConfig {
            initial_limit: 5,
            min_limit: 5,
            ..ControllerConfig::for_opening(&o)
        };
        let window = cfg.show_up_window_ms;
        let mut c = Controller::new(cfg);
        let (mut s, mut rng) = (QueueState::new(o), ChaCha20Rng::seed_from_u64(1));
        fill(&mut s, Class::Fifo, 100, 0);
        let mut now = 250;
        let first = c.tick(now, &obs(0, 10, 0..0), &mut s, &mut rng);
        assert_eq!(first.admitted, 5, "the limit's worth is admitted");
        let admitted_at = now;
        let mut stalled_until = now;
        while now < admitted_at + 1_000 + window + 1_000 {
            now += 250;
            let d = c.tick(now, &obs(0, 10, 0..0), &mut s, &mut rng);
            if d.admitted == 0 {
                stalled_until = now;
            } else {
                break;
            }
        }
        assert!(
            stalled_until >= admitted_at + 1_000 + window - 250,
            "room is held while they could still come ({stalled_until})"
        );
        assert!(
            s.watermark() > 5,
            "after the window the next people are admitted (stalled until {stalled_until})"
        );
        assert!(
            now <= admitted_at + 1_000 + window + 250,
            "at once, not later"
        );
    }

    /// Ranks nobody holds (pre-queue numbers a node never handed out) do not hold room for a
    /// show-up window: told before or after the watermark passes them, admission goes on at once.
    #[test]
    fn empty_ranks_take_no_room() {
        let o = Opening::new(QueueId(1), 1_000_000, 2_000_000, 4, 60_000).expect("valid");
        let cfg = ControllerConfig {
            initial_limit: 4,
            min_limit: 4,
            ..ControllerConfig::for_opening(&o)
        };
        let mut c = Controller::new(cfg);
        let (mut s, mut rng) = (QueueState::new(o), ChaCha20Rng::seed_from_u64(1));
        fill(&mut s, Class::Fifo, 100, 0);
        // Ranks 2 and 3 are known empty before anyone is admitted, rank 9 only later.
        let mut told = obs(0, 10, 0..0);
        told.empty = vec![Rank(2), Rank(3)];
        let first = c.tick(250, &told, &mut s, &mut rng);
        assert_eq!(first.admitted, 4);
        let second = c.tick(500, &obs(0, 10, 0..0), &mut s, &mut rng);
        assert_eq!(
            second.in_flight, 2,
            "ranks 0 and 1 may still come; 2 and 3 hold nobody"
        );
        assert_eq!(
            second.admitted, 2,
            "their room goes to ranks 4 and 5 at once"
        );
        // Ranks 0, 1, 4 and 5 show up and stay; ranks 6..=9 are admitted when room frees.
        let mut shown = obs(4, 10, 0..2);
        shown.started.extend([Rank(4), Rank(5)]);
        c.tick(750, &shown, &mut s, &mut rng);
        let mut later = obs(2, 10, 0..0);
        later.empty = vec![Rank(9)];
        let d = c.tick(1_000, &later, &mut s, &mut rng);
        assert_eq!(s.watermark(), 8, "{d:?}");
        let d = c.tick(1_250, &obs(0, 10, 6..8), &mut s, &mut rng);
        assert_eq!(
            d.watermark, 12,
            "ranks 8..12 in room for 4 (rank 9 takes none it keeps)"
        );
        let d = c.tick(1_500, &obs(0, 10, 8..9), &mut s, &mut rng);
        assert_eq!(
            d.in_flight, 2,
            "10 and 11 may still come; 8 came; 9 holds nobody: {d:?}"
        );
    }

    /// Right after the opening, people learn their place only at their first poll, which the
    /// poll spread may put a minute or more later: an admission then is not a no-show before
    /// that notice delay has passed.
    #[test]
    fn admissions_wait_out_the_notice_delay_before_counting_as_no_shows() {
        let (mut s, c0, mut rng) = setup(10);
        let mut c = Controller::new(ControllerConfig {
            initial_limit: 10,
            ..c0.config().clone()
        });
        fill(&mut s, Class::Fifo, 100, 0);
        let spread = Observations {
            empty: Vec::new(),
            notice_delay_ms: 90_000,
            ..obs(0, 10, 0..0)
        };
        let mut now = 30_000;
        let d = c.tick(now, &spread, &mut s, &mut rng);
        assert_eq!(d.admitted, 10);
        while now < 30_000 + 90_000 {
            now += 1_000;
            let d = c.tick(now, &obs(0, 10, 0..0), &mut s, &mut rng);
            assert_eq!(d.in_flight, 10, "still on their way at {now}");
            assert_eq!(d.admitted, 0);
        }
    }

    #[test]
    fn transitions_happen_once_at_the_right_ticks() {
        let (mut s, mut c, mut rng) = setup(100);
        let d = c.tick(9_999, &Observations::default(), &mut s, &mut rng);
        assert_eq!(d.transitions, [None, None]);
        let d = c.tick(10_000, &Observations::default(), &mut s, &mut rng);
        assert_eq!(d.transitions, [Some(Transition::PrequeueStarted), None]);
        // The quiet free-flow queue had let the watermark run ahead; the pre-queue starts after it.
        let f0 = s.record().free_flow_end.expect("frozen");
        assert_eq!(f0, s.watermark());
        fill(&mut s, Class::Pre, 500, 15_000);
        let d = c.tick(19_999, &Observations::default(), &mut s, &mut rng);
        assert_eq!(
            d.watermark, f0,
            "nobody from the pre-queue admitted before the opening"
        );
        let d = c.tick(20_000, &Observations::default(), &mut s, &mut rng);
        assert_eq!(d.transitions, [None, Some(Transition::Opened)]);
        assert!(d.changed && d.admitted > 0 && s.is_open());
        let d = c.tick(20_100, &Observations::default(), &mut s, &mut rng);
        assert_eq!(d.transitions, [None, None]);
    }

    #[test]
    fn overload_stops_admission_and_shrinks_the_limit() {
        let (mut s, mut c, mut rng) = setup(1_000);
        fill(&mut s, Class::Fifo, 100_000, 0);
        let mut now = 0;
        for _ in 0..200 {
            now += 100;
            c.tick(now, &obs(0, 10, 0..0), &mut s, &mut rng);
        }
        let limit = c.limit();
        let w = s.watermark();
        let d = c.tick(now + 100, &obs(900, 900, 0..0), &mut s, &mut rng);
        assert!(d.overloaded);
        assert_eq!(d.admitted, 0);
        assert_eq!(s.watermark(), w);
        assert!(c.limit() <= limit * 0.71, "{} vs {limit}", c.limit());
        // Cooldown: a second overloaded tick right after does not shrink again.
        let l2 = c.limit();
        c.tick(now + 200, &obs(900, 900, 0..0), &mut s, &mut rng);
        assert_eq!(c.limit(), l2);
    }

    #[test]
    fn room_is_limit_minus_active_minus_in_flight() {
        let (mut s, c0, mut rng) = setup(100);
        let mut c = Controller::new(ControllerConfig {
            additive_increase_per_s: 0.0,
            ..c0.config().clone()
        });
        fill(&mut s, Class::Fifo, 10_000, 0);
        let d = c.tick(0, &obs(0, 10, 0..0), &mut s, &mut rng);
        assert_eq!(d.admitted, 25, "initial limit is max_active / 4");
        // Nobody showed up yet: all 25 are in flight, no room.
        let d = c.tick(100, &obs(0, 10, 0..0), &mut s, &mut rng);
        assert_eq!((d.in_flight, d.admitted), (25, 0));
        // 20 showed up and are active: still 25 accounted for.
        let d = c.tick(200, &obs(20, 10, 0..20), &mut s, &mut rng);
        assert_eq!((d.in_flight, d.admitted), (5, 0));
        // After the show-up window, the 5 no-shows are given away.
        let d = c.tick(61_000, &obs(20, 10, 0..0), &mut s, &mut rng);
        assert_eq!(d.in_flight, 0);
        assert!(d.admitted >= 5, "{d:?}");
    }

    #[test]
    fn no_shows_expire_even_while_everyone_else_shows_up() {
        let (mut s, c0, mut rng) = setup(200);
        let mut c = Controller::new(ControllerConfig {
            initial_limit: 200,
            ..c0.config().clone()
        });
        fill(&mut s, Class::Fifo, 1_000_000, 0);
        let mut now = 0;
        let mut started = 0..0;
        let mut active = 0u64;
        let mut max_in_flight = 0;
        for tick in 0..3_000u64 {
            now += 100;
            // Every admitted rank shows up at the next tick except those divisible by 10, and
            // each session leaves after 3 s (so about 30 ticks of admissions are active).
            let shown: Vec<Rank> = started.clone().filter(|r| r % 10 != 0).map(Rank).collect();
            active += shown.len() as u64;
            let o = Observations {
                active_sessions: active,
                latency_p99_ms: Some(10),
                saturated: false,
                started: shown,
                empty: Vec::new(),
                notice_delay_ms: 1_000,
            };
            let d = c.tick(now, &o, &mut s, &mut rng);
            active = active.saturating_sub(active / 30);
            started = d.watermark_before..d.watermark;
            if tick > 1_000 {
                max_in_flight = max_in_flight.max(d.in_flight);
            }
        }
        // In flight: a tenth of the admissions of the last notice delay and show-up window (the
        // no-shows not yet expired), never the whole limit.
        let rate = s.rate_per_s();
        let window_s = (1_000 + c.config().show_up_window_ms) as f64 / 1000.0;
        assert!(rate > 10.0, "{rate}");
        assert!(
            (max_in_flight as f64) < 0.1 * rate * window_s * 1.5,
            "{max_in_flight} in flight at {rate}/s"
        );
    }

    #[test]
    fn a_quiet_queue_lets_arrivals_straight_through_but_bounds_the_run_ahead() {
        let o = Opening::free_flow(QueueId(1), 100, 60_000).expect("valid");
        let mut s = QueueState::new(o);
        let mut c = Controller::new(ControllerConfig::for_opening(&o));
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut now = 0;
        for _ in 0..3_000 {
            now += 100;
            c.tick(now, &obs(0, 10, 0..0), &mut s, &mut rng);
            assert!(
                s.watermark() <= s.tail() + 100,
                "run-ahead beyond max_active"
            );
        }
        assert!(s.watermark() > 0);
        // The next arrival gets rank 0, already below the watermark: admitted at once.
        fill(&mut s, Class::Fifo, 1, now);
        assert!(s.is_admitted(crate::types::Rank(0)));
    }

    #[test]
    fn rate_cap_is_respected() {
        let (mut s, c0, mut rng) = setup(10_000);
        let mut cfg = c0.config().clone();
        cfg.max_admit_per_s = Some(50.0);
        cfg.initial_limit = 10_000;
        let mut c = Controller::new(cfg);
        fill(&mut s, Class::Fifo, 1_000_000, 0);
        let mut now = 0;
        let mut admitted = 0;
        for _ in 0..100 {
            now += 100;
            admitted += c.tick(now, &obs(0, 10, 0..0), &mut s, &mut rng).admitted;
        }
        // 10 s at 50/s, plus the initial one-second bucket.
        assert!(admitted <= 550, "{admitted}");
        assert!(admitted >= 450, "{admitted}");
    }

    #[test]
    fn rate_and_eta() {
        let (mut s, mut c, mut rng) = setup(100);
        fill(&mut s, Class::Fifo, 1_000_000, 0);
        let mut now = 0;
        // Every admitted person shows up and leaves at once: capacity is the limit per tick.
        for _ in 0..600 {
            now += 100;
            let started = c
                .last()
                .map_or(0..0, |(_, d)| d.watermark_before..d.watermark);
            c.tick(now, &obs(0, 10, started), &mut s, &mut rng);
        }
        let rate = s.rate_per_s();
        assert!(rate > 100.0, "{rate}");
        assert_eq!(eta_ms(0, rate), Some(0));
        assert_eq!(eta_ms(1_000, 0.0), None);
        assert_eq!(eta_ms(1_000, 500.0), Some(2_000));
        let snap = c.snapshot(now, &s);
        assert_eq!(snap.arrivals, 1_000_000);
        assert_eq!(snap.admitted + snap.queued, 1_000_000);
        assert!(snap.drain_ms.is_some());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn watermark_is_monotone_limit_bounded_and_overload_admits_nobody(
                steps in proptest::collection::vec((0u64..2_000, 0u64..300, 0u32..2_000, any::<bool>(), 0u64..50, 0u64..200), 1..200),
                max_active in 1u32..500,
            ) {
                let (mut s, _, mut rng) = setup(max_active);
                let mut c = Controller::new(ControllerConfig::for_opening(s.opening()));
                let mut now = 0u64;
                for (dt, active, latency, saturated, started, arrivals) in steps {
                    now += dt;
                    if arrivals > 0 {
                        let class = s.class_at(now);
                        if let Ok(r) = s.reserve_block(class, arrivals, now) { let _ = r.persisted(); }
                    }
                    let w0 = s.watermark();
                    let o = Observations { active_sessions: active, latency_p99_ms: Some(latency), saturated,
                                           started: (w0.saturating_sub(started)..w0).map(Rank).collect(),
                                           empty: Vec::new(), notice_delay_ms: 1_000 };
                    let d = c.tick(now, &o, &mut s, &mut rng);
                    prop_assert!(s.watermark() >= w0);
                    prop_assert_eq!(d.watermark, s.watermark());
                    prop_assert!(c.limit() >= 1.0 && c.limit() <= f64::from(max_active));
                    prop_assert!(d.admitted <= d.room);
                    prop_assert!(d.admitted + active + d.in_flight <= u64::from(max_active) || d.admitted == 0);
                    if d.overloaded { prop_assert_eq!(d.admitted, 0); }
                    if !s.is_open() && s.prequeue_started() {
                        prop_assert!(s.watermark() <= s.record().free_flow_end.unwrap_or(0));
                    }
                }
            }
        }
    }

    /// A controller paced for a booking side stated at 1,000 a second, with room for everyone
    /// (a `max_active` of 100,000 and a limit that starts at all of it) and 100,000 waiting.
    fn paced(cap: Option<f64>) -> (QueueState, Controller, ChaCha20Rng) {
        let o = Opening::new(QueueId(1), 1_000_000, 2_000_000, 100_000, 60_000).expect("valid");
        let cfg = ControllerConfig {
            initial_limit: 100_000,
            pace: PaceConfig::for_rate(1_000.0),
            max_admit_per_s: cap,
            ..ControllerConfig::for_opening(&o)
        };
        let mut s = QueueState::new(o);
        fill(&mut s, Class::Fifo, 100_000, 0);
        (s, Controller::new(cfg), ChaCha20Rng::seed_from_u64(1))
    }

    /// Ticks every 250 ms from `*now` for `seconds`, everyone admitted showing up by the next
    /// tick and the booking side at `latency` ms; returns the admissions.
    fn run_for(
        c: &mut Controller,
        s: &mut QueueState,
        rng: &mut ChaCha20Rng,
        now: &mut u64,
        seconds: u64,
        latency: u32,
    ) -> u64 {
        let (end, mut admitted) = (*now + seconds * 1_000, 0);
        let mut shown = s.watermark();
        while *now < end {
            *now += 250;
            let w = s.watermark();
            let d = c.tick(*now, &obs(w, latency, shown..w), s, rng);
            shown = w;
            admitted += d.admitted;
        }
        admitted
    }

    /// Our full night on two cores: room that opened at once was let in at once (bursts of
    /// 9,700 a second), overloaded the machine, and stalled admission. Paced, the room is let in
    /// at 1.2× the stated rate to start with (a second of it at once), and faster only as the
    /// pace grows while the booking side keeps up.
    #[test]
    fn paced_admission_lets_open_room_in_at_the_pace_not_at_once() {
        let (mut s, mut c, mut rng) = paced(None);
        let first = c.tick(250, &obs(0, 10, 0..0), &mut s, &mut rng);
        assert_eq!(first.admitted, 1_200, "a second of the starting pace");
        let later = run_for(&mut c, &mut s, &mut rng, &mut 250, 4, 10);
        // The pace grows 200/s² while it binds: 1,200 → 2,000 over these four seconds.
        let pace = c.pace_per_s().expect("paced");
        assert!((1_900.0..=2_050.0).contains(&pace), "{pace}");
        assert!(
            (5_500..=6_600).contains(&later),
            "about the pace's integral, far below the 100,000 of room: {later}"
        );

        let unpaced = {
            let (mut s, mut c, mut rng) = paced(None);
            c.cfg.pace = None;
            c.pace_per_s = None;
            c.tick(250, &obs(0, 10, 0..0), &mut s, &mut rng).admitted
        };
        assert!(
            unpaced >= 50_000,
            "the limit alone lets the room in: {unpaced}"
        );
    }

    /// Overload cuts the pace with the limit (once per cooldown, to no less than its floor), and
    /// it grows back only once latency is fine again.
    #[test]
    fn the_pace_is_cut_on_overload_and_grows_back_when_latency_is_fine() {
        let (mut s, mut c, mut rng) = paced(None);
        let mut t = 0;
        let _ = run_for(&mut c, &mut s, &mut rng, &mut t, 5, 10);
        let before = c.pace_per_s().expect("paced");
        let during = run_for(&mut c, &mut s, &mut rng, &mut t, 1, 900);
        assert_eq!(
            during, 0,
            "nobody is admitted while the booking side is over its target"
        );
        let cut = c.pace_per_s().expect("paced");
        assert!(
            (cut - before * 0.7).abs() < 1.0,
            "one cut within the cooldown: {before} -> {cut}"
        );
        let _ = run_for(&mut c, &mut s, &mut rng, &mut t, 2, 10);
        let regrown = c.pace_per_s().expect("paced");
        assert!(
            (regrown - cut - 400.0).abs() < 60.0,
            "200/s² for two seconds: {cut} -> {regrown}"
        );
        let _ = run_for(&mut c, &mut s, &mut rng, &mut t, 30, 900);
        let floor = PaceConfig::for_rate(1_000.0).expect("a rate").min_per_s;
        assert_eq!(c.pace_per_s(), Some(floor), "a long overload: the floor");
    }

    /// The pace grows only while it is what holds admission back: with the limit binding (the
    /// booking side full), it stays where it is, so it cannot wind up and burst later.
    #[test]
    fn the_pace_does_not_grow_while_the_limit_binds() {
        let (mut s, mut c, mut rng) = paced(None);
        c.limit = 500.0;
        c.cfg.min_limit = 500;
        c.cfg.additive_increase_per_s = 0.0;
        let mut t = 0;
        for _ in 0..40 {
            t += 250;
            // 500 people active: the limit leaves no room.
            let _ = c.tick(t, &obs(500, 10, 0..0), &mut s, &mut rng);
        }
        assert_eq!(c.pace_per_s(), Some(1_200.0));
    }

    /// The operator's fixed cap still bounds a paced controller, and the pace stops growing at it.
    #[test]
    fn a_fixed_cap_bounds_the_pace() {
        let (mut s, mut c, mut rng) = paced(Some(1_500.0));
        let admitted = run_for(&mut c, &mut s, &mut rng, &mut 0, 10, 10);
        assert!(admitted <= 1_200 + 10 * 1_500, "{admitted}");
        let pace = c.pace_per_s().expect("paced");
        assert!(pace <= 1_500.0, "{pace}");
    }
}
