//! The embedded default: one SQLite file in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives `kill -9` and power loss.

pub mod floor;
mod priority;
mod queue;
mod rows;

pub use queue::QueueFile;
mod staffing;
mod supply;
mod wal;

pub use wal::LogLimits;

use crate::keys;
use crate::{
    AdminStore, AuditRecord, AuditReport, Change, CheckpointStats, ClinicRecord, Delivery, MaxIds,
    OfferId, OfferRecord, OutboxRecord, PersonRecord, PersonSnapshot, ReadStore, Recorded,
    RescheduleRecord, Result, StaffRecord, StoreError, Subscription, SupplyChangeRecord,
    WriteBackend,
};
use domain::booking::{Booking, BookingId, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::product::{Product, Schedules};
use jiff::civil::Date;
use rows::{BOOKING_COLUMNS, booking_from_row, day_from_sql};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const SCHEMA_V1: &str = include_str!("schema.sql");
const SCHEMA_V2: &str = include_str!("schema_v2.sql");
const SCHEMA_V3: &str = include_str!("schema_v3.sql");
const SCHEMA_V4: &str = include_str!("schema_v4.sql");
const SCHEMA_V5: &str = include_str!("schema_v5.sql");
// There is no version 6: it was reserved for the identity change, which needed no new table.
// A database at 5 goes straight to 7.
const SCHEMA_V7: &str = include_str!("schema_v7.sql");
const SCHEMA_V8: &str = include_str!("schema_v8.sql");
const SCHEMA_V9: &str = include_str!("schema_v9.sql");
const SCHEMA_VERSION: i64 = 9;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{ConstraintViolation, DiskFull};
        match error.sqlite_error_code() {
            Some(DiskFull) => StoreError::Full(error.to_string()),
            Some(ConstraintViolation) => StoreError::Refused(error.to_string()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

/// A consistent copy of the database at `from` as a new file `to` (`VACUUM INTO`), with
/// whatever its write-ahead log holds. Copying the file alone misses the log's pages whenever a
/// checkpoint was busy (`PRAGMA wal_checkpoint` reports that in a row, not as an error).
pub fn copy_database(from: &Path, to: &Path) -> Result<()> {
    let conn = rusqlite::Connection::open(from)?;
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Database(format!("not a UTF-8 path: {}", to.display())))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

/// Opens (creating if needed) the database file and brings its schema up to date.
pub fn open(path: &Path) -> Result<(SqliteWriter, SqliteReader)> {
    let mut conn = connect(path)?;
    migrate(&mut conn)?;
    // The writer does not checkpoint on SQLite's schedule: copying the WAL back into the
    // database would stall a batch. A background thread does it with its own connection
    // instead, and long writes wait for it (`wal`).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", wal::KEPT_LOG_BYTES)?;
    conn.pragma_update(None, "cache_size", WRITER_CACHE_PAGES)?;
    let log = wal::LogLength::watch(&mut conn)?;
    let open = Arc::new(AtomicBool::new(true));
    let checkpoints = Arc::new(CheckpointStats::default());
    // The file's own page size, which its creation fixed (an older file may have larger pages
    // than a new one gets): the log's limits are lengths in bytes.
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let page_size = u64::try_from(page_size).unwrap_or(u64::from(PAGE_SIZE));
    wal::spawn_checkpointer(
        connect(path)?,
        path,
        page_size,
        Arc::clone(&open),
        Arc::clone(&checkpoints),
    )?;
    let reader = SqliteReader {
        path: path.to_path_buf(),
        pool: Mutex::new(Vec::new()),
        checkpoints: Arc::clone(&checkpoints),
    };
    let keys = recorded_keys(&conn)?;
    let writer = SqliteWriter {
        conn,
        open,
        keys,
        log,
        checkpoints,
        log_limits: LogLimits::for_page_size(page_size),
        copied_at: 0,
    };
    Ok((writer, reader))
}

/// The page size of a new database file: SQLite's default, 4 KiB. Files made before 2026-12-06
/// have 16 KiB pages and keep them (the log's limits follow each file's page size,
/// `wal::LogLimits::for_page_size`).
///
/// Why not 16 KiB any more: a booking touches a few pages of several B-trees, and every page a
/// commit touches is written whole to the log (with its checksum), copied into the statement
/// journal by each statement that changes it, copied back into the database by the checkpoint,
/// and read whole again by each reader (a reader's cache starts empty after any commit). In the
/// 40% replay, whose commits hold about ten writes, those copies of 16 KiB were most of the
/// writer's and the checkpointer's CPU; 4 KiB pages cost 6% less per booked person there, and
/// the writer's `yeyak bench` batches of thousands went faster too on the same Intel machine
/// (`bench/loadtest-53-54-2026-12-05-night/`). 16 KiB pages had been chosen on 2026-11-25, on
/// an AMD machine, for that bench alone (+5% to +17% bookings/s: shallower trees, fewer splits).
pub const PAGE_SIZE: u32 = 4_096;

/// The writer's page cache, in pages whatever their size (64 MiB of 16 KiB pages, 16 MiB of
/// 4 KiB ones). A count of pages, not bytes, because SQLite's commit walks the cache's whole
/// hash table, which grows with the pages held, whenever a B-tree split renumbered pages in the
/// transaction (`balance_nonroot` parks a page at the lock-byte page's number, past the end of
/// the file, and `pager_end_transaction` then truncates the cache to the file's size the long
/// way): nearly every commit of an opening night. 64 MiB of 4 KiB pages made that walk 7% of
/// the server's CPU in the 40% replay (`bench/loadtest-53-54-2026-12-05-night/`).
const WRITER_CACHE_PAGES: i64 = 4_000;

/// How long a connection waits for a lock another holds before it answers busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Takes effect only when the file is created, so it must come before the first table (and
    // WAL); a file keeps the page size it was made with. See `PAGE_SIZE`.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    // WAL lets readers run beside the writer; FULL syncs the WAL on every commit (B3).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "cache_size", -64_000)?;
    // No `mmap_size`: a reader's cache is emptied whenever anything was committed since its last
    // read, and SQLite then unmaps its whole map too, so on an opening night every read would map
    // the file again and fault its pages in. Tried on the 40% replay: 1.113 ms of server CPU per
    // booked person against 1.020-1.043 without, admitted people's p99 56.9 ms against 12.4
    // (`bench/loadtest-53-54-2026-12-06-morning/`).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The capacity guard (schema v8) is a deferred foreign key: without this, SQLite ignores it.
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Room for every statement this store runs (about 70): with rusqlite's default of 16, a
    // reader serving the booking side's mix evicted and parsed its statements again on nearly
    // every request (SQL parsing was 10.9% of the server's CPU in the opening-night profile,
    // bench/booking-reads.md).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // One plan per statement, whatever values are bound. Without it, SQLite marks a statement
    // whose plan could depend on a bound value (here: any `= ?` beside an ORDER BY) to be parsed
    // again whenever its bindings are cleared, which rusqlite does each time a cached statement
    // is returned; a person's bookings and a booking's moves were parsed again on every read
    // (10% of the server's CPU in the opening-night profile, bench/booking-reads.md). The
    // store runs no ANALYZE and its partial indexes name literals, so no plan here needed it.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

/// Prepared statements kept per connection: more than the store has distinct statements.
const STATEMENT_CACHE: usize = 256;

fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Brings the schema up to version `last` (tests stop at an older one to migrate from it).
fn migrate_to(conn: &mut Connection, last: i64) -> Result<()> {
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
        (7, SCHEMA_V7),
        (8, SCHEMA_V8),
        (9, SCHEMA_V9),
    ] {
        if version < target && target <= last {
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
    /// The log's length after this connection's last commit, what the checkpointer managed,
    /// and how long the log may grow under a long write.
    log: wal::LogLength,
    checkpoints: Arc<CheckpointStats>,
    log_limits: LogLimits,
    /// The log's length when the writer last tried to start it over and could not (0: no such
    /// try since it last started over): see [`wal::writer_copies`].
    copied_at: u64,
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
    /// How long the log may grow under a long write before it waits (tests make it short).
    pub fn with_log_limits(mut self, limits: LogLimits) -> SqliteWriter {
        self.log_limits = limits;
        self
    }

    /// Copies the whole WAL into the database and empties it, waiting for readers if need be.
    /// For bulk loads between their transactions: the background PASSIVE checkpoints cannot
    /// keep up with back-to-back large commits, and the WAL would grow without bound.
    pub fn checkpoint_truncate(&mut self) -> Result<()> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            self.log.emptied();
        }
        Ok(())
    }
}

/// Settles the places this transaction's booking writes took and gave back (schema v8): the
/// database refuses to commit before this, and refuses then if a cell is left over capacity.
pub(crate) fn settle_places(conn: &Connection) -> Result<()> {
    conn.prepare_cached("INSERT INTO place_settle VALUES (0)")?
        .execute([])?;
    Ok(())
}

/// The cells this transaction would leave over capacity, e.g. "band clinic 3 2021-07-20 slot 10".
fn over_capacity(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT 'band', clinic, day, CAST(hour AS TEXT) FROM band_use WHERE over IS NOT NULL
         UNION ALL
         SELECT 'supply', clinic, day, product FROM supply_use WHERE over IS NOT NULL
         ORDER BY 1, 2, 3, 4 LIMIT 10",
    )?;
    let cells = stmt
        .query_map([], |r| {
            let day = r.get::<_, i64>(2)?;
            let day = crate::date_from_day_number(day).map_or(day.to_string(), |d| d.to_string());
            Ok(format!(
                "{} clinic {} {day} slot {}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(3)?
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(cells)
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Relaxed);
    }
}

/// A stored setting's value, if set.
fn setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM setting WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?)
}

impl WriteBackend for SqliteWriter {
    fn begin(&mut self) -> Result<()> {
        // IMMEDIATE takes the write lock now, so the batch never fails half-way on a busy lock.
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        settle_places(&self.conn)?;
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => Ok(()),
            // A deferred foreign key failed: the capacity guard. Say which cells, while the
            // transaction is still open (a failed COMMIT leaves it so, for the rollback).
            Err(error) if !self.conn.is_autocommit() => match over_capacity(&self.conn) {
                Ok(cells) if !cells.is_empty() => Err(StoreError::Refused(format!(
                    "over capacity: {}",
                    cells.join(", ")
                ))),
                _ => Err(error.into()),
            },
            Err(error) => Err(error.into()),
        }
    }

    fn rollback(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn room_for_long_write(&mut self) -> Result<bool> {
        Ok(wal::room(
            self.log.frames(),
            self.checkpoints.seen(),
            self.log_limits,
        ))
    }

    fn between_batches(&mut self) -> Result<()> {
        let frames = self.log.frames();
        if !wal::writer_copies(frames, self.copied_at, self.log_limits) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let started_over = wal::start_over(&self.conn, BUSY_TIMEOUT);
        let spent_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.checkpoints
            .by_writer_us
            .fetch_add(spent_us, Ordering::Relaxed);
        if started_over? {
            self.copied_at = 0;
            self.log.emptied();
            self.checkpoints.record(wal::Copied { log: 0, copied: 0 });
            self.checkpoints.by_writer.fetch_add(1, Ordering::Relaxed);
        } else {
            // The checkpointer was copying, or a reader stayed on the log: later.
            self.copied_at = frames;
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
            Change::SupplyProgress {
                change_id,
                pieces_done,
            } => supply::supply_progress(&self.conn, *change_id, *pieces_done)?,
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

    fn stored_plan(&mut self, from: Date) -> Result<crate::StoredPlan> {
        Ok(crate::StoredPlan {
            deliveries: supply::deliveries(&self.conn, from)?,
            schedules: crate::stored_schedules(setting(&self.conn, crate::SCHEDULES_SETTING)?)?,
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
    checkpoints: Arc<CheckpointStats>,
}

impl SqliteReader {
    /// What the background checkpointer managed so far.
    pub fn checkpoints(&self) -> &CheckpointStats {
        &self.checkpoints
    }

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
    /// One file on this machine, read through connections of this process.
    fn reads_are_local(&self) -> bool {
        true
    }
    fn checkpoint_stats(&self) -> Option<&CheckpointStats> {
        Some(&self.checkpoints)
    }

    fn clinics(&self) -> Result<Vec<ClinicRecord>> {
        self.with(rows::clinics)
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.with(|conn| setting(conn, key))
    }

    fn person(&self, id: PersonId) -> Result<Option<PersonRecord>> {
        self.with(|conn| rows::person_where(conn, "id = ?1", params![id.0 as i64]))
    }

    fn person_by_hash(&self, rrn_hash: &[u8; 32]) -> Result<Option<PersonRecord>> {
        self.with(|conn| rows::person_where(conn, "rrn_hash = ?1", params![&rrn_hash[..]]))
    }

    fn bookings_of(&self, person: PersonId) -> Result<Vec<Booking>> {
        self.with(|conn| bookings_of(conn, person))
    }

    fn booking(&self, id: BookingId) -> Result<Option<Booking>> {
        self.with(|conn| rows::booking_by_id(conn, id))
    }

    fn person_with_bookings(&self, id: PersonId) -> Result<Option<PersonSnapshot>> {
        self.with(|conn| {
            in_one_read(conn, |conn| {
                let Some(record) = rows::person_where(conn, "id = ?1", params![id.0 as i64])?
                else {
                    return Ok(None);
                };
                let priority_lists = rows::priority_lists_of(conn, &record.rrn_hash)?;
                let bookings = bookings_of(conn, id)?;
                Ok(Some(PersonSnapshot {
                    record,
                    priority_lists,
                    bookings,
                }))
            })
        })
    }

    fn booking_with_moves(
        &self,
        id: BookingId,
    ) -> Result<Option<(Booking, Vec<RescheduleRecord>)>> {
        self.with(|conn| {
            in_one_read(conn, |conn| {
                let Some(booking) = rows::booking_by_id(conn, id)? else {
                    return Ok(None);
                };
                let moves = supply::reschedules_of(conn, &[booking.id])?;
                Ok(Some((booking, moves)))
            })
        })
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

    fn offer(&self, id: OfferId) -> Result<Option<OfferRecord>> {
        self.with(|conn| staffing::offer(conn, id))
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
/// Runs `read` in one read transaction: one snapshot, and one start of the page cache (which
/// WAL mode empties when a read transaction begins after another connection's commit).
/// `BEGIN` and `COMMIT` are prepared once per connection (rusqlite's `Transaction` sends them
/// through `execute_batch`, which parses them again each time: 18% of an eligibility check's
/// reads in the 40% replay's profile, 2026-12-05).
fn in_one_read<T>(conn: &Connection, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let snapshot = ReadTransaction(conn);
    let value = read(conn)?;
    snapshot.commit()?;
    Ok(value)
}

/// A read transaction begun on a pooled connection: rolled back unless committed (the read
/// failed or panicked, or the commit did), so the connection goes back to the pool without a
/// snapshot held open.
struct ReadTransaction<'c>(&'c Connection);

impl ReadTransaction<'_> {
    fn commit(self) -> Result<()> {
        self.0.prepare_cached("COMMIT")?.execute([])?;
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for ReadTransaction<'_> {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

fn bookings_of(conn: &Connection, person: PersonId) -> Result<Vec<Booking>> {
    let mut stmt = conn.prepare_cached(&bookings_of_sql())?;
    let mut rows = stmt.query(params![person.0 as i64])?;
    let mut bookings = Vec::new();
    while let Some(row) = rows.next()? {
        bookings.push(booking_from_row(row)?);
    }
    Ok(bookings)
}

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
    use rusqlite::StatementStatus;

    /// A new file gets `PAGE_SIZE` pages; a file made with 16 KiB pages (every file before
    /// 2026-12-06) keeps them, and its writer's log limits and cache follow its own page size.
    #[test]
    fn a_file_keeps_its_page_size_and_its_log_limits_follow_it() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |path: &Path| -> i64 {
            let conn = Connection::open(path).unwrap();
            conn.pragma_query_value(None, "page_size", |r| r.get(0))
                .unwrap()
        };
        let cache_pages = |writer: &SqliteWriter| -> i64 {
            writer
                .conn
                .pragma_query_value(None, "cache_size", |r| r.get(0))
                .unwrap()
        };

        let new = dir.path().join("new.db");
        let (writer, _reader) = open(&new).unwrap();
        assert_eq!(page_size(&new), i64::from(PAGE_SIZE));
        assert_eq!(writer.log_limits, LogLimits::for_page_size(4_096));
        assert_eq!(cache_pages(&writer), WRITER_CACHE_PAGES);
        drop(writer);

        let old = dir.path().join("old.db");
        {
            let conn = Connection::open(&old).unwrap();
            conn.pragma_update(None, "page_size", 16_384).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute_batch("CREATE TABLE made_before (x INTEGER);")
                .unwrap();
        }
        let (writer, _reader) = open(&old).unwrap();
        assert_eq!(page_size(&old), 16_384, "the file keeps its pages");
        assert_eq!(writer.log_limits, LogLimits::for_page_size(16_384));
        assert_eq!(
            writer.log_limits.restart_frames, 2_048,
            "the limits it always had"
        );
        assert_eq!(cache_pages(&writer), WRITER_CACHE_PAGES);
    }

    /// A read together ends its transaction however it ends: the connection goes back to the
    /// pool outside one (a snapshot left open would pin the log and hide every later commit).
    #[test]
    fn a_read_together_ends_its_transaction_whatever_happens() {
        let dir = tempfile::tempdir().unwrap();
        let conn = connect(&dir.path().join("t.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        let read = |conn: &Connection| -> Result<i64> {
            assert!(
                !conn.is_autocommit(),
                "the reads run inside one transaction"
            );
            Ok(conn.query_row("SELECT x FROM t", [], |r| r.get(0))?)
        };
        assert_eq!(in_one_read(&conn, read).unwrap(), 1);
        assert!(conn.is_autocommit());
        let failed = in_one_read(&conn, |conn| -> Result<i64> {
            Ok(conn.query_row("SELECT x FROM missing", [], |r| r.get(0))?)
        });
        assert!(failed.is_err());
        assert!(conn.is_autocommit(), "a failed read is rolled back");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_one_read(&conn, |_| -> Result<()> { panic!("a read that panics") })
        }));
        assert!(panicked.is_err());
        assert!(conn.is_autocommit(), "a panicking read is rolled back");
        assert_eq!(
            in_one_read(&conn, read).unwrap(),
            1,
            "and the next one runs"
        );
    }

    /// Pages still in the write-ahead log are in the copy; the database file alone lacks them
    /// (what `yeyak bench-reschedule --world` stored when a checkpoint was busy).
    #[test]
    fn a_copy_has_what_the_log_still_holds() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (from, to, bare) = (
            dir.path().join("from.db"),
            dir.path().join("to.db"),
            dir.path().join("bare.db"),
        );
        let writing = rusqlite::Connection::open(&from).unwrap_or_else(|e| panic!("{e}"));
        writing
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2), (3);",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let rows = |path: &Path| -> i64 {
            rusqlite::Connection::open(path)
                .and_then(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)))
                .unwrap_or(-1)
        };
        std::fs::copy(&from, &bare).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows(&bare), -1, "the file alone has not even the table");
        copy_database(&from, &to).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows(&to), 3);
        drop(writing);
    }

    /// What SQLite plans for `sql`: one line per step, e.g. "SEARCH booking USING INDEX …".
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map(params![1], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// A version 5 database (before the capacity guard) with bookings in it. Clinic 0: 2 per
    /// band, 3 Moderna a day, 7 planned on 2021-07-21 (day 18829). Booking 2's dose 1 was given;
    /// booking 4 is a leftover claim (no planned place).
    fn v5_database_with_bookings(path: &Path) {
        let conn = Connection::open(path).unwrap();
        for sql in [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "INSERT INTO clinic VALUES (0, 'c', 'consigned', 11010, 37.5, 127.0, 9, 18, 2, 0);
             INSERT INTO clinic_product VALUES (0, 'moderna', 3);
             INSERT INTO delivery VALUES (0, 18829, 'moderna', 7, 0);
             INSERT INTO booking VALUES
                 (1, 1, 1, 'moderna', 0, 18828, 10, 'booked', 0, 18856, 10, 'booked', 0, 0),
                 (2, 2, 2, 'moderna', 0, 18828, 10, 'given', 0, 18856, 10, 'booked', 0, 0),
                 (3, 3, 3, 'moderna', 0, 18829, 10, 'booked', NULL, NULL, NULL, NULL, 0, 0),
                 (4, 4, 4, 'moderna', 0, 18828, 11, 'booked', NULL, NULL, NULL, NULL, 0, 0);
             INSERT INTO leftover_offer VALUES (1, 0, 'moderna', 18828, 1, 1, 0, 0, 0);
             INSERT INTO leftover_claim VALUES (1, 4, 4, 0);",
        )
        .unwrap();
    }

    /// The band and supply counts, e.g. "0 18828 Integer(10) 1/2" (clinic, day, hour or
    /// product, booked/capacity).
    fn capacity_counts(conn: &Connection) -> (Vec<String>, Vec<String>) {
        let rows = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |r| {
                Ok(format!(
                    "{} {} {} {}/{}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, rusqlite::types::Value>(2)
                        .map(|v| format!("{v:?}"))?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?
                ))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
        };
        (
            rows("SELECT clinic, day, hour, booked, capacity FROM band_use ORDER BY 1, 2, 3"),
            rows("SELECT clinic, day, product, booked, capacity FROM supply_use ORDER BY 1, 2, 3"),
        )
    }

    /// The bundled SQLite is built to sync its log with fdatasync(), not fsync() (which also
    /// wrote the log file's inode on every commit). The setting lives in `.cargo/config.toml`,
    /// which cargo passes to SQLite's build and to this crate's alike; a build without it (the
    /// file removed, or `LIBSQLITE3_FLAGS` set to something else) fails here.
    #[test]
    fn bundled_sqlite_is_built_to_sync_with_fdatasync() {
        let flags = option_env!("LIBSQLITE3_FLAGS").unwrap_or_default();
        assert!(
            flags.split_whitespace().any(|f| f == "-DHAVE_FDATASYNC=1"),
            "LIBSQLITE3_FLAGS is {flags:?}"
        );
    }

    /// A cached read is parsed once per connection, not once per call: the booking side reads a
    /// person's bookings on every eligibility answer and booking, a booking's moves on every
    /// booking page. Both statements (an ORDER BY beside `= ?1`) were parsed again on every call
    /// until the connection asked SQLite for one plan whatever the bound values.
    #[test]
    fn reads_with_different_people_reuse_one_parse_of_their_statement() {
        let dir = tempfile::tempdir().unwrap();
        let (_writer, reader) = open(&dir.path().join("y.db")).unwrap();
        for person in 1..=3 {
            reader.bookings_of(PersonId(person)).unwrap();
            reader
                .reschedules_of(&[BookingId(person), BookingId(person + 10)])
                .unwrap();
        }
        let reprepared = |sql: &str| {
            reader
                .with(|conn| {
                    Ok(conn
                        .prepare_cached(sql)?
                        .get_status(StatementStatus::RePrepare))
                })
                .unwrap()
        };
        assert_eq!(reprepared(&bookings_of_sql()), 0);
        assert_eq!(reprepared(&supply::reschedules_of_sql()), 0);
    }

    #[test]
    fn migrating_to_v7_counts_the_places_existing_bookings_hold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        v5_database_with_bookings(&path);
        let (_writer, _reader) = open(&path).unwrap();
        let (bands, supply) = capacity_counts(&connect(&path).unwrap());
        assert_eq!(
            bands,
            vec![
                "0 18828 Integer(10) 1/2",
                "0 18829 Integer(10) 1/2",
                "0 18856 Integer(10) 2/2"
            ]
        );
        assert_eq!(
            supply,
            vec![
                "0 18828 Text(\"moderna\") 1/3",
                "0 18829 Text(\"moderna\") 1/7",
                "0 18856 Text(\"moderna\") 2/3"
            ]
        );
    }

    /// Runs `sql` in one transaction, settling its places before COMMIT when `settle`; rolls
    /// back what failed.
    fn transaction(conn: &Connection, sql: &str, settle: bool) -> Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = conn
            .execute_batch(sql)
            .map_err(StoreError::from)
            .and_then(|()| if settle { settle_places(conn) } else { Ok(()) })
            .and_then(|()| Ok(conn.execute_batch("COMMIT")?));
        if result.is_err() {
            conn.execute_batch("ROLLBACK").unwrap();
        }
        result
    }

    #[test]
    fn migrating_from_v7_to_v8_keeps_the_counts_and_the_guard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v7.db");
        v5_database_with_bookings(&path);
        let mut conn = connect(&path).unwrap();
        migrate_to(&mut conn, 7).unwrap();
        let at_v7 = capacity_counts(&conn);
        drop(conn);

        let (_writer, _reader) = open(&path).unwrap();
        let conn = connect(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        // Opened at the current version (v9 after v8 adds only the supply change's pieces).
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(capacity_counts(&conn), at_v7);

        // The band at 18856 10:00 is full (2/2): a third dose there is refused at COMMIT.
        let third = "INSERT INTO booking VALUES
            (5, 5, 5, 'moderna', 0, 18856, 10, 'booked', NULL, NULL, NULL, NULL, 0, 0)";
        let refused = transaction(&conn, third, true).unwrap_err();
        assert!(matches!(refused, StoreError::Refused(_)), "{refused:?}");
        // A booking whose places were never settled cannot commit at all.
        let free_band = "INSERT INTO booking VALUES
            (5, 5, 5, 'moderna', 0, 18828, 10, 'booked', NULL, NULL, NULL, NULL, 0, 0)";
        let unsettled = transaction(&conn, free_band, false).unwrap_err();
        assert!(matches!(unsettled, StoreError::Refused(_)), "{unsettled:?}");
        // Settled, it fits (18828 10:00 was 1/2).
        transaction(&conn, free_band, true).unwrap();
        // Booking 1 cancelled frees its places; booking 6 takes the one at 18856 10:00 in the
        // same transaction, written before the cancellation: only the end counts.
        transaction(
            &conn,
            "INSERT INTO booking VALUES
                 (6, 6, 6, 'moderna', 0, 18856, 10, 'booked', NULL, NULL, NULL, NULL, 0, 0);
             UPDATE booking SET d1_status = 'cancelled', d2_status = 'cancelled' WHERE id = 1;",
            true,
        )
        .unwrap();
        let (bands, supply) = capacity_counts(&conn);
        assert_eq!(
            bands,
            vec![
                "0 18828 Integer(10) 1/2",
                "0 18829 Integer(10) 1/2",
                "0 18856 Integer(10) 2/2"
            ]
        );
        assert_eq!(supply[0], "0 18828 Text(\"moderna\") 1/3");
        // Nothing left unsettled or flagged.
        let leftover: i64 = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM place_change)
                      + (SELECT COUNT(*) FROM band_use WHERE over IS NOT NULL)
                      + (SELECT COUNT(*) FROM supply_use WHERE over IS NOT NULL)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(leftover, 0);
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
