//! The group-commit writer: one thread that owns the database's write connection and the
//! capacity ledger, and commits whatever requests are waiting as one transaction (one fsync).
//!
//! Requests enter through a bounded queue; when it is full, [`Writer::submit`] refuses at once
//! with [`WriteError::Busy`] so the HTTP layer can answer 503 + `Retry-After` instead of letting
//! latency grow without bound. A reply is sent only after its batch committed: nobody is told
//! "booked" for a booking that a crash could still lose.
//!
//! Storage faults fail closed. A batch that fails answers every request in it
//! [`WriteError::Unavailable`] (nothing of it was written); the writer rolls back, rebuilds the
//! ledger from the database and probes storage with a one-row write before it takes requests
//! again. While the ledger cannot be rebuilt, or storage keeps failing (a full disk), requests are
//! refused at once with the [`Fault`], and the writer retries by itself with backoff
//! ([`WriterConfig::retry_min`] doubling to [`WriterConfig::retry_max`]). [`Writer::health`]
//! says which, for readiness checks. The ledger is never used while it may disagree with the
//! database.
//!
//! A node whose ledger another node writes (PostgreSQL's lease, [`StoreError::Standby`]) is not
//! failing but standing by: it refuses requests at once with [`Fault::Standby`] and tries to take
//! over every [`WriterConfig::retry_min`], rebuilding its ledger when it does. A node fenced off
//! mid-batch (its lease lapsed and was taken) answers that batch `Unavailable` and stands by.

use crate::{
    AuditEntry, Change, OfferRecord, OutboxMessage, PersonRecord, Recorded, RescheduleRecord,
    StaffRecord, StoreError, SupplyChangeRecord, WriteBackend,
};
use domain::booking::{Appointment, Booking, BookingError, BookingId, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::ledger::reschedule::{
    Move, Neighbours, Plan, PlanError, PlanUndo, Reason, SupplyChange, Unplaced,
};
use domain::ledger::{Availability, BookRequest, Ledger};
use domain::leftover::{ClaimError, Offer, OfferId, Subscription};
use domain::product::Product;
use jiff::civil::Date;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel,
};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Requests that may wait for the writer; more are refused with `Busy`.
    pub queue_capacity: usize,
    /// Requests committed together at most.
    pub max_batch: usize,
    /// After a fault, the first wait before the writer tries again to rebuild its ledger or to
    /// write; each failed try doubles it, up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 20_000,
            max_batch: 4096,
            // A full disk is usually freed by hand: probing every 5 s at most costs nothing and
            // brings writes back within seconds of the space.
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// The setting the writer rewrites to find out whether storage takes writes again.
pub const PROBE_SETTING: &str = "writer_probe";

/// Builds the message announcing a committed change, inside the same transaction.
pub type Notify = Box<dyn FnOnce(&Booking) -> Option<OutboxMessage> + Send>;

/// A request to the writer.
pub enum Command {
    Book {
        request: BookRequest,
        idempotency_key: Option<String>,
        notify: Option<Notify>,
    },
    Cancel {
        actor: PersonId,
        booking: BookingId,
        idempotency_key: Option<String>,
        notify: Option<Notify>,
    },
    Change {
        actor: PersonId,
        booking: BookingId,
        first: Appointment,
        today: Date,
        idempotency_key: Option<String>,
        notify: Option<Notify>,
    },
    /// Finds the person with this RRN hash, creating them if new; an existing person's contact
    /// is replaced by `sealed` (it comes from a newer verified check, so notices follow them).
    EnsurePerson {
        rrn_hash: [u8; 32],
        birth_date: Date,
        sealed: Vec<u8>,
    },
    Enqueue(OutboxMessage),
    MarkDelivered {
        outbox_id: u64,
    },
    /// A delivery failed; the next attempt is due at `next_attempt_ms`.
    MarkAttempted {
        outbox_id: u64,
        next_attempt_ms: i64,
    },
    /// A message failed too often: parked for an operator.
    MarkFailed {
        outbox_id: u64,
    },
    /// Works out what a supply change would do; changes nothing.
    PlanSupply {
        change: SupplyChange,
        today: Date,
        neighbours: Neighbours,
    },
    /// Plans a supply change and, if the plan is what the operator expects, applies it with
    /// one message per person, all in one transaction.
    ApplySupply {
        change: SupplyChange,
        today: Date,
        neighbours: Neighbours,
        expect: Expect,
        /// The change as asked for (JSON), kept with the record of it.
        detail: String,
        notify: SupplyNotify,
    },
    /// Planned doses per product at a clinic for `days` days from `first`.
    PlannedSupply {
        clinic: ClinicId,
        first: Date,
        days: u16,
    },
    /// A person has seen why their appointment moved.
    AcceptMoves {
        actor: PersonId,
        booking: BookingId,
    },
    /// A clinic gave dose `dose` (1 or 2) of a booking today.
    MarkGiven {
        clinic: ClinicId,
        booking: BookingId,
        dose: u8,
        today: Date,
    },
    /// Stores a leftover-dose offer and, in the same transaction, tells the nearest people who
    /// asked to hear of one.
    PostOffer {
        record: OfferRecord,
        clinic_at: GeoPoint,
        notify: OfferNotify,
    },
    /// Claims one dose of an offer for `person`, as dose 1 today in the band starting at `hour`.
    ClaimOffer {
        offer: OfferId,
        person: PersonId,
        hour: u8,
        today: Date,
        notify: Option<Notify>,
    },
    Subscribe(Subscription),
    Unsubscribe(PersonId),
    /// Stores a staff member; answers [`Outcome::Staff`] with their id.
    CreateStaff {
        record: StaffRecord,
        token_hash: [u8; 32],
    },
    RevokeStaff {
        id: u64,
    },
    /// Runs `command` and writes `entry`, with the command's outcome, in the same transaction:
    /// a staff or operator action and its audit line are durable together or not at all.
    Audited {
        entry: AuditEntry,
        command: Box<Command>,
    },
    /// Writes an audit line for an action done outside the writer.
    Audit(AuditEntry),
}

/// Builds the message telling one person of a leftover-dose offer.
pub type OfferNotify = Box<dyn Fn(&Offer) -> MessageText + Send>;

/// Why a leftover claim failed. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    Offer(ClaimError),
    Booking(BookingError),
}

impl ClaimRefusal {
    pub fn code(self) -> &'static str {
        match self {
            ClaimRefusal::Offer(e) => e.code(),
            ClaimRefusal::Booking(e) => e.code(),
        }
    }
}

/// Which plan an operator agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Only a change that moves nobody (entering or raising planned deliveries).
    NoMoves,
    /// Exactly the previewed plan, by [`Plan::id`].
    Plan(String),
}

/// One person's share of a supply change, to tell them about it.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    pub reason: Reason,
    /// The booking as it is after the change.
    pub booking: &'a Booking,
    pub moves: &'a [Move],
    pub unplaced: &'a [Unplaced],
}

/// A message's template name and its Korean and English text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText {
    pub template: String,
    pub ko: String,
    pub en: String,
}

/// Builds the message for one person's notice, inside the transaction that applies the change.
pub type SupplyNotify = Box<dyn Fn(&Notice) -> MessageText + Send>;

/// Why a supply change was not applied. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupplyRefusal {
    Invalid(PlanError),
    /// The change moves people: it needs a previewed plan.
    PlanRequired(Arc<Plan>),
    /// Bookings changed since the preview; here is the new plan.
    PlanChanged(Arc<Plan>),
}

/// An applied (or, for a preview, planned) supply change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplyOutcome {
    /// The stored change's id; `None` for a preview.
    pub change_id: Option<u64>,
    pub plan: Arc<Plan>,
    /// Messages written (one per person told).
    pub messages: u64,
}

/// Why a booking command produced no booking. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Booking(#[from] BookingError),
    /// The idempotency key was first used for a different request.
    #[error("idempotency key reused for a different request")]
    KeyReused,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Booking(Result<Booking, Refusal>),
    Person {
        id: PersonId,
        created: bool,
    },
    Done,
    Supply(Result<SupplyOutcome, SupplyRefusal>),
    /// Planned doses per day (indexed by [`Product::index`]).
    Planned(Vec<[i32; 4]>),
    Staff(u64),
    Offer {
        id: OfferId,
        /// People told of it.
        told: u64,
    },
    Claim(Result<Booking, ClaimRefusal>),
}

impl Outcome {
    /// `ok`, or the refusal's code: what the audit log records.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Booking(Err(Refusal::Booking(e))) => e.code(),
            Outcome::Booking(Err(Refusal::KeyReused)) => "idempotency_key_reused",
            Outcome::Supply(Err(SupplyRefusal::Invalid(_))) => "invalid_change",
            Outcome::Supply(Err(SupplyRefusal::PlanRequired(_))) => "plan_required",
            Outcome::Supply(Err(SupplyRefusal::PlanChanged(_))) => "plan_changed",
            Outcome::Claim(Err(e)) => e.code(),
            _ => "ok",
        }
    }
}

/// The write did not happen; the caller may retry (with the same idempotency key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the writer's queue is full")]
    Busy,
    #[error("the writer has stopped")]
    Stopped,
    /// The request's batch failed, or the writer is recovering from a fault. Nothing of the
    /// request was written.
    #[error("storage is unavailable: {0}")]
    Unavailable(Fault),
}

/// What keeps the writer from writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The disk is full.
    #[error("the disk is full")]
    Full,
    /// The database failed (an I/O error, a write it refused, …).
    #[error("the database failed")]
    Storage,
    /// The ledger could not be rebuilt from the database after a failure.
    #[error("the ledger is being rebuilt from the database")]
    LedgerStale,
    /// Another node writes the ledger (it holds PostgreSQL's lease); this one stands by and
    /// takes over, ledger rebuilt, once that node's lease lapses.
    #[error("another node writes the ledger")]
    Standby,
}

impl Fault {
    fn of(error: &StoreError) -> Fault {
        match error {
            StoreError::Full(_) => Fault::Full,
            StoreError::Standby(_) => Fault::Standby,
            _ => Fault::Storage,
        }
    }

    /// A stable name for logs, metrics and readiness.
    pub fn code(self) -> &'static str {
        match self {
            Fault::Full => "storage_full",
            Fault::Storage => "storage_failed",
            Fault::LedgerStale => "ledger_stale",
            Fault::Standby => "standby",
        }
    }
}

/// Whether the writer takes requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Refusing requests until it recovers from this fault (it keeps trying by itself).
    Failing(Fault),
    /// The writer thread is gone; nothing will be written.
    Stopped,
}

impl Health {
    const READY: u8 = 0;
    const STOPPED: u8 = 4;

    fn encode(self) -> u8 {
        match self {
            Health::Ready => Health::READY,
            Health::Failing(Fault::Full) => 1,
            Health::Failing(Fault::Storage) => 2,
            Health::Failing(Fault::LedgerStale) => 3,
            Health::Failing(Fault::Standby) => 5,
            Health::Stopped => Health::STOPPED,
        }
    }

    fn decode(value: u8) -> Health {
        match value {
            Health::READY => Health::Ready,
            1 => Health::Failing(Fault::Full),
            2 => Health::Failing(Fault::Storage),
            3 => Health::Failing(Fault::LedgerStale),
            5 => Health::Failing(Fault::Standby),
            _ => Health::Stopped,
        }
    }
}

struct Job {
    command: Command,
    now_ms: i64,
    reply: oneshot::Sender<Result<Outcome, WriteError>>,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub commands: AtomicU64,
    pub busy_refusals: AtomicU64,
    pub failed_batches: AtomicU64,
    pub queued: AtomicU64,
    /// Batches the database itself refused (a rule the ledger should have kept: a bug).
    pub refused_batches: AtomicU64,
    /// Failed attempts to rebuild the ledger from the database.
    pub failed_rebuilds: AtomicU64,
    /// Failed probe writes while storage was failing.
    pub failed_probes: AtomicU64,
    /// Requests refused at once because the writer was recovering from a fault.
    pub fault_refusals: AtomicU64,
    /// [`Health`], encoded.
    health: AtomicU8,
}

impl WriterStats {
    pub fn health(&self) -> Health {
        Health::decode(self.health.load(Ordering::Acquire))
    }

    fn set_health(&self, health: Health) {
        self.health.store(health.encode(), Ordering::Release);
    }
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Job>,
    availability: Arc<Availability>,
    stats: Arc<WriterStats>,
}

impl Writer {
    /// Rebuilds `ledger` from the backend's active bookings and starts the writer thread.
    pub fn spawn<B: WriteBackend>(
        mut backend: B,
        mut ledger: Ledger,
        config: WriterConfig,
    ) -> Result<Writer, StoreError> {
        // A database the ledger cannot be built from refuses to start, loudly. A node whose
        // ledger another node writes starts standing by, and takes over when it can.
        let fault = match reload(&mut backend, &mut ledger) {
            Ok(()) => None,
            Err(StoreError::Standby(why)) => {
                tracing::warn!(%why, "standing by: another node writes the ledger");
                view(&mut backend, &mut ledger)?;
                Some(Fault::Standby)
            }
            Err(error) => return Err(error),
        };
        let next_person = backend.max_ids()?.person + 1;
        let (queue, jobs) = sync_channel(config.queue_capacity);
        let stats = Arc::new(WriterStats::default());
        let writer = Writer {
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
            max_batch: config.max_batch.max(1),
            fault,
            retry: Backoff::new(config.retry_min, config.retry_max),
            next_try: Instant::now() + config.retry_min,
            probes: 0,
            viewed_at: fault.map(|_| Instant::now()),
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
        Ok(writer)
    }

    /// What is left to book, as the writer last committed it.
    pub fn availability(&self) -> Arc<Availability> {
        Arc::clone(&self.availability)
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Whether the writer takes requests now.
    pub fn health(&self) -> Health {
        self.stats.health()
    }

    /// Queues a command. Refuses at once when the queue is full or the writer is recovering
    /// from a fault.
    pub fn submit(
        &self,
        command: Command,
        now_ms: i64,
    ) -> Result<oneshot::Receiver<Result<Outcome, WriteError>>, WriteError> {
        match self.health() {
            Health::Ready => {}
            Health::Failing(fault) => {
                self.stats.fault_refusals.fetch_add(1, Ordering::Relaxed);
                return Err(WriteError::Unavailable(fault));
            }
            Health::Stopped => return Err(WriteError::Stopped),
        }
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job {
            command,
            now_ms,
            reply,
        }) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                Ok(answer)
            }
            Err(TrySendError::Full(_)) => {
                self.stats.busy_refusals.fetch_add(1, Ordering::Relaxed);
                Err(WriteError::Busy)
            }
            Err(TrySendError::Disconnected(_)) => Err(WriteError::Stopped),
        }
    }

    /// Queues a command and waits for its committed outcome.
    pub async fn execute(&self, command: Command, now_ms: i64) -> Result<Outcome, WriteError> {
        let answer = self.submit(command, now_ms)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

fn reload<B: WriteBackend>(backend: &mut B, ledger: &mut Ledger) -> Result<(), StoreError> {
    // Claimed before the ledger is touched: a standby keeps its view when it cannot claim it.
    backend.claim_ledger()?;
    ledger.reset();
    backend.active_bookings(&mut |booking| ledger.restore(booking))?;
    ledger.number_after(BookingId(backend.max_ids()?.booking));
    Ok(())
}

/// How often a standby reloads its view of what is left to book (clinic search on a node that
/// forwards its bookings): each reload reads every active booking, so not at the 100 ms the
/// standby asks for the lease.
pub const STANDBY_VIEW_EVERY: Duration = Duration::from_secs(1);

/// A standby's view: the ledger rebuilt from committed bookings, without the right to write.
/// Shown to readers only; a node decides nothing on it (it must [`reload`] first). Hidden when
/// it cannot be read, as a half-read ledger would show places that may not exist.
fn view<B: WriteBackend>(backend: &mut B, ledger: &mut Ledger) -> Result<(), StoreError> {
    ledger.reset();
    let read = backend.committed_bookings(&mut |booking| ledger.restore(booking));
    if read.is_err() {
        ledger.hide_availability();
    }
    read
}

type Reply = oneshot::Sender<Result<Outcome, WriteError>>;

struct WriterState<B> {
    backend: B,
    ledger: Ledger,
    /// Supply and schedule edits made in memory by this batch, undone if it fails.
    undo: Vec<PlanUndo>,
    next_person: u64,
    stats: Arc<WriterStats>,
    max_batch: usize,
    /// Why the writer is not writing; `None` when it is.
    fault: Option<Fault>,
    retry: Backoff,
    /// When to try again to recover from `fault`.
    next_try: Instant,
    /// Probe writes made, the value of the next one.
    probes: u64,
    /// When a standby last reloaded its view of what is left (`None`: reload it now).
    viewed_at: Option<Instant>,
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
            let first = match self.fault {
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
                Some(fault) => {
                    let wait = self.next_try.saturating_duration_since(Instant::now());
                    match jobs.recv_timeout(wait) {
                        Ok(job) => {
                            // Queued before the fault was known: refused like the rest.
                            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                            self.stats.fault_refusals.fetch_add(1, Ordering::Relaxed);
                            let _ = job.reply.send(Err(WriteError::Unavailable(fault)));
                        }
                        Err(RecvTimeoutError::Timeout) => self.recover(),
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.stats
                .queued
                .fetch_sub(batch.len() as u64, Ordering::Relaxed);
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&mut self, batch: Vec<Job>) {
        let mut done = Vec::with_capacity(batch.len());
        let mut jobs = batch.into_iter();
        let result = self.write_batch(&mut jobs, &mut done);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats
            .commands
            .fetch_add(done.len() as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.undo.clear();
                for (reply, outcome) in done {
                    // The client may have gone; the booking stands either way.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err((error, failed)) => {
                let answer = WriteError::Unavailable(Fault::of(&error));
                self.fail_batch(error);
                let unanswered = done.into_iter().map(|(reply, _)| reply);
                let not_run = jobs.map(|job| job.reply);
                for reply in unanswered.chain(failed).chain(not_run) {
                    let _ = reply.send(Err(answer));
                }
            }
        }
    }

    /// Executes jobs in one transaction until they are done or one fails; on failure, the error
    /// and the failed job's reply (the jobs not yet run stay in `jobs`).
    fn write_batch(
        &mut self,
        jobs: &mut impl Iterator<Item = Job>,
        done: &mut Vec<(Reply, Outcome)>,
    ) -> Result<(), (StoreError, Option<Reply>)> {
        self.backend.begin().map_err(|e| (e, None))?;
        for Job {
            command,
            now_ms,
            reply,
        } in jobs
        {
            match self.execute(command, now_ms) {
                Ok(outcome) => done.push((reply, outcome)),
                Err(error) => return Err((error, Some(reply))),
            }
        }
        self.backend.commit().map_err(|e| (e, None))
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
        // The ledger holds this batch's reservations: a standby's view is reloaded at once.
        self.viewed_at = None;
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
            Err(_) => self.ledger.hide_availability(),
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
        if let Err(error) = view(&mut self.backend, &mut self.ledger) {
            tracing::warn!(%error, "standby: cannot read what is left to book; showing none");
        }
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

    fn execute(&mut self, command: Command, now_ms: i64) -> Result<Outcome, StoreError> {
        match command {
            Command::Book {
                request,
                idempotency_key,
                notify,
            } => {
                let fingerprint = || {
                    fingerprint(
                        "book",
                        [request.person.0, request.booked_by.0],
                        &request.first,
                    )
                };
                self.idempotent(
                    request.booked_by,
                    idempotency_key,
                    fingerprint,
                    notify,
                    now_ms,
                    |l| l.book(request),
                )
            }
            Command::Cancel {
                actor,
                booking,
                idempotency_key,
                notify,
            } => {
                let fingerprint = || format!("cancel:{}", booking.0);
                self.idempotent(actor, idempotency_key, fingerprint, notify, now_ms, |l| {
                    l.cancel(actor, booking)
                })
            }
            Command::Change {
                actor,
                booking,
                first,
                today,
                idempotency_key,
                notify,
            } => {
                let fingerprint = || fingerprint("change", [booking.0], &first);
                self.idempotent(actor, idempotency_key, fingerprint, notify, now_ms, |l| {
                    l.change(actor, booking, first, today)
                })
            }
            Command::EnsurePerson {
                rrn_hash,
                birth_date,
                sealed,
            } => {
                if let Some(id) = self.backend.person_by_hash(&rrn_hash)? {
                    self.backend.apply(&Change::UpdateContact {
                        person: id,
                        sealed,
                        now_ms,
                    })?;
                    return Ok(Outcome::Person { id, created: false });
                }
                let id = PersonId(self.next_person);
                let person = PersonRecord {
                    id,
                    rrn_hash,
                    birth_date,
                    sealed,
                };
                self.backend
                    .apply(&Change::InsertPerson { person, now_ms })?;
                self.next_person += 1;
                Ok(Outcome::Person { id, created: true })
            }
            Command::Enqueue(message) => {
                self.backend.apply(&Change::Enqueue { message, now_ms })?;
                Ok(Outcome::Done)
            }
            Command::MarkDelivered { outbox_id } => {
                self.backend
                    .apply(&Change::MarkDelivered { outbox_id, now_ms })?;
                Ok(Outcome::Done)
            }
            Command::MarkAttempted {
                outbox_id,
                next_attempt_ms,
            } => {
                self.backend.apply(&Change::MarkAttempted {
                    outbox_id,
                    next_attempt_ms,
                })?;
                Ok(Outcome::Done)
            }
            Command::MarkFailed { outbox_id } => {
                self.backend
                    .apply(&Change::MarkFailed { outbox_id, now_ms })?;
                Ok(Outcome::Done)
            }
            Command::MarkGiven {
                clinic,
                booking,
                dose,
                today,
            } => {
                let result = self.ledger.mark_given(clinic, booking, dose, today);
                if let Ok(booking) = &result {
                    self.backend.apply(&Change::PutBooking {
                        booking: *booking,
                        now_ms,
                    })?;
                }
                Ok(Outcome::Booking(result.map_err(Refusal::Booking)))
            }
            Command::PostOffer {
                record,
                clinic_at,
                notify,
            } => self.post_offer(record, clinic_at, &notify, now_ms),
            Command::ClaimOffer {
                offer,
                person,
                hour,
                today,
                notify,
            } => self.claim_offer(offer, person, hour, today, notify, now_ms),
            Command::Subscribe(subscription) => {
                self.backend.apply(&Change::PutSubscription {
                    subscription,
                    now_ms,
                })?;
                Ok(Outcome::Done)
            }
            Command::Unsubscribe(person) => {
                self.backend.apply(&Change::DeleteSubscription { person })?;
                Ok(Outcome::Done)
            }
            Command::CreateStaff { record, token_hash } => {
                let id = self.backend.insert_staff(&record, &token_hash)?;
                Ok(Outcome::Staff(id))
            }
            Command::RevokeStaff { id } => {
                self.backend.apply(&Change::RevokeStaff { id, now_ms })?;
                Ok(Outcome::Done)
            }
            Command::Audited { mut entry, command } => {
                let outcome = self.execute(*command, now_ms)?;
                entry.outcome = outcome.code().to_string();
                self.backend.apply(&Change::Audit { entry, now_ms })?;
                Ok(outcome)
            }
            Command::Audit(entry) => {
                self.backend.apply(&Change::Audit { entry, now_ms })?;
                Ok(Outcome::Done)
            }
            Command::PlanSupply {
                change,
                today,
                neighbours,
            } => Ok(Outcome::Supply(
                self.ledger
                    .plan(&change, today, &neighbours)
                    .map(|plan| SupplyOutcome {
                        change_id: None,
                        plan: Arc::new(plan),
                        messages: 0,
                    })
                    .map_err(SupplyRefusal::Invalid),
            )),
            Command::ApplySupply {
                change,
                today,
                neighbours,
                expect,
                detail,
                notify,
            } => {
                let plan = match self.ledger.plan(&change, today, &neighbours) {
                    Ok(plan) => Arc::new(plan),
                    Err(e) => return Ok(Outcome::Supply(Err(SupplyRefusal::Invalid(e)))),
                };
                let refusal = match &expect {
                    Expect::NoMoves if !plan.is_empty() => {
                        Some(SupplyRefusal::PlanRequired(Arc::clone(&plan)))
                    }
                    Expect::Plan(id) if *id != plan.id() => {
                        Some(SupplyRefusal::PlanChanged(Arc::clone(&plan)))
                    }
                    _ => None,
                };
                if let Some(refusal) = refusal {
                    return Ok(Outcome::Supply(Err(refusal)));
                }
                let outcome = self.apply_supply(plan, detail, &notify, now_ms)?;
                Ok(Outcome::Supply(Ok(outcome)))
            }
            Command::PlannedSupply {
                clinic,
                first,
                days,
            } => {
                let planned = (0..i32::from(days))
                    .map_while(|d| first.checked_add(jiff::Span::new().days(d)).ok())
                    .map(|day| Product::ALL.map(|p| self.ledger.planned(clinic, day, p)))
                    .collect();
                Ok(Outcome::Planned(planned))
            }
            Command::AcceptMoves { actor, booking } => {
                let found = match self.ledger.booking(booking) {
                    Some(b) => Some(*b),
                    None => self.backend.booking(booking)?,
                };
                let result = match found {
                    None => Err(BookingError::NoSuchBooking),
                    Some(b) if b.person != actor && b.booked_by != actor => {
                        Err(BookingError::NotYourBooking)
                    }
                    Some(b) => {
                        self.backend
                            .apply(&Change::AcceptMoves { booking, now_ms })?;
                        Ok(b)
                    }
                };
                Ok(Outcome::Booking(result.map_err(Refusal::Booking)))
            }
        }
    }

    /// Writes a plan's supply edits, schedule, changed bookings, the record of every moved or
    /// unplaced dose and one message per person, then makes it real in the ledger.
    fn apply_supply(
        &mut self,
        plan: Arc<Plan>,
        detail: String,
        notify: &SupplyNotify,
        now_ms: i64,
    ) -> Result<SupplyOutcome, StoreError> {
        let change_id = self.backend.insert_supply_change(&SupplyChangeRecord {
            id: 0,
            reason: plan.reason,
            plan_id: plan.id(),
            detail,
            people_moved: plan.people_moved() as u64,
            doses_moved: plan.moves.len() as u64,
            unplaced: plan.unplaced.len() as u64,
            informed: plan.informed.len() as u64,
            applied_ms: now_ms,
        })?;
        for edit in &plan.supply {
            let delivery = crate::Delivery {
                clinic: edit.clinic,
                day: edit.day,
                product: edit.product,
                doses: edit.after.max(0) as u32,
            };
            self.backend
                .apply(&Change::PutDelivery { delivery, now_ms })?;
        }
        if let Some((product, schedule)) = plan.schedule {
            let mut schedules = self.ledger.schedules();
            schedules.set(product, schedule);
            self.backend.apply(&Change::PutSetting {
                key: crate::SCHEDULES_SETTING.into(),
                value: schedules.to_string(),
            })?;
        }
        let record = |dose: u8, booking, person, from, to| {
            Change::InsertReschedule(RescheduleRecord {
                change_id,
                booking,
                person,
                dose,
                reason: plan.reason,
                from,
                to,
                accepted_ms: None,
            })
        };
        for m in &plan.moves {
            self.backend
                .apply(&record(m.dose, m.booking, m.person, m.from, Some(m.to)))?;
        }
        for u in &plan.unplaced {
            self.backend
                .apply(&record(u.dose, u.booking, u.person, u.from, None))?;
        }
        let (mut moves, mut unplaced) = (&plan.moves[..], &plan.unplaced[..]);
        let mut messages = 0;
        for booking in &plan.changed {
            self.backend.apply(&Change::PutBooking {
                booking: *booking,
                now_ms,
            })?;
            // Moves and unplaced doses are in the order of `changed`, booking by booking.
            let (mine, rest) =
                moves.split_at(moves.iter().take_while(|m| m.booking == booking.id).count());
            moves = rest;
            let (lost, rest) = unplaced.split_at(
                unplaced
                    .iter()
                    .take_while(|u| u.booking == booking.id)
                    .count(),
            );
            unplaced = rest;
            let notice = Notice {
                reason: plan.reason,
                booking,
                moves: mine,
                unplaced: lost,
            };
            messages += self.tell(booking.person, &notice, notify, now_ms)?;
        }
        for (id, person) in &plan.informed {
            let Some(booking) = self.ledger.booking(*id).copied() else {
                continue;
            };
            let notice = Notice {
                reason: plan.reason,
                booking: &booking,
                moves: &[],
                unplaced: &[],
            };
            messages += self.tell(*person, &notice, notify, now_ms)?;
        }
        let undo = self.ledger.apply_plan(&plan);
        self.undo.push(undo);
        Ok(SupplyOutcome {
            change_id: Some(change_id),
            plan,
            messages,
        })
    }

    fn post_offer(
        &mut self,
        mut record: OfferRecord,
        clinic_at: GeoPoint,
        notify: &OfferNotify,
        now_ms: i64,
    ) -> Result<Outcome, StoreError> {
        record.offer.claimed = 0;
        let id = self.backend.insert_offer(&record)?;
        record.offer.id = id;
        let candidates = self
            .backend
            .subscriptions_near(clinic_at, domain::leftover::MAX_RADIUS_KM)?;
        let people = domain::leftover::recipients(
            &candidates,
            clinic_at,
            record.offer.product,
            record.offer.doses,
        );
        let mut told = 0;
        for person in people {
            let Some(recipient) = self.backend.person_sealed(person)? else {
                continue;
            };
            let text = notify(&record.offer);
            let message = OutboxMessage {
                person: Some(person),
                recipient,
                template: text.template,
                body_ko: text.ko,
                body_en: text.en,
            };
            self.backend.apply(&Change::Enqueue { message, now_ms })?;
            told += 1;
        }
        Ok(Outcome::Offer { id, told })
    }

    fn claim_offer(
        &mut self,
        offer: OfferId,
        person: PersonId,
        hour: u8,
        today: Date,
        notify: Option<Notify>,
        now_ms: i64,
    ) -> Result<Outcome, StoreError> {
        let refuse = |e| Ok(Outcome::Claim(Err(e)));
        let Some(record) = self.backend.offer(offer)? else {
            return refuse(ClaimRefusal::Offer(ClaimError::NoSuchOffer));
        };
        if let Err(e) = record.offer.check_claim(now_ms, today) {
            return refuse(ClaimRefusal::Offer(e));
        }
        let first = Appointment {
            clinic: record.offer.clinic,
            day: today,
            hour,
            product: record.offer.product,
        };
        let (booking, replaced) = match self.ledger.book_leftover(person, first) {
            Ok(booked) => booked,
            Err(e) => return refuse(ClaimRefusal::Booking(e)),
        };
        if let Some(replaced) = replaced {
            self.backend.apply(&Change::PutBooking {
                booking: replaced,
                now_ms,
            })?;
        }
        // The claim before its booking: storage then knows dose 1 takes no planned place.
        self.backend.apply(&Change::ClaimOffer {
            offer,
            person,
            booking: booking.id,
            now_ms,
        })?;
        self.backend
            .apply(&Change::PutBooking { booking, now_ms })?;
        if let Some(message) = notify.and_then(|build| build(&booking)) {
            self.backend.apply(&Change::Enqueue { message, now_ms })?;
        }
        Ok(Outcome::Claim(Ok(booking)))
    }

    /// Writes one message to a person; 0 when they have no contact on record.
    fn tell(
        &mut self,
        person: PersonId,
        notice: &Notice,
        notify: &SupplyNotify,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let Some(recipient) = self.backend.person_sealed(person)? else {
            return Ok(0);
        };
        let text = notify(notice);
        let message = OutboxMessage {
            person: Some(person),
            recipient,
            template: text.template,
            body_ko: text.ko,
            body_en: text.en,
        };
        self.backend.apply(&Change::Enqueue { message, now_ms })?;
        Ok(1)
    }

    /// Runs a booking operation once per idempotency key: a retry gets the first answer back.
    fn idempotent(
        &mut self,
        actor: PersonId,
        key: Option<String>,
        // Built only when there is a key to record or check: most requests carry none.
        fingerprint: impl FnOnce() -> String,
        notify: Option<Notify>,
        now_ms: i64,
        operation: impl FnOnce(&mut Ledger) -> Result<Booking, BookingError>,
    ) -> Result<Outcome, StoreError> {
        if let Some(key) = &key
            && let Some(first) = self.backend.recorded(actor, key)?
        {
            return self.replay(first, &fingerprint());
        }
        let result = operation(&mut self.ledger);
        if let Ok(booking) = &result {
            self.backend.apply(&Change::PutBooking {
                booking: *booking,
                now_ms,
            })?;
            if let Some(message) = notify.and_then(|build| build(booking)) {
                self.backend.apply(&Change::Enqueue { message, now_ms })?;
            }
        }
        if let Some(key) = key {
            let recorded = Recorded {
                fingerprint: fingerprint(),
                booking: match &result {
                    Ok(booking) => Some(booking.id),
                    Err(BookingError::AlreadyBooked(id)) => Some(*id),
                    Err(_) => None,
                },
                error: result.as_ref().err().map(|e| e.code().to_string()),
            };
            self.backend.apply(&Change::Record {
                actor,
                key,
                recorded,
                now_ms,
            })?;
        }
        Ok(Outcome::Booking(result.map_err(Refusal::Booking)))
    }

    fn replay(&mut self, first: Recorded, fingerprint: &str) -> Result<Outcome, StoreError> {
        if first.fingerprint != fingerprint {
            return Ok(Outcome::Booking(Err(Refusal::KeyReused)));
        }
        if let Some(code) = &first.error {
            let error = booking_error_from_code(code, first.booking)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown refusal {code:?}")))?;
            return Ok(Outcome::Booking(Err(Refusal::Booking(error))));
        }
        let id = first
            .booking
            .ok_or_else(|| StoreError::Corrupt("recorded success without a booking".into()))?;
        let booking = match self.ledger.booking(id) {
            Some(booking) => *booking,
            None => self
                .backend
                .booking(id)?
                .ok_or_else(|| StoreError::Corrupt(format!("recorded booking {} missing", id.0)))?,
        };
        Ok(Outcome::Booking(Ok(booking)))
    }
}

/// What identifies a request for its idempotency key: the operation, its ids and the requested
/// appointment, the day as its [`day_number`](crate::day_number). One allocation and integers
/// only (no date formatting): this runs for every keyed request on the writer thread.
fn fingerprint<const N: usize>(operation: &str, ids: [u64; N], first: &Appointment) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(48);
    text.push_str(operation);
    for id in ids {
        let _ = write!(text, ":{id}");
    }
    let _ = write!(
        text,
        ":{}:{}:{}:{}",
        first.clinic.0,
        crate::day_number(first.day),
        first.hour,
        first.product.code()
    );
    text
}

fn booking_error_from_code(code: &str, booking: Option<BookingId>) -> Option<BookingError> {
    use BookingError::*;
    let candidates = [
        NoSuchClinic,
        ProductNotOffered,
        DayNotBookable,
        HourNotOpen,
        SlotFull,
        SecondDoseUnavailable,
        AlreadyBooked(booking.unwrap_or(BookingId(0))),
        NoSuchBooking,
        NotYourBooking,
        FirstDoseGiven,
        AlreadyCancelled,
    ];
    candidates.into_iter().find(|e| e.code() == code)
}
