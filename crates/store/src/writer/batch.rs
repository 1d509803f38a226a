//! Which waiting requests the writer commits together: a pure rule, no I/O and no clock, so it
//! can be tested on its own (the writer loop only executes it).
//!
//! Each request carries a cost, an estimate of the rows it reads and writes in the transaction
//! (a booking: its booking row, idempotency record and message; a supply change: as many as
//! the budget, so it always goes alone). The next batch is the longest run of requests from the
//! front of the queue, in order, whose costs fit the budget and whose number fits the count
//! limit; a request that alone costs more than the budget goes alone. Taking a prefix keeps the
//! queue first in, first out: nobody is overtaken, so nobody waits behind requests that came
//! after them, and a request behind a long one goes in the very next batch.
//!
//! Before it commits a small batch, the writer may wait a little for more ([`Gather`], group
//! commit's delay, as PostgreSQL's `commit_delay`): only while requests have been coming fast
//! enough that more are due within the delay and a crowd is writing (two or more requests
//! waited together within the last second), so a lone request at a quiet hour, or a client
//! sending one request after another, is committed at once, and never longer than the delay. A commit costs the writer a sync and every page the
//! batch touched, whatever the number of requests in it; on a night of a few thousand writes a
//! second, batches of three paid that for every three requests.

use std::time::{Duration, Instant};

/// The limits of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests committed together at most.
    pub max_count: usize,
    /// Cost committed together at most (unless one request costs more alone).
    pub max_cost: u64,
}

/// How many requests from the front of the queue (given by their costs, in queue order) go into
/// the next batch: 0 only for an empty queue.
pub fn next_batch(costs: impl IntoIterator<Item = u64>, budget: Budget) -> usize {
    let mut taken = 0;
    let mut total: u64 = 0;
    for cost in costs {
        if taken == budget.max_count.max(1) {
            break;
        }
        let with = total.saturating_add(cost);
        // The first request always goes, however costly: a queue never stalls.
        if taken > 0 && with > budget.max_cost {
            break;
        }
        total = with;
        taken += 1;
    }
    taken
}

/// How long the writer waits for more requests before committing a small batch, and for how
/// many: the requests expected within [`Gather::delay`] at the rate they have come lately. The
/// rate is measured from the batches themselves (each takes what came since the one before), an
/// exponentially weighted mean over [`GATHER_RATE_TAU`], so a burst raises it within a few
/// batches and a quiet spell brings it back to no wait.
#[derive(Debug, Clone, Copy)]
pub struct Gather {
    delay: Duration,
    /// Requests per second lately.
    rate_per_s: f64,
    last_batch: Option<Instant>,
    /// When two or more requests last went into one batch: the sign of a crowd.
    crowd_seen: Option<Instant>,
}

/// How many mean gaps between requests a gather waits without one before it stops. A crowd
/// arriving at random leaves a gap four times the mean once in 55 (e⁻⁴); at twice the mean,
/// once in seven, which stopped half the gathers of five short (the 40% replay's writes per
/// commit fell from 5.6 to 3.1, bench/loadtest-53-54-2026-12-05-gather/).
pub const QUIET_GAPS: f64 = 4.0;

/// The time constant of the measured request rate.
pub const GATHER_RATE_TAU: Duration = Duration::from_secs(1);

/// How long a batch of two or more requests counts as a crowd writing. A client sending its
/// writes one after another, each waiting for the last one's answer, never has two in one
/// batch; a crowd of a few hundred writes a second has many such batches a second. A crowd that
/// shrank to one such client within this memory holds its writes for a quiet gap (at most the
/// delay) before they go, until the memory runs out.
pub const CROWD_MEMORY: Duration = Duration::from_secs(1);

impl Gather {
    /// No wait at all when `delay` is zero.
    pub fn new(delay: Duration) -> Gather {
        Gather {
            delay,
            rate_per_s: 0.0,
            last_batch: None,
            crowd_seen: None,
        }
    }

    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Requests per second lately, as measured.
    pub fn rate_per_s(&self) -> f64 {
        self.rate_per_s
    }

    /// A batch of `taken` requests was taken at `now`: they came since the last one, and they
    /// waited together.
    pub fn taken(&mut self, taken: usize, now: Instant) {
        if taken >= 2 {
            self.crowd_seen = Some(now);
        }
        let Some(last) = self.last_batch.replace(now) else {
            return;
        };
        // A batch taken in the same instant as the last (a clock that did not move) adds its
        // requests to the next interval instead of dividing by nothing.
        let dt = now.saturating_duration_since(last).as_secs_f64().max(1e-6);
        let weight = 1.0 - (-dt / GATHER_RATE_TAU.as_secs_f64()).exp();
        self.rate_per_s += weight * (taken as f64 / dt - self.rate_per_s);
    }

    /// How many requests the next batch should wait for (at most [`Gather::delay`]) when
    /// `waiting` wait at `now`: `waiting` itself, so no wait, unless at least one more is
    /// expected within the delay and a crowd is writing (two or more wait now, or went into one
    /// batch within [`CROWD_MEMORY`]); never more than a batch's count.
    ///
    /// Why the second condition: the rate alone cannot tell a crowd from one client sending its
    /// writes one after another, each waiting for the answer to the last (an operator's script,
    /// a test). Such a client never has a second request waiting, and holding its write for one
    /// that cannot come would only slow it down. Why remember a crowd rather than ask for two
    /// waiting now: after a commit of one, a crowd of a few thousand writes a second leaves the
    /// writer with one request about as often as with several, and committing that one alone
    /// gave back half of what the delay saved (bench/loadtest-53-54-2026-12-05-gather/).
    pub fn target(&self, waiting: usize, budget: Budget, now: Instant) -> usize {
        let expected = self.rate_per_s * self.delay.as_secs_f64();
        let crowd = waiting >= 2
            || self
                .crowd_seen
                .is_some_and(|seen| now.saturating_duration_since(seen) <= CROWD_MEMORY);
        if expected < 1.0 || waiting == 0 || !crowd {
            return waiting;
        }
        let expected = expected.min(budget.max_count as f64).round() as usize;
        expected.max(waiting).min(budget.max_count.max(waiting))
    }

    /// How long a gather goes on without a new request before it stops short of its target:
    /// [`QUIET_GAPS`] mean gaps between requests at the measured rate (a crowd keeps it busy;
    /// a few clients that are all waiting for their answers send nothing more, and their batch
    /// goes after one such gap, not the whole delay). At most the delay.
    pub fn quiet_gap(&self) -> Duration {
        if self.rate_per_s <= 0.0 {
            return self.delay;
        }
        Duration::from_secs_f64((QUIET_GAPS / self.rate_per_s).min(self.delay.as_secs_f64()))
    }

    /// When a gather holding `waiting` of its `target` looks at the queue again, at `now`,
    /// having last found a new request there at `news` and to stop by `deadline`: when the
    /// missing requests are due at the measured rate (never sooner than [`MIN_LOOK`]), and no
    /// later than a quiet gap after the news or the deadline. `None`: it stops now, with its
    /// target met, its deadline passed, or a quiet gap gone by without a request.
    ///
    /// Why the writer sleeps between looks rather than wait on the queue: a thread blocked on
    /// the queue is woken by each request, a system call for the request's sender and a switch
    /// for the writer, about ten times a commit in the 40% replay (2.8% of the server's samples in
    /// the senders' `futex` wakes alone). A writer asleep is not waited on, so a sender only
    /// queues. The stop is decided on what the looks find, so it comes at most one look later
    /// than a wait woken by each request would have stopped, and never after the deadline.
    pub fn next_look(
        &self,
        waiting: usize,
        target: usize,
        now: Instant,
        news: Instant,
        deadline: Instant,
    ) -> Option<Instant> {
        let quiet_until = news + self.quiet_gap();
        if waiting >= target || now >= deadline || now >= quiet_until {
            return None;
        }
        // A rate too small to give a time (never, with a target above what waits: that takes
        // one request due within the delay) waits out the delay.
        let due = Duration::try_from_secs_f64((target - waiting) as f64 / self.rate_per_s)
            .unwrap_or(self.delay);
        Some((now + due.max(MIN_LOOK)).min(quiet_until).min(deadline))
    }
}

/// The shortest sleep between a gather's looks at the queue: a shorter one would wake the
/// writer about as often as the requests themselves did.
pub const MIN_LOOK: Duration = Duration::from_micros(250);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BOOKING: u64 = 3;

    fn budget(max_count: usize, max_cost: u64) -> Budget {
        Budget {
            max_count,
            max_cost,
        }
    }

    /// Drains a queue with the rule: the batches, as index ranges.
    fn drain(costs: &[u64], budget: Budget) -> Vec<std::ops::Range<usize>> {
        let mut start = 0;
        let mut batches = Vec::new();
        while start < costs.len() {
            let n = next_batch(costs[start..].iter().copied(), budget);
            assert!(n > 0, "a non-empty queue always yields a batch");
            batches.push(start..start + n);
            start += n;
        }
        batches
    }

    #[test]
    fn an_empty_queue_gives_no_batch() {
        assert_eq!(next_batch([], budget(10, 10)), 0);
    }

    #[test]
    fn a_long_operation_goes_alone_and_the_bookings_behind_it_go_next() {
        let apply = 1_000_000;
        let costs = [BOOKING, BOOKING, apply, BOOKING, BOOKING, BOOKING];
        let batches = drain(&costs, budget(4096, 100));
        assert_eq!(batches, vec![0..2, 2..3, 3..6]);
    }

    #[test]
    fn the_count_limit_holds_for_free_requests() {
        assert_eq!(next_batch([0; 10], budget(4, 100)), 4);
        // A zero limit still makes progress.
        assert_eq!(next_batch([0; 10], budget(0, 100)), 1);
    }

    /// The default commit delay.
    const DELAY: Duration = Duration::from_millis(2);

    /// A gather fed a steady stream of `per_s` requests a second from `from`, taken `batches`
    /// times every `every`; the last batch is taken at `from + every × batches`.
    fn steady(from: Instant, per_s: f64, every: Duration, batches: u32, delay: Duration) -> Gather {
        let mut gather = Gather::new(delay);
        for i in 0..=batches {
            let taken = (per_s * every.as_secs_f64()).round() as usize;
            gather.taken(taken, from + every * i);
        }
        gather
    }

    /// 3,000 requests a second in batches of three for five seconds from `from`, with the
    /// default delay of 2 ms; the last batch at `from + 5 s`.
    fn busy(from: Instant) -> Gather {
        steady(from, 3_000.0, Duration::from_millis(1), 5_000, DELAY)
    }

    const AFTER_BUSY: Duration = Duration::from_secs(5);

    #[test]
    fn a_quiet_writer_commits_at_once() {
        // Ten requests a second, two at a time: none more expected within 2 ms.
        let t0 = Instant::now();
        let gather = steady(t0, 10.0, Duration::from_millis(200), 50, DELAY);
        let then = t0 + Duration::from_secs(10);
        // Even with a few waiting and a batch of two just now: at this rate nobody more is due.
        assert_eq!(gather.target(3, budget(4096, 16_384), then), 3);
        assert_eq!(gather.target(1, budget(4096, 16_384), then), 1);
        // Nothing measured yet: no wait either.
        let fresh = Gather::new(DELAY);
        assert_eq!(fresh.target(3, budget(4096, 16_384), t0), 3);
    }

    #[test]
    fn a_busy_writer_waits_for_what_the_delay_brings() {
        // 3,000 requests a second in batches of three: six are due within 2 ms.
        let t0 = Instant::now();
        let gather = busy(t0);
        let now = t0 + AFTER_BUSY;
        assert!(
            (gather.rate_per_s() - 3_000.0).abs() < 30.0,
            "{}",
            gather.rate_per_s()
        );
        assert_eq!(gather.target(3, budget(4096, 16_384), now), 6);
        // One request waiting, a moment after a batch of three: a crowd is writing, so its
        // write waits for the others' too.
        assert_eq!(gather.target(1, budget(4096, 16_384), now), 6);
        // A gather stops after four mean gaps (1/3 ms each) without a request.
        let gap = gather.quiet_gap();
        assert!(
            gap > Duration::from_micros(1_300) && gap < Duration::from_micros(1_400),
            "{gap:?}"
        );
        // More already waiting than expected: no wait.
        assert_eq!(gather.target(40, budget(4096, 16_384), now), 40);
        // Never more than a batch's count.
        assert_eq!(gather.target(3, budget(4, 16_384), now), 4);
        // Nothing waiting: nothing to gather for.
        assert_eq!(gather.target(0, budget(4096, 16_384), now), 0);
        // No delay, no wait, however busy.
        let off = steady(t0, 3_000.0, Duration::from_millis(1), 5_000, Duration::ZERO);
        assert_eq!(off.target(3, budget(4096, 16_384), now), 3);
    }

    #[test]
    fn a_gather_looks_when_the_missing_requests_are_due_and_stops_on_what_it_finds() {
        // 3,000 requests a second: one every 1/3 ms, a quiet gap of 4/3 ms, a delay of 2 ms.
        let t0 = Instant::now();
        let gather = busy(t0);
        let start = t0 + AFTER_BUSY;
        let deadline = start + DELAY;
        let gap = gather.quiet_gap();
        // Three of six: the other three are due within a millisecond, before the quiet gap ends.
        let look = gather
            .next_look(3, 6, start, start, deadline)
            .expect("it waits");
        let due = look - start;
        assert!(
            due > Duration::from_micros(950) && due < Duration::from_micros(1_050),
            "{due:?}"
        );
        // Five of six: the last is due in a third of a millisecond, but the writer does not
        // look sooner than MIN_LOOK.
        let look = gather
            .next_look(5, 6, start, start, deadline)
            .expect("it waits");
        let due = look - start;
        assert!(
            due > Duration::from_micros(320) && due < Duration::from_micros(350),
            "{due:?}"
        );
        // Faster, so that the last is due in 1/10 ms: it looks after MIN_LOOK all the same.
        let fast = steady(t0, 10_000.0, Duration::from_millis(1), 5_000, DELAY);
        let look = fast
            .next_look(5, 6, start, start, deadline)
            .expect("it waits");
        assert_eq!(look - start, MIN_LOOK);
        // One of six, with five due in 5/3 ms: it looks when the quiet gap would end.
        assert_eq!(
            gather.next_look(1, 6, start, start, deadline),
            Some(start + gap)
        );
        // News a moment ago moves the quiet gap's end, never past the deadline.
        let later = start + Duration::from_micros(1_500);
        let look = gather
            .next_look(1, 6, later, later, deadline)
            .expect("it waits");
        assert_eq!(look, deadline);
        // It stops: at its target, at the deadline, after a quiet gap without news.
        assert_eq!(gather.next_look(6, 6, start, start, deadline), None);
        assert_eq!(gather.next_look(1, 6, deadline, deadline, deadline), None);
        assert_eq!(gather.next_look(1, 6, start + gap, start, deadline), None);
        // Within the quiet gap with nothing new yet, it goes on looking.
        let before_gap = start + gap - Duration::from_micros(100);
        assert!(
            gather
                .next_look(1, 6, before_gap, start, deadline)
                .is_some()
        );
    }

    #[test]
    fn a_client_sending_one_write_after_another_never_waits() {
        // One client, each write sent when the last one's answer came: 2,000 a second, every
        // batch holds one. The rate alone says one more is due within the delay (4).
        let t0 = Instant::now();
        let lone = steady(t0, 2_000.0, Duration::from_micros(500), 10_000, DELAY);
        assert!(lone.rate_per_s() > 1_900.0, "{}", lone.rate_per_s());
        assert_eq!(lone.target(1, budget(4096, 16_384), t0 + AFTER_BUSY), 1);
    }

    #[test]
    fn a_crowd_is_remembered_for_a_second() {
        let t0 = Instant::now();
        let mut gather = busy(t0);
        // The crowd thins to one client sending writes one after another, fast: its batches
        // hold one each. Within a second of the last batch of three it still waits (at most a
        // quiet gap, for writes that may come); after that, never.
        let crowd_left = t0 + AFTER_BUSY;
        let mut at = crowd_left;
        while at < crowd_left + CROWD_MEMORY {
            assert!(gather.target(1, budget(4096, 16_384), at) > 1);
            at += Duration::from_millis(1);
            gather.taken(1, at);
        }
        let forgotten = crowd_left + CROWD_MEMORY + Duration::from_millis(1);
        assert!(gather.rate_per_s() > 500.0, "{}", gather.rate_per_s());
        assert_eq!(gather.target(1, budget(4096, 16_384), forgotten), 1);
        // Two waiting at once is a crowd again, at once.
        assert!(gather.target(2, budget(4096, 16_384), forgotten) > 2);
    }

    #[test]
    fn the_rate_falls_back_when_requests_stop_coming() {
        let t0 = Instant::now();
        let mut gather = busy(t0);
        // One request after five quiet seconds: the rate is that of the quiet spell.
        let later = t0 + Duration::from_secs(10);
        gather.taken(1, later);
        gather.taken(1, later + Duration::from_secs(5));
        assert!(gather.rate_per_s() < 1.0, "{}", gather.rate_per_s());
        assert_eq!(
            gather.target(2, budget(4096, 16_384), later + Duration::from_secs(5)),
            2
        );
        // Never a longer quiet gap than the delay.
        assert_eq!(gather.quiet_gap(), DELAY);
    }

    proptest! {
        #[test]
        fn batches_keep_the_budget_the_order_and_take_all_they_can(
            costs in proptest::collection::vec(prop_oneof![
                8 => Just(BOOKING),
                2 => 0u64..20,
                1 => 50u64..5_000,
            ], 0..300),
            max_count in 1usize..64,
            max_cost in 1u64..400,
        ) {
            let budget = budget(max_count, max_cost);
            let batches = drain(&costs, budget);
            // In order, each request exactly once.
            let served: Vec<usize> = batches.iter().flat_map(|b| b.clone()).collect();
            prop_assert_eq!(served, (0..costs.len()).collect::<Vec<_>>());
            for batch in &batches {
                let cost: u64 = costs[batch.clone()].iter().sum();
                prop_assert!(batch.len() <= max_count);
                // Over the budget only as a single request.
                prop_assert!(cost <= max_cost || batch.len() == 1);
                // Maximal: the next request would have broken a limit.
                if batch.end < costs.len() {
                    prop_assert!(
                        batch.len() == max_count || cost + costs[batch.end] > max_cost
                    );
                }
            }
        }

        #[test]
        fn a_booking_waits_only_for_what_came_before_it(
            costs in proptest::collection::vec(prop_oneof![
                8 => Just(BOOKING),
                1 => 1_000u64..100_000,
            ], 1..300),
            max_cost in 12u64..400,
        ) {
            // However long the operations ahead of it, a booking goes in a batch no later than
            // one per long operation ahead of it plus what its cheap predecessors fill.
            let budget = budget(4096, max_cost);
            let batches = drain(&costs, budget);
            for (i, &cost) in costs.iter().enumerate() {
                if cost != BOOKING {
                    continue;
                }
                let turn = batches.iter().position(|b| b.contains(&i)).unwrap_or(usize::MAX);
                let long_ahead = costs[..i].iter().filter(|&&c| c > max_cost).count();
                let cheap_ahead: u64 = costs[..i].iter().filter(|&&c| c <= max_cost).sum();
                // Two batches of cheap requests in a row hold more than the budget, unless a
                // long operation cut the first one short.
                let bound = 2 * long_ahead + 2 * (cheap_ahead / max_cost) as usize + 3;
                prop_assert!(turn <= bound, "booking {} served in batch {}, bound {}", i, turn, bound);
            }
        }
    }
}
