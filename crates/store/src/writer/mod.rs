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
use domain::ledger::{Availability, Ledger};
use domain::leftover::Subscription;
use domain::partition::Part;
use jiff::civil::Date;
use ops::{Job, Op};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// A handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Job>,
    availability: Arc<Availability>,
    stats: Arc<WriterStats>,
    /// The clinics it writes for: the whole ledger, or one part of it (`domain::partition`).
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
        let part = ledger.part();
        let started = thread::spawn(backend, ledger, config)?;
        Ok(Writer {
            queue: started.queue,
            availability: started.availability,
            stats: started.stats,
            part,
        })
    }

    /// The clinics this writer writes for.
    pub fn part(&self) -> Part {
        self.part
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
        let job = |reply| Job {
            now_ms,
            cost: None,
            task: Box::new(supply::StartPreview { plan, reply }),
        };
        Pending {
            answer: self.whole_ledger().and_then(|()| self.queue_job(job)),
        }
    }

    /// Applies a supply change if its plan is the one expected (an operator's action: audited).
    pub fn apply_supply(
        &self,
        apply: ApplySupply,
        audit: Option<AuditEntry>,
        now_ms: i64,
    ) -> Decision<SupplyOutcome, SupplyRefusal> {
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
            answer: self.whole_ledger().and_then(|()| self.queue_job(job)),
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

    /// Answers once everything queued before it has been committed (or refused).
    pub fn barrier(&self) -> Pending<()> {
        self.submit(ops::Barrier, 0)
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

    /// Queues an operation. Refuses at once when the queue is full, the writer is recovering
    /// from a fault, or the operation is another part's (as a standby refuses: another writes
    /// it).
    fn submit<O: Op>(&self, op: O, now_ms: i64) -> Pending<O::Output> {
        if !op.place().taken_by(self.part) {
            return Pending {
                answer: Err(WriteError::Unavailable(Fault::Standby)),
            };
        }
        Pending {
            answer: self.queue_job(|reply| Job::new(op, now_ms, reply)),
        }
    }

    /// Supply changes reach across clinics (moved doses go to the nearest place with room):
    /// only the whole ledger's writer makes them, not yet the writer of one part.
    fn whole_ledger(&self) -> Result<(), WriteError> {
        if self.part.is_whole() {
            Ok(())
        } else {
            Err(WriteError::Unavailable(Fault::Standby))
        }
    }

    /// Queues the job `job` makes with its reply channel.
    #[allow(clippy::type_complexity)]
    fn queue_job<T>(
        &self,
        job: impl FnOnce(ops::Reply<T>) -> Job,
    ) -> Result<oneshot::Receiver<Result<T, WriteError>>, WriteError> {
        match self.health() {
            Health::Ready => {}
            Health::Failing(fault) => {
                self.stats.fault_refusals.fetch_add(1, Ordering::Relaxed);
                return Err(WriteError::Unavailable(fault));
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
