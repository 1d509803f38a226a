//! PostgreSQL, for running on a database server instead of an embedded file: the same storage
//! interface as [`sqlite`](crate::sqlite), its own migration history, and the same guards in the
//! database (one active booking a person; no band or clinic-day past its capacity).
//!
//! Client: `tokio-postgres`, the one Rust client that pipelines (several statements in flight on
//! one connection) and binds arrays in its binary protocol. The group-commit writer wants both: a
//! batch's bookings, idempotency records, messages and audit lines go as one array-bound
//! statement per table, all sent before the first answer comes back ([`batch`]), so a batch costs
//! a few round trips however many requests it carries. `sqlx` does not pipeline; the synchronous
//! `postgres` crate runs a runtime per client and panics when called from async code, which the
//! server's waiting room does. See [`conn`] for how synchronous callers wait on it.

mod batch;
mod conn;
pub mod lease;
pub mod queue;
mod read;
mod rows;
mod spread;

use crate::keys::KeyFilter;
use crate::{
    Change, MaxIds, OfferId, OfferRecord, Recorded, Result, StaffRecord, StoreError, Subscription,
    SupplyChangeRecord, WriteBackend, day_number,
};
use batch::Pending;
use conn::{Conn, Driver, Pool};
use domain::booking::{Booking, BookingId, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::partition::Part;
use lease::{Holder, Lease};
use rows::{BOOKING_COLUMNS, OFFER_COLUMNS, SUBSCRIPTION_COLUMNS};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use conn::MAX_READ_CONNECTIONS;
pub use queue::PgQueue;
pub use read::PgReader;
pub use spread::Spread;

/// Migrations in order; a database at version N has had the first N applied.
const MIGRATIONS: &[&str] = &[
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
    include_str!("schema_v7.sql"),
    include_str!("schema_v8.sql"),
];

/// Any fixed number: nodes starting together take turns migrating (an advisory lock is fine
/// here, where losing it only means a second node waits for nothing; it is never a fence).
const MIGRATION_LOCK: i64 = 0x7965_7961_6b00_0001;

/// How a node takes part in writing.
#[derive(Debug, Clone)]
pub struct Options {
    /// This node's name in the lease row (unique per process by default).
    pub node: String,
    /// Where this node takes writes forwarded by the others (`http://host:port`), recorded in
    /// the lease row while it holds the ledger.
    pub address: Option<String>,
    pub lease_ttl: Duration,
    /// The part of the ledger this writer takes (its lease row is the part's index): the
    /// whole ledger, or one of the parts every node of the database cuts it into alike.
    pub part: Part,
    /// For a ledger in parts: this node's share of them ([`Spread`]). The part is taken only
    /// while this node holds fewer than its share, and given up when it holds more; the other
    /// nodes forward its requests to it. Without one, the part is taken whenever it is free.
    pub spread: Option<Arc<Spread>>,
    /// The most connections each of the node's read pools holds (the reads', the waiting
    /// room's): size them so every node's together fit PostgreSQL's `max_connections`.
    pub read_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Options {
            node: format!("node-{}-{nanos:08x}", std::process::id()),
            address: None,
            lease_ttl: lease::DEFAULT_TTL,
            part: Part::WHOLE,
            spread: None,
            read_connections: conn::MAX_READ_CONNECTIONS,
        }
    }
}

/// Connects to `url` (`postgres://user@host:port/db`, optionally `?options=-csearch_path%3DS`
/// for a schema of its own), brings the schema up to date, and returns the writer's connection
/// and a pool for reads. The writer takes the ledger's lease when it first loads the ledger.
pub fn open(url: &str) -> Result<(PgWriter, PgReader)> {
    open_with(url, Options::default())
}

pub fn open_with(url: &str, options: Options) -> Result<(PgWriter, PgReader)> {
    let config = conn::config(url)?;
    let driver = Driver::start()?;
    let mut first = Conn::open(&driver, &config)?;
    migrate(&mut first)?;
    limit_idle_transactions(&first, options.lease_ttl)?;
    let keys = recorded_keys(&mut first)?;
    let view = match &options.spread {
        Some(spread) => spread.view(options.part),
        None => LeaseView::default(),
    };
    let open = Arc::new(AtomicBool::new(true));
    if options.spread.is_none() {
        let driver = (Arc::clone(&driver), config.clone());
        spawn_renewer(driver, view.clone(), Arc::clone(&open))?;
    }
    let LeaseView { held, seen } = view;
    let reads = Pool::new(
        Arc::clone(&driver),
        config.clone(),
        options.read_connections,
    );
    let writer = PgWriter {
        driver: Arc::clone(&driver),
        config: config.clone(),
        conn: first,
        keys,
        pending: Pending::default(),
        in_transaction: false,
        ledger_complete: false,
        first_take: true,
        claimed: false,
        view_mark: None,
        options,
        held,
        seen,
        open,
    };
    Ok((writer, PgReader::new(reads)))
}

/// The setting that says how many parts this database's ledger is cut into.
pub const PARTS_SETTING: &str = "ledger_parts";

/// Every writer of one database must cut the ledger alike: a writer of the whole ledger and a
/// writer of one part would both write that part's clinics under two lease rows. The first
/// writer to ask for a lease records its count; a writer with another is refused before it
/// takes one (its writer does not start). Changing the count
/// means stopping every node first (and setting it by hand).
fn agree_on_parts(conn: &mut Conn, part: Part) -> Result<()> {
    let count = part.count().to_string();
    conn.execute(
        "INSERT INTO setting (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        &[&PARTS_SETTING, &count],
    )?;
    let recorded = read::setting(conn, PARTS_SETTING)?;
    if recorded.as_deref() != Some(count.as_str()) {
        return Err(StoreError::Database(format!(
            "this database's ledger is cut into {} parts; this node was started with {count}",
            recorded.as_deref().unwrap_or("?")
        )));
    }
    Ok(())
}

/// A writer stopped mid-transaction (a paused process) holds the lease row locked: the server
/// ends such a transaction after one lease time, so another node can take over.
fn limit_idle_transactions(conn: &Conn, ttl: Duration) -> Result<()> {
    conn.batch(&format!(
        "SET idle_in_transaction_session_timeout = {}",
        ttl.as_millis().max(1)
    ))
}

/// Renews the lease every third of its time while the writer is idle (a batch renews it too),
/// on a connection of its own, opened again whenever it was lost (a database restart, a cut
/// network): a lease left to lapse after one cut would fence off an idle holder's next batch.
/// A ledger spread over nodes has no thread a part: the node's [`Spread`] renews every part it
/// holds, on one connection.
fn spawn_renewer(
    (driver, config): (Arc<Driver>, tokio_postgres::Config),
    view: LeaseView,
    open: Arc<AtomicBool>,
) -> Result<()> {
    let mut conn = Some(Conn::open(&driver, &config)?);
    std::thread::Builder::new()
        .name("yeyak-lease".into())
        .spawn(move || {
            while open.load(Ordering::Relaxed) {
                let lease = view.held();
                let pause = lease.as_ref().map_or(lease::DEFAULT_TTL, |l| l.ttl) / 3;
                if let Some(lease) = lease {
                    if !conn.as_ref().is_some_and(Conn::is_open) {
                        conn = Conn::open(&driver, &config).ok();
                    }
                    keep_lease(conn.as_mut(), &view, &lease);
                }
                std::thread::sleep(pause.min(Duration::from_millis(500)));
            }
        })
        .map_err(|e| StoreError::Database(format!("cannot start the lease thread: {e}")))?;
    Ok(())
}

/// Renews `lease`, held through `view`. A renewal the row refuses (the lease ran out while
/// this process was paused, or another node took it) lets the lease go at once, with the new
/// holder as seen, so the node forwards to it from then on rather than failing its next batch
/// first.
fn keep_lease(conn: Option<&mut Conn>, view: &LeaseView, lease: &Lease) {
    let Some(conn) = conn else {
        tracing::warn!("could not renew the ledger lease: cannot reach the database");
        return;
    };
    match lease::renew(conn, lease) {
        Ok(()) => {}
        Err(StoreError::Standby(why)) => {
            tracing::warn!(%why, "the ledger lease is gone; standing by");
            let holder = lease::holder(conn, lease.partition).ok().flatten();
            view.let_go(lease, holder);
        }
        Err(error) => tracing::warn!(%error, "could not renew the ledger lease"),
    }
}

/// Releases a part this node holds above its share, so a node below its share takes it within
/// its next try. A batch in flight holds the row until it commits (under the lease it had);
/// the next batch finds no lease and stands by.
fn give_up(conn: &mut Conn, view: &LeaseView, lease: &Lease) {
    if let Err(error) = lease::release(conn, lease) {
        tracing::warn!(%error, "could not give a part of the ledger up");
        return;
    }
    tracing::info!(
        part = lease.partition,
        epoch = lease.epoch,
        "gave a part of the ledger up: this node held more than its share"
    );
    view.let_go(lease, None);
}

/// Creates an empty schema `name` (letters, digits and `_`) and returns a URL, built on `url`,
/// whose connections use it: for benchmarks and tests that need a database of their own.
pub fn create_schema(url: &str, name: &str) -> Result<String> {
    schema_statement(url, name, &format!("CREATE SCHEMA {name}"))?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}options=-csearch_path%3D{name}"))
}

/// Stores people `first..first + n` (ids; a made-up registration hash, birth date and contact
/// each) in one statement: for benchmarks that book people the database must know, as the
/// server's identity check would have stored them.
pub fn seed_people(url: &str, first: u64, n: u64) -> Result<()> {
    let mut conn = Conn::open(&Driver::start()?, &conn::config(url)?)?;
    conn.execute(
        "INSERT INTO person (id, rrn_hash, birth_date, sealed, created_ms)
         SELECT g, decode(md5(g::text) || md5('yeyak' || g::text), 'hex'), '1967-01-01',
                '\\x00'::bytea, 0
         FROM generate_series($1::bigint, $1::bigint + $2::bigint - 1) AS g",
        &[&(first as i64), &(n as i64)],
    )?;
    Ok(())
}

/// Drops schema `name` and everything in it.
pub fn drop_schema(url: &str, name: &str) -> Result<()> {
    schema_statement(url, name, &format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
}

fn schema_statement(url: &str, name: &str, sql: &str) -> Result<()> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if name.is_empty() || !plain {
        return Err(StoreError::Database(format!("bad schema name {name:?}")));
    }
    Conn::open(&Driver::start()?, &conn::config(url)?)?.batch(sql)
}

fn migrate(conn: &mut Conn) -> Result<()> {
    conn.transaction(|conn| {
        conn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        conn.batch("CREATE TABLE IF NOT EXISTS yeyak_schema (version BIGINT NOT NULL)")?;
        let version: i64 = rows::get(
            &conn.one("SELECT COALESCE(MAX(version), 0) FROM yeyak_schema", &[])?,
            0,
        )?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::SchemaTooNew {
                found: version,
                known,
            });
        }
        for sql in &MIGRATIONS[version as usize..] {
            conn.batch(sql)?;
        }
        conn.execute("DELETE FROM yeyak_schema", &[])?;
        conn.execute("INSERT INTO yeyak_schema (version) VALUES ($1)", &[&known])?;
        Ok(())
    })
}

fn recorded_keys(conn: &mut Conn) -> Result<KeyFilter> {
    let found = conn.query("SELECT actor, key FROM idempotency", &[])?;
    let mut filter = KeyFilter::with_capacity(2 * found.len());
    for row in &found {
        filter.insert(rows::get::<i64>(row, 0)? as u64, rows::get(row, 1)?);
    }
    Ok(filter)
}

/// The column after [`BOOKING_COLUMNS`] in a view's reads: the row's stamp (schema v8).
const STAMP_COLUMN: usize = 12;

/// How far a standby's view of a part has read (see [`WriteBackend::view_changes`]): every
/// booking of the part not yet read carries a larger stamp than `stamp`, and the planned supply
/// is as it was after supply change `supply_change`.
#[derive(Debug, Clone, Copy)]
struct ViewMark {
    stamp: i64,
    supply_change: i64,
}

impl ViewMark {
    /// Read before the bookings: the part's lease row's stamp (a part's rows written after the
    /// lease was last stamped carry larger ones) and the latest supply change.
    fn now(conn: &mut Conn, part: Part) -> Result<ViewMark> {
        let row = conn.one(
            "SELECT COALESCE((SELECT stamp FROM ledger_lease WHERE partition = $1), 0),
                    COALESCE((SELECT MAX(id) FROM supply_change), 0)",
            &[&i64::from(part.index())],
        )?;
        Ok(ViewMark {
            stamp: rows::get(&row, 0)?,
            supply_change: rows::get(&row, 1)?,
        })
    }

    /// A row of the part read, committed: the rows still to come carry larger stamps.
    fn saw(&mut self, stamp: i64) {
        self.stamp = self.stamp.max(stamp);
    }
}

/// The writer's connection. Owned by the writer thread alone.
pub struct PgWriter {
    driver: Arc<Driver>,
    config: tokio_postgres::Config,
    conn: Conn,
    /// Every idempotency key in the database (and maybe a few more): see [`crate::keys`].
    keys: KeyFilter,
    /// This batch's hot writes, sent at commit or before anything that must see them.
    pending: Pending,
    in_transaction: bool,
    /// Whether the writer's ledger was last rebuilt completely. After the database was
    /// unreachable the writer's rebuild may have failed half-way, leaving it with a partial
    /// ledger; batches are refused until a rebuild succeeds (the writer retries one after every
    /// failed batch), so nothing is ever decided on a ledger that forgot bookings.
    ledger_complete: bool,
    /// Whether the lease was never asked for yet (see [`PgWriter::take_lease`]).
    first_take: bool,
    /// Whether `claim_ledger` just took the lease, so the rebuild that follows need not.
    claimed: bool,
    /// How far a standby's view has read, to read only what changed next time.
    view_mark: Option<ViewMark>,
    options: Options,
    /// The lease this writer holds, shared with the thread that renews it.
    held: Arc<Mutex<Option<Lease>>>,
    /// Who held the ledger when this node last asked for it (itself, when it took it).
    seen: Arc<Mutex<Option<Holder>>>,
    /// Cleared on drop, which stops the renewing thread.
    open: Arc<AtomicBool>,
}

/// What this node holds of the ledger's lease and who holds it, as the writer last saw them
/// (for forwarding, readiness and `/metrics`). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LeaseView {
    held: Arc<Mutex<Option<Lease>>>,
    seen: Arc<Mutex<Option<Holder>>>,
}

impl LeaseView {
    /// The lease this node holds, if it does.
    pub fn held(&self) -> Option<Lease> {
        self.held.lock().ok().and_then(|l| l.clone())
    }

    /// Forgets `lease` (if it is still the one held: the writer may have taken a newer one
    /// meanwhile) and notes `holder` as the one who has it now.
    fn let_go(&self, lease: &Lease, holder: Option<Holder>) {
        if let Ok(mut held) = self.held.lock() {
            if held.as_ref() != Some(lease) {
                return;
            }
            *held = None;
        }
        if let Ok(mut seen) = self.seen.lock() {
            *seen = holder;
        }
    }

    /// The holder as this node last saw it: itself, or (on a standby, looked up each time it
    /// asks for the lease, every ~100 ms) another node.
    pub fn holder(&self) -> Option<Holder> {
        self.seen.lock().ok().and_then(|h| h.clone())
    }
}

impl PgWriter {
    /// A view of the lease, to be read from other threads.
    pub fn lease_view(&self) -> LeaseView {
        LeaseView {
            held: Arc::clone(&self.held),
            seen: Arc::clone(&self.seen),
        }
    }

    fn set_seen(&self, holder: Option<Holder>) {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = holder;
        }
    }

    /// The connection, reopened if the server or network closed it — but never inside a
    /// transaction: the transaction died with its connection, and the rest of it sent on a new
    /// one would run outside any transaction (each statement committed on its own, without the
    /// lease's fence, and `COMMIT` answered with a mere warning), so a batch of which only a part
    /// was written would be acknowledged whole. The batch fails instead, and is rebuilt.
    fn conn(&mut self) -> Result<&mut Conn> {
        if !self.conn.is_open() {
            if self.in_transaction {
                return Err(StoreError::Database(
                    "the connection to PostgreSQL was lost inside a transaction".into(),
                ));
            }
            tracing::warn!("the writer's postgres connection was closed; reconnecting");
            self.reconnect()?;
        }
        Ok(&mut self.conn)
    }

    fn reconnect(&mut self) -> Result<()> {
        self.conn = Conn::open(&self.driver, &self.config)?;
        limit_idle_transactions(&self.conn, self.options.lease_ttl)
    }

    fn lease(&self) -> Option<Lease> {
        self.held.lock().ok().and_then(|l| l.clone())
    }

    fn set_lease(&self, lease: Option<Lease>) {
        if let Ok(mut held) = self.held.lock() {
            *held = lease;
        }
    }

    /// Takes the ledger's lease, the first time waiting a little for a holder that is just
    /// stopping (a node restarting, a test reopening) unless the parts are spread; later a
    /// standby's writer asks again on its own schedule, so one try each time. A new holder's writes are unknown to this node's key
    /// filter, so it is reloaded too. False when another node holds it.
    fn take_lease(&mut self) -> Result<bool> {
        let ttl = self.options.lease_ttl;
        let first = std::mem::take(&mut self.first_take);
        if first {
            // Before this node ever writes: the parts must be the other writers' parts.
            let part = self.options.part;
            agree_on_parts(self.conn()?, part)?;
        }
        // Spread over the nodes, a part another node holds is taken when its holder gives it
        // up, which the standby's next try (100 ms on) sees: waiting here would hold up this
        // node's other parts, started one after another (a node joining six parts took ~10 s).
        let patience = if first && self.options.spread.is_none() {
            Duration::from_secs(2)
        } else {
            Duration::ZERO
        };
        let deadline = std::time::Instant::now() + patience;
        let partition = i64::from(self.options.part.index());
        loop {
            if !self.may_take() {
                let holder = lease::holder(self.conn()?, partition)?;
                self.set_seen(holder);
                return Ok(false);
            }
            let node = self.options.node.clone();
            let address = self.options.address.clone();
            let conn = self.conn()?;
            if let Some(lease) = lease::acquire(conn, partition, &node, address.as_deref(), ttl)? {
                tracing::info!(
                    part = partition,
                    epoch = lease.epoch,
                    node,
                    "took the ledger lease"
                );
                self.keys = recorded_keys(self.conn()?)?;
                self.set_seen(Some(Holder {
                    owner: node,
                    epoch: lease.epoch,
                    address,
                    live: true,
                }));
                self.set_lease(Some(lease));
                return Ok(true);
            }
            let holder = lease::holder(self.conn()?, partition)?;
            self.set_seen(holder);
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether this node may take its part now: below its share of the parts (always, when the
    /// ledger is not spread).
    fn may_take(&self) -> bool {
        let spread = self.options.spread.as_ref();
        spread.is_none_or(|spread| spread.may_take(self.options.part))
    }

    /// The connection with every held write sent, for reads that must see them.
    fn flushed(&mut self) -> Result<&mut Conn> {
        self.conn()?;
        self.pending.flush(&mut self.conn)?;
        Ok(&mut self.conn)
    }

    fn apply_now(&mut self, change: &Change) -> Result<()> {
        let conn = self.flushed()?;
        match change {
            Change::InsertPerson { .. }
            | Change::PutBooking { .. }
            | Change::Record { .. }
            | Change::Enqueue { .. }
            | Change::Audit { .. } => unreachable!("held by Pending::hold"),
            // After the held writes (flushed above), so a person inserted earlier in the
            // transaction is there to update.
            Change::UpdateContact {
                person,
                sealed,
                now_ms: _,
            } => conn.execute(
                "UPDATE person SET sealed = $2 WHERE id = $1",
                &[&(person.0 as i64), sealed],
            )?,
            Change::MarkDelivered { outbox_id, now_ms } => conn.execute(
                "UPDATE outbox SET delivered_ms = $2, attempts = attempts + 1
                 WHERE id = $1 AND delivered_ms IS NULL",
                &[&(*outbox_id as i64), now_ms],
            )?,
            Change::MarkAttempted {
                outbox_id,
                next_attempt_ms,
            } => conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = $2 WHERE id = $1",
                &[&(*outbox_id as i64), next_attempt_ms],
            )?,
            Change::MarkFailed { outbox_id, now_ms } => conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, failed_ms = $2 WHERE id = $1",
                &[&(*outbox_id as i64), now_ms],
            )?,
            Change::PutDelivery { delivery, now_ms } => conn.execute(
                "INSERT INTO delivery (clinic, day, product, doses, updated_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (clinic, day, product) DO UPDATE SET
                     doses = excluded.doses, updated_ms = excluded.updated_ms",
                &[
                    &i64::from(delivery.clinic.0),
                    &day_number(delivery.day),
                    &delivery.product.code(),
                    &i64::from(delivery.doses),
                    now_ms,
                ],
            )?,
            Change::PutSetting { key, value } => read::put_setting(conn, key, value)?,
            Change::InsertReschedule(r) => {
                let to = r.to;
                conn.execute(
                    "INSERT INTO reschedule (change_id, booking, person, dose, reason,
                         from_clinic, from_day, from_hour, from_product,
                         to_clinic, to_day, to_hour, to_product, accepted_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    &[
                        &(r.change_id as i64),
                        &(r.booking.0 as i64),
                        &(r.person.0 as i64),
                        &i64::from(r.dose),
                        &r.reason.code(),
                        &i64::from(r.from.clinic.0),
                        &day_number(r.from.day),
                        &i64::from(r.from.hour),
                        &r.from.product.code(),
                        &to.map(|a| i64::from(a.clinic.0)),
                        &to.map(|a| day_number(a.day)),
                        &to.map(|a| i64::from(a.hour)),
                        &to.map(|a| a.product.code()),
                        &r.accepted_ms,
                    ],
                )?
            }
            Change::SupplyProgress {
                change_id,
                pieces_done,
            } => conn.execute(
                "UPDATE supply_change SET pieces_done = $2 WHERE id = $1",
                &[&(*change_id as i64), &(*pieces_done as i32)],
            )?,
            Change::AcceptMoves { booking, now_ms } => conn.execute(
                "UPDATE reschedule SET accepted_ms = $2 WHERE booking = $1 AND accepted_ms IS NULL",
                &[&(booking.0 as i64), now_ms],
            )?,
            Change::RevokeStaff { id, now_ms } => conn.execute(
                "UPDATE staff SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
                &[&(*id as i64), now_ms],
            )?,
            Change::ClaimOffer {
                offer,
                person,
                booking,
                now_ms,
            } => {
                // The CHECK (claimed <= doses) refuses an overclaim even if the writer erred.
                let updated = conn.execute(
                    "UPDATE leftover_offer SET claimed = claimed + 1 WHERE id = $1",
                    &[&(offer.0 as i64)],
                )?;
                if updated != 1 {
                    return Err(StoreError::Corrupt(format!(
                        "leftover offer {} is gone",
                        offer.0
                    )));
                }
                conn.execute(
                    "INSERT INTO leftover_claim (offer, person, booking, claimed_ms)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        &(offer.0 as i64),
                        &(person.0 as i64),
                        &(booking.0 as i64),
                        now_ms,
                    ],
                )?
            }
            Change::PutSubscription {
                subscription: s,
                now_ms,
            } => conn.execute(
                "INSERT INTO leftover_subscription (person, lat, lon, radius_km, products,
                                                    updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (person) DO UPDATE SET lat = excluded.lat, lon = excluded.lon,
                     radius_km = excluded.radius_km, products = excluded.products,
                     updated_ms = excluded.updated_ms",
                &[
                    &(s.person.0 as i64),
                    &s.at.lat,
                    &s.at.lon,
                    &s.radius_km,
                    &rows::products_text(&s.products),
                    now_ms,
                ],
            )?,
            Change::DeleteSubscription { person } => conn.execute(
                "DELETE FROM leftover_subscription WHERE person = $1",
                &[&(person.0 as i64)],
            )?,
        };
        Ok(())
    }
}

impl Drop for PgWriter {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Relaxed);
        if let Some(lease) = self.lease()
            && self.conn.is_open()
        {
            let _ = lease::release(&mut self.conn, &lease);
            self.set_lease(None);
        }
    }
}

fn not_holder() -> StoreError {
    StoreError::Standby("another node holds the ledger's lease".into())
}

impl WriteBackend for PgWriter {
    fn begin(&mut self) -> Result<()> {
        let lease = self.lease().ok_or_else(not_holder)?;
        if !self.ledger_complete {
            return Err(StoreError::Database(
                "the ledger is being rebuilt from the database".into(),
            ));
        }
        self.pending.clear();
        // Writing, not standing by: a view is read whole again after this.
        self.view_mark = None;
        // A connection lost between batches is replaced here, before the transaction starts.
        self.conn()?;
        // Set before BEGIN: a BEGIN that fails on a dead connection gets a ROLLBACK too, whose
        // failure replaces the connection (PostgreSQL answers a ROLLBACK outside a transaction
        // with a warning, not an error).
        self.in_transaction = true;
        self.conn.batch("BEGIN")?;
        if let Err(error) = lease::renew(&mut self.conn, &lease) {
            // Someone else holds the ledger now: take it back (or not) and rebuild first.
            self.set_lease(None);
            self.ledger_complete = false;
            return Err(error);
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        // PostgreSQL answers COMMIT of a failed transaction with a rollback, not an error: every
        // statement's own answer was checked before this point, so COMMIT is reached only when
        // all of them succeeded.
        self.flushed()?.batch("COMMIT")?;
        self.in_transaction = false;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        self.pending.clear();
        if std::mem::take(&mut self.in_transaction)
            && self.conn.is_open()
            && let Err(error) = self.conn.batch("ROLLBACK")
        {
            // The connection died under the transaction (the client may not know yet): the
            // server ended the transaction with it. One whose state is unknown is not
            // reused: a new one, or the error if the database cannot be reached.
            tracing::warn!(%error, "ROLLBACK failed; reconnecting");
            self.reconnect()?;
        }
        Ok(())
    }

    fn apply(&mut self, change: &Change) -> Result<()> {
        if let Change::Record { actor, key, .. } = change {
            self.keys.insert(actor.0, key);
        }
        if self.pending.hold(change) {
            return Ok(());
        }
        self.apply_now(change)
    }

    fn recorded(&mut self, actor: PersonId, key: &str) -> Result<Option<Recorded>> {
        if !self.keys.may_contain(actor.0, key) {
            return Ok(None);
        }
        let row = self.flushed()?.opt(
            "SELECT fingerprint, booking, error FROM idempotency WHERE actor = $1 AND key = $2",
            &[&(actor.0 as i64), &key],
        )?;
        row.map(|r| {
            Ok(Recorded {
                fingerprint: rows::get(&r, 0)?,
                booking: rows::get::<Option<i64>>(&r, 1)?.map(|b| BookingId(b as u64)),
                error: rows::get(&r, 2)?,
            })
        })
        .transpose()
    }

    fn person_by_hash(&mut self, rrn_hash: &[u8; 32]) -> Result<Option<PersonId>> {
        let row = self.flushed()?.opt(
            "SELECT id FROM person WHERE rrn_hash = $1",
            &[&&rrn_hash[..]],
        )?;
        row.map(|r| Ok(PersonId(rows::get::<i64>(&r, 0)? as u64)))
            .transpose()
    }

    fn max_ids(&mut self) -> Result<MaxIds> {
        let row = self.flushed()?.one(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM person),
                    (SELECT COALESCE(MAX(id), 0) FROM booking)",
            &[],
        )?;
        Ok(MaxIds {
            person: rows::get::<i64>(&row, 0)? as u64,
            booking: rows::get::<i64>(&row, 1)? as u64,
        })
    }

    fn claim_ledger(&mut self) -> Result<()> {
        self.ledger_complete = false;
        self.claimed = self.take_lease()?;
        if !self.claimed {
            return Err(not_holder());
        }
        Ok(())
    }

    fn may_lose_ledger(&self) -> bool {
        true
    }

    fn ledger_lost(&mut self) -> bool {
        self.ledger_complete && self.lease().is_none()
    }

    fn active_bookings(&mut self, each: &mut dyn FnMut(Booking)) -> Result<()> {
        self.ledger_complete = false;
        // The ledger is rebuilt after the lease is taken, so it includes every commit of the
        // previous holder (whose later batches the new epoch fences off). A node that cannot take
        // it stands by: it starts and reads, and the writer refuses (or forwards) writes and
        // calls this again until the lease is free.
        if !std::mem::take(&mut self.claimed) && !self.take_lease()? {
            return Err(not_holder());
        }
        self.committed_bookings(each)?;
        self.ledger_complete = true;
        Ok(())
    }

    fn lock_people(&mut self, people: &[PersonId], each: &mut dyn FnMut(Booking)) -> Result<()> {
        let mut ids: Vec<i64> = people.iter().map(|p| p.0 as i64).collect();
        ids.sort_unstable();
        ids.dedup();
        let conn = self.flushed()?;
        // In id order, so two writers locking overlapping people never wait on each other in a
        // circle. `NO KEY UPDATE`: a booking's foreign key check (`KEY SHARE`) does not wait.
        conn.query(
            "SELECT id FROM person WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[&ids],
        )?;
        let sql = format!(
            "SELECT {BOOKING_COLUMNS} FROM booking
             WHERE person = ANY($1) AND (d1_status = 'booked' OR d2_status = 'booked')"
        );
        for row in conn.query(&sql, &[&ids])? {
            each(rows::booking(&row)?);
        }
        Ok(())
    }

    fn learn_keys(&mut self, keys: &[(PersonId, String)]) -> Result<()> {
        let actors: Vec<i64> = keys.iter().map(|(actor, _)| actor.0 as i64).collect();
        let texts: Vec<&str> = keys.iter().map(|(_, key)| key.as_str()).collect();
        let found = self.flushed()?.query(
            "SELECT i.actor, i.key FROM idempotency i
             JOIN UNNEST($1::bigint[], $2::text[]) AS k (actor, key)
               ON i.actor = k.actor AND i.key = k.key",
            &[&actors, &texts],
        )?;
        for row in &found {
            let key: &str = rows::get(row, 1)?;
            self.keys.insert(rows::get::<i64>(row, 0)? as u64, key);
        }
        Ok(())
    }

    fn committed_bookings(&mut self, each: &mut dyn FnMut(Booking)) -> Result<()> {
        self.view_mark = None;
        let part = self.options.part;
        let conn = self.flushed()?;
        let mut mark = ViewMark::now(conn, part)?;
        let active = "d1_status = 'booked' OR d2_status = 'booked'";
        let found = if part.is_whole() {
            let sql = format!("SELECT {BOOKING_COLUMNS}, stamp FROM booking WHERE {active}");
            conn.query(&sql, &[])?
        } else {
            // A part's view reads only its own clinics' bookings. The clinics are read each
            // time, so one added since is not missed.
            let clinics: Vec<i64> = conn
                .query("SELECT id FROM clinic", &[])?
                .iter()
                .map(|row| rows::get::<i64>(row, 0))
                .filter(|id| {
                    id.as_ref().map_or(true, |&id| {
                        u32::try_from(id).is_ok_and(|id| part.holds(ClinicId(id)))
                    })
                })
                .collect::<Result<_>>()?;
            let sql = format!(
                "SELECT {BOOKING_COLUMNS}, stamp FROM booking
                 WHERE d1_clinic = ANY($1) AND ({active})"
            );
            conn.query(&sql, &[&clinics])?
        };
        for row in found {
            each(rows::booking(&row)?);
            mark.saw(rows::get(&row, STAMP_COLUMN)?);
        }
        self.view_mark = Some(mark);
        Ok(())
    }

    fn view_changes(&mut self, each: &mut dyn FnMut(Booking)) -> Result<bool> {
        let Some(before) = self.view_mark.take() else {
            return Ok(false);
        };
        let part = self.options.part;
        let conn = self.flushed()?;
        let mut mark = ViewMark::now(conn, part)?;
        if mark.supply_change != before.supply_change {
            // The capacities changed too: what is left must be read whole.
            return Ok(false);
        }
        mark.saw(before.stamp);
        // Every part's rows written since: few (about a second's writes, the lease's stamp
        // keeping a quiet part's mark close behind), filtered here by the clinic's part.
        let sql = format!("SELECT {BOOKING_COLUMNS}, stamp FROM booking WHERE stamp > $1");
        for row in conn.query(&sql, &[&before.stamp])? {
            let booking = rows::booking(&row)?;
            if part.holds(booking.first.appointment.clinic) {
                each(booking);
                mark.saw(rows::get(&row, STAMP_COLUMN)?);
            }
        }
        self.view_mark = Some(mark);
        Ok(true)
    }

    fn booking(&mut self, id: BookingId) -> Result<Option<Booking>> {
        read::booking_by_id(self.flushed()?, id)
    }

    fn stored_plan(&mut self, from: jiff::civil::Date) -> Result<crate::StoredPlan> {
        let conn = self.flushed()?;
        Ok(crate::StoredPlan {
            deliveries: read::deliveries(conn, from)?,
            schedules: crate::stored_schedules(read::setting(conn, crate::SCHEDULES_SETTING)?)?,
        })
    }

    fn insert_supply_change(&mut self, c: &SupplyChangeRecord) -> Result<u64> {
        let row = self.flushed()?.one(
            "INSERT INTO supply_change (reason, plan_id, detail, people_moved, doses_moved,
                                        unplaced, informed, applied_ms, pieces, pieces_done)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &c.reason.code(),
                &c.plan_id,
                &c.detail,
                &(c.people_moved as i64),
                &(c.doses_moved as i64),
                &(c.unplaced as i64),
                &(c.informed as i64),
                &c.applied_ms,
                &(c.pieces as i32),
                &(c.pieces_done as i32),
            ],
        )?;
        Ok(rows::get::<i64>(&row, 0)? as u64)
    }

    fn person_sealed(&mut self, person: PersonId) -> Result<Option<Vec<u8>>> {
        let row = self.flushed()?.opt(
            "SELECT sealed FROM person WHERE id = $1",
            &[&(person.0 as i64)],
        )?;
        row.map(|r| rows::get(&r, 0)).transpose()
    }

    fn insert_staff(&mut self, record: &StaffRecord, token_hash: &[u8; 32]) -> Result<u64> {
        let row = self.flushed()?.one(
            "INSERT INTO staff (role, clinic, name, token_hash, created_ms)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &record.role.code(),
                &record.clinic.map(|c| i64::from(c.0)),
                &record.name,
                &&token_hash[..],
                &record.created_ms,
            ],
        )?;
        Ok(rows::get::<i64>(&row, 0)? as u64)
    }

    fn insert_offer(&mut self, record: &OfferRecord) -> Result<OfferId> {
        let o = &record.offer;
        let row = self.flushed()?.one(
            "INSERT INTO leftover_offer (clinic, product, day, doses, claimed, until_ms,
                                         posted_by, posted_ms)
             VALUES ($1, $2, $3, $4, 0, $5, $6, $7) RETURNING id",
            &[
                &i64::from(o.clinic.0),
                &o.product.code(),
                &day_number(o.day),
                &i64::from(o.doses),
                &o.until_ms,
                &(record.posted_by as i64),
                &record.posted_ms,
            ],
        )?;
        Ok(OfferId(rows::get::<i64>(&row, 0)? as u64))
    }

    fn offer(&mut self, id: OfferId) -> Result<Option<OfferRecord>> {
        let sql = format!("SELECT {OFFER_COLUMNS} FROM leftover_offer WHERE id = $1");
        let row = self.flushed()?.opt(&sql, &[&(id.0 as i64)])?;
        row.as_ref().map(rows::offer).transpose()
    }

    fn subscriptions_near(&mut self, at: GeoPoint, reach_km: f64) -> Result<Vec<Subscription>> {
        // A degree of latitude is ~111 km; a degree of longitude shrinks with cos(latitude).
        let dlat = reach_km / 110.0;
        let dlon = reach_km / (110.0 * at.lat.to_radians().cos().max(0.1));
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM leftover_subscription
             WHERE lat BETWEEN $1 AND $2 AND lon BETWEEN $3 AND $4"
        );
        let found = self.flushed()?.query(
            &sql,
            &[
                &(at.lat - dlat),
                &(at.lat + dlat),
                &(at.lon - dlon),
                &(at.lon + dlon),
            ],
        )?;
        found.iter().map(rows::subscription).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_an_error_not_a_panic() {
        assert!(matches!(
            open("postgres://nobody@[::1"),
            Err(StoreError::Database(_))
        ));
    }
}
