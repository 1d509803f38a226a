//! Supply rows: planned deliveries, applied supply changes and the doses they moved.

use super::rows::{day_from_sql, product_from_sql};
use crate::{
    Delivery, Reason, RescheduleRecord, Result, StoreError, SupplyChangeRecord, day_number,
};
use domain::booking::{Appointment, BookingId, PersonId};
use domain::clinic::ClinicId;
use domain::product::Product;
use jiff::civil::Date;
use rusqlite::{Connection, Row, params};

pub fn put_delivery(conn: &Connection, d: &Delivery, now_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO delivery (clinic, day, product, doses, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (clinic, day, product) DO UPDATE SET
             doses = excluded.doses, updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        d.clinic.0,
        day_number(d.day),
        d.product.code(),
        d.doses,
        now_ms
    ])?;
    Ok(())
}

pub fn deliveries(conn: &Connection, from: Date) -> Result<Vec<Delivery>> {
    let mut stmt = conn.prepare_cached(
        "SELECT clinic, day, product, doses FROM delivery WHERE day >= ?1 ORDER BY clinic, day",
    )?;
    let mut rows = stmt.query(params![day_number(from)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(Delivery {
            clinic: ClinicId(r.get::<_, i64>(0)? as u32),
            day: day_from_sql(r.get(1)?)?,
            product: product_from_sql(&r.get::<_, String>(2)?)?,
            doses: r.get::<_, i64>(3)? as u32,
        });
    }
    Ok(out)
}

pub fn insert_supply_change(conn: &Connection, c: &SupplyChangeRecord) -> Result<u64> {
    conn.prepare_cached(
        "INSERT INTO supply_change (reason, plan_id, detail, people_moved, doses_moved, unplaced,
                                    informed, applied_ms, pieces, pieces_done)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        c.reason.code(),
        c.plan_id,
        c.detail,
        c.people_moved as i64,
        c.doses_moved as i64,
        c.unplaced as i64,
        c.informed as i64,
        c.applied_ms,
        c.pieces,
        c.pieces_done
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

pub fn supply_progress(conn: &Connection, change_id: u64, pieces_done: u32) -> Result<()> {
    conn.prepare_cached("UPDATE supply_change SET pieces_done = ?2 WHERE id = ?1")?
        .execute(params![change_id as i64, pieces_done])?;
    Ok(())
}

pub fn supply_changes(conn: &Connection, limit: usize) -> Result<Vec<SupplyChangeRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, reason, plan_id, detail, people_moved, doses_moved, unplaced, informed,
                applied_ms, pieces, pieces_done
         FROM supply_change ORDER BY id DESC LIMIT ?1",
    )?;
    let mut rows = stmt.query(params![limit as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(SupplyChangeRecord {
            id: r.get::<_, i64>(0)? as u64,
            reason: reason_from_sql(&r.get::<_, String>(1)?)?,
            plan_id: r.get(2)?,
            detail: r.get(3)?,
            people_moved: r.get::<_, i64>(4)? as u64,
            doses_moved: r.get::<_, i64>(5)? as u64,
            unplaced: r.get::<_, i64>(6)? as u64,
            informed: r.get::<_, i64>(7)? as u64,
            applied_ms: r.get(8)?,
            pieces: r.get(9)?,
            pieces_done: r.get(10)?,
        });
    }
    Ok(out)
}

pub fn insert_reschedule(conn: &Connection, r: &RescheduleRecord) -> Result<()> {
    let to = r.to;
    conn.prepare_cached(
        "INSERT INTO reschedule (change_id, booking, person, dose, reason, from_clinic, from_day,
                                 from_hour, from_product, to_clinic, to_day, to_hour, to_product,
                                 accepted_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.change_id as i64,
        r.booking.0 as i64,
        r.person.0 as i64,
        r.dose,
        r.reason.code(),
        r.from.clinic.0,
        day_number(r.from.day),
        r.from.hour,
        r.from.product.code(),
        to.map(|a| a.clinic.0),
        to.map(|a| day_number(a.day)),
        to.map(|a| a.hour),
        to.map(|a| a.product.code()),
        r.accepted_ms,
    ])?;
    Ok(())
}

pub fn accept_moves(conn: &Connection, booking: BookingId, now_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE reschedule SET accepted_ms = ?2 WHERE booking = ?1 AND accepted_ms IS NULL",
    )?
    .execute(params![booking.0 as i64, now_ms])?;
    Ok(())
}

const RESCHEDULE_COLUMNS: &str = "change_id, booking, person, dose, reason, from_clinic, \
     from_day, from_hour, from_product, to_clinic, to_day, to_hour, to_product, accepted_ms";

pub(super) fn reschedules_of_sql() -> String {
    format!("SELECT {RESCHEDULE_COLUMNS} FROM reschedule WHERE booking = ?1 ORDER BY id")
}

pub fn reschedules_of(conn: &Connection, bookings: &[BookingId]) -> Result<Vec<RescheduleRecord>> {
    let mut stmt = conn.prepare_cached(&reschedules_of_sql())?;
    let mut out = Vec::new();
    for booking in bookings {
        let mut rows = stmt.query(params![booking.0 as i64])?;
        while let Some(r) = rows.next()? {
            out.push(reschedule_from_row(r)?);
        }
    }
    Ok(out)
}

pub fn unplaced(conn: &Connection, change_id: u64) -> Result<Vec<RescheduleRecord>> {
    let sql = format!(
        "SELECT {RESCHEDULE_COLUMNS} FROM reschedule
         WHERE change_id = ?1 AND to_clinic IS NULL ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![change_id as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(reschedule_from_row(r)?);
    }
    Ok(out)
}

/// Doses given per day and product at one clinic (dose 1 and dose 2 alike).
pub fn doses_given(
    conn: &Connection,
    clinic: ClinicId,
    first: Date,
    last: Date,
) -> Result<Vec<(Date, Product, u32)>> {
    // Dose 2 is at the dose-1 clinic, within 91 days of dose 1 (see the index's comment).
    let mut stmt = conn.prepare_cached(
        "SELECT day, product, COUNT(*) FROM (
             SELECT d1_day AS day, product FROM booking
             WHERE d1_clinic = ?1 AND d1_day BETWEEN ?2 AND ?3 AND d1_status = 'given'
             UNION ALL
             SELECT d2_day, product FROM booking
             WHERE d1_clinic = ?1 AND d1_day BETWEEN ?2 - 91 AND ?3 AND d2_day BETWEEN ?2 AND ?3
                   AND d2_status = 'given')
         GROUP BY day, product ORDER BY day",
    )?;
    let mut rows = stmt.query(params![clinic.0, day_number(first), day_number(last)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push((
            day_from_sql(r.get(0)?)?,
            product_from_sql(&r.get::<_, String>(1)?)?,
            r.get::<_, i64>(2)? as u32,
        ));
    }
    Ok(out)
}

fn reason_from_sql(code: &str) -> Result<Reason> {
    Reason::parse(code).ok_or_else(|| StoreError::Corrupt(format!("unknown reason {code:?}")))
}

fn appointment_at(r: &Row<'_>, at: usize) -> Result<Option<Appointment>> {
    let Some(clinic) = r.get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    Ok(Some(Appointment {
        clinic: ClinicId(clinic as u32),
        day: day_from_sql(r.get(at + 1)?)?,
        hour: r.get::<_, i64>(at + 2)? as u8,
        product: product_from_sql(&r.get::<_, String>(at + 3)?)?,
    }))
}

fn reschedule_from_row(r: &Row<'_>) -> Result<RescheduleRecord> {
    Ok(RescheduleRecord {
        change_id: r.get::<_, i64>(0)? as u64,
        booking: BookingId(r.get::<_, i64>(1)? as u64),
        person: PersonId(r.get::<_, i64>(2)? as u64),
        dose: r.get::<_, i64>(3)? as u8,
        reason: reason_from_sql(&r.get::<_, String>(4)?)?,
        from: appointment_at(r, 5)?
            .ok_or_else(|| StoreError::Corrupt("reschedule without its old appointment".into()))?,
        to: appointment_at(r, 9)?,
        accepted_ms: r.get(13)?,
    })
}
