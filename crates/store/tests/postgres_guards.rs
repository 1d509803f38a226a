//! What PostgreSQL itself refuses, whatever a writer does, and how the writer lives through a
//! lost connection.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

#[path = "support/pg.rs"]
mod pg;

use domain::booking::{Appointment, Booking, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::ledger::reschedule::{Delivery, Neighbours, SupplyChange};
use domain::ledger::{BookRequest, Calendar, Ledger};
use domain::partition::Part;
use domain::product::{Product, Schedules};
use jiff::civil::{Date, date};
use pg::Schema;
use store::writer::{
    ApplySupply, Book, Expect, Fault, Health, MessageText, Notice, PlanSupply, Refusal, WriteError,
    Writer, WriterConfig,
};
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

fn ledger() -> Ledger {
    let calendar = Calendar {
        first: TODAY,
        days: 60,
    };
    Ledger::new(
        calendar,
        &[clinic().clinic],
        Schedules::default(),
        |_, _| clinic().daily_supply(),
    )
}

fn start(schema: &Schema) -> (Writer, store::postgres::PgReader) {
    let (backend, reader) = store::postgres::open(&schema.url()).unwrap();
    reader.insert_clinics(&[clinic()]).unwrap();
    let writer = Writer::spawn(backend, ledger(), WriterConfig::default()).unwrap();
    (writer, reader)
}

fn book(writer: &Writer, person: u64, hour: u8) -> Answer {
    book_on(writer, person, DAY, hour)
}

fn book_on(writer: &Writer, person: u64, day: Date, hour: u8) -> Answer {
    let book = Book {
        request: BookRequest {
            person: PersonId(person),
            booked_by: PersonId(person),
            first: Appointment {
                clinic: ClinicId(0),
                day,
                hour,
                product: Product::Moderna,
            },
            today: TODAY,
        },
        idempotency_key: None,
        notify: None,
    };
    // A writer that is standing by or recovering refuses at once, without queueing.
    writer.book(book, None, 1_000).wait()
}

/// Waits (up to 15 s) until `writer` takes writes: a standby does once it took the lease.
fn wait_until_writing(writer: &Writer) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while writer.health() != Health::Ready {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            writer.health()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

type Answer = Result<Result<Booking, Refusal>, WriteError>;

fn refused(answer: &Answer) -> bool {
    matches!(
        answer,
        Err(WriteError::Unavailable(_) | WriteError::Stopped)
    )
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
    let count: i64 = db
        .query_one("SELECT COUNT(*) FROM booking", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
    // A delivery cut is a fact and is stored even below what is booked (rescheduling moves
    // those people, as on SQLite); from then on the cut is the day's capacity: with one booking
    // cancelled, 2 are booked, the standing plan (3) would take another, the cut (2) does not.
    db.execute(
        "INSERT INTO delivery (clinic, day, product, doses, updated_ms)
         VALUES (0, $1, 'moderna', 2, 0)",
        &[&store::day_number(DAY)],
    )
    .unwrap();
    db.execute(
        "UPDATE booking SET d1_status = 'cancelled' WHERE id = 4",
        &[],
    )
    .unwrap();
    let past_cut = insert_raw(&mut db, 5, 5, 12).unwrap_err();
    assert!(past_cut.contains("overbooked"), "{past_cut}");
    // A closed band has no place at all (here: before opening).
    let early = insert_raw(&mut db, 6, 6, 8).unwrap_err();
    assert!(early.contains("overbooked"), "{early}");
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
    assert!(matches!(book(&writer, 1, 10), Ok(Ok(_))));
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
        answers.iter().all(|a| a.is_ok() || refused(a)),
        "{answers:?}"
    );
    let booked: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            Ok(Ok(b)) => Some(*b),
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

fn open_as(schema: &Schema, node: &str) -> (Writer, store::postgres::LeaseView) {
    let options = store::postgres::Options {
        node: node.into(),
        address: Some(format!("http://{node}.example:8080")),
        lease_ttl: std::time::Duration::from_secs(2),
        ..store::postgres::Options::default()
    };
    let (backend, _reader) = store::postgres::open_with(&schema.url(), options).unwrap();
    let view = backend.lease_view();
    let writer = Writer::spawn(backend, ledger(), WriterConfig::default()).unwrap();
    (writer, view)
}

fn expire_lease_now(schema: &Schema) {
    in_schema(schema)
        .execute(
            "UPDATE ledger_lease SET expires_at = now() - interval '1 second'",
            &[],
        )
        .unwrap();
}

fn lease_row(schema: &Schema) -> (String, i64) {
    let row = in_schema(schema)
        .query_one(
            "SELECT owner, epoch FROM ledger_lease WHERE partition = 0",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn one_node_writes_at_a_time_and_a_paused_owner_is_fenced_off() {
    let schema = Schema::create();
    let (a, reader) = start(&schema);
    // Seed the world through `start`, then drop it: nodes "a" and "b" share the database.
    drop(a);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (a, _) = open_as(&schema, "a");
    assert!(matches!(book(&a, 1, 10), Ok(Ok(_))));
    let (owner, epoch_a) = lease_row(&schema);
    assert_eq!(owner, "a");

    // While "a" renews its lease, "b" cannot write: it stands by, refuses at once (503), and
    // nothing is stored.
    let (b, b_lease) = open_as(&schema, "b");
    assert_eq!(b.health(), Health::Failing(Fault::Standby));
    assert_eq!(
        book(&b, 2, 10).unwrap_err(),
        WriteError::Elsewhere(Part::WHOLE)
    );
    assert_eq!(reader.bookings_of(PersonId(2)).unwrap(), vec![]);
    assert_eq!(lease_row(&schema).0, "a");
    // "b" knows who writes and where to forward to (the address "a" recorded in the row).
    let holder = b_lease.holder().unwrap();
    assert_eq!(holder.owner, "a");
    assert_eq!(holder.address.as_deref(), Some("http://a.example:8080"));
    assert!(holder.live && b_lease.held().is_none());
    // Its view of what is left follows what "a" commits (reloaded every second), so a node
    // that forwards its bookings still shows places: a's booking at 10:00, then one at 11:00.
    assert_eq!(b.availability().band_left(ClinicId(0), DAY, 10), 1);
    assert!(matches!(book(&a, 5, 11), Ok(Ok(_))));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.availability().band_left(ClinicId(0), DAY, 11) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "b's view never saw a's booking"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // "a" pauses past its lease (made to look so by expiring the row): "b" takes over by itself
    // with a new epoch, rebuilds its ledger from the database (with a's booking) and books.
    expire_lease_now(&schema);
    wait_until_writing(&b);
    let b_answers: Vec<_> = (2..=4).map(|p| book(&b, p, 10)).collect();
    assert!(
        b_answers.iter().any(|a| matches!(a, Ok(Ok(_)))),
        "{b_answers:?}"
    );
    let (owner, epoch_b) = lease_row(&schema);
    assert_eq!(owner, "b");
    assert!(epoch_b > epoch_a);
    // The band holds 2: a's booking and one of b's; b's ledger knew about a's.
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert!(
        audit.per_band.iter().all(|&(_, _, _, n)| n <= 2),
        "{audit:?}"
    );

    // "a" wakes up: its next batch is refused by the fence and writes nothing; "a" then stands by.
    let before = reader.audit(&Schedules::default()).unwrap().active_bookings;
    assert_eq!(
        book(&a, 9, 11).unwrap_err(),
        WriteError::Elsewhere(Part::WHOLE)
    );
    assert_eq!(a.health(), Health::Failing(Fault::Standby));
    assert_eq!(reader.bookings_of(PersonId(9)).unwrap(), vec![]);
    assert_eq!(
        reader.audit(&Schedules::default()).unwrap().active_bookings,
        before
    );
    assert_eq!(lease_row(&schema).0, "b");
}

/// A writer whose connection dies inside a batch must fail the batch, not carry on with the rest
/// of it on a new connection (outside any transaction, so each statement committed on its own,
/// without the lease's fence, and `COMMIT` answered with a mere warning): found by the node
/// tests' TCP proxy as an acknowledged booking lost and its id given to someone else.
#[test]
fn a_connection_lost_inside_a_batch_fails_the_batch_and_writes_none_of_it() {
    use store::{Change, WriteBackend};
    let schema = Schema::create();
    let (mut backend, reader) = store::postgres::open(&schema.url()).unwrap();
    backend.claim_ledger().unwrap();
    backend.active_bookings(&mut |_| ()).unwrap();
    let setting = |key: &str| Change::PutSetting {
        key: key.into(),
        value: "1".into(),
    };
    backend.begin().unwrap();
    backend.apply(&setting("before_the_cut")).unwrap();
    let killed: i64 = pg::admin()
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
            &[&schema.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "the writer's connection, inside its transaction");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let rest = backend
        .apply(&setting("after_the_cut"))
        .and_then(|()| backend.commit());
    assert!(rest.is_err(), "a batch cut in two was acknowledged");
    backend.rollback().unwrap();
    assert_eq!(reader.setting("before_the_cut").unwrap(), None);
    assert_eq!(reader.setting("after_the_cut").unwrap(), None);
    // The next batch reconnects and writes.
    backend.begin().unwrap();
    backend.apply(&setting("next")).unwrap();
    backend.commit().unwrap();
    assert_eq!(reader.setting("next").unwrap().as_deref(), Some("1"));
}

/// Applies new planned doses for DAY (`doses`) through the writer, as an operator would.
fn change_deliveries(writer: &Writer, deliveries: Vec<(Date, u32)>) {
    let change = SupplyChange::Deliveries {
        deliveries: deliveries
            .into_iter()
            .map(|(day, doses)| Delivery {
                clinic: ClinicId(0),
                day,
                product: Product::Moderna,
                doses,
            })
            .collect(),
        switch_to: vec![],
    };
    let plan = writer
        .plan_supply(
            PlanSupply {
                change: change.clone(),
                today: TODAY,
                neighbours: Neighbours::new(),
            },
            1_500,
        )
        .wait()
        .unwrap()
        .unwrap()
        .plan;
    let apply = ApplySupply {
        change,
        today: TODAY,
        neighbours: Neighbours::new(),
        expect: Expect::Plan(plan.id()),
        detail: "{}".into(),
        notify: Box::new(|_: &Notice| MessageText {
            template: "supply".into(),
            ko: String::new(),
            en: String::new(),
        }),
    };
    writer
        .apply_supply(apply, None, 2_000)
        .wait()
        .unwrap()
        .unwrap();
}

/// A supply change made on the holder reaches a standby: its view within a reload and, once it
/// takes the ledger over, its decisions. Before, a standby kept the capacities it had loaded at
/// start: after a takeover it booked doses that had been cut (the database refused the batch,
/// failing everyone in it) and refused doses that had been added.
#[test]
fn a_standby_takes_up_supply_changed_on_the_holder() {
    let later = date(2021, 7, 21);
    let schema = Schema::create();
    let (a, _reader) = start(&schema);
    drop(a);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (a, _) = open_as(&schema, "a");
    assert!(matches!(book(&a, 1, 10), Ok(Ok(_))));
    let (b, _) = open_as(&schema, "b");
    assert_eq!(b.health(), Health::Failing(Fault::Standby));
    let left = |day| {
        b.availability()
            .supply_left(ClinicId(0), day, Product::Moderna)
    };
    assert_eq!((left(DAY), left(later)), (2, 3));

    // DAY's 3 doses cut to the 1 already booked; `later`'s raised from 3 to 5.
    change_deliveries(&a, vec![(DAY, 1), (later, 5)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (left(DAY), left(later)) != (0, 5) {
        assert!(
            std::time::Instant::now() < deadline,
            "b's view never took up the change: {:?}",
            (left(DAY), left(later))
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    expire_lease_now(&schema);
    wait_until_writing(&b);
    assert!(
        matches!(book(&b, 2, 11), Ok(Err(Refusal::Booking(_)))),
        "the cut day is full"
    );
    for (person, hour) in [(3, 9), (4, 9), (5, 10), (6, 10), (7, 11)] {
        let answer = book_on(&b, person, later, hour);
        assert!(matches!(answer, Ok(Ok(_))), "{person}: {answer:?}");
    }
    assert!(matches!(
        book_on(&b, 8, later, 12),
        Ok(Err(Refusal::Booking(_)))
    ));
    assert_eq!(
        b.stats()
            .refused_batches
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the database refused nothing"
    );
}

/// A standby's view follows the holder's bookings, cancellations and moves by reading only the
/// bookings written since its last look: read whole once, at start, then kept up. Before, it
/// read every active booking every second, which on a node standing by for several parts cost
/// more than the bookings it forwarded.
#[test]
fn a_standby_view_keeps_up_with_what_the_holder_writes_without_reading_it_whole() {
    use std::sync::atomic::Ordering::SeqCst;
    use store::writer::{Cancel, ChangeBooking};
    let schema = Schema::create();
    let (a, _reader) = start(&schema);
    drop(a);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (a, _) = open_as(&schema, "a");
    assert!(matches!(book(&a, 1, 10), Ok(Ok(_))));
    let (b, _) = open_as(&schema, "b");
    assert_eq!(b.health(), Health::Failing(Fault::Standby));
    let cancelled = book(&a, 2, 10).unwrap().unwrap();
    let moved = book(&a, 3, 11).unwrap().unwrap();
    a.cancel(
        Cancel {
            actor: PersonId(2),
            booking: cancelled.id,
            idempotency_key: None,
            notify: None,
        },
        None,
        3_000,
    )
    .wait()
    .unwrap()
    .unwrap();
    let to = Appointment {
        clinic: ClinicId(0),
        day: DAY,
        hour: 14,
        product: Product::Moderna,
    };
    a.change(
        ChangeBooking {
            actor: PersonId(3),
            booking: moved.id,
            first: to,
            today: TODAY,
            idempotency_key: None,
            notify: None,
        },
        None,
        3_000,
    )
    .wait()
    .unwrap()
    .unwrap();
    assert!(matches!(book(&a, 4, 14), Ok(Ok(_))));

    let counts = |writer: &Writer| -> Vec<(i32, i32)> {
        let availability = writer.availability();
        (0..60)
            .flat_map(|d| {
                let day = TODAY.checked_add(jiff::ToSpan::days(d)).unwrap();
                (9..18).map(move |hour| (day, hour))
            })
            .map(|(day, hour)| {
                (
                    availability.band_left(ClinicId(0), day, hour),
                    availability.supply_left(ClinicId(0), day, Product::Moderna),
                )
            })
            .collect()
    };
    // The holder's own ledger: band 10 has one of two left (2 cancelled), 11 two (3 moved
    // away), 14 none (3 moved there, 4 booked).
    let truth = counts(&a);
    let left = |writer: &Writer, hour| writer.availability().band_left(ClinicId(0), DAY, hour);
    assert_eq!((left(&a, 10), left(&a, 11), left(&a, 14)), (1, 2, 0));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while counts(&b) != truth {
        assert!(
            std::time::Instant::now() < deadline,
            "b's view never caught up: bands 10, 11, 14 at {:?}",
            (left(&b, 10), left(&b, 11), left(&b, 14))
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(b.availability().band_left(ClinicId(0), DAY, 10), 1);
    let stats = b.stats();
    assert_eq!(
        stats.views_whole.load(SeqCst),
        1,
        "read whole at start only"
    );
    assert!(stats.views_kept_up.load(SeqCst) >= 1);
}
