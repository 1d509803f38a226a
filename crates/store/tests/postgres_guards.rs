//! What PostgreSQL itself refuses, whatever a writer does, and how the writer lives through a
//! lost connection.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

#[path = "support/pg.rs"]
mod pg;

use domain::booking::{Appointment, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::ledger::{BookRequest, Calendar, Ledger};
use domain::product::{Product, Schedules};
use jiff::civil::{Date, date};
use pg::Schema;
use store::writer::{Command, Outcome, WriteError, Writer, WriterConfig};
use store::{AdminStore, ClinicRecord, ReadStore};

const TODAY: Date = date(2021, 7, 19);
const DAY: Date = date(2021, 7, 20);

fn clinic() -> ClinicRecord {
    ClinicRecord {
        clinic: Clinic {
            id: ClinicId(0),
            name: "테스트 의원".into(),
            kind: ClinicKind::Consigned,
            municipality: MunicipalityCode(11010),
            location: GeoPoint {
                lat: 37.5,
                lon: 127.0,
            },
            products: vec![Product::Moderna],
            hours: Hours {
                open_hour: 9,
                close_hour: 18,
                per_band: 2,
                saturdays: false,
            },
        },
        daily_doses: vec![(Product::Moderna, 3)],
    }
}

fn start(schema: &Schema) -> (Writer, store::postgres::PgReader) {
    let (backend, reader) = store::postgres::open(&schema.url()).unwrap();
    reader.insert_clinics(&[clinic()]).unwrap();
    let ledger = Ledger::new(
        Calendar {
            first: TODAY,
            days: 60,
        },
        &[clinic().clinic],
        Schedules::default(),
        |_, _| clinic().daily_supply(),
    );
    let writer = Writer::spawn(backend, ledger, WriterConfig::default()).unwrap();
    (writer, reader)
}

fn book(writer: &Writer, person: u64, hour: u8) -> Result<Outcome, WriteError> {
    let command = Command::Book {
        request: BookRequest {
            person: PersonId(person),
            booked_by: PersonId(person),
            first: Appointment {
                clinic: ClinicId(0),
                day: DAY,
                hour,
                product: Product::Moderna,
            },
            today: TODAY,
        },
        idempotency_key: None,
        notify: None,
    };
    writer
        .submit(command, 1_000)
        .unwrap()
        .blocking_recv()
        .unwrap()
}

/// Inserts a booked dose 1 straight into the table, as a writer that went wrong would.
fn insert_raw(db: &mut postgres::Client, id: i64, person: i64, hour: i64) -> Result<(), String> {
    let day = store::day_number(DAY);
    db.execute(
        "INSERT INTO booking (id, person, booked_by, product, d1_clinic, d1_day, d1_hour,
                              d1_status, created_ms, updated_ms)
         VALUES ($1, $2, $2, 'moderna', 0, $3, $4, 'booked', 0, 0)",
        &[&id, &person, &day, &hour],
    )
    .map(drop)
    .map_err(|e| {
        e.as_db_error()
            .map_or(e.to_string(), |d| d.message().to_string())
    })
}

fn in_schema(schema: &Schema) -> postgres::Client {
    let mut db = pg::admin();
    db.batch_execute(&format!("SET search_path = {}", schema.name))
        .unwrap();
    db
}

#[test]
fn the_database_refuses_a_band_past_its_staff_and_a_day_past_its_doses() {
    let schema = Schema::create();
    let (_writer, _reader) = start(&schema);
    let mut db = in_schema(&schema);
    insert_raw(&mut db, 1, 1, 10).unwrap();
    insert_raw(&mut db, 2, 2, 10).unwrap();
    // The band holds 2 (staff per band): a third is refused at commit.
    let third = insert_raw(&mut db, 3, 3, 10).unwrap_err();
    assert!(third.contains("overbooked"), "{third}");
    // The day has 3 Moderna doses: a third in another band is fine, a fourth is not.
    insert_raw(&mut db, 4, 4, 11).unwrap();
    let fourth = insert_raw(&mut db, 5, 5, 12).unwrap_err();
    assert!(fourth.contains("overbooked"), "{fourth}");
    // A plan lowered below what is booked is refused too.
    let cut = db
        .execute(
            "INSERT INTO delivery (clinic, day, product, doses, updated_ms)
             VALUES (0, $1, 'moderna', 2, 0)",
            &[&store::day_number(DAY)],
        )
        .unwrap_err();
    assert!(cut.as_db_error().unwrap().message().contains("overbooked"));
    let count: i64 = db
        .query_one("SELECT COUNT(*) FROM booking", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
}

#[test]
fn the_database_refuses_a_second_active_booking_for_a_person() {
    let schema = Schema::create();
    let (_writer, _reader) = start(&schema);
    let mut db = in_schema(&schema);
    insert_raw(&mut db, 1, 7, 10).unwrap();
    let again = insert_raw(&mut db, 2, 7, 11).unwrap_err();
    assert!(again.contains("booking_one_active_per_person"), "{again}");
    db.execute(
        "UPDATE booking SET d1_status = 'cancelled' WHERE id = 1",
        &[],
    )
    .unwrap();
    insert_raw(&mut db, 2, 7, 11).unwrap();
}

#[test]
fn a_lost_connection_is_reopened_and_nothing_acknowledged_is_lost() {
    let schema = Schema::create();
    let (writer, reader) = start(&schema);
    assert!(matches!(book(&writer, 1, 10), Ok(Outcome::Booking(Ok(_)))));
    let killed: i64 = pg::admin()
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1",
            &[&schema.name],
        )
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the store's connections were not found");
    // A batch that meets the dead connection fails (503 to its clients) or, when the writer
    // notices first, reconnects before it begins; either way it comes back by itself and
    // nothing acknowledged is lost.
    let answers: Vec<_> = (2..=6).map(|person| book(&writer, person, 11)).collect();
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(Outcome::Booking(_)) | Err(WriteError::Storage(_)))),
        "{answers:?}"
    );
    let booked: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            Ok(Outcome::Booking(Ok(b))) => Some(*b),
            _ => None,
        })
        .collect();
    assert!(
        !booked.is_empty(),
        "the writer did not recover: {answers:?}"
    );
    for b in &booked {
        assert_eq!(reader.booking(b.id).unwrap().as_ref(), Some(b));
    }
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert_eq!(audit.active_bookings, 1 + booked.len() as u64);
    // The ledger was rebuilt from the database: the band (2 staff) is as full as it says.
    let left = writer.availability().band_left(ClinicId(0), DAY, 11);
    assert_eq!(left, 2 - booked.len() as i32);
}
