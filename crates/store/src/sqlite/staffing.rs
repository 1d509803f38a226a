//! Staff, the audit log and same-day leftover doses, in SQLite.

use super::rows::{BOOKING_COLUMNS, booking_from_row, day_from_sql, product_from_sql};
use crate::{
    AuditEntry, AuditRecord, OfferRecord, Result, StaffRecord, StaffRole, StoreError, day_number,
};
use domain::booking::{Booking, BookingId, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::leftover::{Offer, OfferId, Subscription};
use domain::product::Product;
use jiff::civil::Date;
use rusqlite::{Connection, Row, params};

const STAFF_COLUMNS: &str = "id, role, clinic, name, created_ms, revoked_ms";

fn staff_from_row(r: &Row<'_>) -> Result<StaffRecord> {
    let role: String = r.get(1)?;
    Ok(StaffRecord {
        id: r.get::<_, i64>(0)? as u64,
        role: StaffRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown staff role {role:?}")))?,
        clinic: r.get::<_, Option<i64>>(2)?.map(|c| ClinicId(c as u32)),
        name: r.get(3)?,
        created_ms: r.get(4)?,
        revoked: r.get::<_, Option<i64>>(5)?.is_some(),
    })
}

pub fn insert_staff(conn: &Connection, record: &StaffRecord, token_hash: &[u8; 32]) -> Result<u64> {
    conn.prepare_cached(
        "INSERT INTO staff (role, clinic, name, token_hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        record.role.code(),
        record.clinic.map(|c| c.0),
        record.name,
        &token_hash[..],
        record.created_ms
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

pub fn revoke_staff(conn: &Connection, id: u64, now_ms: i64) -> Result<()> {
    conn.prepare_cached("UPDATE staff SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL")?
        .execute(params![id as i64, now_ms])?;
    Ok(())
}

pub fn staff_by_token(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<StaffRecord>> {
    let sql = format!("SELECT {STAFF_COLUMNS} FROM staff WHERE token_hash = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![&token_hash[..]])?;
    rows.next()?.map(staff_from_row).transpose()
}

pub fn staff(conn: &Connection) -> Result<Vec<StaffRecord>> {
    let sql = format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(staff_from_row(row)?);
    }
    Ok(out)
}

pub fn append_audit(conn: &Connection, entry: &AuditEntry, now_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at_ms, actor, action, target, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        now_ms,
        entry.actor,
        entry.action,
        entry.target,
        entry.outcome,
        entry.detail
    ])?;
    Ok(())
}

pub fn audit_log(conn: &Connection, limit: usize, before: Option<u64>) -> Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at_ms, actor, action, target, outcome, detail FROM audit_log
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let before = before.map_or(i64::MAX, |b| b as i64);
    let rows = stmt.query_map(params![before, limit as i64], |r| {
        Ok(AuditRecord {
            id: r.get::<_, i64>(0)? as u64,
            at_ms: r.get(1)?,
            entry: AuditEntry {
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                outcome: r.get(5)?,
                detail: r.get(6)?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

const OFFER_COLUMNS: &str =
    "id, clinic, product, day, doses, claimed, until_ms, posted_by, posted_ms";

fn offer_from_row(r: &Row<'_>) -> Result<OfferRecord> {
    Ok(OfferRecord {
        offer: Offer {
            id: OfferId(r.get::<_, i64>(0)? as u64),
            clinic: ClinicId(r.get::<_, i64>(1)? as u32),
            product: product_from_sql(&r.get::<_, String>(2)?)?,
            day: day_from_sql(r.get(3)?)?,
            doses: r.get::<_, i64>(4)? as u32,
            claimed: r.get::<_, i64>(5)? as u32,
            until_ms: r.get(6)?,
        },
        posted_by: r.get::<_, i64>(7)? as u64,
        posted_ms: r.get(8)?,
    })
}

pub fn insert_offer(conn: &Connection, record: &OfferRecord) -> Result<OfferId> {
    let o = &record.offer;
    conn.prepare_cached(
        "INSERT INTO leftover_offer (clinic, product, day, doses, claimed, until_ms, posted_by, posted_ms)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
    )?
    .execute(params![
        o.clinic.0,
        o.product.code(),
        day_number(o.day),
        o.doses,
        o.until_ms,
        record.posted_by as i64,
        record.posted_ms
    ])?;
    Ok(OfferId(conn.last_insert_rowid() as u64))
}

pub fn offer(conn: &Connection, id: OfferId) -> Result<Option<OfferRecord>> {
    let sql = format!("SELECT {OFFER_COLUMNS} FROM leftover_offer WHERE id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![id.0 as i64])?;
    rows.next()?.map(offer_from_row).transpose()
}

pub fn offers_on(conn: &Connection, day: Date) -> Result<Vec<OfferRecord>> {
    let sql = format!("SELECT {OFFER_COLUMNS} FROM leftover_offer WHERE day = ?1 ORDER BY id DESC");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![day_number(day)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(offer_from_row(row)?);
    }
    Ok(out)
}

pub fn claim_offer(
    conn: &Connection,
    offer: OfferId,
    person: PersonId,
    booking: BookingId,
    now_ms: i64,
) -> Result<()> {
    // The CHECK (claimed <= doses) makes storage refuse an overclaim even if the writer erred.
    let updated = conn
        .prepare_cached("UPDATE leftover_offer SET claimed = claimed + 1 WHERE id = ?1")?
        .execute(params![offer.0 as i64])?;
    if updated != 1 {
        return Err(StoreError::Corrupt(format!(
            "leftover offer {} is gone",
            offer.0
        )));
    }
    conn.prepare_cached(
        "INSERT INTO leftover_claim (offer, person, booking, claimed_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        offer.0 as i64,
        person.0 as i64,
        booking.0 as i64,
        now_ms
    ])?;
    Ok(())
}

fn products_text(products: &[Product]) -> String {
    products
        .iter()
        .map(|p| p.code())
        .collect::<Vec<_>>()
        .join(",")
}

fn products_from_sql(text: &str) -> Result<Vec<Product>> {
    text.split(',')
        .filter(|code| !code.is_empty())
        .map(product_from_sql)
        .collect()
}

pub fn put_subscription(conn: &Connection, s: &Subscription, now_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO leftover_subscription (person, lat, lon, radius_km, products, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (person) DO UPDATE SET lat = excluded.lat, lon = excluded.lon,
             radius_km = excluded.radius_km, products = excluded.products,
             updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        s.person.0 as i64,
        s.at.lat,
        s.at.lon,
        s.radius_km,
        products_text(&s.products),
        now_ms
    ])?;
    Ok(())
}

pub fn delete_subscription(conn: &Connection, person: PersonId) -> Result<()> {
    conn.prepare_cached("DELETE FROM leftover_subscription WHERE person = ?1")?
        .execute(params![person.0 as i64])?;
    Ok(())
}

fn subscription_from_row(r: &Row<'_>) -> Result<Subscription> {
    Ok(Subscription {
        person: PersonId(r.get::<_, i64>(0)? as u64),
        at: GeoPoint {
            lat: r.get(1)?,
            lon: r.get(2)?,
        },
        radius_km: r.get(3)?,
        products: products_from_sql(&r.get::<_, String>(4)?)?,
    })
}

pub fn subscription(conn: &Connection, person: PersonId) -> Result<Option<Subscription>> {
    let mut stmt = conn.prepare_cached(
        "SELECT person, lat, lon, radius_km, products FROM leftover_subscription WHERE person = ?1",
    )?;
    let mut rows = stmt.query(params![person.0 as i64])?;
    rows.next()?.map(subscription_from_row).transpose()
}

/// Subscriptions in a lat/lon box around `at` at least `reach_km` wide each way.
pub fn subscriptions_near(
    conn: &Connection,
    at: GeoPoint,
    reach_km: f64,
) -> Result<Vec<Subscription>> {
    // A degree of latitude is ~111 km; a degree of longitude shrinks with cos(latitude).
    let dlat = reach_km / 110.0;
    let dlon = reach_km / (110.0 * at.lat.to_radians().cos().max(0.1));
    let mut stmt = conn.prepare_cached(
        "SELECT person, lat, lon, radius_km, products FROM leftover_subscription
         WHERE lat BETWEEN ?1 AND ?2 AND lon BETWEEN ?3 AND ?4",
    )?;
    let mut rows = stmt.query(params![
        at.lat - dlat,
        at.lat + dlat,
        at.lon - dlon,
        at.lon + dlon
    ])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(subscription_from_row(row)?);
    }
    Ok(out)
}

/// Every booking with a dose at `clinic` on `day`.
pub fn clinic_day(conn: &Connection, clinic: ClinicId, day: Date) -> Result<Vec<Booking>> {
    // Dose 2 is at the dose-1 clinic, within 91 days of dose 1 (see booking_d1_clinic_day).
    let sql = format!(
        "SELECT {BOOKING_COLUMNS} FROM booking
         WHERE d1_clinic = ?1 AND (d1_day = ?2 OR (d1_day BETWEEN ?2 - 91 AND ?2 - 1 AND d2_day = ?2))
         ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![clinic.0, day_number(day)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(booking_from_row(row)?);
    }
    Ok(out)
}
