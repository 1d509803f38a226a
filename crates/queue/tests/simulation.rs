//! A deterministic simulation of an opening night: ~15,000 people over a simulated evening
//! (free flow, pre-queue, opening, late arrivals), abandons, reloads, tabs, impatient clicks, a
//! crash of the node and the leader mid-opening, and a booking side whose latency grows with the
//! number of active sessions. During the pre-queue 60% of arrivals verify who they are; a fifth
//! of those are not in this opening's cohort and are turned away without a place; a script
//! holding 1% of the pre-queue's tickets verifies them all as one person; an eighth of the
//! pre-queue verifies and leaves to be texted, is texted when the stored watermark passes them,
//! and comes back within the return window, too late, or never. Everything is seeded; no wall
//! clock is read.

mod common;

use common::*;
use queue::{
    Class, ControllerConfig, Exchange, Observations, Opening, PollConfig, PollPolicy, QueueId,
    Rank, Status, Ticket, WaitingSessionId,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const TICK_MS: u64 = 250;
const BIN_MS: u64 = 10_000;
const MAX_ACTIVE: u32 = 400;
const LATENCY_TARGET_MS: u32 = 300;
const BUDGET_PER_S: f64 = 200.0;
/// What the booking side takes at most (about 400 sessions of 10–20 s); the front zone is sized
/// for it.
const BOOKING_CAPACITY_PER_S: f64 = 15.0;
const PREQUEUE_STARTS_MS: u64 = OPENS_AT_MS - 30 * MINUTE_MS;
/// The poll budget is guaranteed up to this queue length; the simulation checks it is not exceeded.
const MAX_QUEUE: u64 = 15_000;
const CRASH_AT_MS: u64 = OPENS_AT_MS + 8 * MINUTE_MS;

/// The booking side slows down (a slow database) for five minutes mid-evening.
const SLOW_FROM_MS: u64 = OPENS_AT_MS + 10 * MINUTE_MS;
const SLOW_UNTIL_MS: u64 = OPENS_AT_MS + 15 * MINUTE_MS;

/// The booking side: p99 latency grows like a queue approaching saturation at 500 sessions
/// (250 while it is slow).
fn latency_ms(active: u64, now: u64) -> u32 {
    let capacity = if (SLOW_FROM_MS..SLOW_UNTIL_MS).contains(&now) {
        250.0
    } else {
        500.0
    };
    let rho = (active as f64 / capacity).min(0.95);
    (80.0 / (1.0 - rho)) as u32
}

#[derive(Debug)]
struct Person {
    arrive_at: u64,
    session: WaitingSessionId,
    token: Option<String>,
    ticket: Option<Ticket>,
    rank: Option<Rank>,
    /// Abandons at this time (u64::MAX: stays until admitted).
    leaves_at: u64,
    tabs: u32,
    impatient: bool,
    passed_at: Option<u64>,
    /// (when, position) of the last status answer that gave a position.
    last_position: Option<(u64, u64)>,
    gone: bool,
    told_before_opening: bool,
    /// When they verify during the pre-queue, as whom, and whether their cohort opens now.
    verifies: Option<(u64, u64, bool)>,
    /// Leaves the page after verifying, to be texted; comes back this long after the text
    /// (`None`: never).
    texted: Option<Option<u64>>,
    away: bool,
    passed_on: bool,
}

/// How long a texted person's place is held once their turn came.
const RETURN_WINDOW_MS: u64 = 10 * MINUTE_MS;

/// The script's one identity.
const SCRIPT_PERSON: u64 = 7_777_777;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Tick,
    Crash,
    Arrive(usize),
    Poll(usize),
    Reload(usize),
    Done(usize),
    Verify(usize),
    Return(usize),
}

struct Sim {
    rng: ChaCha20Rng,
    db: Db,
    node: Node,
    leader: Leader,
    poll: PollPolicy,
    cfg: ControllerConfig,
    people: Vec<Person>,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    counter: u64,
    active: u64,
    started_since_tick: Vec<Rank>,
    /// Server-chosen polls per 10 s bin.
    /// Server-chosen polls per 10 s bin: [caused by a pre-queue answer, by a position answer].
    poll_bins: [Vec<u64>; 2],
    /// (time, W) after every tick.
    w_history: Vec<(u64, u64)>,
    max_active: u64,
    max_active_at: u64,
    max_queued: u64,
    recovered_at: Option<u64>,
    w_frozen_ticks: u64,
    ticks: u64,
    ticks_open: u64,
    ticks_over_latency: u64,
    /// Outside the slowdown, and within it after the first recovery.
    max_latency: u32,
    max_latency_slow: u32,
    extra_calls: u64,
    impatient_refusals: u64,
    /// The shell's table of verified people's draw numbers.
    draws: People,
    turned_away: u64,
    /// Texted people still away and not yet reached.
    away: Vec<usize>,
    texts: u64,
    passed_on: u64,
}

impl Sim {
    fn at(&mut self, t: u64, ev: Ev) {
        self.counter += 1;
        self.events.push(Reverse((t, self.counter, ev)));
    }

    fn watermark_at(&self, t: u64) -> u64 {
        let i = self.w_history.partition_point(|&(at, _)| at <= t);
        if i == 0 { 0 } else { self.w_history[i - 1].1 }
    }

    /// The first time the watermark passed `rank`.
    fn admitted_at(&self, rank: Rank) -> Option<u64> {
        let i = self.w_history.partition_point(|&(_, w)| w <= rank.0);
        self.w_history.get(i).map(|&(t, _)| t)
    }

    fn handle(&mut self, i: usize, now: u64, status: Status, scheduled: bool) {
        // The same ticket always gets the same rank.
        if let Some(r) = status.rank() {
            match self.people[i].rank {
                None => self.people[i].rank = Some(r),
                Some(old) => assert_eq!(old, r, "person {i}: rank changed"),
            }
        }
        if !scheduled {
            return;
        }
        let p = &self.people[i];
        if now >= p.leaves_at {
            self.people[i].gone = true;
            return;
        }
        let token = p.token.clone().expect("has a ticket");
        let session = p.session;
        if status.is_admitted() || p.impatient {
            let tries = if status.is_admitted() { p.tabs } else { 1 };
            let mut got = None;
            for _ in 0..tries {
                match self
                    .node
                    .room
                    .exchange(now, &token, &session)
                    .expect("valid")
                {
                    Exchange::Pass { token, pass } => {
                        let rank = self.people[i].rank.expect("ranked");
                        assert_eq!(pass.rank, rank);
                        assert!(rank.0 < self.db.record.watermark, "pass before admission");
                        got = Some(token);
                    }
                    Exchange::NotYet(_) => {
                        assert!(!status.is_admitted());
                        self.impatient_refusals += 1;
                    }
                }
            }
            if let Some(pass) = got {
                assert!(self.node.room.check_pass(now, &pass, &session).is_ok());
                assert!(
                    self.node
                        .room
                        .check_pass(now, &pass, &session_other(i))
                        .is_err(),
                    "a pass worked from another session"
                );
                self.people[i].passed_at = Some(now);
                self.active += 1;
                self.started_since_tick
                    .push(self.people[i].rank.expect("ranked"));
                let lat = f64::from(latency_ms(self.active, now));
                let base = self.rng.random_range(10_000..20_000) as f64;
                let duration = (base * (lat / 80.0).sqrt()) as u64;
                self.at(now + duration, Ev::Done(i));
                return;
            }
        }
        self.people[i].told_before_opening = matches!(status, Status::BeforeOpening { .. });
        if let Status::Waiting { position, .. } = status {
            self.people[i].last_position = Some((now, position));
        }
        let delay = status.poll_after_ms() + self.rng.random_range(0..200);
        self.at(now + delay, Ev::Poll(i));
    }

    /// The shell's texting: someone away is texted once the record this node holds (stored
    /// before it was published) admits their rank, and comes back, too late, or never.
    fn text_the_reached(&mut self, now: u64) {
        let state = self.node.room.state().clone();
        let mut still_away = Vec::new();
        for i in std::mem::take(&mut self.away) {
            let ticket = self.people[i].ticket.expect("arrived");
            let reached = state.rank(&ticket).is_ok_and(|r| state.is_admitted(r));
            if !reached {
                still_away.push(i);
                continue;
            }
            let rank = state.rank(&ticket).expect("ranked");
            assert!(
                rank.0 < self.db.record.watermark,
                "texted for a place not stored as reached"
            );
            self.texts += 1;
            match self.people[i].texted.flatten() {
                Some(delay) if delay < RETURN_WINDOW_MS => self.at(now + delay, Ev::Return(i)),
                _ => {
                    // Not back within the window: the place has passed on.
                    self.people[i].passed_on = true;
                    self.people[i].gone = true;
                    self.passed_on += 1;
                }
            }
        }
        self.away = still_away;
    }

    fn status(&mut self, i: usize, now: u64) -> Status {
        let token = self.people[i].token.clone().expect("has a ticket");
        let (ticket, status) = self.node.room.status(now, &token).expect("valid ticket");
        assert_eq!(Some(ticket), self.people[i].ticket);
        status
    }

    fn run(&mut self, end: u64) {
        while let Some(Reverse((now, _, ev))) = self.events.pop() {
            if now > end {
                break;
            }
            match ev {
                Ev::Tick => {
                    let lat = latency_ms(self.active, now);
                    let obs = Observations {
                        active_sessions: self.active,
                        latency_p99_ms: (self.active > 0).then_some(lat),
                        saturated: false,
                        started: std::mem::take(&mut self.started_since_tick),
                        empty: Vec::new(),
                        notice_delay_ms: self.poll.notice_delay_ms(self.node.room.state(), now),
                    };
                    self.ticks += 1;
                    let slow = (SLOW_FROM_MS..SLOW_UNTIL_MS).contains(&now);

                    if slow && self.recovered_at.is_none() && lat <= LATENCY_TARGET_MS {
                        self.recovered_at = Some(now);
                    }
                    let recovering = slow && self.recovered_at.is_none();
                    if now >= OPENS_AT_MS && !recovering {
                        self.ticks_open += 1;
                        self.ticks_over_latency += u64::from(lat > LATENCY_TARGET_MS);
                        if slow {
                            self.max_latency_slow = self.max_latency_slow.max(lat);
                        } else {
                            self.max_latency = self.max_latency.max(lat);
                        }
                    }
                    if self.active > self.max_active {
                        self.max_active = self.active;
                        self.max_active_at = now;
                    }
                    let d = self.leader.tick(&mut self.db, now, &obs);
                    if lat > LATENCY_TARGET_MS {
                        assert_eq!(
                            d.admitted, 0,
                            "admitted while the booking side is overloaded"
                        );
                        self.w_frozen_ticks += 1;
                    }
                    self.node.refresh(&self.db);
                    self.text_the_reached(now);
                    let w = self.db.record.watermark;
                    assert!(self.w_history.last().is_none_or(|&(_, last)| w >= last));
                    self.w_history.push((now, w));
                    let queued = queue::Snapshot::from_state(now, self.node.room.state()).queued;
                    self.max_queued = self.max_queued.max(queued);
                    let waiting = self.people.iter().any(|p| !p.gone && p.passed_at.is_none());
                    if waiting || now < OPENS_AT_MS + 60 * MINUTE_MS || self.active > 0 {
                        self.at(now + TICK_MS, Ev::Tick);
                    }
                }
                Ev::Crash => {
                    // kill -9 of the node and the leader: leases and controller state are lost.
                    self.node = Node::start(&self.db, keyring(), self.poll, 32);
                    self.leader = Leader::new(self.cfg.clone(), 77);
                }
                Ev::Arrive(i) => {
                    let a = self.node.arrive(&mut self.db, now, self.people[i].session);
                    self.people[i].token = Some(a.token);
                    self.people[i].ticket = Some(a.ticket);
                    self.handle(i, now, a.status, true);
                }
                Ev::Poll(i) => {
                    if self.people[i].gone || self.people[i].passed_at.is_some() {
                        continue;
                    }
                    if self.people[i].away {
                        continue; // closed the page: waits for the text
                    }
                    let bin = ((now - PREQUEUE_STARTS_MS + 30 * MINUTE_MS) / BIN_MS) as usize;
                    self.poll_bins[usize::from(!self.people[i].told_before_opening)][bin] += 1;
                    let s = self.status(i, now);
                    for _ in 1..self.people[i].tabs {
                        self.extra_calls += 1;
                        assert_eq!(self.status(i, now).rank(), s.rank());
                    }
                    self.handle(i, now, s, true);
                }
                Ev::Reload(i) => {
                    if self.people[i].token.is_some() {
                        self.extra_calls += 1;
                        let s = self.status(i, now);
                        self.handle(i, now, s, false);
                    }
                }
                Ev::Done(i) => {
                    let _ = i;
                    self.active -= 1;
                }
                Ev::Verify(i) => {
                    let Some((_, person, eligible)) = self.people[i].verifies else {
                        continue;
                    };
                    if self.people[i].gone || self.people[i].passed_at.is_some() {
                        continue;
                    }
                    if !eligible {
                        // Told their own window at once; no place, no more polls.
                        self.people[i].gone = true;
                        self.turned_away += 1;
                        continue;
                    }
                    let ticket = self.people[i].ticket.expect("arrived");
                    let (ticket, _) =
                        self.draws
                            .verify(&mut self.db, &mut self.node, now, &ticket, person);
                    self.people[i].token = Some(self.node.room.keyring().sign(&ticket));
                    self.people[i].ticket = Some(ticket);
                    if self.people[i].texted.is_some() {
                        self.people[i].away = true;
                        self.away.push(i);
                    }
                }
                Ev::Return(i) => {
                    self.people[i].away = false;
                    let s = self.status(i, now);
                    assert!(s.is_admitted(), "texted before admission");
                    self.handle(i, now, s, true);
                }
            }
        }
    }
}

fn session_other(i: usize) -> WaitingSessionId {
    session(1_000_000 + i as u64)
}

#[test]
fn an_opening_night() {
    let opening = Opening::new(
        QueueId(20210719),
        PREQUEUE_STARTS_MS,
        OPENS_AT_MS,
        MAX_ACTIVE,
        600_000,
    )
    .expect("valid");
    let poll = PollPolicy::new(PollConfig {
        max_queue: MAX_QUEUE,
        expected_prequeue: 6_000,
        ..PollConfig::with_budget(BUDGET_PER_S).with_front(BOOKING_CAPACITY_PER_S)
    })
    .expect("valid");
    let cfg = ControllerConfig {
        latency_target_ms: LATENCY_TARGET_MS,
        ..ControllerConfig::for_opening(&opening)
    };
    let db = Db::new(opening);
    let start = PREQUEUE_STARTS_MS - 30 * MINUTE_MS;
    let mut sim = Sim {
        rng: ChaCha20Rng::seed_from_u64(20210719),
        node: Node::start(&db, keyring(), poll, 32),
        leader: Leader::new(cfg.clone(), 76),
        db,
        poll,
        cfg,
        people: Vec::new(),
        events: BinaryHeap::new(),
        counter: 0,
        active: 0,
        started_since_tick: Vec::new(),
        poll_bins: [vec![0; 4 * 60 * 6 + 1], vec![0; 4 * 60 * 6 + 1]],
        w_history: Vec::new(),
        max_active: 0,
        max_active_at: 0,
        max_queued: 0,
        recovered_at: None,
        w_frozen_ticks: 0,
        ticks: 0,
        ticks_open: 0,
        ticks_over_latency: 0,
        max_latency: 0,
        max_latency_slow: 0,
        extra_calls: 0,
        impatient_refusals: 0,
        draws: People::default(),
        turned_away: 0,
        away: Vec::new(),
        texts: 0,
        passed_on: 0,
    };
    // Who verifies while waiting: drawn from a generator of its own, so the rest of the evening
    // is the same night as without verification.
    let mut verifying = ChaCha20Rng::seed_from_u64(13);

    // Arrivals: free flow 19:00–19:30, pre-queue 19:30–20:00 (a rush in the last minute), then
    // the opening rush and a long tail.
    let mut arrivals: Vec<u64> = Vec::new();
    let mut uniform = |n: u64, from: u64, to: u64, rng: &mut ChaCha20Rng| {
        for _ in 0..n {
            arrivals.push(rng.random_range(from..to));
        }
    };
    uniform(300, start, PREQUEUE_STARTS_MS, &mut sim.rng);
    uniform(3_000, PREQUEUE_STARTS_MS, OPENS_AT_MS, &mut sim.rng);
    uniform(2_000, OPENS_AT_MS - MINUTE_MS, OPENS_AT_MS, &mut sim.rng);
    uniform(
        6_000,
        OPENS_AT_MS,
        OPENS_AT_MS + 5 * MINUTE_MS,
        &mut sim.rng,
    );
    uniform(
        4_000,
        OPENS_AT_MS + 5 * MINUTE_MS,
        OPENS_AT_MS + 45 * MINUTE_MS,
        &mut sim.rng,
    );
    arrivals.sort_unstable();
    for (i, &t) in arrivals.iter().enumerate() {
        let r = sim.rng.random_range(0..100u32);
        let leaves_at = if r < 10 {
            t + (-(1.0 - sim.rng.random::<f64>()).ln() * 300_000.0) as u64
        } else {
            u64::MAX
        };
        sim.people.push(Person {
            arrive_at: t,
            session: session(i as u64),
            token: None,
            ticket: None,
            rank: None,
            leaves_at,
            tabs: if (10..13).contains(&r) { 5 } else { 1 },
            impatient: (13..18).contains(&r),
            passed_at: None,
            last_position: None,
            gone: false,
            told_before_opening: false,
            verifies: None,
            texted: None,
            away: false,
            passed_on: false,
        });
        sim.at(t, Ev::Arrive(i));
        if (PREQUEUE_STARTS_MS..OPENS_AT_MS).contains(&t) {
            let v = verifying.random_range(0..100u32);
            let at = verifying.random_range(t..OPENS_AT_MS);
            let verifies = match v {
                0 => Some((at, SCRIPT_PERSON, true)),
                1..=12 => Some((at, i as u64, false)),
                13..=60 => Some((at, i as u64, true)),
                _ => None,
            };
            sim.people[i].verifies = verifies;
            if (13..=24).contains(&v) {
                // Leaves to be texted: back within 8 minutes mostly, some too late, some never.
                let back = verifying.random_range(0..10u32);
                sim.people[i].texted = Some(match back {
                    0 => None,
                    1 => Some(12 * MINUTE_MS),
                    _ => Some(verifying.random_range(30_000..8 * MINUTE_MS)),
                });
            }
            if verifies.is_some() {
                sim.at(at, Ev::Verify(i));
            }
        }
        if (20..40).contains(&r) {
            for _ in 0..3 {
                let dt = sim.rng.random_range(0..10 * MINUTE_MS);
                sim.at(t + dt, Ev::Reload(i));
            }
        }
    }
    sim.at(start, Ev::Tick);
    sim.at(CRASH_AT_MS, Ev::Crash);
    sim.run(OPENS_AT_MS + 4 * 60 * MINUTE_MS);

    let n = sim.people.len();
    let stayers: Vec<&Person> = sim
        .people
        .iter()
        .filter(|p| {
            p.leaves_at == u64::MAX
                && p.verifies.is_none_or(|(_, _, eligible)| eligible)
                && !p.passed_on
        })
        .collect();
    let passed = stayers.iter().filter(|p| p.passed_at.is_some()).count();
    let max_of = |v: &Vec<u64>| v.iter().copied().max().unwrap_or(0);
    let (max_pre, max_pos) = (max_of(&sim.poll_bins[0]), max_of(&sim.poll_bins[1]));
    let max_bin = (0..sim.poll_bins[0].len())
        .map(|b| sim.poll_bins[0][b] + sim.poll_bins[1][b])
        .max()
        .unwrap_or(0);
    let total_polls: u64 = sim.poll_bins.iter().flatten().sum();
    let end = sim.w_history.last().map_or(0, |&(t, _)| t);
    println!(
        "people {n}, stayers {}, passed {passed}, polls {total_polls}, max polls/10s {max_bin} \
         (pre-queue {max_pre}, positions {max_pos}), \
         extra calls {}, impatient refusals {}, max active {} at +{} s, ticks over latency {} of {} after the opening, \
         max latency {} ms ({} ms in the slowdown), end +{} min, db writes {}, max queued {}, recovered after {:?} ms, frozen ticks {}",
        stayers.len(),
        sim.extra_calls,
        sim.impatient_refusals,
        sim.max_active,
        (sim.max_active_at as i64 - OPENS_AT_MS as i64) / 1000,
        sim.ticks_over_latency,
        sim.ticks_open,
        sim.max_latency,
        sim.max_latency_slow,
        (end as i64 - OPENS_AT_MS as i64) / MINUTE_MS as i64,
        sim.db.writes,
        sim.max_queued,
        sim.recovered_at.map(|t| t - SLOW_FROM_MS),
        sim.w_frozen_ticks,
    );
    assert!(
        sim.max_queued <= MAX_QUEUE,
        "the budget guarantee does not cover this queue"
    );

    // Everyone who stays is eventually admitted and gets a pass.
    assert_eq!(
        passed,
        stayers.len(),
        "someone who stayed was never admitted"
    );
    assert!(
        sim.impatient_refusals > 0,
        "impatient clicks were not exercised"
    );

    // Active sessions stay under the target. The documented transient: people admitted before a
    // crash show up while the restarted controller does not know them as in flight, bounded by
    // what was in flight at the crash (at most `max_active`); we see far less.
    assert!(
        sim.max_active <= u64::from(MAX_ACTIVE),
        "active {} > {MAX_ACTIVE}",
        sim.max_active
    );
    // The booking side is not driven into overload: latency above target only transiently
    // (AIMD probes: under 5% of the time) and never beyond 1.5 × the target — except while the
    // booking side itself slowed down, when admission stops until it has recovered, within two
    // minutes. Within the slowdown, people admitted before it who had not learned of it yet
    // (admission runs faster than the tail's polls can tell everyone, see `queue::PollPolicy`)
    // still arrive: active sessions stay under `max_active` (above), and latency over the target
    // stays under 5% of the time.
    assert!(
        sim.max_latency * 2 <= 3 * LATENCY_TARGET_MS,
        "{}",
        sim.max_latency
    );
    assert!(
        sim.ticks_over_latency * 20 <= sim.ticks_open,
        "over target too often"
    );
    let recovered = sim.recovered_at.expect("recovered during the slowdown") - SLOW_FROM_MS;
    assert!(recovered <= 2 * MINUTE_MS, "{recovered} ms to recover");
    assert!(sim.w_frozen_ticks > 0, "the slowdown was not felt");

    // Poll load within budget in every 10-second window, and each kind within its share.
    let per_bin = BUDGET_PER_S * (BIN_MS / 1000) as f64;
    let share = sim.poll.config().prequeue_share;
    assert!(max_bin as f64 <= per_bin, "{max_bin} polls in 10 s");
    assert!(
        max_pre as f64 <= per_bin * share,
        "{max_pre} pre-queue polls in 10 s"
    );
    // Position polls keep to their half while pre-queue polls may come (from the pre-queue's
    // start until the opening's spread ends); after it they may use the whole budget (the
    // settled schedule), which the total above bounds.
    let window_ends = OPENS_AT_MS
        + sim
            .poll
            .prequeue_spread_ms(sim.node.room.state().pre_reserved());
    let bin_of = |t: u64| ((t - PREQUEUE_STARTS_MS + 30 * MINUTE_MS) / BIN_MS) as usize;
    let max_pos_in_window = sim.poll_bins[1][bin_of(PREQUEUE_STARTS_MS)..bin_of(window_ends)]
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    assert!(
        max_pos_in_window as f64 <= per_bin * (1.0 - share),
        "{max_pos_in_window} position polls in 10 s beside the pre-queue's"
    );
    assert!(
        max_pos > max_pos_in_window,
        "positions never used the settled schedule: {max_pos}"
    );

    // Admission order respects ranks, and FIFO ranks follow arrival order after the opening.
    let mut last_fifo_rank = 0;
    let mut pre_ranks = Vec::new();
    let (mut verified_ranks, mut unverified_ranks, mut script_ranks) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut verified_people = std::collections::HashSet::new();
    for p in &sim.people {
        let t = p.ticket.expect("arrived");
        let r = p.rank.or_else(|| sim.db.read().rank(&t).ok());
        if t.class == Class::Pre {
            let r = r.expect("ranked").0;
            pre_ranks.push(r);
            match t.verified {
                Some(v) => {
                    verified_people.insert(v.person);
                    verified_ranks.push(r);
                    if v.person == SCRIPT_PERSON {
                        script_ranks.push(r);
                    }
                }
                None => unverified_ranks.push(r),
            }
        }
        if p.verifies.is_some_and(|(_, _, eligible)| !eligible) {
            assert!(p.passed_at.is_none(), "someone turned away was let in");
        }
        if t.class == Class::Fifo && p.arrive_at >= OPENS_AT_MS {
            let r = r.expect("ranked").0;
            assert!(r > last_fifo_rank, "FIFO out of arrival order");
            last_fifo_rank = r;
        }
        if let (Some(passed_at), Some(rank)) = (p.passed_at, p.rank) {
            let admitted_at = sim.admitted_at(rank).expect("admitted");
            assert!(admitted_at <= passed_at);
            assert!(sim.watermark_at(passed_at) > rank.0);
        }
    }
    pre_ranks.sort_unstable();
    pre_ranks.dedup();
    assert!(sim.turned_away > 300, "{} turned away", sim.turned_away);
    assert!(
        script_ranks.len() > 20,
        "{} script tickets",
        script_ranks.len()
    );
    script_ranks.dedup();
    assert_eq!(script_ranks.len(), 1, "the script holds one place");
    verified_ranks.sort_unstable();
    verified_ranks.dedup();
    assert_eq!(
        verified_ranks.len(),
        verified_people.len(),
        "one place per verified person"
    );
    let first_unverified = unverified_ranks.iter().min().expect("unverified");
    assert!(
        verified_ranks.iter().all(|r| r < first_unverified),
        "every verified person is ahead of every unverified ticket"
    );
    println!(
        "verified people {}, unverified pre-queue tickets {}, turned away {}, texted {}, passed on {}",
        verified_people.len(),
        unverified_ranks.len(),
        sim.turned_away,
        sim.texts,
        sim.passed_on,
    );
    let asked: usize = sim.people.iter().filter(|p| p.texted.is_some()).count();
    assert!(sim.texts > 300, "{} texted", sim.texts);
    assert!(sim.passed_on > 0 && sim.passed_on < sim.texts);
    // Everyone who asked was reached and texted once (or had abandoned before their turn).
    assert!(sim.texts as usize <= asked);
    assert!(sim.away.is_empty(), "{} never reached", sim.away.len());
    assert_eq!(
        pre_ranks.len(),
        verified_people.len() + unverified_ranks.len(),
        "pre-queue places are not distinct"
    );

    // Admission follows the booking side, not the budget's tail pace: in its busiest 10 s it
    // runs at more than twice the pace (no poll-derived cap), and on average at what the booking
    // side takes (about 400 sessions of ~30 s at the target latency, ≈ 12/s here, which is
    // about the pace: the booking side is the limit, not the polls).
    let pace = sim.poll.shared().fresh_rate_limit_per_s();
    let spread = sim.poll.prequeue_spread_ms(6_000);
    let (from, to) = (OPENS_AT_MS + spread, SLOW_FROM_MS);
    let admitted_per_s =
        (sim.watermark_at(to) - sim.watermark_at(from)) as f64 * 1000.0 / (to - from) as f64;
    let peak_per_s = (0..(to - from) / BIN_MS)
        .map(|b| {
            let at = from + b * BIN_MS;
            sim.watermark_at(at + BIN_MS) - sim.watermark_at(at)
        })
        .max()
        .unwrap_or(0) as f64
        * 1000.0
        / BIN_MS as f64;
    println!(
        "admitted {admitted_per_s:.1}/s until the slowdown (peak {peak_per_s:.1}/s over 10 s); \
         tail pace {pace:.1}/s, front zone {} places",
        sim.poll.front_positions()
    );
    // Any busy 10 s above the tail pace shows there is no poll-derived cap. (Alone, the
    // admission change peaked at 2.6× the pace here; with the fair queue's population — a fifth
    // of the verified turned away, texted people held for their return window — the peak is
    // about 1.6× and the average before the slowdown well below the booking side's capacity:
    // the tail-notice hold and the return window together hold room. Issue 12 follows it up.)
    assert!(peak_per_s > pace, "{peak_per_s}/s vs {pace}/s");

    // People learn of their turn promptly: except for the opening-second spread of the pre-queue,
    // whoever was in the front zone at their last poll within one front interval (plus network
    // delay and a tick) of the watermark passing them, everyone else no later than the tail pace
    // would have admitted them from their last poll.
    let net = 200 + TICK_MS;
    let slack = sim.poll.shared().eta_slack_ms() + net;
    let mut late = Vec::new();
    let mut from_the_front = Vec::new();
    for p in stayers.iter() {
        let (Some(passed_at), Some(rank)) = (p.passed_at, p.rank) else {
            continue;
        };
        if p.texted.is_some() {
            continue; // learned it by text, and came back when they could
        }
        // In free flow the watermark may pass a rank before anyone holds it.
        let admitted_at = sim.admitted_at(rank).expect("admitted").max(p.arrive_at);
        let lateness = passed_at - admitted_at;
        late.push(lateness);
        if admitted_at < OPENS_AT_MS + spread {
            assert!(
                lateness <= spread + slack,
                "{lateness} ms late in the spread"
            );
            continue;
        }
        let Some((polled_at, position)) = p.last_position else {
            assert!(lateness <= net, "admitted on arrival, {lateness} ms late");
            continue;
        };
        if position <= sim.poll.front_positions() {
            from_the_front.push(lateness);
            assert!(
                lateness <= sim.poll.front_notice_ms() + net,
                "{lateness} ms late from position {position} in the front zone"
            );
        } else {
            let at_pace = polled_at + ((position - 1) as f64 * 1000.0 / pace) as u64;
            assert!(
                passed_at <= admitted_at.max(at_pace) + slack,
                "learned at +{} ms, admitted at +{} ms, last poll at +{} ms from position {position}",
                passed_at - OPENS_AT_MS,
                admitted_at - OPENS_AT_MS,
                polled_at - OPENS_AT_MS,
            );
        }
    }
    late.sort_unstable();
    from_the_front.sort_unstable();
    assert!(from_the_front.len() > 1_000, "{}", from_the_front.len());
    println!(
        "lateness p50 {} p99 {} max {}; {} learned from the front zone, their max {}",
        late[late.len() / 2],
        late[late.len() * 99 / 100],
        late[late.len() - 1],
        from_the_front.len(),
        from_the_front.last().copied().unwrap_or(0),
    );
}
