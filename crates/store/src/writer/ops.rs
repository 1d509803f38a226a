//! The writer's operations, one function each, run on the writer thread inside the open
//! transaction. Each is an [`Op`] with its own output type; a queued request carries its typed
//! reply channel, so nothing matches on an untyped outcome afterwards.

use super::api::{
    Book, Cancel, ChangeBooking, ClaimOffer, ClaimRefusal, CreateStaff, EnsurePerson,
    EnsuredPerson, MarkGiven, MessageText, Notify, OutboxMark, PostOffer, PostedOffer, Refusal,
    WriteError,
};
use crate::{AuditEntry, Change, OutboxMessage, PersonRecord, Recorded, StoreError, WriteBackend};
use domain::booking::{Appointment, Booking, BookingError, BookingId, PersonId};
use domain::clinic::ClinicId;
use domain::ledger::Ledger;
use domain::ledger::reschedule::PlanUndo;
use domain::leftover::{ClaimError, Subscription};
use domain::partition::Part;
use domain::product::Product;
use jiff::civil::Date;
use std::collections::HashMap;
use tokio::sync::oneshot;

/// What an operation may touch: the open transaction, the ledger, and the batch's undo log.
pub(super) struct Ops<'a> {
    pub backend: &'a mut dyn WriteBackend,
    pub ledger: &'a mut Ledger,
    /// Supply and schedule edits made in memory by this batch, undone if it fails.
    pub undo: &'a mut Vec<PlanUndo>,
    pub next_person: &'a mut u64,
    /// The last supply plan previewed, kept so that applying it needs no second planning
    /// while the ledger has not changed since.
    pub previewed: &'a mut Option<Previewed>,
    /// How many times the ledger has been rebuilt from storage: a supply change applied in
    /// pieces stops when it was, since the places it held are gone.
    pub rebuilds: u64,
    /// The cost (about rows) of one piece of a supply change.
    pub piece_cost: u64,
    /// The active bookings other parts' writers hold for this batch's people (a ledger cut in
    /// parts; empty for the whole ledger), read under their locks: a second one is refused.
    pub elsewhere: &'a HashMap<PersonId, BookingId>,
}

/// Which writer may run an operation, when the ledger is cut in parts (`domain::partition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// The writer of the part holding this clinic.
    Clinic(ClinicId),
    /// The writer of the part that numbered this booking: its own (a booking stays in the part
    /// of its clinic; moves between parts are refused).
    Booking(BookingId),
    /// The booking's part, if it holds the clinic too.
    Move { booking: BookingId, to: ClinicId },
    /// The home part's writer: it belongs to no clinic (people, staff, messages, settings).
    Home,
}

impl Place {
    pub(super) fn taken_by(self, part: Part) -> bool {
        match self {
            Place::Clinic(clinic) => part.holds(clinic),
            Place::Booking(id) => part.numbered(id.0),
            Place::Move { booking, to } => part.numbered(booking.0) && part.holds(to),
            Place::Home => part.is_home(),
        }
    }
}

/// A previewed plan and what it was planned for.
pub(super) struct Previewed {
    pub change: domain::ledger::reschedule::SupplyChange,
    pub today: Date,
    pub neighbours: domain::ledger::reschedule::Neighbours,
    /// The snapshot it was planned from ([`Ledger::snapshot_for_planning`]): the apply catches
    /// up on what changed since.
    pub serial: u64,
    pub prepared: super::prepared::Prepared,
}

/// Cost units (see `batch`): about one row read or written.
pub(super) const ROW: u64 = 1;

/// One operation of the writer.
pub(super) trait Op: Send + 'static {
    type Output: Send + 'static;
    /// Roughly the rows it reads and writes in the transaction: what a batch is bounded by.
    /// `None`: an operation of unknown, possibly national, size (it goes alone).
    fn cost(&self) -> Option<u64>;
    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<Self::Output, StoreError>;
    /// Which part's writer may run it (see [`Place`]).
    fn place(&self) -> Place {
        Place::Home
    }
    /// The person it may give a new active booking, whose bookings in other parts the batch
    /// must lock and read first.
    fn books_for(&self) -> Option<PersonId> {
        None
    }
    /// The actor and idempotency key it records its answer under, if any: in a ledger cut in
    /// parts another part's writer may have recorded the same pair.
    fn key(&self) -> Option<(PersonId, &str)> {
        None
    }
    /// `ok`, or the refusal's code: what an audit line records.
    fn code(_output: &Self::Output) -> &'static str {
        "ok"
    }
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, WriteError>>;

/// Something waiting for an answer that may be "it was not written".
pub(super) trait Refuse: Send {
    fn refuse(self: Box<Self>, error: WriteError);
}

/// An operation that ran: its answer waits for the batch's commit.
pub(super) trait Answer: Refuse {
    /// The batch committed. An operation done in several transactions (a supply change) puts
    /// its next part in `then`, queued behind what waits already, and answers after its last.
    fn committed(self: Box<Self>, then: &mut Vec<Job>);
}

/// A queued operation with its reply channel, its type erased for the queue.
pub(super) trait Task: Refuse {
    /// Whether it waits for a supply plan made beside the writer (not for storage, as the
    /// next piece of a long write does): it then goes once [`Task::ready`].
    fn awaits_plan(&self) -> bool {
        false
    }

    /// Whether what it waits for beside the writer is there.
    fn ready(&mut self) -> bool {
        true
    }

    /// See [`Op::books_for`].
    fn books_for(&self) -> Option<PersonId> {
        None
    }

    /// See [`Op::key`].
    fn key(&self) -> Option<(PersonId, &str)> {
        None
    }

    /// Runs it; on a storage error, what to refuse once the batch is rolled back.
    #[allow(clippy::type_complexity)]
    fn run(
        self: Box<Self>,
        ops: &mut Ops<'_>,
        now_ms: i64,
    ) -> Result<Box<dyn Answer>, (StoreError, Box<dyn Refuse>)>;
}

/// A request in the writer's queue.
pub(super) struct Job {
    pub now_ms: i64,
    pub cost: Option<u64>,
    pub task: Box<dyn Task>,
}

impl Job {
    pub(super) fn new<O: Op>(op: O, now_ms: i64, reply: Reply<O::Output>) -> Job {
        Job {
            now_ms,
            cost: op.cost(),
            task: Box::new(Request { op, reply }),
        }
    }
}

struct Request<O: Op> {
    op: O,
    reply: Reply<O::Output>,
}

/// A reply to refuse if the batch fails.
pub(super) struct Waiting<T>(pub Reply<T>);

/// An output to send once the batch commits.
pub(super) struct Decided<T> {
    pub output: T,
    pub reply: Reply<T>,
}

impl<O: Op> Refuse for Request<O> {
    fn refuse(self: Box<Self>, error: WriteError) {
        // The client may have gone; nothing to do then.
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send> Refuse for Waiting<T> {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.0.send(Err(error));
    }
}

impl<T: Send> Refuse for Decided<T> {
    fn refuse(self: Box<Self>, error: WriteError) {
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send> Answer for Decided<T> {
    fn committed(self: Box<Self>, _then: &mut Vec<Job>) {
        // The client may have gone; the write stands either way.
        let _ = self.reply.send(Ok(self.output));
    }
}

impl<O: Op> Task for Request<O> {
    fn books_for(&self) -> Option<PersonId> {
        self.op.books_for()
    }

    fn key(&self) -> Option<(PersonId, &str)> {
        self.op.key()
    }

    fn run(
        self: Box<Self>,
        ops: &mut Ops<'_>,
        now_ms: i64,
    ) -> Result<Box<dyn Answer>, (StoreError, Box<dyn Refuse>)> {
        let Request { op, reply } = *self;
        match op.run(ops, now_ms) {
            Ok(output) => Ok(Box::new(Decided { output, reply })),
            Err(error) => Err((error, Box::new(Waiting(reply)))),
        }
    }
}

/// Runs `op` and writes `entry`, with the op's outcome code, in the same transaction: a staff or
/// operator action and its audit line are durable together or not at all.
pub(super) struct Audited<O> {
    pub entry: Option<AuditEntry>,
    pub op: O,
}

impl<O: Op> Op for Audited<O> {
    type Output = O::Output;

    fn cost(&self) -> Option<u64> {
        let line = if self.entry.is_some() { ROW } else { 0 };
        self.op.cost().map(|cost| cost + line)
    }

    fn place(&self) -> Place {
        self.op.place()
    }

    fn books_for(&self) -> Option<PersonId> {
        self.op.books_for()
    }

    fn key(&self) -> Option<(PersonId, &str)> {
        self.op.key()
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<O::Output, StoreError> {
        let output = self.op.run(ops, now_ms)?;
        if let Some(mut entry) = self.entry {
            entry.outcome = O::code(&output).to_string();
            ops.backend.apply(&Change::Audit { entry, now_ms })?;
        }
        Ok(output)
    }

    fn code(output: &O::Output) -> &'static str {
        O::code(output)
    }
}

/// A booking operation's row, its idempotency record and its message.
const BOOKING_COST: u64 = 3 * ROW;

impl Op for Book {
    type Output = Result<Booking, Refusal>;

    fn cost(&self) -> Option<u64> {
        Some(BOOKING_COST)
    }

    fn place(&self) -> Place {
        Place::Clinic(self.request.first.clinic)
    }

    fn books_for(&self) -> Option<PersonId> {
        Some(self.request.person)
    }

    fn key(&self) -> Option<(PersonId, &str)> {
        let key = self.idempotency_key.as_deref()?;
        Some((self.request.booked_by, key))
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<Self::Output, StoreError> {
        let Book {
            request,
            idempotency_key,
            notify,
        } = self;
        let fingerprint = || {
            fingerprint(
                "book",
                [request.person.0, request.booked_by.0],
                &request.first,
            )
        };
        let elsewhere = ops.elsewhere.get(&request.person).copied();
        idempotent(
            ops,
            request.booked_by,
            idempotency_key,
            fingerprint,
            notify,
            now_ms,
            |l| match elsewhere {
                Some(id) => Err(BookingError::AlreadyBooked(id)),
                None => l.book(request),
            },
        )
    }

    fn code(output: &Self::Output) -> &'static str {
        refusal_code(output)
    }
}

impl Op for Cancel {
    type Output = Result<Booking, Refusal>;

    fn place(&self) -> Place {
        Place::Booking(self.booking)
    }

    fn cost(&self) -> Option<u64> {
        Some(BOOKING_COST)
    }

    fn key(&self) -> Option<(PersonId, &str)> {
        Some((self.actor, self.idempotency_key.as_deref()?))
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<Self::Output, StoreError> {
        let Cancel {
            actor,
            booking,
            idempotency_key,
            notify,
        } = self;
        let fingerprint = || format!("cancel:{}", booking.0);
        idempotent(
            ops,
            actor,
            idempotency_key,
            fingerprint,
            notify,
            now_ms,
            |l| l.cancel(actor, booking),
        )
    }

    fn code(output: &Self::Output) -> &'static str {
        refusal_code(output)
    }
}

impl Op for ChangeBooking {
    type Output = Result<Booking, Refusal>;

    /// The booking's part, which must hold where it moves to as well: a move between parts
    /// is refused (see `Writer::moves_within_part`).
    fn place(&self) -> Place {
        Place::Move {
            booking: self.booking,
            to: self.first.clinic,
        }
    }

    fn cost(&self) -> Option<u64> {
        Some(BOOKING_COST)
    }

    fn key(&self) -> Option<(PersonId, &str)> {
        Some((self.actor, self.idempotency_key.as_deref()?))
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<Self::Output, StoreError> {
        let ChangeBooking {
            actor,
            booking,
            first,
            today,
            idempotency_key,
            notify,
        } = self;
        let fingerprint = || fingerprint("change", [booking.0], &first);
        idempotent(
            ops,
            actor,
            idempotency_key,
            fingerprint,
            notify,
            now_ms,
            |l| l.change(actor, booking, first, today),
        )
    }

    fn code(output: &Self::Output) -> &'static str {
        refusal_code(output)
    }
}

fn refusal_code(output: &Result<Booking, Refusal>) -> &'static str {
    output.as_ref().err().map_or("ok", |r| r.code())
}

impl Op for EnsurePerson {
    type Output = EnsuredPerson;

    fn cost(&self) -> Option<u64> {
        Some(2 * ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<EnsuredPerson, StoreError> {
        let EnsurePerson {
            rrn_hash,
            birth_date,
            sealed,
        } = self;
        if let Some(id) = ops.backend.person_by_hash(&rrn_hash)? {
            ops.backend.apply(&Change::UpdateContact {
                person: id,
                sealed,
                now_ms,
            })?;
            return Ok(EnsuredPerson { id, created: false });
        }
        let id = PersonId(*ops.next_person);
        let person = PersonRecord {
            id,
            rrn_hash,
            birth_date,
            sealed,
        };
        ops.backend
            .apply(&Change::InsertPerson { person, now_ms })?;
        *ops.next_person += 1;
        Ok(EnsuredPerson { id, created: true })
    }
}

/// Writes a message to the outbox.
pub(super) struct Enqueue(pub OutboxMessage);

impl Op for Enqueue {
    type Output = ();

    fn cost(&self) -> Option<u64> {
        Some(ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<(), StoreError> {
        ops.backend.apply(&Change::Enqueue {
            message: self.0,
            now_ms,
        })
    }
}

/// Records how delivery attempts ended: `(outbox id, mark)` each.
pub(super) struct MarkOutbox(pub Vec<(u64, OutboxMark)>);

impl Op for MarkOutbox {
    type Output = ();

    fn cost(&self) -> Option<u64> {
        Some(ROW * self.0.len() as u64)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<(), StoreError> {
        for (outbox_id, mark) in self.0 {
            let change = match mark {
                OutboxMark::Delivered => Change::MarkDelivered { outbox_id, now_ms },
                OutboxMark::Attempted { next_attempt_ms } => Change::MarkAttempted {
                    outbox_id,
                    next_attempt_ms,
                },
                OutboxMark::Failed => Change::MarkFailed { outbox_id, now_ms },
            };
            ops.backend.apply(&change)?;
        }
        Ok(())
    }
}

/// Planned doses per product at a clinic for `days` days from `first`.
pub(super) struct PlannedSupply {
    pub clinic: ClinicId,
    pub first: Date,
    pub days: u16,
}

impl Op for PlannedSupply {
    fn place(&self) -> Place {
        Place::Clinic(self.clinic)
    }

    /// Planned doses per day (indexed by [`Product::index`]).
    type Output = Vec<[i32; 4]>;

    fn cost(&self) -> Option<u64> {
        Some(0)
    }

    fn run(self, ops: &mut Ops<'_>, _now_ms: i64) -> Result<Self::Output, StoreError> {
        let ledger = &*ops.ledger;
        Ok((0..i32::from(self.days))
            .map_while(|d| self.first.checked_add(jiff::Span::new().days(d)).ok())
            .map(|day| Product::ALL.map(|p| ledger.planned(self.clinic, day, p)))
            .collect())
    }
}

/// Answers once everything queued before it has committed.
pub(super) struct Barrier;

impl Op for Barrier {
    type Output = ();

    fn cost(&self) -> Option<u64> {
        Some(0)
    }

    fn run(self, _ops: &mut Ops<'_>, _now_ms: i64) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A person has seen why their appointment moved.
pub(super) struct AcceptMoves {
    pub actor: PersonId,
    pub booking: BookingId,
}

impl Op for AcceptMoves {
    type Output = Result<Booking, BookingError>;

    fn place(&self) -> Place {
        Place::Booking(self.booking)
    }

    fn cost(&self) -> Option<u64> {
        Some(2 * ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<Self::Output, StoreError> {
        let AcceptMoves { actor, booking } = self;
        let found = match ops.ledger.booking(booking) {
            Some(b) => Some(*b),
            None => ops.backend.booking(booking)?,
        };
        Ok(match found {
            None => Err(BookingError::NoSuchBooking),
            Some(b) if b.person != actor && b.booked_by != actor => {
                Err(BookingError::NotYourBooking)
            }
            Some(b) => {
                ops.backend
                    .apply(&Change::AcceptMoves { booking, now_ms })?;
                Ok(b)
            }
        })
    }

    fn code(output: &Self::Output) -> &'static str {
        output.as_ref().err().map_or("ok", |e| e.code())
    }
}

impl Op for MarkGiven {
    type Output = Result<Booking, BookingError>;

    fn place(&self) -> Place {
        Place::Booking(self.booking)
    }

    fn cost(&self) -> Option<u64> {
        Some(ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<Self::Output, StoreError> {
        let result = ops
            .ledger
            .mark_given(self.clinic, self.booking, self.dose, self.today);
        if let Ok(booking) = &result {
            ops.backend.apply(&Change::PutBooking {
                booking: *booking,
                now_ms,
            })?;
        }
        Ok(result)
    }

    fn code(output: &Self::Output) -> &'static str {
        output.as_ref().err().map_or("ok", |e| e.code())
    }
}

impl Op for PostOffer {
    type Output = PostedOffer;

    fn place(&self) -> Place {
        Place::Clinic(self.record.offer.clinic)
    }

    fn cost(&self) -> Option<u64> {
        // One message per person told, up to the offer's doses times a few.
        Some(ROW * (2 + 4 * u64::from(self.record.offer.doses)))
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<PostedOffer, StoreError> {
        let PostOffer {
            mut record,
            clinic_at,
            text,
        } = self;
        record.offer.claimed = 0;
        let id = ops.backend.insert_offer(&record)?;
        record.offer.id = id;
        let candidates = ops
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
            told += tell(ops, person, text.clone(), now_ms)?;
        }
        Ok(PostedOffer { id, told })
    }
}

/// Writes one message to a person; 0 when they have no contact on record.
pub(super) fn tell(
    ops: &mut Ops<'_>,
    person: PersonId,
    text: MessageText,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let Some(recipient) = ops.backend.person_sealed(person)? else {
        return Ok(0);
    };
    let message = OutboxMessage {
        person: Some(person),
        recipient,
        template: text.template,
        body_ko: text.ko,
        body_en: text.en,
    };
    ops.backend.apply(&Change::Enqueue { message, now_ms })?;
    Ok(1)
}

impl Op for ClaimOffer {
    type Output = Result<Booking, ClaimRefusal>;

    /// The part of the clinic the claimant was shown the offer at (an offer at another clinic
    /// is not found).
    fn place(&self) -> Place {
        Place::Clinic(self.clinic)
    }

    fn books_for(&self) -> Option<PersonId> {
        Some(self.person)
    }

    fn cost(&self) -> Option<u64> {
        Some(BOOKING_COST + 2 * ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<Self::Output, StoreError> {
        let ClaimOffer {
            offer,
            clinic,
            person,
            hour,
            today,
            notify,
        } = self;
        let Some(record) = ops
            .backend
            .offer(offer)?
            .filter(|record| record.offer.clinic == clinic)
        else {
            return Ok(Err(ClaimRefusal::Offer(ClaimError::NoSuchOffer)));
        };
        if let Err(e) = record.offer.check_claim(now_ms, today) {
            return Ok(Err(ClaimRefusal::Offer(e)));
        }
        let first = Appointment {
            clinic: record.offer.clinic,
            day: today,
            hour,
            product: record.offer.product,
        };
        // A booking in another part is not replaced by a leftover dose here: that would take
        // both parts' writers in one transaction.
        if let Some(id) = ops.elsewhere.get(&person) {
            return Ok(Err(ClaimRefusal::Booking(BookingError::AlreadyBooked(*id))));
        }
        let (booking, replaced) = match ops.ledger.book_leftover(person, first) {
            Ok(booked) => booked,
            Err(e) => return Ok(Err(ClaimRefusal::Booking(e))),
        };
        if let Some(replaced) = replaced {
            ops.backend.apply(&Change::PutBooking {
                booking: replaced,
                now_ms,
            })?;
        }
        // The claim before its booking: storage then knows dose 1 takes no planned place.
        ops.backend.apply(&Change::ClaimOffer {
            offer,
            person,
            booking: booking.id,
            now_ms,
        })?;
        ops.backend.apply(&Change::PutBooking { booking, now_ms })?;
        announce(ops, notify, &booking, now_ms)?;
        Ok(Ok(booking))
    }

    fn code(output: &Self::Output) -> &'static str {
        output.as_ref().err().map_or("ok", |e| e.code())
    }
}

impl Op for Subscription {
    type Output = ();

    fn cost(&self) -> Option<u64> {
        Some(ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<(), StoreError> {
        ops.backend.apply(&Change::PutSubscription {
            subscription: self,
            now_ms,
        })
    }
}

/// A person no longer wants to hear of leftover doses.
pub(super) struct Unsubscribe(pub PersonId);

impl Op for Unsubscribe {
    type Output = ();

    fn cost(&self) -> Option<u64> {
        Some(ROW)
    }

    fn run(self, ops: &mut Ops<'_>, _now_ms: i64) -> Result<(), StoreError> {
        ops.backend
            .apply(&Change::DeleteSubscription { person: self.0 })
    }
}

impl Op for CreateStaff {
    /// The staff member's id.
    type Output = u64;

    fn cost(&self) -> Option<u64> {
        Some(ROW)
    }

    fn run(self, ops: &mut Ops<'_>, _now_ms: i64) -> Result<u64, StoreError> {
        ops.backend.insert_staff(&self.record, &self.token_hash)
    }
}

/// Revokes a staff member's token.
pub(super) struct RevokeStaff(pub u64);

impl Op for RevokeStaff {
    type Output = ();

    fn cost(&self) -> Option<u64> {
        Some(ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<(), StoreError> {
        ops.backend
            .apply(&Change::RevokeStaff { id: self.0, now_ms })
    }
}

/// Writes an audit line for an action done outside the writer.
pub(super) struct Audit(pub AuditEntry);

impl Op for Audit {
    type Output = ();

    fn cost(&self) -> Option<u64> {
        Some(ROW)
    }

    fn run(self, ops: &mut Ops<'_>, now_ms: i64) -> Result<(), StoreError> {
        ops.backend.apply(&Change::Audit {
            entry: self.0,
            now_ms,
        })
    }
}

/// Writes the message announcing a booking, when the caller asked for one.
fn announce(
    ops: &mut Ops<'_>,
    notify: Option<Notify>,
    booking: &Booking,
    now_ms: i64,
) -> Result<(), StoreError> {
    if let Some(message) = notify.and_then(|build| build(booking)) {
        ops.backend.apply(&Change::Enqueue { message, now_ms })?;
    }
    Ok(())
}

/// Runs a booking operation once per idempotency key: a retry gets the first answer back.
fn idempotent(
    ops: &mut Ops<'_>,
    actor: PersonId,
    key: Option<String>,
    // Built only when there is a key to record or check: most requests carry none.
    fingerprint: impl FnOnce() -> String,
    notify: Option<Notify>,
    now_ms: i64,
    operation: impl FnOnce(&mut Ledger) -> Result<Booking, BookingError>,
) -> Result<Result<Booking, Refusal>, StoreError> {
    if let Some(key) = &key
        && let Some(first) = ops.backend.recorded(actor, key)?
    {
        return replay(ops, first, &fingerprint());
    }
    let result = operation(ops.ledger);
    if let Ok(booking) = &result {
        ops.backend.apply(&Change::PutBooking {
            booking: *booking,
            now_ms,
        })?;
        announce(ops, notify, booking, now_ms)?;
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
        ops.backend.apply(&Change::Record {
            actor,
            key,
            recorded,
            now_ms,
        })?;
    }
    Ok(result.map_err(Refusal::Booking))
}

fn replay(
    ops: &mut Ops<'_>,
    first: Recorded,
    fingerprint: &str,
) -> Result<Result<Booking, Refusal>, StoreError> {
    if first.fingerprint != fingerprint {
        return Ok(Err(Refusal::KeyReused));
    }
    if let Some(code) = &first.error {
        let error = booking_error_from_code(code, first.booking)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown refusal {code:?}")))?;
        return Ok(Err(Refusal::Booking(error)));
    }
    let id = first
        .booking
        .ok_or_else(|| StoreError::Corrupt("recorded success without a booking".into()))?;
    let booking = match ops.ledger.booking(id) {
        Some(booking) => *booking,
        None => ops
            .backend
            .booking(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("recorded booking {} missing", id.0)))?,
    };
    Ok(Ok(booking))
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
