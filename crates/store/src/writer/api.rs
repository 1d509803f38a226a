//! What callers hand the writer and what it answers: one request type per operation, each with
//! its own result, and the one [`WriteError`] every operation may fail with instead.

use crate::{OfferRecord, OutboxMessage, StaffRecord};
use domain::booking::{Appointment, Booking, BookingError, BookingId, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::ledger::BookRequest;
use domain::ledger::reschedule::{
    Move, Neighbours, Plan, PlanError, Reason, SupplyChange, Unplaced,
};
use domain::leftover::{ClaimError, OfferId};
use jiff::civil::Date;
use std::sync::Arc;

/// Builds the message announcing a committed change. The writer runs it inside the
/// transaction (a notice commits with its booking or not at all), so it must be cheap: the
/// caller prepares everything that does not depend on the writer's decision (the unsealed,
/// masked name, the template) before it submits, and only the doses are filled in here.
pub type Notify = Box<dyn FnOnce(&Booking) -> Option<OutboxMessage> + Send>;

/// Books `request.person` (dose 1 where asked, dose 2 where the ledger finds room).
pub struct Book {
    pub request: BookRequest,
    pub idempotency_key: Option<String>,
    pub notify: Option<Notify>,
}

/// Cancels every dose of a booking still to be given.
pub struct Cancel {
    pub actor: PersonId,
    pub booking: BookingId,
    pub idempotency_key: Option<String>,
    pub notify: Option<Notify>,
}

/// Moves a booking's dose 1 (and dose 2 with it).
pub struct ChangeBooking {
    pub actor: PersonId,
    pub booking: BookingId,
    pub first: Appointment,
    pub today: Date,
    pub idempotency_key: Option<String>,
    pub notify: Option<Notify>,
}

/// Why a booking, cancellation or change produced no booking. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Booking(#[from] BookingError),
    /// The idempotency key was first used for a different request.
    #[error("idempotency key reused for a different request")]
    KeyReused,
}

impl Refusal {
    /// The refusal's stable code (what the audit log records).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Booking(e) => e.code(),
            Refusal::KeyReused => "idempotency_key_reused",
        }
    }
}

/// Finds the person with this RRN hash, creating them if new; an existing person's contact is
/// replaced by `sealed` (it comes from a newer verified check, so notices follow them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsurePerson {
    pub rrn_hash: [u8; 32],
    pub birth_date: Date,
    pub sealed: Vec<u8>,
}

/// The person [`EnsurePerson`] found or created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnsuredPerson {
    pub id: PersonId,
    pub created: bool,
}

/// What one delivery attempt of an outbox message ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxMark {
    Delivered,
    /// It failed; the next attempt is due at `next_attempt_ms`.
    Attempted {
        next_attempt_ms: i64,
    },
    /// It failed too often (or was rejected): parked for an operator.
    Failed,
}

/// Which plan an operator agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Only a change that moves nobody (entering or raising planned deliveries).
    NoMoves,
    /// Exactly the previewed plan, by [`Plan::id`].
    Plan(String),
}

/// Works out what a supply change would do; changes nothing.
pub struct PlanSupply {
    pub change: SupplyChange,
    pub today: Date,
    pub neighbours: Neighbours,
}

/// Plans a supply change and, if the plan is what the operator expects, applies it with one
/// message per person, in pieces (each its own transaction; see `writer::supply`).
pub struct ApplySupply {
    pub change: SupplyChange,
    pub today: Date,
    pub neighbours: Neighbours,
    pub expect: Expect,
    /// The change as asked for (JSON), kept with the record of it.
    pub detail: String,
    pub notify: SupplyNotify,
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

/// Builds the message for one person's notice, from the plan, on a thread of its own beside the
/// writer (never inside a transaction).
pub type SupplyNotify = Box<dyn Fn(&Notice) -> MessageText + Send>;

/// Why a supply change was not applied. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupplyRefusal {
    Invalid(PlanError),
    /// The change moves people: it needs a previewed plan.
    PlanRequired(Arc<Plan>),
    /// Bookings changed since the preview; here is the new plan.
    PlanChanged(Arc<Plan>),
    /// Another change is being planned (one at a time): try again in a few seconds.
    Busy,
    /// The ledger is cut in parts (`domain::partition`) and the change reaches clinics of
    /// several, or all of them (an interval): each part plans and moves only its own clinics.
    AcrossParts,
}

impl SupplyRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            SupplyRefusal::Invalid(_) => "invalid_change",
            SupplyRefusal::PlanRequired(_) => "plan_required",
            SupplyRefusal::PlanChanged(_) => "plan_changed",
            SupplyRefusal::Busy => "planner_busy",
            SupplyRefusal::AcrossParts => "supply_change_across_parts",
        }
    }
}

/// An applied (or, for a preview, planned) supply change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplyOutcome {
    /// The stored change's id; `None` for a preview.
    pub change_id: Option<u64>,
    pub plan: Arc<Plan>,
    /// An apply's catch-up: the bookings made or changed while the plan was made that the
    /// change displaced or told (`Ledger::catch_up_plan`). `None` for a preview.
    pub caught_up: Option<Arc<Plan>>,
    /// Messages written (one per person told).
    pub messages: u64,
}

/// A clinic gave dose `dose` (1 or 2) of a booking today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkGiven {
    pub clinic: domain::clinic::ClinicId,
    pub booking: BookingId,
    pub dose: u8,
    pub today: Date,
}

/// Stores a leftover-dose offer and, in the same transaction, tells the nearest people who
/// asked to hear of one.
pub struct PostOffer {
    pub record: OfferRecord,
    pub clinic_at: GeoPoint,
    /// The message each person told gets, formatted before it is submitted.
    pub text: MessageText,
}

/// A stored offer and how many people were told of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostedOffer {
    pub id: OfferId,
    pub told: u64,
}

/// Claims one dose of an offer for `person`, as dose 1 today in the band starting at `hour`.
pub struct ClaimOffer {
    pub offer: OfferId,
    /// The offer's clinic, as the claimant was shown it: the part that writes it takes the claim.
    pub clinic: ClinicId,
    pub person: PersonId,
    pub hour: u8,
    pub today: Date,
    pub notify: Option<Notify>,
}

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

/// Stores a staff member with the hash of their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateStaff {
    pub record: StaffRecord,
    pub token_hash: [u8; 32],
}

/// The write did not happen, or its outcome is not known here; the caller may retry (with the
/// same idempotency key). Every operation fails only with this, besides its own refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The writer's queue is full (HTTP: 503 `busy` + `Retry-After`).
    #[error("the writer's queue is full")]
    Busy,
    /// The writer thread is gone: nothing will be written (a bug or a shutdown).
    #[error("the writer has stopped")]
    Stopped,
    /// The request's batch failed, or the writer is recovering from a fault, or (a standby) no
    /// node that writes the ledger could be reached. Nothing of the request was written.
    #[error("storage is unavailable: {0}")]
    Unavailable(Fault),
    /// This node's writer of the request's part stands by: another node holds the part's lease
    /// (or nobody does, for a moment). Nothing of the request was written here; the server
    /// forwards it to the part's holder, or answers as for [`Fault::Standby`].
    #[error("another node writes part {} of the ledger", .0.index())]
    Elsewhere(domain::partition::Part),
    /// The request was sent to the node that writes the ledger but its answer was lost: it may
    /// or may not have been written (HTTP: 503 `timeout`; retry with the same key to learn).
    #[error("the write was forwarded to the ledger's holder and its answer was lost")]
    Lost,
}

impl WriteError {
    /// What a request that `part`'s writer cannot take because of `fault` is answered: a
    /// writer standing by says whose part it is, so the request can go to the node that
    /// writes it.
    pub(super) fn refused_by(fault: Fault, part: domain::partition::Part) -> WriteError {
        match fault {
            Fault::Standby => WriteError::Elsewhere(part),
            fault => WriteError::Unavailable(fault),
        }
    }
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
    pub(super) fn of(error: &crate::StoreError) -> Fault {
        match error {
            crate::StoreError::Full(_) => Fault::Full,
            crate::StoreError::Standby(_) => Fault::Standby,
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
