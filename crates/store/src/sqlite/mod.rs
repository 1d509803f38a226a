//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives `kill -9` and power loss.

mod keys;
mod priority;
mod queue;
mod rows;
mod staffing;
mod supply;

use crate::{
    AdminStore, AuditRecord, AuditReport, Change, ClinicRecord, Delivery, MaxIds, OfferId,
    OfferRecord, OutboxRecord, PersonRecord, ReadStore, Recorded, RescheduleRecord, Result,
    StaffRecord, StoreError, Subscription, SupplyChangeRecord, WriteBackend,
};
use domain::booking::{Booking, BookingId, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::product::{Product, Schedules};
use jiff::civil::Date;
use rows::{BOOKING_COLUMNS, booking_from_row, day_from_sql};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const SCHEMA_V1: &str = include_str!("schema.sql");
const SCHEMA_V2: &str = include_str!("schema_v2.sql");
const SCHEMA_V3: &str = include_str!("schema_v3.sql");
const SCHEMA_V4: &str = include_str!("schema_v4.sql");
const SCHEMA_V5: &str = include_str!("schema_v5.sql");
const SCHEMA_VERSION: i64 = 5;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Database(error.to_string())
    }
}

/// Opens (creating if needed) the database file and brings its schema up to date.
pub fn open(path: &Path) -> Result<(SqliteWriter, SqliteReader)> {
    let mut conn = connect(path)?;
    migrate(&mut conn)?;
    // The writer never checkpoints: copying the WAL back into the database would stall a batch.
    // A background thread does it with its own connection instead.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let open = Arc::new(AtomicBool::new(true));
    spawn_checkpointer(path, Arc::clone(&open))?;
    let reader = SqliteReader {
        path: path.to_path_buf(),
        pool: Mutex::new(Vec::new()),
    };
    let keys = recorded_keys(&conn)?;
    Ok((SqliteWriter { conn, open, keys }, reader))
}

/// Checkpoints the WAL every 200 ms while the writer is open. PASSIVE never blocks the writer.
fn spawn_checkpointer(path: &Path, open: Arc<AtomicBool>) -> Result<()> {
    let conn = connect(path)?;
    std::thread::Builder::new()
        .name("yeyak-checkpoint".into())
        .spawn(move || {
            while open.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(%error, "WAL checkpoint failed; stopping checkpoints");
                    return;
                }
            }
        })
        .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Larger pages than the default 4 KiB: shallower B-trees and fewer page splits for the
    // writer's index inserts (+5% to +17% bookings/s in `yeyak bench`; 8 KiB gave +4%), at the
    // price of more WAL bytes for a one-booking commit (~10% slower when idle). Takes effect only
    // when the file is created, so it must come before the first table (and WAL).
    conn.pragma_update(None, "page_size", 16_384)?;
    // WAL lets readers run beside the writer; FULL syncs the WAL on every commit (B3).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    conn.pragma_update(None, "cache_size", -64_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    for (target, sql) in [
        (1, SCHEMA_V1),
        (2, SCHEMA_V2),
        (3, SCHEMA_V3),
        (4, SCHEMA_V4),
        (5, SCHEMA_V5),
    ] {
        if version < target {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", target)?;
            tx.commit()?;
        }
    }
    Ok(())
}

/// The writer's connection. Owned by the writer thread alone.
pub struct SqliteWriter {
    conn: Connection,
    /// Cleared on drop, which stops the checkpoint thread.
    open: Arc<AtomicBool>,
    /// Every idempotency key in the database (and maybe a few more): see [`keys`].
    keys: keys::KeyFilter,
}

/// Loads the idempotency keys already recorded into a filter, at open.
fn recorded_keys(conn: &Connection) -> Result<keys::KeyFilter> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM idempotency", [], |r| r.get(0))?;
    let mut filter = keys::KeyFilter::with_capacity(2 * count as usize);
    let mut stmt = conn.prepare("SELECT actor, key FROM idempotency")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let key = row
            .get_ref(1)?
            .as_str()
            .map_err(|e| StoreError::Corrupt(format!("idempotency key: {e}")))?;
        filter.insert(row.get::<_, i64>(0)? as u64, key);
    }
    Ok(filter)
}

impl SqliteWriter {
    /// Copies the whole WAL into the database and empties it, waiting for readers if need be.
    /// For bulk loads between their transactions: the background PASSIVE checkpoints cannot
    /// keep up with back-to-back large commits, and the WAL would grow without bound.
    pub fn checkpoint_truncate(&mut self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Relaxed);
    }
}

impl WriteBackend for SqliteWriter {
    fn begin(&mut self) -> Result<()> {
        // IMMEDIATE takes the write lock now, so the batch never fails half-way on a busy lock.
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn apply(&mut self, change: &Change) -> Result<()> {
        match change {
            Change::UpdateContact {
                person,
                sealed,
                now_ms: _,
            } => {
                self.conn
                    .prepare_cached("UPDATE person SET sealed = ?2 WHERE id = ?1")?
                    .execute(params![person.0 as i64, sealed])?;
            }
            Change::InsertPerson { person, now_ms } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO person (id, rrn_hash, birth_date, sealed, created_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        person.id.0 as i64,
                        &person.rrn_hash[..],
                        person.birth_date.to_string(),
                        person.sealed,
                        now_ms
                    ])?;
            }
            Change::PutBooking { booking, now_ms } => {
                rows::put_booking(&self.conn, booking, *now_ms)?;
            }
            Change::Record {
                actor,
                key,
                recorded,
                now_ms,
            } => {
                self.keys.insert(actor.0, key);
                self.conn
                    .prepare_cached(
                        "INSERT INTO idempotency (actor, key, fingerprint, booking, error, created_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        actor.0 as i64,
                        key,
                        recorded.fingerprint,
                        recorded.booking.map(|b| b.0 as i64),
                        recorded.error,
                        now_ms
                    ])?;
            }
            Change::Enqueue { message, now_ms } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO outbox (person, recipient, template, body_ko, body_en, created_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        message.person.map(|p| p.0 as i64),
                        message.recipient,
                        message.template,
                        message.body_ko,
                        message.body_en,
                        now_ms
                    ])?;
            }
            Change::MarkDelivered { outbox_id, now_ms } => {
                self.conn
                    .prepare_cached(
                        "UPDATE outbox SET delivered_ms = ?2, attempts = attempts + 1
                         WHERE id = ?1 AND delivered_ms IS NULL",
                    )?
                    .execute(params![*outbox_id as i64, now_ms])?;
            }
            Change::MarkAttempted {
                outbox_id,
                next_attempt_ms,
            } => {
                self.conn
                    .prepare_cached(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2
                         WHERE id = ?1",
                    )?
                    .execute(params![*outbox_id as i64, next_attempt_ms])?;
            }
            Change::MarkFailed { outbox_id, now_ms } => {
                self.conn
                    .prepare_cached(
                        "UPDATE outbox SET attempts = attempts + 1, failed_ms = ?2 WHERE id = ?1",
                    )?
                    .execute(params![*outbox_id as i64, now_ms])?;
            }
            Change::Audit { entry, now_ms } => staffing::append_audit(&self.conn, entry, *now_ms)?,
            Change::RevokeStaff { id, now_ms } => staffing::revoke_staff(&self.conn, *id, *now_ms)?,
            Change::ClaimOffer {
                offer,
                person,
                booking,
                now_ms,
            } => staffing::claim_offer(&self.conn, *offer, *person, *booking, *now_ms)?,
            Change::PutSubscription {
                subscription,
                now_ms,
            } => staffing::put_subscription(&self.conn, subscription, *now_ms)?,
            Change::DeleteSubscription { person } => {
                staffing::delete_subscription(&self.conn, *person)?;
            }
            Change::PutDelivery { delivery, now_ms } => {
                supply::put_delivery(&self.conn, delivery, *now_ms)?;
            }
            Change::PutSetting { key, value } => put_setting(&self.conn, key, value)?,
            Change::InsertReschedule(record) => supply::insert_reschedule(&self.conn, record)?,
            Change::AcceptMoves { booking, now_ms } => {
                supply::accept_moves(&self.conn, *booking, *now_ms)?;
            }
        }
        Ok(())
    }

    fn recorded(&mut self, actor: PersonId, key: &str) -> Result<Option<Recorded>> {
        if !self.keys.may_contain(actor.0, key) {
            return Ok(None);
        }
        let recorded = self
            .conn
            .prepare_cached(
                "SELECT fingerprint, booking, error FROM idempotency WHERE actor = ?1 AND key = ?2",
            )?
            .query_row(params![actor.0 as i64, key], |r| {
                Ok(Recorded {
                    fingerprint: r.get(0)?,
                    booking: r.get::<_, Option<i64>>(1)?.map(|b| BookingId(b as u64)),
                    error: r.get(2)?,
                })
            })
            .optional()?;
        Ok(recorded)
    }

    fn person_by_hash(&mut self, rrn_hash: &[u8; 32]) -> Result<Option<PersonId>> {
        let id = self
            .conn
            .prepare_cached("SELECT id FROM person WHERE rrn_hash = ?1")?
            .query_row(params![&rrn_hash[..]], |r| r.get::<_, i64>(0))
            .optional()?;
        Ok(id.map(|id| PersonId(id as u64)))
    }

    fn max_ids(&mut self) -> Result<MaxIds> {
        let max = |table: &str| -> Result<u64> {
            let sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
            Ok(self.conn.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(MaxIds {
            person: max("person")?,
            booking: max("booking")?,
        })
    }

    fn active_bookings(&mut self, each: &mut dyn FnMut(Booking)) -> Result<()> {
        let sql = format!(
            "SELECT {BOOKING_COLUMNS} FROM booking WHERE d1_status = 'booked' OR d2_status = 'booked'"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(booking_from_row(row)?);
        }
        Ok(())
    }

    fn booking(&mut self, id: BookingId) -> Result<Option<Booking>> {
        rows::booking_by_id(&self.conn, id)
    }

    fn insert_supply_change(&mut self, record: &SupplyChangeRecord) -> Result<u64> {
        supply::insert_supply_change(&self.conn, record)
    }

    fn person_sealed(&mut self, person: PersonId) -> Result<Option<Vec<u8>>> {
        let sealed = self
            .conn
            .prepare_cached("SELECT sealed FROM person WHERE id = ?1")?
            .query_row(params![person.0 as i64], |r| r.get::<_, Vec<u8>>(0))
            .optional()?;
        Ok(sealed)
    }

    fn insert_staff(&mut self, record: &StaffRecord, token_hash: &[u8; 32]) -> Result<u64> {
        staffing::insert_staff(&self.conn, record, token_hash)
    }

    fn insert_offer(&mut self, record: &OfferRecord) -> Result<OfferId> {
        staffing::insert_offer(&self.conn, record)
    }

    fn offer(&mut self, id: OfferId) -> Result<Option<OfferRecord>> {
        staffing::offer(&self.conn, id)
    }

    fn subscriptions_near(&mut self, at: GeoPoint, reach_km: f64) -> Result<Vec<Subscription>> {
        staffing::subscriptions_near(&self.conn, at, reach_km)
    }
}

/// Read connections, opened on demand and reused. WAL readers never block the writer.
pub struct SqliteReader {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl SqliteReader {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().map_err(|_| poisoned())?.pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let result = f(&conn);
        self.pool.lock().map_err(|_| poisoned())?.push(conn);
        result
    }
}

fn poisoned() -> StoreError {
    StoreError::Database("connection pool lock poisoned".into())
}

impl ReadStore for SqliteReader {
    fn clinics(&self) -> Result<Vec<ClinicRecord>> {
        self.with(rows::clinics)
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.with(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM setting WHERE key = ?1")?
                .query_row(params![key], |r| r.get(0))
                .optional()?)
        })
    }

    fn person(&self, id: PersonId) -> Result<Option<PersonRecord>> {
        self.with(|conn| rows::person_where(conn, "id = ?1", params![id.0 as i64]))
    }

    fn person_by_hash(&self, rrn_hash: &[u8; 32]) -> Result<Option<PersonRecord>> {
        self.with(|conn| rows::person_where(conn, "rrn_hash = ?1", params![&rrn_hash[..]]))
    }

    fn bookings_of(&self, person: PersonId) -> Result<Vec<Booking>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&bookings_of_sql())?;
            let mut rows = stmt.query(params![person.0 as i64])?;
            let mut bookings = Vec::new();
            while let Some(row) = rows.next()? {
                bookings.push(booking_from_row(row)?);
            }
            Ok(bookings)
        })
    }

    fn booking(&self, id: BookingId) -> Result<Option<Booking>> {
        self.with(|conn| rows::booking_by_id(conn, id))
    }

    fn pending_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>> {
        self.with(|conn| rows::pending_outbox(conn, now_ms, limit))
    }

    fn audit(&self, schedules: &Schedules) -> Result<AuditReport> {
        self.with(|conn| audit(conn, schedules))
    }

    fn deliveries(&self, from: Date) -> Result<Vec<Delivery>> {
        self.with(|conn| supply::deliveries(conn, from))
    }

    fn reschedules_of(&self, bookings: &[BookingId]) -> Result<Vec<RescheduleRecord>> {
        self.with(|conn| supply::reschedules_of(conn, bookings))
    }

    fn supply_changes(&self, limit: usize) -> Result<Vec<SupplyChangeRecord>> {
        self.with(|conn| supply::supply_changes(conn, limit))
    }

    fn unplaced(&self, change_id: u64) -> Result<Vec<RescheduleRecord>> {
        self.with(|conn| supply::unplaced(conn, change_id))
    }

    fn doses_given(
        &self,
        clinic: ClinicId,
        first: Date,
        last: Date,
    ) -> Result<Vec<(Date, Product, u32)>> {
        self.with(|conn| supply::doses_given(conn, clinic, first, last))
    }

    fn staff_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<StaffRecord>> {
        self.with(|conn| staffing::staff_by_token(conn, token_hash))
    }

    fn staff(&self) -> Result<Vec<StaffRecord>> {
        self.with(staffing::staff)
    }

    fn audit_log(&self, limit: usize, before: Option<u64>) -> Result<Vec<AuditRecord>> {
        self.with(|conn| staffing::audit_log(conn, limit, before))
    }

    fn offers_on(&self, day: Date) -> Result<Vec<OfferRecord>> {
        self.with(|conn| staffing::offers_on(conn, day))
    }

    fn subscription(&self, person: PersonId) -> Result<Option<Subscription>> {
        self.with(|conn| staffing::subscription(conn, person))
    }

    fn clinic_day(&self, clinic: ClinicId, day: Date) -> Result<Vec<Booking>> {
        self.with(|conn| staffing::clinic_day(conn, clinic, day))
    }
}

impl AdminStore for SqliteReader {
    fn insert_clinics(&self, clinics: &[ClinicRecord]) -> Result<()> {
        self.with(|conn| rows::insert_clinics(conn, clinics))
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.with(|conn| put_setting(conn, key, value))
    }
}

/// A person's own bookings and those they made for someone else, newest first. Two index
/// searches joined by UNION ALL: written as `person = ?1 OR booked_by = ?1`, SQLite cannot use
/// the partial proxy index and scans the whole table — which every eligibility check and booking
/// did until the full-scale load test showed it (58% of the server's CPU at 50,000 bookings).
fn bookings_of_sql() -> String {
    format!(
        "SELECT {BOOKING_COLUMNS} FROM (
             SELECT * FROM booking WHERE person = ?1
             UNION ALL
             SELECT * FROM booking WHERE booked_by = ?1 AND booked_by != person)
         ORDER BY id DESC LIMIT 100"
    )
}

fn put_setting(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO setting (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn audit(conn: &Connection, schedules: &Schedules) -> Result<AuditReport> {
    let mut report = AuditReport::default();
    // Every booked dose, from either column pair, counted where it holds a place.
    let doses = "SELECT d1_clinic AS clinic, d1_day AS day, d1_hour AS hour, product FROM booking
                 WHERE d1_status = 'booked'
                 UNION ALL
                 SELECT d2_clinic, d2_day, d2_hour, product FROM booking WHERE d2_status = 'booked'";
    let mut stmt = conn.prepare(&format!(
        "SELECT clinic, day, hour, COUNT(*) FROM ({doses}) GROUP BY clinic, day, hour"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        report.per_band.push((
            r.get::<_, i64>(0)? as u32,
            day_from_sql(r.get(1)?)?,
            r.get::<_, i64>(2)? as u8,
            r.get::<_, i64>(3)? as u32,
        ));
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT clinic, day, product, COUNT(*) FROM ({doses}) GROUP BY clinic, day, product"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let code: String = r.get(2)?;
        let product = Product::parse(&code)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown product {code:?}")))?;
        report.per_supply.push((
            r.get::<_, i64>(0)? as u32,
            day_from_sql(r.get(1)?)?,
            product,
            r.get::<_, i64>(3)? as u32,
        ));
    }
    let mut stmt = conn.prepare(
        "SELECT person FROM booking WHERE d1_status = 'booked' OR d2_status = 'booked'
         GROUP BY person HAVING COUNT(*) > 1",
    )?;
    report.people_with_two_active = stmt
        .query_map([], |r| r.get::<_, i64>(0))?
        .map(|id| id.map(|id| PersonId(id as u64)))
        .collect::<rusqlite::Result<_>>()?;
    for product in Product::ALL {
        let schedule = schedules.get(product);
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM booking WHERE product = ?1 AND d2_day IS NOT NULL AND d2_status != 'cancelled'
             AND (d2_clinic != d1_clinic OR d2_day - d1_day < ?2)",
        )?;
        let bad = stmt.query_map(params![product.code(), schedule.interval_days], |r| {
            r.get::<_, i64>(0)
        })?;
        for id in bad {
            report.inconsistent_second_doses.push(BookingId(id? as u64));
        }
    }
    report.active_bookings = conn.query_row(
        "SELECT COUNT(*) FROM booking WHERE d1_status = 'booked' OR d2_status = 'booked'",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64;
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What SQLite plans for `sql`: one line per step, e.g. "SEARCH booking USING INDEX …".
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params![1], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn per_person_and_per_clinic_reads_search_indexes_never_scan_bookings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db");
        let (_writer, _reader) = open(&path).unwrap();
        let conn = connect(&path).unwrap();
        let queries = [
            bookings_of_sql(),
            format!("SELECT {BOOKING_COLUMNS} FROM booking WHERE id = ?1"),
            "SELECT 1 FROM booking WHERE d1_clinic = ?1 AND (d1_day = ?1
             OR (d1_day BETWEEN ?1 - 91 AND ?1 - 1 AND d2_day = ?1))"
                .to_string(),
        ];
        for sql in queries {
            let steps = plan(&conn, &sql);
            assert!(
                steps.iter().all(|s| !s.starts_with("SCAN booking")),
                "{sql}\n{steps:?}"
            );
            assert!(
                steps.iter().any(|s| s.starts_with("SEARCH booking")),
                "{steps:?}"
            );
        }
    }
}
