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
//!
//! The handle has one method per operation, each with its own result type; every one of them
//! fails only with [`WriteError`] besides its own refusals, and queues at once (refusing at
//! once when it cannot), answering through a [`Pending`]. Inside, each operation is one
//! function (`ops`), batches are composed by a pure rule over the requests' costs (`batch`),
//! and the thread (`thread`) runs them, one transaction per batch.

mod api;
mod batch;
mod health;
mod ops;
mod prepared;
mod supply;
mod thread;

pub use api::{
    ApplySupply, Book, Cancel, ChangeBooking, ClaimOffer, ClaimRefusal, CreateStaff, EnsurePerson,
    EnsuredPerson, Expect, Fault, MarkGiven, MessageText, Notice, Notify, OutboxMark, PlanSupply,
    PostOffer, PostedOffer, Refusal, SupplyNotify, SupplyOutcome, SupplyRefusal, WriteError,
};
pub use batch::{Budget, Gather, next_batch};
pub use health::{Health, WriterStats};
pub use thread::{DEFAULT_COMMIT_DELAY, PROBE_SETTING, STANDBY_VIEW_EVERY, WriterConfig};

use crate::{AuditEntry, OutboxMessage, StoreError, WriteBackend};
use domain::booking::{Booking, BookingError, BookingId, PersonId};
use domain::clinic::ClinicId;
use domain::ledger::reschedule::SupplyChange;
use domain::ledger::{Ledger, Places};
use domain::leftover::Subscription;
use domain::partition::Part;
use jiff::civil::Date;
use ops::{Job, Op, Place};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// A handle to the writer thread, or to one thread per part when the ledger is cut in parts
/// (`domain::partition`): each request goes to the part it belongs to. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    /// In part order; one for the whole ledger (or for a writer of one part alone).
    parts: Arc<[PartWriter]>,
    places: Places,
}

/// The handle of one part's writer thread.
struct PartWriter {
    queue: SyncSender<Job>,
    stats: Arc<WriterStats>,
    /// The clinics it writes for: the whole ledger, or one part of it.
    part: Part,
}

/// The answer to a queued request, once its batch committed (or failed). Await it, or
/// [`wait`](Pending::wait) for it outside an async runtime.
#[must_use = "a request's answer says whether it was written"]
pub struct Pending<T> {
    answer: Result<oneshot::Receiver<Result<T, WriteError>>, WriteError>,
}

impl<T> Pending<T> {
    /// Why the request was refused when it was made (nothing queued), if it was.
    pub fn refused(&self) -> Option<WriteError> {
        self.answer.as_ref().err().copied()
    }

    /// Blocks the thread until the answer comes. Not on an async runtime's thread.
    pub fn wait(self) -> Result<T, WriteError> {
        match self.answer {
            Ok(answer) => answer.blocking_recv().unwrap_or(Err(WriteError::Stopped)),
            Err(error) => Err(error),
        }
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T, WriteError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.answer {
            Ok(answer) => Pin::new(answer)
                .poll(cx)
                .map(|answer| answer.unwrap_or(Err(WriteError::Stopped))),
            Err(error) => Poll::Ready(Err(*error)),
        }
    }
}

/// The answer to an operation that may be refused: `Ok(Err(refusal))` changed nothing.
pub type Decision<T, R> = Pending<Result<T, R>>;

impl Writer {
    /// Rebuilds `ledger` from the backend's active bookings and starts the writer thread.
    pub fn spawn<B: WriteBackend>(
        backend: B,
        ledger: Ledger,
        config: WriterConfig,
    ) -> Result<Writer, StoreError> {
        Writer::spawn_parts(vec![(backend, ledger)], config)
    }

    /// One writer thread per part, each on its own backend (its own connection and lease):
    /// `parts[i]` must be part `i` of `parts.len()` (or, alone, any one part).
    pub fn spawn_parts<B: WriteBackend>(
        parts: Vec<(B, Ledger)>,
        config: WriterConfig,
    ) -> Result<Writer, StoreError> {
        let count = parts.len();
        let mut handles = Vec::with_capacity(count);
        let mut places = Vec::with_capacity(count);
        for (index, (backend, ledger)) in parts.into_iter().enumerate() {
            let part = ledger.part();
            if count > 1
                && (usize::from(part.index()) != index || usize::from(part.count()) != count)
            {
                return Err(StoreError::Database(format!(
                    "writer {index} of {count} was given part {part}"
                )));
            }
            let started = thread::spawn(backend, ledger, config)?;
            places.push(started.availability);
            handles.push(PartWriter {
                queue: started.queue,
                stats: started.stats,
                part,
            });
        }
        if handles.is_empty() {
            return Err(StoreError::Database("a writer needs a part".into()));
        }
        Ok(Writer {
            parts: handles.into(),
            places: Places::of_parts(places),
        })
    }

    /// What is left to book, as the writers last committed it.
    pub fn availability(&self) -> Places {
        self.places.clone()
    }

    /// The home part's counters (the whole ledger's, when it is not cut); see
    /// [`Writer::parts`] for every part's.
    pub fn stats(&self) -> &WriterStats {
        &self.parts[0].stats
    }

    /// Whether the writer takes requests now: the home part's (every part's follows it; see
    /// [`Writer::parts`]).
    pub fn health(&self) -> Health {
        self.parts[0].stats.health()
    }

    /// Whether a booking can move to `clinic` in one transaction: both in one part (always,
    /// for the whole ledger). A move between parts is refused by the part that has the booking.
    pub fn moves_within_part(&self, booking: BookingId, clinic: ClinicId) -> bool {
        let to = clinic;
        self.route(Place::Move { booking, to }).is_some()
    }

    /// Each part and its writer's counters (and health).
    pub fn parts(&self) -> impl Iterator<Item = (Part, &WriterStats)> {
        self.parts.iter().map(|p| (p.part, &*p.stats))
    }

    /// Books a person; with `audit`, the line commits with the booking (an agent's action).
    pub fn book(
        &self,
        book: Book,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Decision<Booking, Refusal> {
        self.audited(audit, book, now_ms)
    }

    /// Cancels a booking; the answer is the booking as cancelled.
    pub fn cancel(
        &self,
        cancel: Cancel,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Decision<Booking, Refusal> {
        self.audited(audit, cancel, now_ms)
    }

    /// Moves a booking; the answer is the booking as moved.
    pub fn change(
        &self,
        change: ChangeBooking,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Decision<Booking, Refusal> {
        self.audited(audit, change, now_ms)
    }

    pub fn ensure_person(
        &self,
        person: EnsurePerson,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Pending<EnsuredPerson> {
        self.audited(audit, person, now_ms)
    }

    /// Writes a message to the outbox.
    pub fn enqueue(&self, message: OutboxMessage, now_ms: i64) -> Pending<()> {
        self.submit(ops::Enqueue(message), now_ms)
    }

    /// Records how delivery attempts of outbox messages ended, `(outbox id, mark)` each, in one
    /// command: a delivery round's messages are marked together rather than each through the
    /// queue on its own (a booked person's confirmation was a quarter of the writer's commands).
    pub fn mark_outbox(&self, marks: Vec<(u64, OutboxMark)>, now_ms: i64) -> Pending<()> {
        self.submit(ops::MarkOutbox(marks), now_ms)
    }

    /// What a supply change would do; changes nothing.
    pub fn plan_supply(
        &self,
        plan: PlanSupply,
        now_ms: i64,
    ) -> Decision<SupplyOutcome, SupplyRefusal> {
        let part = match self.supply_part(&plan.change) {
            Ok(part) => part,
            Err(refused) => return refused,
        };
        let job = |reply| Job {
            now_ms,
            cost: None,
            task: Box::new(supply::StartPreview { plan, reply }),
        };
        Pending {
            answer: part.queue_job(job),
        }
    }

    /// Applies a supply change if its plan is the one expected (an operator's action: audited).
    pub fn apply_supply(
        &self,
        apply: ApplySupply,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Decision<SupplyOutcome, SupplyRefusal> {
        let part = match self.supply_part(&apply.change) {
            Ok(part) => part,
            Err(refused) => return refused,
        };
        let job = |reply| Job {
            now_ms,
            cost: None,
            task: Box::new(supply::StartSupply {
                apply,
                audit,
                reply,
            }),
        };
        Pending {
            answer: part.queue_job(job),
        }
    }

    /// Planned doses per day from `first` for `days` days, indexed by
    /// [`Product::index`](domain::product::Product::index).
    pub fn planned_supply(
        &self,
        clinic: ClinicId,
        first: Date,
        days: u16,
        now_ms: i64,
    ) -> Pending<Vec<[i32; 4]>> {
        let planned = ops::PlannedSupply {
            clinic,
            first,
            days,
        };
        self.submit(planned, now_ms)
    }

    /// Answers once everything queued before it has been committed (or refused), in every part.
    pub fn barrier(&self) -> Pending<()> {
        let mut each: Vec<Pending<()>> = self
            .parts
            .iter()
            .map(|part| Pending {
                answer: part.queue_job(|reply| Job::new(ops::Barrier, 0, reply)),
            })
            .collect();
        if each.len() == 1 {
            return each.remove(0);
        }
        // Only at a shutdown: a thread of its own waits for every part's.
        let (reply, answer) = oneshot::channel();
        std::thread::spawn(move || {
            let all = each.into_iter().try_for_each(Pending::wait);
            let _ = reply.send(all);
        });
        Pending { answer: Ok(answer) }
    }

    /// A person has seen why their appointment moved.
    pub fn accept_moves(
        &self,
        actor: PersonId,
        booking: BookingId,
        now_ms: i64,
    ) -> Decision<Booking, BookingError> {
        self.submit(ops::AcceptMoves { actor, booking }, now_ms)
    }

    /// A clinic gave a dose (a clinic's action: audited).
    pub fn mark_given(
        &self,
        given: MarkGiven,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Decision<Booking, BookingError> {
        self.audited(audit, given, now_ms)
    }

    /// Stores a leftover-dose offer and tells the nearest people who asked.
    pub fn post_offer(
        &self,
        offer: PostOffer,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Pending<PostedOffer> {
        self.audited(audit, offer, now_ms)
    }

    pub fn claim_offer(&self, claim: ClaimOffer, now_ms: i64) -> Decision<Booking, ClaimRefusal> {
        self.submit(claim, now_ms)
    }

    pub fn subscribe(&self, subscription: Subscription, now_ms: i64) -> Pending<()> {
        self.submit(subscription, now_ms)
    }

    pub fn unsubscribe(&self, person: PersonId, now_ms: i64) -> Pending<()> {
        self.submit(ops::Unsubscribe(person), now_ms)
    }

    /// Stores a staff member; the answer is their id.
    pub fn create_staff(
        &self,
        staff: CreateStaff,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Pending<u64> {
        self.audited(audit, staff, now_ms)
    }

    pub fn revoke_staff(&self, id: u64, audit: Option<AuditEntry>, now_ms: i64) -> Pending<()> {
        self.audited(audit, ops::RevokeStaff(id), now_ms)
    }

    /// Writes an audit line for an action done outside the writer.
    pub fn audit(&self, entry: AuditEntry, now_ms: i64) -> Pending<()> {
        self.submit(ops::Audit(entry), now_ms)
    }

    fn audited<O: Op>(&self, entry: Option<AuditEntry>, op: O, now_ms: i64) -> Pending<O::Output> {
        self.submit(ops::Audited { entry, op }, now_ms)
    }

    /// Queues an operation on the writer of its part. Refuses at once when the queue is full,
    /// the writer is recovering from a fault, or no part here writes it (as a standby
    /// refuses: another writes it).
    fn submit<O: Op>(&self, op: O, now_ms: i64) -> Pending<O::Output> {
        let answer = match self.route(op.place()) {
            Some(part) => part.queue_job(|reply| Job::new(op, now_ms, reply)),
            None => Err(WriteError::Unavailable(Fault::Standby)),
        };
        Pending { answer }
    }

    /// The writer of the part `place` belongs to, if one here writes it.
    fn route(&self, place: Place) -> Option<&PartWriter> {
        let count = self.parts.len();
        let part = match (&self.parts[..], place) {
            ([alone], _) => alone,
            (parts, Place::Clinic(clinic)) => {
                &parts[usize::from(Part::of_clinic(clinic, count as u16).index())]
            }
            (parts, Place::Booking(id) | Place::Move { booking: id, .. }) => {
                &parts[(id.0 % count as u64) as usize]
            }
            (parts, Place::Home) => &parts[0],
        };
        place.taken_by(part.part).then_some(part)
    }

    /// The part whose writer makes a supply change: the part of every clinic it names. Its
    /// planner sees only that part's clinics, so displaced doses move within it. A change
    /// naming clinics of several parts, or all of them (an interval), is refused as such.
    fn supply_part(
        &self,
        change: &SupplyChange,
    ) -> Result<&PartWriter, Decision<SupplyOutcome, SupplyRefusal>> {
        let clinics: Vec<ClinicId> = match change {
            SupplyChange::Deliveries { deliveries, .. } => {
                deliveries.iter().map(|d| d.clinic).collect()
            }
            SupplyChange::ProductSwitch { clinics, .. } => clinics.clone(),
            SupplyChange::Interval { .. } => Vec::new(),
        };
        let whole = matches!(&self.parts[..], [alone] if alone.part.is_whole());
        if whole {
            return Ok(&self.parts[0]);
        }
        let Some(&first) = clinics.first() else {
            return Err(refused_at_once(SupplyRefusal::AcrossParts));
        };
        let part = self.route(Place::Clinic(first)).ok_or_else(|| Pending {
            answer: Err(WriteError::Unavailable(Fault::Standby)),
        })?;
        if clinics.iter().all(|&clinic| part.part.holds(clinic)) {
            Ok(part)
        } else {
            Err(refused_at_once(SupplyRefusal::AcrossParts))
        }
    }
}

/// An answer given without queueing anything: `refusal`.
fn refused_at_once<T: Send + 'static, R: Send + 'static>(refusal: R) -> Decision<T, R> {
    let (reply, answer) = oneshot::channel();
    let _ = reply.send(Ok(Err(refusal)));
    Pending { answer: Ok(answer) }
}

impl PartWriter {
    /// Queues the job `job` makes with its reply channel.
    #[allow(clippy::type_complexity)]
    fn queue_job<T>(
        &self,
        job: impl FnOnce(ops::Reply<T>) -> Job,
    ) -> Result<oneshot::Receiver<Result<T, WriteError>>, WriteError> {
        match self.stats.health() {
            Health::Ready => {}
            Health::Failing(fault) => {
                self.stats.fault_refusals.fetch_add(1, Ordering::Relaxed);
                return Err(WriteError::refused_by(fault, self.part));
            }
            Health::Stopped => return Err(WriteError::Stopped),
        }
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(job(reply)) {
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
}
