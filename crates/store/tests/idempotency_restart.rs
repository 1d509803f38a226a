//! A retry after a restart still gets the first answer: the SQLite writer's in-memory filter of
//! recorded idempotency keys is rebuilt from the database when it opens.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use domain::booking::{Appointment, Booking, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::ledger::{BookRequest, Calendar, Ledger};
use domain::product::{Product, Schedules};
use jiff::civil::{Date, date};
use store::writer::{Book, Refusal, Writer, WriterConfig};
use store::{AdminStore, ClinicRecord, ReadStore};

const TODAY: Date = date(2021, 7, 19);

fn clinic() -> Clinic {
    Clinic {
        id: ClinicId(0),
        name: "의원".into(),
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
            per_band: 5,
            saturdays: false,
        },
    }
}

fn book(person: u64, hour: u8, key: &str) -> Book {
    Book {
        request: BookRequest {
            person: PersonId(person),
            booked_by: PersonId(person),
            first: Appointment {
                clinic: ClinicId(0),
                day: date(2021, 7, 20),
                hour,
                product: Product::Moderna,
            },
            today: TODAY,
        },
        idempotency_key: Some(key.into()),
        notify: None,
    }
}

fn start(path: &std::path::Path) -> Writer {
    let (backend, reader) = store::sqlite::open(path).unwrap();
    if reader.clinics().unwrap().is_empty() {
        let record = ClinicRecord {
            clinic: clinic(),
            daily_doses: vec![(Product::Moderna, 100)],
        };
        reader.insert_clinics(&[record]).unwrap();
    }
    let ledger = Ledger::new(
        Calendar {
            first: TODAY,
            days: 60,
        },
        &[clinic()],
        Schedules::default(),
        |_, _| [0, 100, 0, 0],
    );
    Writer::spawn(backend, ledger, WriterConfig::default()).unwrap()
}

fn run(writer: &Writer, book: Book) -> Result<Booking, Refusal> {
    writer.book(book, None, 1_000).wait().unwrap()
}

#[test]
fn a_retry_after_a_restart_gets_the_first_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yeyak.db");
    let first = {
        let writer = start(&path);
        let Ok(first) = run(&writer, book(1, 9, "k-1")) else {
            panic!()
        };
        first
    };
    let writer = start(&path);
    assert_eq!(run(&writer, book(1, 9, "k-1")), Ok(first));
    assert_eq!(run(&writer, book(1, 10, "k-1")), Err(Refusal::KeyReused));
    // A new key from someone else is not mistaken for a recorded one.
    assert!(run(&writer, book(2, 9, "k-1")).is_ok());
}
