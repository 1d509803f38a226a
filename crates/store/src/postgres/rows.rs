//! Conversions between PostgreSQL rows and domain values (the column lists match SQLite's).

use crate::{
    AuditEntry, AuditRecord, ClinicRecord, OfferRecord, OutboxMessage, OutboxRecord, PersonRecord,
    Reason, RescheduleRecord, Result, StaffRecord, StaffRole, StoreError, Subscription,
    date_from_day_number,
};
use domain::booking::{Appointment, Booking, BookingId, Dose, DoseStatus, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::leftover::{Offer, OfferId};
use domain::product::Product;
use jiff::civil::Date;
use tokio_postgres::Row;

pub const BOOKING_COLUMNS: &str = "id, person, booked_by, product, d1_clinic, d1_day, d1_hour, \
     d1_status, d2_clinic, d2_day, d2_hour, d2_status";
pub const STAFF_COLUMNS: &str = "id, role, clinic, name, created_ms, revoked_ms";
pub const OFFER_COLUMNS: &str =
    "id, clinic, product, day, doses, claimed, until_ms, posted_by, posted_ms";
pub const RESCHEDULE_COLUMNS: &str = "change_id, booking, person, dose, reason, from_clinic, \
     from_day, from_hour, from_product, to_clinic, to_day, to_hour, to_product, accepted_ms";
pub const SUBSCRIPTION_COLUMNS: &str = "person, lat, lon, radius_km, products";

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// Reads column `i`, naming it in the error when its type is not what the schema says.
pub fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i)
        .map_err(|e| corrupt(format!("column {i}: {e}")))
}

pub fn day(days: i64) -> Result<Date> {
    date_from_day_number(days).ok_or_else(|| corrupt(format!("bad day number {days}")))
}

pub fn product(code: &str) -> Result<Product> {
    Product::parse(code).ok_or_else(|| corrupt(format!("unknown product {code:?}")))
}

fn status(code: &str) -> Result<DoseStatus> {
    DoseStatus::parse(code).ok_or_else(|| corrupt(format!("unknown dose status {code:?}")))
}

fn appointment(row: &Row, at: usize, product: Product) -> Result<Appointment> {
    Ok(Appointment {
        clinic: ClinicId(get::<i64>(row, at)? as u32),
        day: day(get(row, at + 1)?)?,
        hour: get::<i64>(row, at + 2)? as u8,
        product,
    })
}

pub fn booking(row: &Row) -> Result<Booking> {
    let product = product(get(row, 3)?)?;
    let first = Dose {
        appointment: appointment(row, 4, product)?,
        status: status(get(row, 7)?)?,
    };
    let second = match get::<Option<i64>>(row, 8)? {
        None => None,
        Some(_) => Some(Dose {
            appointment: appointment(row, 8, product)?,
            status: status(get(row, 11)?)?,
        }),
    };
    Ok(Booking {
        id: BookingId(get::<i64>(row, 0)? as u64),
        person: PersonId(get::<i64>(row, 1)? as u64),
        booked_by: PersonId(get::<i64>(row, 2)? as u64),
        first,
        second,
    })
}

pub fn bookings(rows: &[Row]) -> Result<Vec<Booking>> {
    rows.iter().map(booking).collect()
}

/// From `id, rrn_hash, birth_date, sealed`.
pub fn person(row: &Row) -> Result<PersonRecord> {
    let hash: Vec<u8> = get(row, 1)?;
    let birth_date: &str = get(row, 2)?;
    Ok(PersonRecord {
        id: PersonId(get::<i64>(row, 0)? as u64),
        rrn_hash: hash
            .try_into()
            .map_err(|_| corrupt("rrn hash is not 32 bytes"))?,
        birth_date: birth_date
            .parse()
            .map_err(|_| corrupt(format!("bad date {birth_date:?}")))?,
        sealed: get(row, 3)?,
    })
}

pub fn kind_code(kind: ClinicKind) -> &'static str {
    match kind {
        ClinicKind::Consigned => "consigned",
        ClinicKind::Centre => "centre",
    }
}

/// From `id, name, kind, municipality, lat, lon, open_hour, close_hour, per_band, saturdays`,
/// with the clinic's standing plan.
pub fn clinic(row: &Row, daily_doses: Vec<(Product, u32)>) -> Result<ClinicRecord> {
    let kind = match get::<&str>(row, 2)? {
        "centre" => ClinicKind::Centre,
        "consigned" => ClinicKind::Consigned,
        other => return Err(corrupt(format!("unknown clinic kind {other:?}"))),
    };
    Ok(ClinicRecord {
        clinic: Clinic {
            id: ClinicId(get::<i64>(row, 0)? as u32),
            name: get(row, 1)?,
            kind,
            municipality: MunicipalityCode(get::<i64>(row, 3)? as u32),
            location: GeoPoint {
                lat: get(row, 4)?,
                lon: get(row, 5)?,
            },
            products: daily_doses.iter().map(|(p, _)| *p).collect(),
            hours: Hours {
                open_hour: get::<i64>(row, 6)? as u8,
                close_hour: get::<i64>(row, 7)? as u8,
                per_band: get::<i64>(row, 8)? as u16,
                saturdays: get(row, 9)?,
            },
        },
        daily_doses,
    })
}

pub fn outbox(row: &Row) -> Result<OutboxRecord> {
    Ok(OutboxRecord {
        id: get::<i64>(row, 0)? as u64,
        message: OutboxMessage {
            person: get::<Option<i64>>(row, 1)?.map(|p| PersonId(p as u64)),
            recipient: get(row, 2)?,
            template: get(row, 3)?,
            body_ko: get(row, 4)?,
            body_en: get(row, 5)?,
        },
        attempts: get::<i64>(row, 6)? as u32,
        created_ms: get(row, 7)?,
    })
}

pub fn staff(row: &Row) -> Result<StaffRecord> {
    let role: &str = get(row, 1)?;
    Ok(StaffRecord {
        id: get::<i64>(row, 0)? as u64,
        role: StaffRole::parse(role)
            .ok_or_else(|| corrupt(format!("unknown staff role {role:?}")))?,
        clinic: get::<Option<i64>>(row, 2)?.map(|c| ClinicId(c as u32)),
        name: get(row, 3)?,
        created_ms: get(row, 4)?,
        revoked: get::<Option<i64>>(row, 5)?.is_some(),
    })
}

/// From `id, at_ms, actor, action, target, outcome, detail`.
pub fn audit(row: &Row) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: get::<i64>(row, 0)? as u64,
        at_ms: get(row, 1)?,
        entry: AuditEntry {
            actor: get(row, 2)?,
            action: get(row, 3)?,
            target: get(row, 4)?,
            outcome: get(row, 5)?,
            detail: get(row, 6)?,
        },
    })
}

pub fn offer(row: &Row) -> Result<OfferRecord> {
    Ok(OfferRecord {
        offer: Offer {
            id: OfferId(get::<i64>(row, 0)? as u64),
            clinic: ClinicId(get::<i64>(row, 1)? as u32),
            product: product(get(row, 2)?)?,
            day: day(get(row, 3)?)?,
            doses: get::<i64>(row, 4)? as u32,
            claimed: get::<i64>(row, 5)? as u32,
            until_ms: get(row, 6)?,
        },
        posted_by: get::<i64>(row, 7)? as u64,
        posted_ms: get(row, 8)?,
    })
}

pub fn products_text(products: &[Product]) -> String {
    products
        .iter()
        .map(|p| p.code())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn subscription(row: &Row) -> Result<Subscription> {
    let products: &str = get(row, 4)?;
    Ok(Subscription {
        person: PersonId(get::<i64>(row, 0)? as u64),
        at: GeoPoint {
            lat: get(row, 1)?,
            lon: get(row, 2)?,
        },
        radius_km: get(row, 3)?,
        products: products
            .split(',')
            .filter(|code| !code.is_empty())
            .map(product)
            .collect::<Result<_>>()?,
    })
}

pub fn reason(code: &str) -> Result<Reason> {
    Reason::parse(code).ok_or_else(|| corrupt(format!("unknown reason {code:?}")))
}

fn appointment_at(row: &Row, at: usize) -> Result<Option<Appointment>> {
    if get::<Option<i64>>(row, at)?.is_none() {
        return Ok(None);
    }
    let product = product(get(row, at + 3)?)?;
    Ok(Some(appointment(row, at, product)?))
}

pub fn reschedule(row: &Row) -> Result<RescheduleRecord> {
    Ok(RescheduleRecord {
        change_id: get::<i64>(row, 0)? as u64,
        booking: BookingId(get::<i64>(row, 1)? as u64),
        person: PersonId(get::<i64>(row, 2)? as u64),
        dose: get::<i64>(row, 3)? as u8,
        reason: reason(get(row, 4)?)?,
        from: appointment_at(row, 5)?
            .ok_or_else(|| corrupt("reschedule without its old appointment"))?,
        to: appointment_at(row, 9)?,
        accepted_ms: get(row, 13)?,
    })
}
