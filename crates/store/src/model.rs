//! Records that cross the storage interface.

use domain::booking::{Appointment, Booking, BookingId, PersonId};
use domain::clinic::{Clinic, ClinicId};
pub use domain::ledger::reschedule::{Delivery, Reason};
pub use domain::leftover::{Offer, OfferId, Subscription};
use domain::product::Product;
use jiff::civil::Date;
use std::sync::atomic::AtomicU64;

/// A clinic and its standing supply plan (doses per open day, by product).
#[derive(Debug, Clone, PartialEq)]
pub struct ClinicRecord {
    pub clinic: Clinic,
    pub daily_doses: Vec<(Product, u32)>,
}

impl ClinicRecord {
    /// Planned doses per product (indexed by `Product::index`) for an open day.
    pub fn daily_supply(&self) -> [u32; 4] {
        let mut supply = [0; 4];
        for (product, doses) in &self.daily_doses {
            supply[product.index()] = *doses;
        }
        supply
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub id: PersonId,
    pub rrn_hash: [u8; 32],
    pub birth_date: Date,
    /// Name and phone, encrypted by the server; opaque here.
    pub sealed: Vec<u8>,
}

/// A person's record and what their eligibility depends on, read together
/// ([`ReadStore::person_with_bookings`](crate::ReadStore::person_with_bookings)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonSnapshot {
    pub record: PersonRecord,
    /// The priority lists the person's registration number is on.
    pub priority_lists: Vec<u32>,
    /// The bookings they hold or made for someone else, newest first (as `bookings_of`).
    pub bookings: Vec<Booking>,
}

/// A message to a person, delivered after the transaction that wrote it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub person: Option<PersonId>,
    /// The recipient's phone number, sealed by the server.
    pub recipient: Vec<u8>,
    pub template: String,
    pub body_ko: String,
    pub body_en: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: u64,
    pub message: OutboxMessage,
    pub attempts: u32,
    pub created_ms: i64,
}

/// The first answer to an idempotent request: the booking it produced or the refusal's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub fingerprint: String,
    pub booking: Option<BookingId>,
    pub error: Option<String>,
}

/// One write, applied inside the writer's transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    InsertPerson {
        person: PersonRecord,
        now_ms: i64,
    },
    /// Replaces a person's sealed contact (name and phone) after a newer verified check.
    UpdateContact {
        person: PersonId,
        sealed: Vec<u8>,
        now_ms: i64,
    },
    /// Inserts the booking or replaces the stored row with this state.
    PutBooking {
        booking: Booking,
        now_ms: i64,
    },
    Record {
        actor: PersonId,
        key: String,
        recorded: Recorded,
        now_ms: i64,
    },
    Enqueue {
        message: OutboxMessage,
        now_ms: i64,
    },
    MarkDelivered {
        outbox_id: u64,
        now_ms: i64,
    },
    /// A delivery failed; try again at `next_attempt_ms`.
    MarkAttempted {
        outbox_id: u64,
        next_attempt_ms: i64,
    },
    /// A message that failed too often: parked for an operator, not retried.
    MarkFailed {
        outbox_id: u64,
        now_ms: i64,
    },
    /// Sets the planned doses of a product at a clinic on a day.
    PutDelivery {
        delivery: Delivery,
        now_ms: i64,
    },
    PutSetting {
        key: String,
        value: String,
    },
    InsertReschedule(RescheduleRecord),
    /// Another piece of a supply change committed with this change.
    SupplyProgress {
        change_id: u64,
        pieces_done: u32,
    },
    /// The person saw why their appointment moved and accepted it.
    AcceptMoves {
        booking: BookingId,
        now_ms: i64,
    },
    Audit {
        entry: AuditEntry,
        now_ms: i64,
    },
    RevokeStaff {
        id: u64,
        now_ms: i64,
    },
    /// One more dose of an offer is claimed (storage refuses a claim past the offer's doses).
    /// Written before the claim's booking: dose 1 of a claimed booking comes from the clinic's
    /// spare doses and takes no planned place, and storage's capacity check (schema v7) learns
    /// that from the claim.
    ClaimOffer {
        offer: OfferId,
        person: PersonId,
        booking: BookingId,
        now_ms: i64,
    },
    PutSubscription {
        subscription: Subscription,
        now_ms: i64,
    },
    DeleteSubscription {
        person: PersonId,
    },
}

/// One line of the audit log: who did what to what, and what came of it. Serialized when a
/// node sends it to the node that writes home (`server::forward::PlainWrite`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// `operator`, `staff:ID` or `agent:ID`.
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `ok`, or the refusal's code; filled in by the writer for audited commands.
    pub outcome: String,
    /// Facts about the action (JSON), never personal data beyond ids.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: u64,
    pub at_ms: i64,
    pub entry: AuditEntry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    /// Staff of one clinic: its day list, doses given, leftover doses.
    Clinic,
    /// Call-centre and community-centre staff who book for people who cannot themselves.
    Agent,
}

impl StaffRole {
    pub fn code(self) -> &'static str {
        match self {
            StaffRole::Clinic => "clinic",
            StaffRole::Agent => "agent",
        }
    }

    pub fn parse(code: &str) -> Option<StaffRole> {
        [StaffRole::Clinic, StaffRole::Agent]
            .into_iter()
            .find(|r| r.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRecord {
    /// Assigned by storage.
    pub id: u64,
    pub role: StaffRole,
    pub clinic: Option<ClinicId>,
    pub name: String,
    pub created_ms: i64,
    pub revoked: bool,
}

/// A leftover-dose offer as stored, with who posted it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferRecord {
    pub offer: Offer,
    pub posted_by: u64,
    pub posted_ms: i64,
}

/// An applied supply change, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplyChangeRecord {
    /// Assigned by storage.
    pub id: u64,
    pub reason: Reason,
    pub plan_id: String,
    /// The change as the operator asked for it (JSON, written by the server).
    pub detail: String,
    pub people_moved: u64,
    pub doses_moved: u64,
    pub unplaced: u64,
    pub informed: u64,
    pub applied_ms: i64,
    /// The transactions the change is applied in, and how many of them have committed: fewer
    /// means the apply was interrupted between pieces (see [`SupplyChangeRecord::partial`]).
    pub pieces: u32,
    pub pieces_done: u32,
}

impl SupplyChangeRecord {
    /// Interrupted between pieces: what is left must be planned again.
    pub fn partial(&self) -> bool {
        self.pieces_done < self.pieces
    }
}

/// A dose that a supply change moved (`to` set) or could not place (`to` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RescheduleRecord {
    pub change_id: u64,
    pub booking: BookingId,
    pub person: PersonId,
    pub dose: u8,
    pub reason: Reason,
    pub from: Appointment,
    pub to: Option<Appointment>,
    pub accepted_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaxIds {
    pub person: u64,
    pub booking: u64,
}

/// What the database itself says about capacity use, for the audit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// Active appointments per (clinic id, day, hour band).
    pub per_band: Vec<(u32, Date, u8, u32)>,
    /// Active appointments per (clinic id, day, product).
    pub per_supply: Vec<(u32, Date, Product, u32)>,
    /// People with more than one active booking (must be empty).
    pub people_with_two_active: Vec<PersonId>,
    /// Bookings whose dose 2 is not at the same clinic as dose 1, or sooner than the
    /// product's interval after it.
    pub inconsistent_second_doses: Vec<BookingId>,
    pub active_bookings: u64,
}

// How backends store days: one conversion, owned by the domain.
pub use domain::time::{date_from_day_number, day_number};

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::ToSpan;

    #[test]
    fn day_numbers_round_trip_and_match_the_calendar() {
        let epoch = jiff::civil::date(1970, 1, 1);
        assert_eq!(day_number(epoch), 0);
        let mut day = jiff::civil::date(1899, 12, 25);
        while day < jiff::civil::date(2101, 3, 5) {
            let n = day_number(day);
            assert_eq!(i64::from(epoch.until(day).unwrap().get_days()), n, "{day}");
            assert_eq!(date_from_day_number(n), Some(day));
            day = day.checked_add(1.day()).unwrap();
        }
        assert_eq!(date_from_day_number(day_number(Date::MIN)), Some(Date::MIN));
        assert_eq!(date_from_day_number(day_number(Date::MAX)), Some(Date::MAX));
        assert_eq!(date_from_day_number(day_number(Date::MAX) + 1), None);
        assert_eq!(date_from_day_number(day_number(Date::MIN) - 1), None);
        assert_eq!(date_from_day_number(i64::MAX), None);
        assert_eq!(date_from_day_number(i64::MIN), None);
    }
}

/// What an embedded database's background checkpointer managed (SQLite's WAL), for metrics and
/// readiness. Here rather than in `sqlite` because `ReadStore` names it.
#[derive(Debug, Default)]
pub struct CheckpointStats {
    /// Checkpoints that worked.
    pub done: AtomicU64,
    /// Checkpoints that failed (each one logged).
    pub failed: AtomicU64,
    /// Failures in a row since the last one that worked: 0 when healthy. While it is above 0
    /// the WAL only grows.
    pub failing: AtomicU64,
    /// The WAL file's size after the last try, in bytes.
    pub wal_bytes: AtomicU64,
    /// Frames in the log at the last checkpoint that ran, and how many of them were copied
    /// back into the database by then (SQLite starts the log over once all are).
    pub log_frames: AtomicU64,
    pub copied_frames: AtomicU64,
    /// Times the writer copied the rest of a long log back itself, between batches, and started
    /// it over, and the microseconds it spent on it (tries that could not included): bookings
    /// queue behind it meanwhile.
    pub by_writer: AtomicU64,
    pub by_writer_us: AtomicU64,
}
