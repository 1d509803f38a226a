//! Reads, world set-up, the waiting room's record and priority lists, on pooled connections.

use super::conn::{Conn, Pool};
use super::queue::PgQueue;
use super::rows::{
    self, BOOKING_COLUMNS, OFFER_COLUMNS, RESCHEDULE_COLUMNS, STAFF_COLUMNS, SUBSCRIPTION_COLUMNS,
    get,
};
use crate::{
    AdminStore, AuditRecord, AuditReport, ClinicRecord, Delivery, OfferId, OfferRecord,
    OutboxRecord, PersonRecord, PersonSnapshot, PriorityStore, QueueReport, QueueStore, ReadStore,
    RescheduleRecord, Result, StaffRecord, Subscription, SupplyChangeRecord, day_number,
};
use domain::booking::{Booking, BookingId, PersonId};
use domain::clinic::ClinicId;
use domain::product::{Product, Schedules};
use jiff::civil::Date;
use std::sync::Arc;

/// Read connections, opened on demand and reused.
pub struct PgReader {
    pool: Pool,
    /// The waiting room's record and the shared keys, on connections of their own: the front
    /// door's background work never waits behind booking pages' reads.
    queue: Arc<PgQueue>,
}

impl PgReader {
    pub(super) fn new(pool: Pool) -> PgReader {
        let queue = Arc::new(PgQueue::new(pool.sibling()));
        PgReader { pool, queue }
    }

    /// The waiting room's record and the shared keys, on connections of their own.
    pub fn queue_store(&self) -> Arc<PgQueue> {
        Arc::clone(&self.queue)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.pool.with(f)
    }
}

/// Planned deliveries from `from` on, by clinic and day.
pub fn deliveries(conn: &mut Conn, from: Date) -> Result<Vec<Delivery>> {
    conn.query(
        "SELECT clinic, day, product, doses FROM delivery WHERE day >= $1 ORDER BY clinic, day",
        &[&day_number(from)],
    )?
    .iter()
    .map(|r| {
        Ok(Delivery {
            clinic: ClinicId(get::<i64>(r, 0)? as u32),
            day: rows::day(get(r, 1)?)?,
            product: rows::product(get(r, 2)?)?,
            doses: get::<i64>(r, 3)? as u32,
        })
    })
    .collect()
}

pub fn setting(conn: &mut Conn, key: &str) -> Result<Option<String>> {
    let row = conn.opt("SELECT value FROM setting WHERE key = $1", &[&key])?;
    row.map(|r| get(&r, 0)).transpose()
}

pub fn put_setting(conn: &mut Conn, key: &str, value: &str) -> Result<u64> {
    conn.execute(
        "INSERT INTO setting (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )
}

pub fn booking_by_id(conn: &mut Conn, id: BookingId) -> Result<Option<Booking>> {
    let sql = format!("SELECT {BOOKING_COLUMNS} FROM booking WHERE id = $1");
    let row = conn.opt(&sql, &[&(id.0 as i64)])?;
    row.as_ref().map(rows::booking).transpose()
}

fn bookings_of(conn: &mut Conn, person: PersonId) -> Result<Vec<Booking>> {
    let sql = format!(
        "SELECT {BOOKING_COLUMNS} FROM booking
         WHERE person = $1 OR (booked_by = $1 AND booked_by != person)
         ORDER BY id DESC LIMIT 100"
    );
    rows::bookings(&conn.query(&sql, &[&(person.0 as i64)])?)
}

fn person_where(
    conn: &mut Conn,
    condition: &str,
    value: &(dyn tokio_postgres::types::ToSql + Sync),
) -> Result<Option<PersonRecord>> {
    let sql = format!("SELECT id, rrn_hash, birth_date, sealed FROM person WHERE {condition}");
    let row = conn.opt(&sql, &[value])?;
    row.as_ref().map(rows::person).transpose()
}

impl ReadStore for PgReader {
    fn clinics(&self) -> Result<Vec<ClinicRecord>> {
        self.with(|conn| {
            let mut supply: Vec<Vec<(Product, u32)>> = Vec::new();
            for r in conn.query(
                "SELECT clinic, product, daily_doses FROM clinic_product ORDER BY clinic, product",
                &[],
            )? {
                let clinic = get::<i64>(&r, 0)? as usize;
                if supply.len() <= clinic {
                    supply.resize(clinic + 1, Vec::new());
                }
                supply[clinic].push((rows::product(get(&r, 1)?)?, get::<i64>(&r, 2)? as u32));
            }
            conn.query(
                "SELECT id, name, kind, municipality, lat, lon, open_hour, close_hour, per_band,
                        saturdays
                 FROM clinic ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| {
                let id = get::<i64>(r, 0)? as usize;
                rows::clinic(r, supply.get(id).cloned().unwrap_or_default())
            })
            .collect()
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.with(|conn| setting(conn, key))
    }

    fn person(&self, id: PersonId) -> Result<Option<PersonRecord>> {
        self.with(|conn| person_where(conn, "id = $1", &(id.0 as i64)))
    }

    fn person_by_hash(&self, rrn_hash: &[u8; 32]) -> Result<Option<PersonRecord>> {
        self.with(|conn| person_where(conn, "rrn_hash = $1", &&rrn_hash[..]))
    }

    fn bookings_of(&self, person: PersonId) -> Result<Vec<Booking>> {
        self.with(|conn| bookings_of(conn, person))
    }

    fn booking(&self, id: BookingId) -> Result<Option<Booking>> {
        self.with(|conn| booking_by_id(conn, id))
    }

    /// Three statements on one connection, not in a transaction of their own: on PostgreSQL a
    /// snapshot would cost two more round trips, and each statement reads committed rows.
    fn person_with_bookings(&self, id: PersonId) -> Result<Option<PersonSnapshot>> {
        self.with(|conn| {
            let Some(record) = person_where(conn, "id = $1", &(id.0 as i64))? else {
                return Ok(None);
            };
            let priority_lists = lists_of(conn, &record.rrn_hash)?;
            let bookings = bookings_of(conn, id)?;
            Ok(Some(PersonSnapshot {
                record,
                priority_lists,
                bookings,
            }))
        })
    }

    fn booking_with_moves(
        &self,
        id: BookingId,
    ) -> Result<Option<(Booking, Vec<RescheduleRecord>)>> {
        self.with(|conn| {
            let Some(booking) = booking_by_id(conn, id)? else {
                return Ok(None);
            };
            let moves = reschedules_of(conn, &[booking.id])?;
            Ok(Some((booking, moves)))
        })
    }

    fn pending_outbox(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>> {
        self.with(|conn| {
            conn.query(
                "SELECT id, person, recipient, template, body_ko, body_en, attempts, created_ms
                 FROM outbox
                 WHERE delivered_ms IS NULL AND failed_ms IS NULL AND next_attempt_ms <= $1
                 ORDER BY next_attempt_ms, id LIMIT $2",
                &[&now_ms, &(limit as i64)],
            )?
            .iter()
            .map(rows::outbox)
            .collect()
        })
    }

    fn audit(&self, schedules: &Schedules) -> Result<AuditReport> {
        self.with(|conn| audit(conn, schedules))
    }

    fn deliveries(&self, from: Date) -> Result<Vec<Delivery>> {
        self.with(|conn| deliveries(conn, from))
    }

    fn reschedules_of(&self, bookings: &[BookingId]) -> Result<Vec<RescheduleRecord>> {
        self.with(|conn| reschedules_of(conn, bookings))
    }

    fn supply_changes(&self, limit: usize) -> Result<Vec<SupplyChangeRecord>> {
        self.with(|conn| {
            conn.query(
                "SELECT id, reason, plan_id, detail, people_moved, doses_moved, unplaced, informed,
                        applied_ms, pieces, pieces_done
                 FROM supply_change ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )?
            .iter()
            .map(|r| {
                Ok(SupplyChangeRecord {
                    id: get::<i64>(r, 0)? as u64,
                    reason: rows::reason(get(r, 1)?)?,
                    plan_id: get(r, 2)?,
                    detail: get(r, 3)?,
                    people_moved: get::<i64>(r, 4)? as u64,
                    doses_moved: get::<i64>(r, 5)? as u64,
                    unplaced: get::<i64>(r, 6)? as u64,
                    informed: get::<i64>(r, 7)? as u64,
                    applied_ms: get(r, 8)?,
                    pieces: get::<i32>(r, 9)? as u32,
                    pieces_done: get::<i32>(r, 10)? as u32,
                })
            })
            .collect()
        })
    }

    fn unplaced(&self, change_id: u64) -> Result<Vec<RescheduleRecord>> {
        let sql = format!(
            "SELECT {RESCHEDULE_COLUMNS} FROM reschedule
             WHERE change_id = $1 AND to_clinic IS NULL ORDER BY id"
        );
        self.with(|conn| {
            conn.query(&sql, &[&(change_id as i64)])?
                .iter()
                .map(rows::reschedule)
                .collect()
        })
    }

    fn doses_given(
        &self,
        clinic: ClinicId,
        first: Date,
        last: Date,
    ) -> Result<Vec<(Date, Product, u32)>> {
        self.with(|conn| {
            conn.query(
                "SELECT day, product, COUNT(*) FROM (
                     SELECT d1_day AS day, product FROM booking
                     WHERE d1_clinic = $1 AND d1_day BETWEEN $2 AND $3 AND d1_status = 'given'
                     UNION ALL
                     SELECT d2_day, product FROM booking
                     WHERE d1_clinic = $1 AND d1_day BETWEEN $2 - 91 AND $3
                           AND d2_day BETWEEN $2 AND $3 AND d2_status = 'given') AS given
                 GROUP BY day, product ORDER BY day",
                &[&i64::from(clinic.0), &day_number(first), &day_number(last)],
            )?
            .iter()
            .map(|r| {
                Ok((
                    rows::day(get(r, 0)?)?,
                    rows::product(get(r, 1)?)?,
                    get::<i64>(r, 2)? as u32,
                ))
            })
            .collect()
        })
    }

    fn staff_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<StaffRecord>> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE token_hash = $1");
        self.with(|conn| {
            let row = conn.opt(&sql, &[&&token_hash[..]])?;
            row.as_ref().map(rows::staff).transpose()
        })
    }

    fn staff(&self) -> Result<Vec<StaffRecord>> {
        let sql = format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY id");
        self.with(|conn| conn.query(&sql, &[])?.iter().map(rows::staff).collect())
    }

    fn audit_log(&self, limit: usize, before: Option<u64>) -> Result<Vec<AuditRecord>> {
        let before = before.map_or(i64::MAX, |b| b as i64);
        self.with(|conn| {
            conn.query(
                "SELECT id, at_ms, actor, action, target, outcome, detail FROM audit_log
                 WHERE id < $1 ORDER BY id DESC LIMIT $2",
                &[&before, &(limit as i64)],
            )?
            .iter()
            .map(rows::audit)
            .collect()
        })
    }

    fn offers_on(&self, day: Date) -> Result<Vec<OfferRecord>> {
        let sql =
            format!("SELECT {OFFER_COLUMNS} FROM leftover_offer WHERE day = $1 ORDER BY id DESC");
        self.with(|conn| {
            conn.query(&sql, &[&day_number(day)])?
                .iter()
                .map(rows::offer)
                .collect()
        })
    }

    fn offer(&self, id: OfferId) -> Result<Option<OfferRecord>> {
        let sql = format!("SELECT {OFFER_COLUMNS} FROM leftover_offer WHERE id = $1");
        self.with(|conn| {
            conn.opt(&sql, &[&(id.0 as i64)])?
                .as_ref()
                .map(rows::offer)
                .transpose()
        })
    }

    fn subscription(&self, person: PersonId) -> Result<Option<Subscription>> {
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM leftover_subscription WHERE person = $1");
        self.with(|conn| {
            let row = conn.opt(&sql, &[&(person.0 as i64)])?;
            row.as_ref().map(rows::subscription).transpose()
        })
    }

    fn clinic_day(&self, clinic: ClinicId, day: Date) -> Result<Vec<Booking>> {
        // Dose 2 is at the dose-1 clinic, within 91 days of dose 1 (see booking_d1_clinic_day).
        let sql = format!(
            "SELECT {BOOKING_COLUMNS} FROM booking
             WHERE d1_clinic = $1
               AND (d1_day = $2 OR (d1_day BETWEEN $2 - 91 AND $2 - 1 AND d2_day = $2))
             ORDER BY id"
        );
        self.with(|conn| {
            rows::bookings(&conn.query(&sql, &[&i64::from(clinic.0), &day_number(day)])?)
        })
    }
}

impl AdminStore for PgReader {
    /// Two array-bound statements for the whole world (13,280 clinics in the demo), not a
    /// round trip per row.
    fn insert_clinics(&self, clinics: &[ClinicRecord]) -> Result<()> {
        let all: Vec<_> = clinics.iter().map(|r| &r.clinic).collect();
        let ids: Vec<i64> = all.iter().map(|c| i64::from(c.id.0)).collect();
        let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
        let kinds: Vec<&str> = all.iter().map(|c| rows::kind_code(c.kind)).collect();
        let municipalities: Vec<i64> = all.iter().map(|c| i64::from(c.municipality.0)).collect();
        let lats: Vec<f64> = all.iter().map(|c| c.location.lat).collect();
        let lons: Vec<f64> = all.iter().map(|c| c.location.lon).collect();
        let opens: Vec<i64> = all.iter().map(|c| i64::from(c.hours.open_hour)).collect();
        let closes: Vec<i64> = all.iter().map(|c| i64::from(c.hours.close_hour)).collect();
        let per_band: Vec<i64> = all.iter().map(|c| i64::from(c.hours.per_band)).collect();
        let saturdays: Vec<bool> = all.iter().map(|c| c.hours.saturdays).collect();
        let plan: Vec<(i64, &str, i64)> = clinics
            .iter()
            .flat_map(|r| {
                r.daily_doses
                    .iter()
                    .map(|(p, d)| (i64::from(r.clinic.id.0), p.code(), i64::from(*d)))
            })
            .collect();
        let plan_clinics: Vec<i64> = plan.iter().map(|p| p.0).collect();
        let plan_products: Vec<&str> = plan.iter().map(|p| p.1).collect();
        let plan_doses: Vec<i64> = plan.iter().map(|p| p.2).collect();
        self.with(|conn| {
            conn.transaction(|conn| {
                conn.execute(
                    "INSERT INTO clinic (id, name, kind, municipality, lat, lon, open_hour,
                                         close_hour, per_band, saturdays)
                     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[],
                         $5::float8[], $6::float8[], $7::bigint[], $8::bigint[], $9::bigint[],
                         $10::bool[])",
                    &[
                        &ids,
                        &names,
                        &kinds,
                        &municipalities,
                        &lats,
                        &lons,
                        &opens,
                        &closes,
                        &per_band,
                        &saturdays,
                    ],
                )?;
                conn.execute(
                    "INSERT INTO clinic_product (clinic, product, daily_doses)
                     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[])",
                    &[&plan_clinics, &plan_products, &plan_doses],
                )?;
                Ok(())
            })
        })
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.with(|conn| put_setting(conn, key, value).map(drop))
    }
}

impl QueueStore for PgReader {
    fn current_queue(&self) -> Result<Option<(u32, String)>> {
        self.queue.current_queue()
    }

    fn save_queue(
        &self,
        id: u32,
        base: Option<u64>,
        revision: u64,
        record: &str,
        now_ms: i64,
    ) -> Result<bool> {
        self.queue.save_queue(id, base, revision, record, now_ms)
    }

    fn draw_numbers(&self, id: u32, persons: &[u64]) -> Result<Vec<u64>> {
        self.queue.draw_numbers(id, persons)
    }

    fn people_drawn(&self, id: u32) -> Result<u64> {
        self.queue.people_drawn(id)
    }

    fn report(&self, id: u32, report: &QueueReport) -> Result<()> {
        self.queue.report(id, report)
    }

    fn take_reports(&self, id: u32) -> Result<Vec<QueueReport>> {
        self.queue.take_reports(id)
    }
}

impl PriorityStore for PgReader {
    fn add_priority_members(&self, list_id: u32, rrn_hashes: &[[u8; 32]]) -> Result<u64> {
        let hashes: Vec<&[u8]> = rrn_hashes.iter().map(|h| &h[..]).collect();
        self.with(|conn| {
            conn.execute(
                "INSERT INTO priority_member (rrn_hash, list_id)
                 SELECT DISTINCT h, $2::bigint FROM UNNEST($1::bytea[]) AS h
                 ON CONFLICT DO NOTHING",
                &[&hashes, &i64::from(list_id)],
            )
        })
    }

    fn priority_lists_of(&self, rrn_hash: &[u8; 32]) -> Result<Vec<u32>> {
        self.with(|conn| lists_of(conn, rrn_hash))
    }
}

/// The lists a registration number (by its hash) is on.
fn lists_of(conn: &mut Conn, rrn_hash: &[u8; 32]) -> Result<Vec<u32>> {
    conn.query(
        "SELECT list_id FROM priority_member WHERE rrn_hash = $1",
        &[&&rrn_hash[..]],
    )?
    .iter()
    .map(|r| Ok(get::<i64>(r, 0)? as u32))
    .collect()
}

/// What supply changes did to these bookings, oldest first, in the order of `bookings`.
fn reschedules_of(conn: &mut Conn, bookings: &[BookingId]) -> Result<Vec<RescheduleRecord>> {
    let ids: Vec<i64> = bookings.iter().map(|b| b.0 as i64).collect();
    let sql = format!(
        "SELECT {RESCHEDULE_COLUMNS} FROM reschedule WHERE booking = ANY($1)
         ORDER BY array_position($1, booking), id"
    );
    conn.query(&sql, &[&ids])?
        .iter()
        .map(rows::reschedule)
        .collect()
}

fn audit(conn: &mut Conn, schedules: &Schedules) -> Result<AuditReport> {
    let mut report = AuditReport::default();
    // Every booked dose, from either column pair, counted where it holds a place.
    let doses = "SELECT d1_clinic AS clinic, d1_day AS day, d1_hour AS hour, product FROM booking
                 WHERE d1_status = 'booked'
                 UNION ALL
                 SELECT d2_clinic, d2_day, d2_hour, product FROM booking WHERE d2_status = 'booked'";
    for r in conn.query(
        &format!(
            "SELECT clinic, day, hour, COUNT(*) FROM ({doses}) AS d GROUP BY clinic, day, hour"
        ),
        &[],
    )? {
        report.per_band.push((
            get::<i64>(&r, 0)? as u32,
            rows::day(get(&r, 1)?)?,
            get::<i64>(&r, 2)? as u8,
            get::<i64>(&r, 3)? as u32,
        ));
    }
    for r in conn.query(
        &format!(
            "SELECT clinic, day, product, COUNT(*) FROM ({doses}) AS d GROUP BY clinic, day, product"
        ),
        &[],
    )? {
        report.per_supply.push((
            get::<i64>(&r, 0)? as u32,
            rows::day(get(&r, 1)?)?,
            rows::product(get(&r, 2)?)?,
            get::<i64>(&r, 3)? as u32,
        ));
    }
    for r in conn.query(
        "SELECT person FROM booking WHERE d1_status = 'booked' OR d2_status = 'booked'
         GROUP BY person HAVING COUNT(*) > 1",
        &[],
    )? {
        report
            .people_with_two_active
            .push(PersonId(get::<i64>(&r, 0)? as u64));
    }
    for product in Product::ALL {
        let interval = i64::from(schedules.get(product).interval_days);
        for r in conn.query(
            "SELECT id FROM booking WHERE product = $1 AND d2_day IS NOT NULL
                 AND d2_status != 'cancelled'
                 AND (d2_clinic != d1_clinic OR d2_day - d1_day < $2)",
            &[&product.code(), &interval],
        )? {
            report
                .inconsistent_second_doses
                .push(BookingId(get::<i64>(&r, 0)? as u64));
        }
    }
    let row = conn.one(
        "SELECT COUNT(*) FROM booking WHERE d1_status = 'booked' OR d2_status = 'booked'",
        &[],
    )?;
    report.active_bookings = get::<i64>(&row, 0)? as u64;
    Ok(report)
}
