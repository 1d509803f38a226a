//! The audit, straight from the database after the run: no clinic-day band over capacity, no
//! clinic-day over its supply of a product, nobody with two active bookings, every dose 2
//! consistent with its dose 1, and every booking a client saw acknowledged exists (and is active
//! unless the client saw it cancelled).

use crate::stats::Ack;
use domain::booking::BookingId;
use domain::product::Schedules;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use store::ReadStore;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Audit {
    pub active_bookings_in_db: u64,
    pub acknowledged: u64,
    pub acknowledged_then_cancelled: u64,
    pub bands_checked: usize,
    pub supplies_checked: usize,
    /// Every violation found (at most 100 listed; `violation_count` has them all).
    pub violations: Vec<String>,
    pub violation_count: u64,
}

impl Audit {
    fn violation(&mut self, what: String) {
        self.violation_count += 1;
        if self.violations.len() < 100 {
            self.violations.push(what);
        }
    }

    pub fn clean(&self) -> bool {
        self.violation_count == 0
    }
}

/// The database to audit: the server's SQLite file, or the PostgreSQL several nodes share.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

pub fn run(db: &Database, acks: &[Ack]) -> anyhow::Result<Audit> {
    match db {
        Database::Sqlite(path) => {
            let (_writer, reader) = store::sqlite::open(path).map_err(|e| {
                anyhow::anyhow!("cannot open {} for the audit: {e}", path.display())
            })?;
            check(&reader, acks)
        }
        Database::Postgres(url) => {
            let (_writer, reader) = store::postgres::open(url).map_err(|e| {
                anyhow::anyhow!("cannot open the PostgreSQL database for the audit: {e}")
            })?;
            check(&reader, acks)
        }
    }
}

fn check(reader: &impl ReadStore, acks: &[Ack]) -> anyhow::Result<Audit> {
    let clinics: HashMap<u32, store::ClinicRecord> = reader
        .clinics()?
        .into_iter()
        .map(|c| (c.clinic.id.0, c))
        .collect();
    let report = reader.audit(&Schedules::default())?;
    let mut audit = Audit {
        active_bookings_in_db: report.active_bookings,
        acknowledged: acks.len() as u64,
        bands_checked: report.per_band.len(),
        supplies_checked: report.per_supply.len(),
        ..Audit::default()
    };
    for (clinic, day, hour, count) in &report.per_band {
        match clinics.get(clinic) {
            Some(c) if *count <= u32::from(c.clinic.hours.per_band) => {}
            Some(c) => audit.violation(format!(
                "B1: clinic {clinic} on {day} at {hour:02}:00 holds {count} appointments for {} places",
                c.clinic.hours.per_band
            )),
            None => audit.violation(format!("B1: {count} appointments at unknown clinic {clinic}")),
        }
    }
    for (clinic, day, product, count) in &report.per_supply {
        let supply = clinics
            .get(clinic)
            .map(|c| c.daily_supply()[product.index()])
            .unwrap_or(0);
        if *count > supply {
            audit.violation(format!(
                "S1: clinic {clinic} on {day} holds {count} {} doses for a supply of {supply}",
                product.code()
            ));
        }
    }
    for person in &report.people_with_two_active {
        audit.violation(format!("B2: person {} has two active bookings", person.0));
    }
    for booking in &report.inconsistent_second_doses {
        audit.violation(format!(
            "B4: booking {}'s dose 2 is inconsistent with its dose 1",
            booking.0
        ));
    }
    for ack in acks {
        match reader.booking(BookingId(ack.booking))? {
            None => audit.violation(format!(
                "B3: acknowledged booking {} does not exist",
                ack.booking
            )),
            Some(b) => match ack.cancelled {
                Some(false) if !b.is_active() => {
                    audit.violation(format!(
                        "B3: acknowledged booking {} is not active",
                        ack.booking
                    ));
                }
                Some(true) if b.is_active() => {
                    audit.violation(format!(
                        "B5: booking {} was acknowledged cancelled but is active",
                        ack.booking
                    ));
                }
                _ => {}
            },
        }
        if ack.cancelled == Some(true) {
            audit.acknowledged_then_cancelled += 1;
        }
    }
    Ok(audit)
}
