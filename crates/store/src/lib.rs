//! Storage: the one interface every backend satisfies, the SQLite backend (the embedded default),
//! and the group-commit writer that turns many concurrent requests into one transaction.
//!
//! Only this crate knows SQL. The writer owns the capacity [`Ledger`](domain::ledger::Ledger): it
//! decides each request in memory (the single writer makes check-then-reserve atomic), writes the
//! effects of a whole batch in one transaction with one fsync, and answers only after the commit,
//! so an acknowledged booking is durable (B3).

mod keys;
pub mod model;
pub mod postgres;
pub mod sqlite;
pub mod writer;

pub use model::*;

use domain::booking::{Booking, BookingId, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::product::{Product, Schedules};
use jiff::civil::Date;

/// Failures of the storage itself (not refusals: those are `BookingError`s).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    /// The disk (or the database's quota) is full: nothing of the transaction was written.
    /// Backends map their own "no space" error here (SQLite: `SQLITE_FULL`; PostgreSQL:
    /// SQLSTATE 53100 `disk_full`) so the service can say so with its own code and recover
    /// once space returns.
    #[error("storage is full: {0}")]
    Full(String),
    /// The database refused a write that breaks one of its own rules (over capacity, a second
    /// active booking for a person): a bug above storage. Nothing of the transaction was written.
    #[error("the database refused the write: {0}")]
    Refused(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Another node holds the right to write the ledger (PostgreSQL's lease), or took it from
    /// this one: this node stands by and writes nothing until it can take it.
    #[error("standing by: {0}")]
    Standby(String),
    #[error("schema version {found} is newer than this binary knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
}

/// What the ledger's capacities are made of besides the clinics: planned deliveries that differ
/// from each clinic's standing plan, and the dose schedules once an operator changed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub deliveries: Vec<Delivery>,
    pub schedules: Option<Schedules>,
}

/// The dose schedules from their stored text form ([`SCHEDULES_SETTING`]), if one is stored.
pub fn stored_schedules(text: Option<String>) -> Result<Option<Schedules>> {
    text.map(|text| {
        text.parse::<Schedules>()
            .map_err(|e| StoreError::Corrupt(format!("dose schedules: {e}")))
    })
    .transpose()
}

/// The setting that holds the dose schedules in force (see `Schedules`' text form), once an
/// operator changed one.
pub const SCHEDULES_SETTING: &str = "dose_schedules";

pub type Result<T> = std::result::Result<T, StoreError>;

/// What the group-commit writer needs from a database. Calls come from one thread only, in the
/// order begin, (reads and writes)*, commit or rollback.
///
/// Faults: a backend reports a full disk as [`StoreError::Full`] and a write its own rules
/// refuse as [`StoreError::Refused`]. Its rules include capacity (see `sqlite/schema_v7.sql`):
/// a transaction in which a booking takes a band or supply place beyond the clinic's capacity
/// must fail at `commit` with `Refused`, whatever the order of its writes. After any error the
/// writer calls `rollback` and rebuilds its ledger with `active_bookings`, which must then see
/// committed data only. `tests/conformance/faults.rs` checks all of this.
///
/// A backend may take writes only once its ledger was loaded (`claim_ledger`, then
/// `active_bookings`, which the writer calls first): PostgreSQL takes the ledger's lease there. A
/// node that cannot (another holds it) answers `claim_ledger`, `active_bookings` and `begin` with
/// [`StoreError::Standby`]; the writer then refuses requests (the server forwards them to the
/// holder), keeps a view of what is left from `committed_bookings`, and asks again until it
/// succeeds.
pub trait WriteBackend: Send + 'static {
    fn begin(&mut self) -> Result<()>;
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self) -> Result<()>;
    /// Whether a long write (the next piece of a supply change) may go now, or should wait
    /// while storage catches up with what the writes before it left (SQLite: a write-ahead log
    /// not yet copied back into the database, see `sqlite::wal`). Asked between transactions;
    /// bookings never wait for it. Nothing to catch up with by default (PostgreSQL).
    fn room_for_long_write(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// Called between batches, once a batch's answers went out: upkeep of the backend's storage
    /// that only the writer's own connection can do (SQLite: copying back the rest of a long
    /// write-ahead log and starting it over, see `sqlite::wal`). A failure
    /// fails no request; the writer logs it. Nothing by default (PostgreSQL).
    fn between_batches(&mut self) -> Result<()> {
        Ok(())
    }
    fn apply(&mut self, change: &Change) -> Result<()>;
    /// The first answer recorded for `(actor, key)`, if any (sees this transaction's writes).
    fn recorded(&mut self, actor: PersonId, key: &str) -> Result<Option<Recorded>>;
    fn person_by_hash(&mut self, rrn_hash: &[u8; 32]) -> Result<Option<PersonId>>;
    /// The largest ids in use, so the writer can continue numbering after a restart.
    fn max_ids(&mut self) -> Result<MaxIds>;
    /// Takes the right to write the ledger before it is rebuilt (PostgreSQL's lease; nothing to
    /// take on SQLite). [`StoreError::Standby`] when another node holds it.
    fn claim_ledger(&mut self) -> Result<()> {
        Ok(())
    }
    /// Whether the right to write the ledger, claimed before, is gone (PostgreSQL: the lease
    /// was given up, or found taken at a renewal). Asked by an idle writer, which then stands
    /// by; never on SQLite.
    fn ledger_lost(&mut self) -> bool {
        false
    }
    /// Whether that right can go at all (PostgreSQL's lease can), so that an idle writer must
    /// ask [`WriteBackend::ledger_lost`] now and then. An idle SQLite writer just sleeps.
    fn may_lose_ledger(&self) -> bool {
        false
    }
    /// Every booking that still holds capacity, to rebuild the ledger at start-up.
    fn active_bookings(&mut self, each: &mut dyn FnMut(Booking)) -> Result<()>;
    /// Inside the open transaction, locks `people` until it ends and gives each one's active
    /// bookings: for a ledger cut in parts (`domain::partition`), whose writers must not both
    /// book one person. Asked only of a writer of one part; a backend that has one writer by
    /// nature (SQLite, one file) refuses, so a ledger cut in parts is never written on it.
    fn lock_people(&mut self, _people: &[PersonId], _each: &mut dyn FnMut(Booking)) -> Result<()> {
        Err(StoreError::Database(
            "this storage has one writer: its ledger cannot be cut in parts".into(),
        ))
    }
    /// Inside the open transaction, after `lock_people` locked their actors: makes
    /// [`WriteBackend::recorded`] see which of these `(actor, key)` pairs other parts' writers
    /// recorded (PostgreSQL: a writer's filter of keys knows only its own). Asked only of a
    /// writer of one part; nothing to learn where one writer records every key (SQLite).
    fn learn_keys(&mut self, _keys: &[(PersonId, String)]) -> Result<()> {
        Ok(())
    }
    /// The same bookings, read without taking the right to write: a standby's view of what is
    /// left to book (clinic search), never the base of a decision.
    fn committed_bookings(&mut self, each: &mut dyn FnMut(Booking)) -> Result<()> {
        self.active_bookings(each)
    }
    /// A standby's view kept up: the committed state, active or not, of every booking of this
    /// backend's part written since the view was last read (by `committed_bookings` or this),
    /// and true; or false, giving nothing, when it cannot tell what changed (no view read yet,
    /// or the planned supply changed since): the caller then reads the view whole. A booking
    /// may be given again in a state it gave before. Never on SQLite (no standby there).
    fn view_changes(&mut self, _each: &mut dyn FnMut(Booking)) -> Result<bool> {
        Ok(false)
    }
    fn booking(&mut self, id: BookingId) -> Result<Option<Booking>>;
    /// The planned supply as stored from `from` on (deliveries that differ from the standing
    /// plan) and the dose schedules in force: what the ledger's capacities are rebuilt from when
    /// this node takes the ledger, since another node may have changed them meanwhile.
    fn stored_plan(&mut self, from: Date) -> Result<StoredPlan>;
    /// Stores an applied supply change and returns its id.
    fn insert_supply_change(&mut self, record: &SupplyChangeRecord) -> Result<u64>;
    /// A person's sealed contact (name and phone), to address a message.
    fn person_sealed(&mut self, person: PersonId) -> Result<Option<Vec<u8>>>;
    /// Stores a new staff member with the hash of their token; returns their id.
    fn insert_staff(&mut self, record: &StaffRecord, token_hash: &[u8; 32]) -> Result<u64>;
    /// Stores a leftover-dose offer and returns its id.
    fn insert_offer(&mut self, record: &OfferRecord) -> Result<OfferId>;
    fn offer(&mut self, id: OfferId) -> Result<Option<OfferRecord>>;
    /// Subscriptions whose place lies within `reach_km` of `at` (a superset is fine: callers
    /// check each one's own radius).
    fn subscriptions_near(&mut self, at: GeoPoint, reach_km: f64) -> Result<Vec<Subscription>>;
}

/// Reads that need no writer: any thread, concurrently with writes.
pub trait ReadStore: Send + Sync + 'static {
    /// Whether a read by key here is a short local call (an embedded file, answered from its
    /// page cache in microseconds) that a caller may make on an async worker, rather than a
    /// round trip over the network that must not hold one. The default is the safe answer.
    fn reads_are_local(&self) -> bool {
        false
    }
    fn clinics(&self) -> Result<Vec<ClinicRecord>>;
    fn setting(&self, key: &str) -> Result<Option<String>>;
    fn person(&self, id: PersonId) -> Result<Option<PersonRecord>>;
    fn person_by_hash(&self, rrn_hash: &[u8; 32]) -> Result<Option<PersonRecord>>;
    /// Bookings the person holds or made for someone else, newest first.
    fn bookings_of(&self, person: PersonId) -> Result<Vec<Booking>>;
    fn booking(&self, id: BookingId) -> Result<Option<Booking>>;
    /// `person`, `priority_lists_of` their registration number and `bookings_of`, read together
    /// on one connection (what every eligibility check and booking reads). On SQLite in one
    /// read transaction, so a decision is made from one snapshot of the person (a booking
    /// committed between separate reads could be half seen) and the page cache, which WAL mode
    /// empties when a read transaction begins after a commit, is started once, not three times
    /// (no saving the 40% replay could measure: bench/loadtest-53-54-2026-12-05-evening/).
    fn person_with_bookings(&self, id: PersonId) -> Result<Option<PersonSnapshot>>;
    /// `booking` and `reschedules_of` it, read together as `person_with_bookings` is.
    fn booking_with_moves(&self, id: BookingId)
    -> Result<Option<(Booking, Vec<RescheduleRecord>)>>;
    /// Messages not yet delivered whose next attempt is due at `now_ms`, oldest first.
    fn pending_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>>;
    /// Counts for the audit: bookings per (clinic, day, hour) and (clinic, day, product).
    fn audit(&self, schedules: &Schedules) -> Result<AuditReport>;
    /// Planned doses that differ from the standing plan, on `from` and after.
    fn deliveries(&self, from: Date) -> Result<Vec<Delivery>>;
    /// What supply changes did to these bookings, oldest first.
    fn reschedules_of(&self, bookings: &[BookingId]) -> Result<Vec<RescheduleRecord>>;
    /// Applied supply changes, newest first.
    fn supply_changes(&self, limit: usize) -> Result<Vec<SupplyChangeRecord>>;
    /// The doses a supply change could not place.
    fn unplaced(&self, change_id: u64) -> Result<Vec<RescheduleRecord>>;
    /// Doses given at a clinic per day and product, from `first` to `last`.
    fn doses_given(
        &self,
        clinic: ClinicId,
        first: Date,
        last: Date,
    ) -> Result<Vec<(Date, Product, u32)>>;
    /// The staff member holding the token with this hash (revoked ones too: callers check).
    fn staff_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<StaffRecord>>;
    fn staff(&self) -> Result<Vec<StaffRecord>>;
    /// Audit log lines, newest first, with ids below `before` when given.
    fn audit_log(&self, limit: usize, before: Option<u64>) -> Result<Vec<AuditRecord>>;
    /// Leftover-dose offers for a day, newest first.
    fn offers_on(&self, day: Date) -> Result<Vec<OfferRecord>>;
    fn offer(&self, id: OfferId) -> Result<Option<OfferRecord>>;
    fn subscription(&self, person: PersonId) -> Result<Option<Subscription>>;
    /// Bookings with a dose at `clinic` on `day` (in any state), by booking id.
    fn clinic_day(&self, clinic: ClinicId, day: Date) -> Result<Vec<Booking>>;
    /// Answers only if the database does: a readiness check. The default runs one small
    /// query; a backend may do something cheaper.
    fn ping(&self) -> Result<()> {
        self.setting("ping").map(|_| ())
    }
    /// The embedded database's WAL checkpointer, for readiness and metrics; `None` for a
    /// backend that has none (PostgreSQL checkpoints on its own).
    fn checkpoint_stats(&self) -> Option<&CheckpointStats> {
        None
    }
}

/// Writes that set up a world (clinics, settings) outside the booking path.
pub trait AdminStore: Send + Sync + 'static {
    fn insert_clinics(&self, clinics: &[ClinicRecord]) -> Result<()>;
    fn put_setting(&self, key: &str, value: &str) -> Result<()>;
}

/// The waiting room's durable record (see the `queue` crate): one small document per queue.
pub trait QueueStore: Send + Sync + 'static {
    /// The newest queue's id and record, if any queue was ever opened.
    fn current_queue(&self) -> Result<Option<(u32, String)>>;
    /// Stores `record` (at `revision`) as queue `id`'s, compare-and-swap: when `base` is `None`
    /// only if the queue has no record yet, else only if the stored record is at revision
    /// `base` (the one the caller changed). False when it was not stored: someone else (another
    /// node) changed the record first, and the caller must read it again. Durable when it
    /// returns.
    fn save_queue(
        &self,
        id: u32,
        base: Option<u64>,
        revision: u64,
        record: &str,
        now_ms: i64,
    ) -> Result<bool>;
    /// The draw numbers of `persons` in queue `id`'s draw of verified people, in order: the same
    /// number every time for the same person (listed twice, or drawn before), the next free one
    /// (dense from 0) the first time. Durable when it returns, all or none, in one transaction
    /// (the `queue-draws` thread sends a crowd's draws together: one sync for the lot). Only the
    /// waiting room's own file and PostgreSQL keep the table.
    fn draw_numbers(&self, id: u32, persons: &[u64]) -> Result<Vec<u64>> {
        let _ = (id, persons);
        Err(StoreError::Database(
            "this store keeps no draw of verified people".into(),
        ))
    }
    /// [`QueueStore::draw_numbers`] for one person.
    fn draw_number(&self, id: u32, person: u64) -> Result<u64> {
        self.draw_numbers(id, &[person])?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no draw number".into()))
    }
    /// How many people queue `id` has numbered so far.
    fn people_drawn(&self, id: u32) -> Result<u64> {
        let _ = id;
        Ok(0)
    }
    /// Leaves what this node saw for the controller of queue `id` (several nodes on one
    /// database; a store serving one node keeps nothing).
    fn report(&self, id: u32, report: &QueueReport) -> Result<()> {
        let _ = (id, report);
        Ok(())
    }
    /// Takes (and removes) every report left for queue `id`, oldest first; drops those left
    /// for earlier queues.
    fn take_reports(&self, id: u32) -> Result<Vec<QueueReport>> {
        let _ = id;
        Ok(Vec::new())
    }
}

/// What one node saw of the booking side since its last report, for the node that runs the
/// admission controller (the `queue` crate's `Observations`, summed over nodes there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueReport {
    pub node: String,
    pub at_ms: i64,
    /// The ranks of the sessions that used a pass on this node recently. Ranks, not a count:
    /// one person's requests may reach several nodes, and the controller counts each rank once.
    pub active: Vec<u64>,
    /// The 99th percentile of this node's booking-side latency since its last report.
    pub latency_p99_ms: Option<u32>,
    /// The booking side refused a request as busy.
    pub saturated: bool,
    /// Ranks of admitted people who showed up on this node (their first request with a pass).
    pub started: Vec<u64>,
    /// Ranks of the pre-queue numbers this node reserved and never handed out, once the opening
    /// closed the pre-queue: nobody will hold them (sent once).
    pub empty: Vec<u64>,
}

/// Key lists every node must hold alike (the waiting room's signing keys, the token signing
/// keys), kept where every node reads them: several nodes on one database. Each list is a text
/// in the keys-file format, with a revision for compare-and-swap.
pub trait SharedKeys: Send + Sync + 'static {
    /// The list named `name` and its revision, if any node stored one.
    fn shared_keys(&self, name: &str) -> Result<Option<(String, u64)>>;
    /// Stores `lines` as `name`'s list: when `base` is `None` only if there is none yet, else
    /// only if the stored one is at revision `base`. False when someone else changed it first.
    fn put_shared_keys(&self, name: &str, base: Option<u64>, lines: &str) -> Result<bool>;
}

/// Everything a running service reads and sets up outside the writer, whichever the backend:
/// what the server holds (as `Arc<dyn Store>`) beside the writer.
pub trait Store: ReadStore + AdminStore + QueueStore + PriorityStore {}

impl<T: ReadStore + AdminStore + QueueStore + PriorityStore> Store for T {}

/// Members of uploaded priority lists (care workers, teachers, …), by RRN hash.
pub trait PriorityStore: Send + Sync + 'static {
    /// Adds members in one transaction; returns how many were new.
    fn add_priority_members(&self, list_id: u32, rrn_hashes: &[[u8; 32]]) -> Result<u64>;
    fn priority_lists_of(&self, rrn_hash: &[u8; 32]) -> Result<Vec<u32>>;
}
