//! The ledger cut in parts on PostgreSQL (`domain::partition`): one writer per part, each
//! holding its part's lease, all on one database. What must hold whatever the writers do at the
//! same time: one active booking a person across parts, booking ids that never collide, each
//! writer deciding only for its own clinics, and each part leased and fenced on its own.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

#[path = "support/pg.rs"]
mod pg;

use domain::booking::{Appointment, Booking, BookingError, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::ledger::reschedule::{Delivery, Neighbours, SupplyChange};
use domain::ledger::{BookRequest, Calendar, Ledger};
use domain::partition::Part;
use domain::product::{Product, Schedules};
use jiff::civil::{Date, date};
use pg::Schema;
use std::time::{Duration, Instant};
use store::writer::{
    Book, EnsurePerson, Fault, Health, PlanSupply, Refusal, SupplyRefusal, WriteError, Writer,
    WriterConfig,
};
use store::{AdminStore, ClinicRecord, ReadStore};

const TODAY: Date = date(2021, 7, 19);
const DAY: Date = date(2021, 7, 20);
const PARTS: u16 = 2;
const CLINICS: u32 = 16;

fn world() -> Vec<ClinicRecord> {
    (0..CLINICS)
        .map(|id| ClinicRecord {
            clinic: Clinic {
                id: ClinicId(id),
                name: format!("테스트 의원 {id}"),
                kind: ClinicKind::Consigned,
                municipality: MunicipalityCode(11010),
                location: GeoPoint {
                    lat: 37.5 + f64::from(id) / 100.0,
                    lon: 127.0,
                },
                products: vec![Product::Moderna],
                hours: Hours {
                    open_hour: 9,
                    close_hour: 18,
                    per_band: 50,
                    saturdays: false,
                },
            },
            daily_doses: vec![(Product::Moderna, 500)],
        })
        .collect()
}

fn ledger_of(part: Part) -> Ledger {
    let world = world();
    let clinics: Vec<Clinic> = world.iter().map(|c| c.clinic.clone()).collect();
    let calendar = Calendar {
        first: TODAY,
        days: 60,
    };
    Ledger::new(calendar, &clinics, Schedules::default(), |c, _| {
        world[c.id.index()].daily_supply()
    })
    .for_part(part)
}

fn part(index: u16) -> Part {
    Part::new(index, PARTS).unwrap()
}

/// A clinic of `part`.
fn clinic_of(part: Part) -> ClinicId {
    (0..CLINICS).map(ClinicId).find(|c| part.holds(*c)).unwrap()
}

/// The writer of `part` as node `node`, on the schema's database (seeded with the clinics by
/// whoever comes first).
fn writer_of(schema: &Schema, node: &str, part: Part) -> (Writer, store::postgres::PgReader) {
    let options = store::postgres::Options {
        node: node.into(),
        lease_ttl: Duration::from_secs(2),
        part,
        ..store::postgres::Options::default()
    };
    let (backend, reader) = store::postgres::open_with(&schema.url(), options).unwrap();
    if reader.clinics().unwrap().is_empty() {
        reader.insert_clinics(&world()).unwrap();
    }
    let writer = Writer::spawn(backend, ledger_of(part), WriterConfig::default()).unwrap();
    (writer, reader)
}

fn book_at(clinic: ClinicId, person: PersonId, hour: u8) -> Book {
    Book {
        request: BookRequest {
            person,
            booked_by: person,
            first: Appointment {
                clinic,
                day: DAY,
                hour,
                product: Product::Moderna,
            },
            today: TODAY,
        },
        idempotency_key: None,
        notify: None,
    }
}

/// People made by the home part's writer, as the server makes them at an identity check.
fn people(home: &Writer, n: u8) -> Vec<PersonId> {
    (0..n)
        .map(|i| {
            let person = EnsurePerson {
                rrn_hash: [i; 32],
                birth_date: date(1967, 1, 1),
                sealed: vec![i],
            };
            home.ensure_person(person, None, 1_000).wait().unwrap().id
        })
        .collect()
}

fn wait_until_writing(writer: &Writer) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while writer.health() != Health::Ready {
        assert!(Instant::now() < deadline, "{:?}", writer.health());
        std::thread::sleep(Duration::from_millis(20));
    }
}

type Answer = Result<Result<Booking, Refusal>, WriteError>;

/// The writers of parts 0 and 1 as nodes "a" and "b", a clinic of each, and a reader.
struct Parts {
    home: Writer,
    other: Writer,
    here: ClinicId,
    there: ClinicId,
    reader: store::postgres::PgReader,
}

fn two_parts(schema: &Schema) -> Parts {
    let (home, reader) = writer_of(schema, "a", part(0));
    let (other, _) = writer_of(schema, "b", part(1));
    Parts {
        home,
        other,
        here: clinic_of(part(0)),
        there: clinic_of(part(1)),
        reader,
    }
}

#[test]
fn a_person_booked_at_two_parts_at_once_gets_one_booking() {
    let schema = Schema::create();
    let Parts {
        home,
        other,
        here,
        there,
        reader,
    } = two_parts(&schema);
    let everyone = people(&home, 120);

    // Each person asks both parts at once, every request queued before any is answered, so
    // both writers' batches hold the same people.
    let asked: Vec<_> = everyone
        .iter()
        .enumerate()
        .map(|(i, &person)| {
            let hour = 9 + (i % 9) as u8;
            let at_home = home.book(book_at(here, person, hour), None, 1_000);
            let at_other = other.book(book_at(there, person, hour), None, 1_000);
            (person, at_home, at_other)
        })
        .collect();
    for (person, at_home, at_other) in asked {
        let answers: [Answer; 2] = [at_home.wait(), at_other.wait()];
        let won: Vec<_> = answers
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a {
                Ok(Ok(booking)) => Some((i, *booking)),
                _ => None,
            })
            .collect();
        let [(winner, booking)] = won[..] else {
            panic!("{person:?}: {answers:?}");
        };
        // The other part refused it as a second booking, naming the first.
        let loser = &answers[1 - winner];
        assert!(
            matches!(loser, Ok(Err(Refusal::Booking(BookingError::AlreadyBooked(id)))) if *id == booking.id),
            "{person:?}: {answers:?}"
        );
        // Each part numbers its own bookings.
        assert!(part(winner as u16).numbered(booking.id.0), "{booking:?}");
        assert_eq!(reader.bookings_of(person).unwrap(), vec![booking]);
    }
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert_eq!(audit.active_bookings, 120, "{audit:?}");
}

#[test]
fn a_writer_of_one_part_decides_only_for_its_own_clinics() {
    let schema = Schema::create();
    let Parts {
        home,
        other,
        here,
        there,
        ..
    } = two_parts(&schema);
    let [first, second] = people(&home, 2)[..] else {
        unreachable!()
    };
    let elsewhere = Err(WriteError::Unavailable(Fault::Standby));

    // Another part's clinic is refused before it is queued, as a standby refuses.
    assert_eq!(
        other.book(book_at(here, first, 10), None, 1_000).wait(),
        elsewhere
    );
    assert_eq!(
        home.book(book_at(there, first, 10), None, 1_000).wait(),
        elsewhere
    );
    // People, staff and messages are the home part's; supply changes the whole ledger's.
    let person = EnsurePerson {
        rrn_hash: [9; 32],
        birth_date: date(1967, 1, 1),
        sealed: vec![9],
    };
    assert_eq!(
        other.ensure_person(person, None, 1_000).wait(),
        Err(WriteError::Unavailable(Fault::Standby))
    );
    // A supply change is planned by the part of its clinics; one that reaches several parts,
    // or all of them (an interval), is refused as such.
    let deliveries = |clinics: &[ClinicId]| PlanSupply {
        change: SupplyChange::Deliveries {
            deliveries: clinics
                .iter()
                .map(|&clinic| Delivery {
                    clinic,
                    day: DAY,
                    product: Product::Moderna,
                    doses: 400,
                })
                .collect(),
            switch_to: vec![],
        },
        today: TODAY,
        neighbours: Neighbours::new(),
    };
    assert!(matches!(
        home.plan_supply(deliveries(&[here]), 1_000).wait(),
        Ok(Ok(_))
    ));
    assert!(matches!(
        other.plan_supply(deliveries(&[there]), 1_000).wait(),
        Ok(Ok(_))
    ));
    assert!(matches!(
        other.plan_supply(deliveries(&[here]), 1_000).wait(),
        Err(WriteError::Unavailable(Fault::Standby))
    ));
    assert!(matches!(
        home.plan_supply(deliveries(&[here, there]), 1_000).wait(),
        Ok(Err(SupplyRefusal::AcrossParts))
    ));
    let interval = PlanSupply {
        change: SupplyChange::Interval {
            product: Product::Moderna,
            interval_days: 35,
            from_day: DAY,
        },
        today: TODAY,
        neighbours: Neighbours::new(),
    };
    assert!(matches!(
        home.plan_supply(interval, 1_000).wait(),
        Ok(Err(SupplyRefusal::AcrossParts))
    ));
    // Each shows places only at its own clinics.
    let left = |w: &Writer, c| w.availability().band_left(c, DAY, 10);
    assert_eq!((left(&home, here), left(&home, there)), (50, 0));
    assert_eq!((left(&other, here), left(&other, there)), (0, 50));
    // And books there.
    assert!(matches!(
        other.book(book_at(there, second, 10), None, 1_000).wait(),
        Ok(Ok(_))
    ));
    assert_eq!(left(&other, there), 49);
}

#[test]
fn each_part_is_leased_on_its_own_and_a_new_holder_rebuilds_only_its_part() {
    let schema = Schema::create();
    let Parts {
        home,
        other,
        here,
        there,
        reader,
    } = two_parts(&schema);
    let everyone = people(&home, 4);
    for (i, &person) in everyone.iter().enumerate() {
        let (writer, clinic) = if i % 2 == 0 {
            (&home, here)
        } else {
            (&other, there)
        };
        assert!(matches!(
            writer.book(book_at(clinic, person, 10), None, 1_000).wait(),
            Ok(Ok(_))
        ));
    }

    // A second node asking for part 1 stands by while "b" holds it; part 0 is not its concern.
    let (standby, _) = writer_of(&schema, "c", part(1));
    assert_eq!(standby.health(), Health::Failing(Fault::Standby));

    // "b" stops renewing (its lease made to run out): "c" takes part 1 with its bookings and
    // none of part 0's, while "a" goes on writing part 0.
    let mut db = pg::admin();
    db.batch_execute(&format!("SET search_path = {}", schema.name))
        .unwrap();
    db.execute(
        "UPDATE ledger_lease SET expires_at = now() - interval '1 second' WHERE partition = 1",
        &[],
    )
    .unwrap();
    wait_until_writing(&standby);
    assert_eq!(home.health(), Health::Ready);
    assert_eq!(standby.availability().band_left(there, DAY, 10), 48);
    assert_eq!(standby.availability().band_left(here, DAY, 10), 0);
    // The people booked in part 1 are known to it; those of part 0 are found under their locks.
    for (i, &person) in everyone.iter().enumerate() {
        let answer = standby.book(book_at(there, person, 11), None, 1_000).wait();
        assert!(
            matches!(
                answer,
                Ok(Err(Refusal::Booking(BookingError::AlreadyBooked(_))))
            ),
            "person {i}: {answer:?}"
        );
    }
    let owners: Vec<(i64, String)> = db
        .query(
            "SELECT partition, owner FROM ledger_lease ORDER BY partition",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(owners, vec![(0, "a".to_string()), (1, "c".to_string())]);

    // "b" wakes: the fence refuses its batch, and nothing of it is stored.
    let late = people(&home, 5)[4];
    // Its refusal names the part, for the server to forward the request to its new holder.
    assert_eq!(
        other.book(book_at(there, late, 12), None, 1_000).wait(),
        Err(WriteError::Elsewhere(Part::new(1, PARTS).unwrap()))
    );
    assert_eq!(reader.bookings_of(late).unwrap(), vec![]);
}

#[test]
fn writers_that_cut_the_ledger_differently_are_refused() {
    let schema = Schema::create();
    let (_home, _reader) = writer_of(&schema, "a", part(0));
    let options = store::postgres::Options {
        node: "whole".into(),
        ..store::postgres::Options::default()
    };
    let (backend, _reader) = store::postgres::open_with(&schema.url(), options).unwrap();
    let whole = Ledger::new(
        Calendar {
            first: TODAY,
            days: 60,
        },
        &[],
        Schedules::default(),
        |_, _| [0; 4],
    );
    let Err(error) = Writer::spawn(backend, whole, WriterConfig::default()) else {
        panic!("a writer of the whole ledger started on a database cut in {PARTS} parts");
    };
    assert!(error.to_string().contains("cut into 2 parts"), "{error}");
}

/// A node as `yeyak serve --ledger-parts` runs one: a writer for each of `count` parts, all
/// sharing the node's share of them (`Spread`).
fn node(schema: &Schema, name: &str, count: u16) -> Writer {
    let ttl = Duration::from_secs(1);
    let spread = store::postgres::Spread::start(&schema.url(), name, count, ttl).unwrap();
    let parts = Part::all(count)
        .unwrap()
        .into_iter()
        .map(|part| {
            let options = store::postgres::Options {
                node: name.into(),
                lease_ttl: ttl,
                part,
                spread: Some(spread.clone()),
                ..store::postgres::Options::default()
            };
            let (backend, reader) = store::postgres::open_with(&schema.url(), options).unwrap();
            if reader.clinics().unwrap().is_empty() {
                reader.insert_clinics(&world()).unwrap();
            }
            (backend, ledger_of(part))
        })
        .collect();
    Writer::spawn_parts(parts, WriterConfig::default()).unwrap()
}

/// The parts `node` writes now.
fn written_by(node: &Writer) -> Vec<u16> {
    node.parts()
        .filter(|(_, stats)| stats.health() == Health::Ready)
        .map(|(part, _)| part.index())
        .collect()
}

/// Waits until the nodes write `expected` parts each (in node order), every part by one node.
fn wait_for_shares(nodes: &[&Writer], expected: &[usize], count: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let written: Vec<Vec<u16>> = nodes.iter().map(|n| written_by(n)).collect();
        let mut all: Vec<u16> = written.concat();
        all.sort_unstable();
        let shares: Vec<usize> = written.iter().map(Vec::len).collect();
        if shares == expected && all == (0..count).collect::<Vec<_>>() {
            return;
        }
        assert!(Instant::now() < deadline, "parts written: {written:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn parts_spread_over_the_live_nodes_and_come_back_when_one_leaves() {
    let schema = Schema::create();
    const COUNT: u16 = 4;
    // Alone, a node writes every part.
    let a = node(&schema, "a", COUNT);
    wait_for_shares(&[&a], &[4], COUNT);

    // A second node joins: "a" gives up its highest parts (home last) and "b" takes them.
    let b = node(&schema, "b", COUNT);
    wait_for_shares(&[&a, &b], &[2, 2], COUNT);
    assert_eq!(written_by(&a), vec![0, 1]);
    let home = &a;
    let [person] = people(home, 1)[..] else {
        unreachable!()
    };
    // A request for a part the other node writes is refused here, naming the part (the server
    // forwards it there), and booked there.
    let theirs = Part::new(3, COUNT).unwrap();
    let clinic = clinic_of(theirs);
    assert_eq!(
        a.book(book_at(clinic, person, 10), None, 1_000).wait(),
        Err(WriteError::Elsewhere(theirs))
    );
    let booked = b.book(book_at(clinic, person, 10), None, 1_000).wait();
    assert!(matches!(booked, Ok(Ok(_))), "{booked:?}");
    // The person is locked across nodes too: a's part refuses a second booking.
    let mine = clinic_of(Part::new(1, COUNT).unwrap());
    assert!(matches!(
        a.book(book_at(mine, person, 10), None, 1_000).wait(),
        Ok(Err(Refusal::Booking(BookingError::AlreadyBooked(_))))
    ));

    // "b" stops cleanly (its leases released, its row gone): "a" writes everything again.
    drop(b);
    wait_for_shares(&[&a], &[4], COUNT);
    let again = a.book(book_at(mine, person, 11), None, 1_000).wait();
    assert!(
        matches!(
            again,
            Ok(Err(Refusal::Booking(BookingError::AlreadyBooked(_))))
        ),
        "{again:?}"
    );
}

/// One idempotency key used at two parts: the second part answers `key_reused` (or the first
/// answer, for the same request), as one writer would, and fails no batch. Before, the second
/// part's writer, whose filter of keys knew only its own, wrote the key again: the database
/// refused the batch as a whole (everyone in it answered 503, the part's ledger rebuilt), a
/// cheap way for one client to fail other people's bookings.
#[test]
fn a_key_used_at_two_parts_is_refused_as_reused_without_failing_a_batch() {
    use std::sync::atomic::Ordering::SeqCst;
    let schema = Schema::create();
    let Parts {
        home,
        other,
        here,
        there,
        reader,
    } = two_parts(&schema);
    let [person, bystander] = people(&home, 2)[..] else {
        unreachable!()
    };
    let keyed = |clinic, hour| Book {
        idempotency_key: Some("same-key".into()),
        ..book_at(clinic, person, hour)
    };
    let first = home
        .book(keyed(here, 10), None, 1_000)
        .wait()
        .unwrap()
        .unwrap();
    // Another person's booking in the same batch as the reused key, on the other part.
    let theirs = other.book(book_at(there, bystander, 11), None, 1_000);
    let reused = other.book(keyed(there, 10), None, 1_000).wait();
    assert!(matches!(reused, Ok(Err(Refusal::KeyReused))), "{reused:?}");
    assert!(matches!(theirs.wait(), Ok(Ok(_))));
    // The same request again, at its own part: the first answer.
    let again = home.book(keyed(here, 10), None, 1_000).wait();
    assert!(matches!(again, Ok(Ok(ref b)) if *b == first), "{again:?}");
    for writer in [&home, &other] {
        assert_eq!(writer.stats().failed_batches.load(SeqCst), 0);
    }
    assert_eq!(reader.bookings_of(person).unwrap(), vec![first]);
}
