//! Conversions between rows and domain values.

use crate::{
    ClinicRecord, OutboxMessage, OutboxRecord, PersonRecord, Result, StoreError,
    date_from_day_number, day_number,
};
use domain::booking::{Appointment, Booking, BookingId, Dose, DoseStatus, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::product::Product;
use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, Params, Row, params};

pub const BOOKING_COLUMNS: &str = "id, person, booked_by, product, d1_clinic, d1_day, d1_hour, \
     d1_status, d2_clinic, d2_day, d2_hour, d2_status";

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

pub fn date_from_sql(text: &str) -> Result<Date> {
    text.parse()
        .map_err(|_| corrupt(format!("bad date {text:?}")))
}

/// A day as stored in the booking table: its [`day_number`] (an INTEGER, so index keys are 2–3
/// bytes instead of 10 and the dose interval is a subtraction). In the sqlite shell:
/// `date(d1_day * 86400, 'unixepoch')`.
pub fn day_from_sql(days: i64) -> Result<Date> {
    date_from_day_number(days).ok_or_else(|| corrupt(format!("bad day number {days}")))
}

pub fn product_from_sql(code: &str) -> Result<Product> {
    Product::parse(code).ok_or_else(|| corrupt(format!("unknown product {code:?}")))
}

fn status_from_sql(code: &str) -> Result<DoseStatus> {
    DoseStatus::parse(code).ok_or_else(|| corrupt(format!("unknown dose status {code:?}")))
}

pub fn booking_from_row(row: &Row<'_>) -> Result<Booking> {
    let product = product_from_sql(&row.get::<_, String>(3)?)?;
    let first = Dose {
        appointment: Appointment {
            clinic: ClinicId(row.get::<_, i64>(4)? as u32),
            day: day_from_sql(row.get(5)?)?,
            hour: row.get::<_, i64>(6)? as u8,
            product,
        },
        status: status_from_sql(&row.get::<_, String>(7)?)?,
    };
    let second = match row.get::<_, Option<i64>>(8)? {
        None => None,
        Some(clinic) => Some(Dose {
            appointment: Appointment {
                clinic: ClinicId(clinic as u32),
                day: day_from_sql(row.get(9)?)?,
                hour: row.get::<_, i64>(10)? as u8,
                product,
            },
            status: status_from_sql(&row.get::<_, String>(11)?)?,
        }),
    };
    Ok(Booking {
        id: BookingId(row.get::<_, i64>(0)? as u64),
        person: PersonId(row.get::<_, i64>(1)? as u64),
        booked_by: PersonId(row.get::<_, i64>(2)? as u64),
        first,
        second,
    })
}

pub fn put_booking(conn: &Connection, b: &Booking, now_ms: i64) -> Result<()> {
    let first = &b.first.appointment;
    let second = b.second.map(|d| d.appointment);
    conn.prepare_cached(
        "INSERT INTO booking (id, person, booked_by, product, d1_clinic, d1_day, d1_hour, d1_status,
                              d2_clinic, d2_day, d2_hour, d2_status, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
         ON CONFLICT (id) DO UPDATE SET
             product = excluded.product,
             d1_clinic = excluded.d1_clinic, d1_day = excluded.d1_day,
             d1_hour = excluded.d1_hour, d1_status = excluded.d1_status,
             d2_clinic = excluded.d2_clinic, d2_day = excluded.d2_day,
             d2_hour = excluded.d2_hour, d2_status = excluded.d2_status,
             updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        b.id.0 as i64,
        b.person.0 as i64,
        b.booked_by.0 as i64,
        first.product.code(),
        first.clinic.0,
        day_number(first.day),
        first.hour,
        b.first.status.code(),
        second.map(|a| a.clinic.0),
        second.map(|a| day_number(a.day)),
        second.map(|a| a.hour),
        b.second.map(|d| d.status.code()),
        now_ms,
    ])?;
    Ok(())
}

pub fn booking_by_id(conn: &Connection, id: BookingId) -> Result<Option<Booking>> {
    let sql = format!("SELECT {BOOKING_COLUMNS} FROM booking WHERE id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![id.0 as i64])?;
    match rows.next()? {
        Some(row) => Ok(Some(booking_from_row(row)?)),
        None => Ok(None),
    }
}

pub fn person_where(
    conn: &Connection,
    condition: &str,
    args: impl Params,
) -> Result<Option<PersonRecord>> {
    let sql = format!("SELECT id, rrn_hash, birth_date, sealed FROM person WHERE {condition}");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row(args, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?;
    let Some((id, hash, birth_date, sealed)) = raw else {
        return Ok(None);
    };
    Ok(Some(PersonRecord {
        id: PersonId(id as u64),
        rrn_hash: hash
            .try_into()
            .map_err(|_| corrupt("rrn hash is not 32 bytes"))?,
        birth_date: date_from_sql(&birth_date)?,
        sealed,
    }))
}

fn kind_code(kind: ClinicKind) -> &'static str {
    match kind {
        ClinicKind::Consigned => "consigned",
        ClinicKind::Centre => "centre",
    }
}

pub fn clinics(conn: &Connection) -> Result<Vec<ClinicRecord>> {
    let mut supply: Vec<Vec<(Product, u32)>> = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT clinic, product, daily_doses FROM clinic_product ORDER BY clinic, product",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let clinic = r.get::<_, i64>(0)? as usize;
        if supply.len() <= clinic {
            supply.resize(clinic + 1, Vec::new());
        }
        supply[clinic].push((
            product_from_sql(&r.get::<_, String>(1)?)?,
            r.get::<_, i64>(2)? as u32,
        ));
    }
    let mut stmt = conn.prepare(
        "SELECT id, name, kind, municipality, lat, lon, open_hour, close_hour, per_band, saturdays
         FROM clinic ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut clinics = Vec::new();
    while let Some(r) = rows.next()? {
        let id = r.get::<_, i64>(0)? as u32;
        let kind = match r.get::<_, String>(2)?.as_str() {
            "centre" => ClinicKind::Centre,
            "consigned" => ClinicKind::Consigned,
            other => return Err(corrupt(format!("unknown clinic kind {other:?}"))),
        };
        let daily_doses = supply.get(id as usize).cloned().unwrap_or_default();
        clinics.push(ClinicRecord {
            clinic: Clinic {
                id: ClinicId(id),
                name: r.get(1)?,
                kind,
                municipality: MunicipalityCode(r.get::<_, i64>(3)? as u32),
                location: GeoPoint {
                    lat: r.get(4)?,
                    lon: r.get(5)?,
                },
                products: daily_doses.iter().map(|(p, _)| *p).collect(),
                hours: Hours {
                    open_hour: r.get::<_, i64>(6)? as u8,
                    close_hour: r.get::<_, i64>(7)? as u8,
                    per_band: r.get::<_, i64>(8)? as u16,
                    saturdays: r.get(9)?,
                },
            },
            daily_doses,
        });
    }
    Ok(clinics)
}

pub fn insert_clinics(conn: &Connection, clinics: &[ClinicRecord]) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut clinic_stmt = tx.prepare(
            "INSERT INTO clinic (id, name, kind, municipality, lat, lon, open_hour, close_hour, per_band, saturdays)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut supply_stmt = tx.prepare(
            "INSERT INTO clinic_product (clinic, product, daily_doses) VALUES (?1, ?2, ?3)",
        )?;
        for record in clinics {
            let c = &record.clinic;
            clinic_stmt.execute(params![
                c.id.0,
                c.name,
                kind_code(c.kind),
                c.municipality.0,
                c.location.lat,
                c.location.lon,
                c.hours.open_hour,
                c.hours.close_hour,
                c.hours.per_band,
                c.hours.saturdays,
            ])?;
            for (product, doses) in &record.daily_doses {
                supply_stmt.execute(params![c.id.0, product.code(), doses])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn pending_outbox(conn: &Connection, now_ms: i64, limit: usize) -> Result<Vec<OutboxRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, person, recipient, template, body_ko, body_en, attempts, created_ms FROM outbox
         WHERE delivered_ms IS NULL AND failed_ms IS NULL AND next_attempt_ms <= ?1
         ORDER BY next_attempt_ms, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
        Ok(OutboxRecord {
            id: r.get::<_, i64>(0)? as u64,
            message: OutboxMessage {
                person: r.get::<_, Option<i64>>(1)?.map(|p| PersonId(p as u64)),
                recipient: r.get(2)?,
                template: r.get(3)?,
                body_ko: r.get(4)?,
                body_en: r.get(5)?,
            },
            attempts: r.get::<_, i64>(6)? as u32,
            created_ms: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The priority lists a registration number (by its hash) is on.
pub fn priority_lists_of(conn: &Connection, rrn_hash: &[u8; 32]) -> Result<Vec<u32>> {
    let mut stmt =
        conn.prepare_cached("SELECT list_id FROM priority_member WHERE rrn_hash = ?1")?;
    let ids = stmt.query_map(params![&rrn_hash[..]], |r| r.get::<_, u32>(0))?;
    Ok(ids.collect::<rusqlite::Result<_>>()?)
}
