//! The writer's hot writes, held until the batch commits and then sent as one array-bound
//! statement per table, all pipelined: a batch of thousands of bookings costs a handful of round
//! trips instead of one per row. Anything else the writer does first sends what is held, so the
//! database sees every change in the order the writer made it.

use super::conn::{Conn, pg, wait};
use crate::{AuditEntry, Change, OutboxMessage, PersonRecord, Recorded, Result, day_number};
use domain::booking::{Booking, PersonId};
use futures_util::future::try_join_all;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use tokio_postgres::types::ToSql;

const INSERT_PERSONS: &str = "INSERT INTO person (id, rrn_hash, birth_date, sealed, created_ms)
     SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::text[], $4::bytea[], $5::bigint[])";

const PUT_BOOKINGS: &str = "INSERT INTO booking (id, person, booked_by, product, d1_clinic,
         d1_day, d1_hour, d1_status, d2_clinic, d2_day, d2_hour, d2_status, created_ms, updated_ms)
     SELECT t.*, t.at FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],
         $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::bigint[],
         $11::bigint[], $12::text[], $13::bigint[])
         AS t (id, person, booked_by, product, d1_clinic, d1_day, d1_hour, d1_status,
               d2_clinic, d2_day, d2_hour, d2_status, at)
     ON CONFLICT (id) DO UPDATE SET
         product = excluded.product,
         d1_clinic = excluded.d1_clinic, d1_day = excluded.d1_day,
         d1_hour = excluded.d1_hour, d1_status = excluded.d1_status,
         d2_clinic = excluded.d2_clinic, d2_day = excluded.d2_day,
         d2_hour = excluded.d2_hour, d2_status = excluded.d2_status,
         updated_ms = excluded.updated_ms";

const INSERT_RECORDS: &str =
    "INSERT INTO idempotency (actor, key, fingerprint, booking, error, created_ms)
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                          $6::bigint[])";

const INSERT_MESSAGES: &str =
    "INSERT INTO outbox (person, recipient, template, body_ko, body_en, created_ms)
     SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[],
                          $6::bigint[])";

const INSERT_AUDITS: &str = "INSERT INTO audit_log (at_ms, actor, action, target, outcome, detail)
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
                          $6::text[])";

#[derive(Default)]
pub struct Pending {
    persons: Vec<(PersonRecord, i64)>,
    bookings: Vec<(Booking, i64)>,
    records: Vec<(PersonId, String, Recorded, i64)>,
    messages: Vec<(OutboxMessage, i64)>,
    audits: Vec<(AuditEntry, i64)>,
}

impl Pending {
    /// Holds `change` if it is one of the batched kinds; false when it must run now.
    pub fn hold(&mut self, change: &Change) -> bool {
        match change {
            Change::InsertPerson { person, now_ms } => self.persons.push((person.clone(), *now_ms)),
            Change::PutBooking { booking, now_ms } => self.bookings.push((*booking, *now_ms)),
            Change::Record {
                actor,
                key,
                recorded,
                now_ms,
            } => self
                .records
                .push((*actor, key.clone(), recorded.clone(), *now_ms)),
            Change::Enqueue { message, now_ms } => self.messages.push((message.clone(), *now_ms)),
            Change::Audit { entry, now_ms } => self.audits.push((entry.clone(), *now_ms)),
            _ => return false,
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
            && self.bookings.is_empty()
            && self.records.is_empty()
            && self.messages.is_empty()
            && self.audits.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Pending::default();
    }

    /// Sends everything held, pipelined, and waits for every statement.
    pub fn flush(&mut self, conn: &mut Conn) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let persons = PersonColumns::of(&self.persons);
        let bookings = BookingColumns::of(&self.bookings);
        let records = RecordColumns::of(&self.records);
        let messages = MessageColumns::of(&self.messages);
        let audits = AuditColumns::of(&self.audits);
        let mut work: Vec<(&str, Vec<&(dyn ToSql + Sync)>)> = Vec::new();
        if !self.persons.is_empty() {
            work.push((INSERT_PERSONS, persons.params()));
        }
        if !self.bookings.is_empty() {
            work.push((PUT_BOOKINGS, bookings.params()));
        }
        if !self.records.is_empty() {
            work.push((INSERT_RECORDS, records.params()));
        }
        if !self.messages.is_empty() {
            work.push((INSERT_MESSAGES, messages.params()));
        }
        if !self.audits.is_empty() {
            work.push((INSERT_AUDITS, audits.params()));
        }
        let statements = work
            .iter()
            .map(|(sql, _)| conn.prepared(sql))
            .collect::<Result<Vec<_>>>()?;
        let client = conn.client();
        type Sent<'a> = Pin<Box<dyn Future<Output = Result<u64>> + 'a>>;
        let sent: Vec<Sent> = statements
            .iter()
            .zip(&work)
            .map(|(statement, (_, params))| {
                Box::pin(async move { client.execute(statement, params).await.map_err(pg) }) as Sent
            })
            .collect();
        wait(try_join_all(sent))?;
        self.clear();
        Ok(())
    }
}

struct PersonColumns<'a> {
    id: Vec<i64>,
    hash: Vec<&'a [u8]>,
    birth: Vec<String>,
    sealed: Vec<&'a [u8]>,
    at: Vec<i64>,
}

impl<'a> PersonColumns<'a> {
    fn of(rows: &'a [(PersonRecord, i64)]) -> Self {
        PersonColumns {
            id: rows.iter().map(|(p, _)| p.id.0 as i64).collect(),
            hash: rows.iter().map(|(p, _)| &p.rrn_hash[..]).collect(),
            birth: rows.iter().map(|(p, _)| p.birth_date.to_string()).collect(),
            sealed: rows.iter().map(|(p, _)| &p.sealed[..]).collect(),
            at: rows.iter().map(|(_, at)| *at).collect(),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.id, &self.hash, &self.birth, &self.sealed, &self.at]
    }
}

#[derive(Default)]
struct BookingColumns {
    id: Vec<i64>,
    person: Vec<i64>,
    booked_by: Vec<i64>,
    product: Vec<&'static str>,
    d1: [Vec<i64>; 3],
    d1_status: Vec<&'static str>,
    d2: [Vec<Option<i64>>; 3],
    d2_status: Vec<Option<&'static str>>,
    at: Vec<i64>,
}

impl BookingColumns {
    /// The last state of each booking the batch touched, in the order of those last changes:
    /// one statement may not update a row twice, and a person's cancelled booking must reach
    /// the database before their new one (one active booking a person).
    fn of(rows: &[(Booking, i64)]) -> Self {
        let mut seen = HashSet::new();
        let mut last: Vec<&(Booking, i64)> = rows
            .iter()
            .rev()
            .filter(|(b, _)| seen.insert(b.id))
            .collect();
        last.reverse();
        let mut columns = BookingColumns::default();
        for (b, at) in last {
            let first = &b.first.appointment;
            let second = b.second.map(|d| d.appointment);
            columns.id.push(b.id.0 as i64);
            columns.person.push(b.person.0 as i64);
            columns.booked_by.push(b.booked_by.0 as i64);
            columns.product.push(first.product.code());
            columns.d1[0].push(i64::from(first.clinic.0));
            columns.d1[1].push(day_number(first.day));
            columns.d1[2].push(i64::from(first.hour));
            columns.d1_status.push(b.first.status.code());
            columns.d2[0].push(second.map(|a| i64::from(a.clinic.0)));
            columns.d2[1].push(second.map(|a| day_number(a.day)));
            columns.d2[2].push(second.map(|a| i64::from(a.hour)));
            columns.d2_status.push(b.second.map(|d| d.status.code()));
            columns.at.push(*at);
        }
        columns
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.person,
            &self.booked_by,
            &self.product,
            &self.d1[0],
            &self.d1[1],
            &self.d1[2],
            &self.d1_status,
            &self.d2[0],
            &self.d2[1],
            &self.d2[2],
            &self.d2_status,
            &self.at,
        ]
    }
}

struct RecordColumns<'a> {
    actor: Vec<i64>,
    key: Vec<&'a str>,
    fingerprint: Vec<&'a str>,
    booking: Vec<Option<i64>>,
    error: Vec<Option<&'a str>>,
    at: Vec<i64>,
}

impl<'a> RecordColumns<'a> {
    fn of(rows: &'a [(PersonId, String, Recorded, i64)]) -> Self {
        RecordColumns {
            actor: rows.iter().map(|r| r.0.0 as i64).collect(),
            key: rows.iter().map(|r| r.1.as_str()).collect(),
            fingerprint: rows.iter().map(|r| r.2.fingerprint.as_str()).collect(),
            booking: rows
                .iter()
                .map(|r| r.2.booking.map(|b| b.0 as i64))
                .collect(),
            error: rows.iter().map(|r| r.2.error.as_deref()).collect(),
            at: rows.iter().map(|r| r.3).collect(),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.actor,
            &self.key,
            &self.fingerprint,
            &self.booking,
            &self.error,
            &self.at,
        ]
    }
}

struct MessageColumns<'a> {
    person: Vec<Option<i64>>,
    recipient: Vec<&'a [u8]>,
    template: Vec<&'a str>,
    ko: Vec<&'a str>,
    en: Vec<&'a str>,
    at: Vec<i64>,
}

impl<'a> MessageColumns<'a> {
    fn of(rows: &'a [(OutboxMessage, i64)]) -> Self {
        MessageColumns {
            person: rows
                .iter()
                .map(|(m, _)| m.person.map(|p| p.0 as i64))
                .collect(),
            recipient: rows.iter().map(|(m, _)| &m.recipient[..]).collect(),
            template: rows.iter().map(|(m, _)| m.template.as_str()).collect(),
            ko: rows.iter().map(|(m, _)| m.body_ko.as_str()).collect(),
            en: rows.iter().map(|(m, _)| m.body_en.as_str()).collect(),
            at: rows.iter().map(|(_, at)| *at).collect(),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.person,
            &self.recipient,
            &self.template,
            &self.ko,
            &self.en,
            &self.at,
        ]
    }
}

struct AuditColumns<'a> {
    at: Vec<i64>,
    text: [Vec<&'a str>; 5],
}

impl<'a> AuditColumns<'a> {
    fn of(rows: &'a [(AuditEntry, i64)]) -> Self {
        let column = |f: fn(&AuditEntry) -> &str| rows.iter().map(|(e, _)| f(e)).collect();
        AuditColumns {
            at: rows.iter().map(|(_, at)| *at).collect(),
            text: [
                column(|e| &e.actor),
                column(|e| &e.action),
                column(|e| &e.target),
                column(|e| &e.outcome),
                column(|e| &e.detail),
            ],
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.at,
            &self.text[0],
            &self.text[1],
            &self.text[2],
            &self.text[3],
            &self.text[4],
        ]
    }
}
