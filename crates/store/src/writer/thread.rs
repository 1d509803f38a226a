//! The writer thread: takes batches from the queue by the batch rule, runs each in one
//! transaction, answers after the commit, and recovers from storage faults.

use super::api::{Fault, WriteError};
use super::batch::{Budget, Gather, next_batch};
use super::health::{Health, WriterStats};
use super::ops::{Answer, Job, Ops, Previewed, Refuse};
use crate::{Change, StoreError, WriteBackend};
use domain::booking::{BookingId, PersonId};
use domain::ledger::reschedule::PlanUndo;
use domain::ledger::{Availability, Ledger};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Requests that may wait for the writer; more are refused with `Busy`.
    pub queue_capacity: usize,
    /// Requests committed together at most.
    pub max_batch: usize,
    /// Cost (about rows read and written, see `batch`) committed together at most; a request
    /// that costs more alone, or whose cost is unknown (a supply change), goes alone.
    pub max_batch_cost: u64,
    /// Cost (about rows) of one piece of a supply change: each piece is a transaction of its
    /// own, with the bookings that came meanwhile decided before the next one.
    pub supply_piece_cost: u64,
    /// After a fault, the first wait before the writer tries again to rebuild its ledger or to
    /// write; each failed try doubles it, up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// The longest the writer waits for more requests before committing a small batch, for a
    /// crowd only: while they come fast enough that more are due within it and two or more
    /// have waited together within the last second (`batch::Gather`); zero: never.
    pub commit_delay: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 20_000,
            max_batch: 4096,
            // 4,096 bookings at 3 rows each fit: the count binds for bookings alone.
            max_batch_cost: 16_384,
            // About 50 ms of writing on a busy machine: a booking behind a piece waits about
            // that long (see bench/reschedule.md).
            supply_piece_cost: 1_024,
            // A full disk is usually freed by hand: probing every 5 s at most costs nothing and
            // brings writes back within seconds of the space.
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            commit_delay: DEFAULT_COMMIT_DELAY,
        }
    }
}

/// The writer's default [`WriterConfig::commit_delay`]. Measured in the 40% replay of 2021's
/// opening on a 2-core VM (`bench/loadtest-53-54-2026-12-05-gather/`): at 2,200–3,100 writes a
/// second the writer committed 2.3 writes at a time; waiting up to 2 ms made its batches
/// larger and cut the server's CPU per booked person by 7% (13% when it also waited for lone
/// clients), for about a millisecond more on a write's median and a lower p99; remembering a
/// crowd for a second took 6–8% more (`bench/loadtest-53-54-2026-12-05-crowd/`). Then 5 ms
/// against 2 ms on a 2-core Intel Xeon VM, the same replay: 43% fewer commits (9.5 writes each
/// against 5.5) and 3–6% less server CPU per booked person, for a write's median about 2 ms
/// later and admitted people's p99 9.5–9.7 ms (6.7–10.8 ms at 2 ms), in three alternated pairs
/// (`bench/loadtest-53-54-2026-12-05-evening/`). A commit there costs the writer about a third
/// of a millisecond of CPU, most of it the log's page writes and the sync (a trip out of the VM).
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_millis(5);

/// How often an idle writer looks whether it still has the right to write (see
/// [`WriteBackend::ledger_lost`]).
const IDLE_LOOK: Duration = Duration::from_millis(100);

/// The setting the writer rewrites to find out whether storage takes writes again.
pub const PROBE_SETTING: &str = "writer_probe";

/// How often a piece of a long write that storage is not ready for asks again, when nothing
/// else is waiting (see [`WriteBackend::room_for_long_write`]).
const PIECE_RECHECK: Duration = Duration::from_millis(20);

/// A piece waiting this long for storage raises an alarm (again each time as long again):
/// storage is not catching up (checkpoints failing, or a reader pinning the log).
const PIECE_WAIT_ALARM: Duration = Duration::from_secs(60);

fn reload<B: WriteBackend>(backend: &mut B, ledger: &mut Ledger) -> Result<(), StoreError> {
    // Claimed before the ledger is touched: a standby keeps its view when it cannot claim it.
    backend.claim_ledger()?;
    take_up_plan(backend, ledger)?;
    ledger.reset();
    backend.active_bookings(&mut |booking| ledger.restore(booking))?;
    ledger.number_after(BookingId(backend.max_ids()?.booking));
    Ok(())
}

/// Takes up the planned supply and schedules as stored: another node holding the ledger may
/// have changed them (a supply change) since this one built its own.
fn take_up_plan<B: WriteBackend>(backend: &mut B, ledger: &mut Ledger) -> Result<(), StoreError> {
    let plan = backend.stored_plan(ledger.availability().calendar().first)?;
    ledger.take_up_plan(&plan.deliveries, plan.schedules);
    Ok(())
}

/// How often a standby brings its view of what is left to book up to date (clinic search on a
/// node that forwards its bookings): each look reads the bookings written since the last one
/// (every active booking, the first time and after a supply change), so not at the 100 ms the
/// standby asks for the lease.
pub const STANDBY_VIEW_EVERY: Duration = Duration::from_secs(1);

/// A standby's view: the ledger rebuilt from committed bookings, without the right to write.
/// Shown to readers only; a node decides nothing on it (it must [`reload`] first). Read whole
/// when `whole` or the backend cannot tell what changed; otherwise kept up with the bookings
/// written since it was last read. Hidden when it cannot be read, as a half-read ledger would
/// show places that may not exist.
fn view<B: WriteBackend>(
    backend: &mut B,
    ledger: &mut Ledger,
    whole: bool,
    stats: &WriterStats,
) -> Result<(), StoreError> {
    let read = if whole {
        Ok(false)
    } else {
        backend.view_changes(&mut |booking| ledger.refresh(booking))
    }
    .and_then(|kept_up| {
        if kept_up {
            stats.views_kept_up.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        stats.views_whole.fetch_add(1, Ordering::Relaxed);
        take_up_plan(backend, ledger)?;
        ledger.reset();
        backend.committed_bookings(&mut |booking| ledger.restore(booking))
    });
    if read.is_err() {
        ledger.hide_availability();
    }
    read
}

/// What [`spawn`] gives the handle: the queue's sending end, what is left to book, counters.
pub(super) struct Started {
    pub queue: SyncSender<Job>,
    pub availability: Arc<Availability>,
    pub stats: Arc<WriterStats>,
}

/// Rebuilds `ledger` from the backend's active bookings and starts the writer thread.
pub(super) fn spawn<B: WriteBackend>(
    mut backend: B,
    mut ledger: Ledger,
    config: WriterConfig,
) -> Result<Started, StoreError> {
    // A database the ledger cannot be built from refuses to start, loudly. A node whose
    // ledger another node writes starts standing by, and takes over when it can.
    let stats = Arc::new(WriterStats::default());
    let fault = match reload(&mut backend, &mut ledger) {
        Ok(()) => None,
        Err(StoreError::Standby(why)) => {
            tracing::warn!(%why, "standing by: another node writes the ledger");
            view(&mut backend, &mut ledger, true, &stats)?;
            Some(Fault::Standby)
        }
        Err(error) => return Err(error),
    };
    // Now, not at the first supply preview: that would hold bookings for the page faults.
    ledger.prepare_snapshot_buffers();
    let next_person = backend.max_ids()?.person + 1;
    let (queue, jobs) = sync_channel(config.queue_capacity);
    let started = Started {
        queue,
        availability: ledger.availability(),
        stats: Arc::clone(&stats),
    };
    let mut state = WriterState {
        backend,
        ledger,
        undo: Vec::new(),
        next_person,
        stats,
        budget: Budget {
            max_count: config.max_batch.max(1),
            max_cost: config.max_batch_cost,
        },
        waiting: VecDeque::new(),
        pieces: VecDeque::new(),
        planning: VecDeque::new(),
        pieces_held: None,
        gather: Gather::new(config.commit_delay),
        previewed: None,
        rebuilds: 0,
        piece_cost: config.supply_piece_cost.max(1),
        fault,
        retry: Backoff::new(config.retry_min, config.retry_max),
        next_try: Instant::now() + config.retry_min,
        probes: 0,
        viewed_at: fault.map(|_| Instant::now()),
        view_whole: false,
    };
    if let Some(fault) = fault {
        state.stats.set_health(Health::Failing(fault));
    }
    std::thread::Builder::new()
        .name("yeyak-writer".into())
        .spawn(move || {
            let _stopped = MarkStopped(Arc::clone(&state.stats));
            state.run(jobs);
        })
        .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
    Ok(started)
}

struct WriterState<B> {
    backend: B,
    ledger: Ledger,
    /// Supply and schedule edits made in memory by this batch, undone if it fails.
    undo: Vec<PlanUndo>,
    next_person: u64,
    stats: Arc<WriterStats>,
    budget: Budget,
    /// Requests taken off the queue, not yet in a batch (at most a batch's count more, and the
    /// next piece of a supply change).
    waiting: VecDeque<Job>,
    /// The next pieces of long writes, until storage has room for them: they then go behind
    /// what is waiting.
    pieces: VecDeque<Job>,
    /// Supply changes whose plan is being made beside the writer (`supply`): each goes behind
    /// what is waiting once its plan is ready.
    planning: VecDeque<Job>,
    /// Since when storage has not had room for them, and when the last alarm was raised.
    pieces_held: Option<Held>,
    /// How long to wait for more requests before committing a small batch.
    gather: Gather,
    /// The last supply plan previewed (see `ops::Previewed`).
    previewed: Option<Previewed>,
    /// Ledger rebuilds so far.
    rebuilds: u64,
    piece_cost: u64,
    /// Why the writer is not writing; `None` when it is.
    fault: Option<Fault>,
    retry: Backoff,
    /// When to try again to recover from `fault`.
    next_try: Instant,
    /// Probe writes made, the value of the next one.
    probes: u64,
    /// When a standby last reloaded its view of what is left (`None`: reload it now).
    viewed_at: Option<Instant>,
    /// Whether that view must be read whole (it was hidden), not kept up with what changed.
    view_whole: bool,
}

/// Pieces waiting for storage: since when, and the last alarm about it.
#[derive(Debug, Clone, Copy)]
struct Held {
    since: Instant,
    alarmed: Instant,
}

/// Marks the writer stopped when its thread ends, however it ends (a panic included).
struct MarkStopped(Arc<WriterStats>);

impl Drop for MarkStopped {
    fn drop(&mut self) {
        self.0.set_health(Health::Stopped);
    }
}

/// A wait that doubles after each failure, up to a limit.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The wait before the next try; the one after is twice as long.
    fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    fn reset(&mut self) {
        self.next = self.min;
    }
}

impl<B: WriteBackend> WriterState<B> {
    fn run(&mut self, jobs: Receiver<Job>) {
        loop {
            if let Some(fault) = self.fault {
                // Queued before the fault was known: refused like the rest.
                self.refuse_waiting(fault);
                let wait = self.next_try.saturating_duration_since(Instant::now());
                match jobs.recv_timeout(wait) {
                    Ok(job) => self.waiting.push_back(job),
                    Err(RecvTimeoutError::Timeout) => self.recover(),
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                continue;
            }
            self.release_pieces();
            if self.waiting.is_empty() {
                match self.next_request(&jobs) {
                    Next::Request(job) => self.waiting.push_back(job),
                    Next::LookAgain => continue,
                    Next::Closed => return,
                }
            }
            self.take_waiting(&jobs);
            self.gather(&jobs);
            let costs = self.waiting.iter().map(|job| cost(job, self.budget));
            let n = next_batch(costs, self.budget);
            self.gather.taken(n, Instant::now());
            let batch: Vec<Job> = self.waiting.drain(..n).collect();
            self.stats
                .queued
                .fetch_sub(batch.len() as u64, Ordering::Relaxed);
            let then = self.commit_batch(batch);
            if !then.is_empty() {
                // Behind what came during this batch: those requests go first.
                self.take_waiting(&jobs);
                for job in then {
                    if job.task.awaits_plan() {
                        self.planning.push_back(job);
                    } else {
                        self.pieces.push_back(job);
                    }
                }
            }
        }
    }

    /// Waits for the next request; while pieces wait for storage, only until it is time to
    /// ask again whether it has room for them. A closed queue still lets them finish.
    fn next_request(&mut self, jobs: &Receiver<Job>) -> Next {
        if self.pieces.is_empty() && self.planning.is_empty() {
            if !self.backend.may_lose_ledger() {
                return jobs.recv().map_or(Next::Closed, Next::Request);
            }
            return match jobs.recv_timeout(IDLE_LOOK) {
                Ok(job) => Next::Request(job),
                Err(RecvTimeoutError::Timeout) => {
                    self.stand_by_if_ledger_lost();
                    Next::LookAgain
                }
                Err(RecvTimeoutError::Disconnected) => Next::Closed,
            };
        }
        match jobs.recv_timeout(PIECE_RECHECK) {
            Ok(job) => Next::Request(job),
            Err(RecvTimeoutError::Timeout) => Next::LookAgain,
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(PIECE_RECHECK);
                Next::LookAgain
            }
        }
    }

    /// An idle writer whose right to write went (its part given up to another node, or its
    /// lease found taken) stands by now, not at its next batch, so requests for its part are
    /// forwarded at once and readiness says so.
    fn stand_by_if_ledger_lost(&mut self) {
        if !self.backend.ledger_lost() {
            return;
        }
        tracing::info!(
            part = self.ledger.part().index(),
            "no longer writing this part of the \
            ledger: standing by"
        );
        self.fault = Some(Fault::Standby);
        self.stats.set_health(Health::Failing(Fault::Standby));
        // The ledger was this writer's: a standby's view of it is read whole.
        self.viewed_at = None;
        self.view_whole = true;
        self.next_try = Instant::now();
    }

    /// Puts the pieces of long writes behind what waits if storage has room for them now;
    /// otherwise they stay, bookings go first, and a long wait raises an alarm.
    fn release_pieces(&mut self) {
        self.release_plans();
        if self.pieces.is_empty() {
            return;
        }
        let room = self.backend.room_for_long_write().unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot tell whether storage has room for a long write; \
                it waits");
            false
        });
        if room {
            if let Some(held) = self.pieces_held.take() {
                let waited_ms = held.since.elapsed().as_millis() as u64;
                // Short waits are the rule under a long write: only a long one is news.
                if waited_ms >= 1_000 {
                    tracing::info!(waited_ms, "storage caught up: the supply change goes on");
                } else {
                    tracing::debug!(waited_ms, "storage caught up: the supply change goes on");
                }
                self.stats.pieces_waiting.store(0, Ordering::Relaxed);
            }
            self.stats
                .queued
                .fetch_add(self.pieces.len() as u64, Ordering::Relaxed);
            self.waiting.extend(self.pieces.drain(..));
            return;
        }
        let now = Instant::now();
        let held = self.pieces_held.get_or_insert_with(|| {
            self.stats.piece_holds.fetch_add(1, Ordering::Relaxed);
            self.stats.pieces_waiting.store(1, Ordering::Relaxed);
            Held {
                since: now,
                alarmed: now,
            }
        });
        if now.duration_since(held.alarmed) >= PIECE_WAIT_ALARM {
            held.alarmed = now;
            let waited_s = now.duration_since(held.since).as_secs();
            tracing::error!(
                waited_s,
                "ALARM: a supply change has waited for storage to copy \
                its write-ahead log back (are checkpoints failing, or a reader holding it?); \
                bookings go on, the change waits"
            );
        }
    }

    /// Puts the supply plans made beside the writer that are ready behind what waits: like the
    /// change that asked for them, they do not wait for storage (an apply's pieces after the
    /// first do).
    fn release_plans(&mut self) {
        if self.planning.is_empty() {
            return;
        }
        let mut still = VecDeque::new();
        for mut job in self.planning.drain(..) {
            if job.task.ready() {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                self.waiting.push_back(job);
            } else {
                still.push_back(job);
            }
        }
        self.planning = still;
    }

    /// Moves what is queued into `waiting`, up to one batch's count beyond what waits already:
    /// the queue's bound still holds the rest.
    fn take_waiting(&mut self, jobs: &Receiver<Job>) {
        while self.waiting.len() < self.budget.max_count {
            match jobs.try_recv() {
                Ok(job) => self.waiting.push_back(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
    }

    /// Waits up to the commit delay for the requests expected within it (`batch::Gather`),
    /// stopping sooner when none comes for a quiet gap, unless what waits already fills a
    /// batch or its first request goes alone (a supply change's piece is not held for bookings
    /// to join it).
    fn gather(&mut self, jobs: &Receiver<Job>) {
        let front_goes_alone = self.waiting.front().is_none_or(|job| job.cost.is_none());
        if front_goes_alone {
            return;
        }
        let target = self
            .gather
            .target(self.waiting.len(), self.budget, Instant::now());
        if self.waiting.len() >= target {
            return;
        }
        let started = Instant::now();
        let deadline = started + self.gather.delay();
        let mut news = started;
        // Asleep between looks, not blocked on the queue: senders queue without waking the
        // writer (`Gather::next_look`). A closed queue is found by the run loop after the delay.
        while let Some(look) =
            self.gather
                .next_look(self.waiting.len(), target, Instant::now(), news, deadline)
        {
            std::thread::sleep(look.saturating_duration_since(Instant::now()));
            let before = self.waiting.len();
            self.take_waiting(jobs);
            if self.waiting.len() > before {
                news = Instant::now();
            }
        }
    }

    fn refuse_waiting(&mut self, fault: Fault) {
        let part = self.ledger.part();
        let queued = self.waiting.len() as u64;
        let refused = queued + self.pieces.len() as u64 + self.planning.len() as u64;
        if refused == 0 {
            return;
        }
        self.stats.queued.fetch_sub(queued, Ordering::Relaxed);
        self.stats
            .fault_refusals
            .fetch_add(refused, Ordering::Relaxed);
        if self.pieces_held.take().is_some() {
            self.stats.pieces_waiting.store(0, Ordering::Relaxed);
        }
        let planning = self.planning.drain(..);
        for job in self
            .waiting
            .drain(..)
            .chain(self.pieces.drain(..))
            .chain(planning)
        {
            job.task.refuse(WriteError::refused_by(fault, part));
        }
    }

    /// Runs and commits a batch; what its operations queue next (the next piece of a supply
    /// change) comes back, to go behind what is waiting.
    fn commit_batch(&mut self, batch: Vec<Job>) -> Vec<Job> {
        let mut done = Vec::with_capacity(batch.len());
        // A ledger cut in parts: the people this batch may book, whose bookings elsewhere it
        // locks and reads before deciding (the whole ledger knows them all), and the actors
        // of its idempotency keys, whose keys other parts may have recorded.
        let (people, keys): (Vec<PersonId>, Vec<(PersonId, String)>) =
            if self.ledger.part().is_whole() {
                (Vec::new(), Vec::new())
            } else {
                let keys: Vec<(PersonId, String)> = batch
                    .iter()
                    .filter_map(|job| job.task.key())
                    .map(|(actor, key)| (actor, key.to_string()))
                    .collect();
                let people = batch
                    .iter()
                    .filter_map(|job| job.task.books_for())
                    .chain(keys.iter().map(|(actor, _)| *actor))
                    .collect();
                (people, keys)
            };
        // For tracing a slow night batch by batch (`YEYAK_LOG=store::writer=trace`); nothing
        // is timed or counted on the booking path unless that is on.
        let traced = tracing::enabled!(tracing::Level::TRACE)
            .then(|| (Instant::now(), batch.iter().any(|job| job.cost.is_none())));
        let mut jobs = batch.into_iter();
        let result = self.write_batch(&people, &keys, &mut jobs, &mut done);
        if let Some((started, long)) = traced {
            tracing::trace!(
                jobs = done.len(),
                long,
                us = started.elapsed().as_micros() as u64,
                ok = result.is_ok(),
                "batch"
            );
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats
            .commands
            .fetch_add(done.len() as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.undo.clear();
                let mut then = Vec::new();
                for answer in done {
                    answer.committed(&mut then);
                }
                // After the answers: the batch's callers never wait for the upkeep (the next batch may).
                if let Err(error) = self.backend.between_batches() {
                    tracing::warn!(%error, "storage upkeep between batches failed");
                }
                then
            }
            Err((error, failed)) => {
                // A batch fenced off wrote nothing (the fence is its first statement): its
                // requests may go to the part's new holder.
                let answer = WriteError::refused_by(Fault::of(&error), self.ledger.part());
                self.fail_batch(error);
                for unanswered in done {
                    unanswered.refuse(answer);
                }
                if let Some(failed) = failed {
                    failed.refuse(answer);
                }
                for not_run in jobs {
                    not_run.task.refuse(answer);
                }
                Vec::new()
            }
        }
    }

    /// Executes jobs in one transaction until they are done or one fails; on failure, the error
    /// and the failed job's reply (the jobs not yet run stay in `jobs`).
    #[allow(clippy::type_complexity)]
    fn write_batch(
        &mut self,
        people: &[PersonId],
        keys: &[(PersonId, String)],
        jobs: &mut impl Iterator<Item = Job>,
        done: &mut Vec<Box<dyn Answer>>,
    ) -> Result<(), (StoreError, Option<Box<dyn Refuse>>)> {
        self.backend.begin().map_err(|e| (e, None))?;
        let elsewhere = self.bookings_elsewhere(people).map_err(|e| (e, None))?;
        if !keys.is_empty() {
            // After the lock: a batch of another part with the same actor has committed.
            self.backend.learn_keys(keys).map_err(|e| (e, None))?;
        }
        let mut ops = Ops {
            backend: &mut self.backend,
            ledger: &mut self.ledger,
            undo: &mut self.undo,
            next_person: &mut self.next_person,
            previewed: &mut self.previewed,
            rebuilds: self.rebuilds,
            piece_cost: self.piece_cost,
            elsewhere: &elsewhere,
        };
        for job in jobs {
            match job.task.run(&mut ops, job.now_ms) {
                Ok(answer) => done.push(answer),
                Err((error, failed)) => return Err((error, Some(failed))),
            }
        }
        self.backend.commit().map_err(|e| (e, None))
    }

    /// Locks `people` until this batch commits and reads their active bookings that other
    /// parts' writers hold: whichever writer books one of them next waits for this commit and
    /// then sees this batch's booking. Nothing to do for the whole ledger, which has them all.
    fn bookings_elsewhere(
        &mut self,
        people: &[PersonId],
    ) -> Result<HashMap<PersonId, BookingId>, StoreError> {
        let mut elsewhere = HashMap::new();
        if people.is_empty() {
            return Ok(elsewhere);
        }
        let part = self.ledger.part();
        self.backend.lock_people(people, &mut |booking| {
            if !part.holds(booking.first.appointment.clinic) {
                elsewhere.insert(booking.person, booking.id);
            }
        })?;
        Ok(elsewhere)
    }

    /// After a failed batch: forgets its edits in memory, then recovers (or starts retrying).
    fn fail_batch(&mut self, error: StoreError) {
        self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
        match error {
            StoreError::Refused(_) => {
                self.stats.refused_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "ALARM: the database refused a batch the ledger allowed (a \
                    bug above storage); rolled back, nothing of it acknowledged");
            }
            StoreError::Standby(_) => tracing::warn!(%error, "fenced off: another node took the \
                ledger; batch rolled back, nothing of it acknowledged; standing by"),
            _ => tracing::error!(%error, "write batch failed; rolled back, nothing of it \
                acknowledged"),
        }
        while let Some(undo) = self.undo.pop() {
            self.ledger.undo_plan(undo);
        }
        // Either way the ledger is rebuilt before anything else is written; a node fenced off
        // rebuilds it only once it holds the lease again.
        self.fault = Some(match error {
            StoreError::Standby(_) => Fault::Standby,
            _ => Fault::LedgerStale,
        });
        // The ledger holds this batch's reservations: a standby's view is read whole at once.
        self.viewed_at = None;
        self.view_whole = true;
        self.retry.reset();
        self.recover();
    }

    /// Rolls back whatever is open, rebuilds the ledger from the database unless it is known to
    /// agree, and writes one probe row. Ready when all of it worked; otherwise refusing until
    /// the next try, after a backoff. A standby tries again at the shortest wait, without
    /// backing off: each try is one small query, and it must take over soon after the lease
    /// it waits for lapses.
    fn recover(&mut self) {
        let stale = matches!(self.fault, Some(Fault::LedgerStale | Fault::Standby));
        let rebuilt = if stale { self.rebuild() } else { Ok(()) };
        let result = match rebuilt {
            Err(StoreError::Standby(_)) => Err(Fault::Standby),
            Err(error) => {
                self.stats.failed_rebuilds.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "cannot rebuild the ledger from the database; writes stay \
                    refused, retrying");
                Err(Fault::LedgerStale)
            }
            Ok(()) => self.probe().map_err(|error| {
                self.stats.failed_probes.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "storage still refuses writes; writes stay refused, retrying");
                Fault::of(&error)
            }),
        };
        match result {
            Ok(()) => {
                if self.fault.is_some() {
                    tracing::info!("storage writable and ledger rebuilt: taking writes again");
                }
                self.fault = None;
                self.retry.reset();
                self.stats.set_health(Health::Ready);
            }
            Err(fault) => {
                self.fault = Some(fault);
                let wait = match fault {
                    Fault::Standby => self.retry.min,
                    _ => self.retry.failed(),
                };
                self.next_try = Instant::now() + wait;
                self.stats.set_health(Health::Failing(fault));
            }
        }
    }

    /// Rolls back and rebuilds the ledger from committed data only.
    fn rebuild(&mut self) -> Result<(), StoreError> {
        // Until it is rebuilt, the ledger may disagree with the database: refuse meanwhile (a
        // standby keeps saying it stands by).
        let fault = match self.fault {
            Some(Fault::Standby) => Fault::Standby,
            _ => Fault::LedgerStale,
        };
        self.stats.set_health(Health::Failing(fault));
        self.rebuilds += 1;
        let rebuilt = self.backend.rollback().and_then(|()| {
            reload(&mut self.backend, &mut self.ledger)?;
            self.next_person = self.backend.max_ids()?.person + 1;
            Ok(())
        });
        match &rebuilt {
            Ok(()) => {}
            // Not claimed, so not touched: refresh the view now and then.
            Err(StoreError::Standby(_)) => self.refresh_view(),
            // Half rebuilt, it would show clinic search places that may not exist.
            Err(_) => self.hide_view(),
        }
        rebuilt
    }

    /// On a standby, reloads what is left to book once [`STANDBY_VIEW_EVERY`] has passed.
    fn refresh_view(&mut self) {
        if self
            .viewed_at
            .is_some_and(|at| at.elapsed() < STANDBY_VIEW_EVERY)
        {
            return;
        }
        self.viewed_at = Some(Instant::now());
        match view(
            &mut self.backend,
            &mut self.ledger,
            self.view_whole,
            &self.stats,
        ) {
            Ok(()) => self.view_whole = false,
            Err(error) => {
                self.view_whole = true;
                tracing::warn!(%error, "standby: cannot read what is left to book; showing none");
            }
        }
    }

    /// Shows no place until the ledger is rebuilt or a standby's view read whole again.
    fn hide_view(&mut self) {
        self.ledger.hide_availability();
        self.view_whole = true;
    }

    /// One small durable write, to learn whether storage takes writes.
    fn probe(&mut self) -> Result<(), StoreError> {
        self.probes += 1;
        let change = Change::PutSetting {
            key: PROBE_SETTING.into(),
            value: self.probes.to_string(),
        };
        let result = self
            .backend
            .begin()
            .and_then(|()| self.backend.apply(&change))
            .and_then(|()| self.backend.commit());
        if result.is_err() {
            let _ = self.backend.rollback();
        }
        result
    }
}

/// What the writer waits for when nothing is queued.
enum Next {
    Request(Job),
    /// Time to ask storage again whether it has room for the pieces waiting.
    LookAgain,
    Closed,
}

/// A job's cost for the batch rule: an unknown cost counts as the whole budget (it goes alone).
fn cost(job: &Job, budget: Budget) -> u64 {
    job.cost.unwrap_or(budget.max_cost.saturating_add(1))
}
