//! Storage faults, for every backend: a [`Faulty`] wrapper around the backend's writer fails
//! the Nth commit, loses a commit's answer, fails ledger rebuilds or says the disk is full. The
//! writer must acknowledge nothing of a failed batch, refuse writes while its ledger may
//! disagree with the database, rebuild it and recover by itself, and say so in its health. The
//! database must refuse overbooking written around the ledger.

use super::{Harness, TODAY, book, ledger_for, world};
use domain::booking::{Appointment, Booking, BookingId, Dose, DoseStatus, PersonId};
use domain::clinic::{ClinicId, GeoPoint};
use domain::ledger::is_open;
use domain::ledger::reschedule::{Neighbours, Plan, SupplyChange};
use domain::leftover::{Offer, OfferId, Subscription};
use domain::product::{Product, Schedules};
use jiff::ToSpan;
use jiff::civil::{Date, date};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use store::writer::{
    ApplySupply, Book, Cancel, EnsurePerson, Expect, Fault, Health, MessageText, Notice, Pending,
    PlanSupply, Refusal, SupplyOutcome, SupplyRefusal, WriteError, Writer, WriterConfig,
};
use store::{
    AdminStore, Change, MaxIds, OfferRecord, ReadStore, Recorded, StaffRecord, StoreError,
    SupplyChangeRecord, WriteBackend,
};

/// Faults to inject, shared between a test and its [`Faulty`] backend.
#[derive(Default)]
pub struct Faults {
    /// Commits tried so far (probe writes included).
    commits: AtomicU64,
    /// The commit with this number fails before it happens (0: none).
    fail_commit: AtomicU64,
    /// The commit with this number happens, then reports failure (its answer is lost).
    lose_commit_answer: AtomicU64,
    /// Ledger rebuilds still to fail.
    fail_reloads: AtomicU64,
    /// Every commit fails with "disk full" while set.
    disk_full: AtomicBool,
    /// Commits wait while set (a test queues requests meanwhile)...
    pause_commits: AtomicBool,
    /// ...and this says one is waiting.
    paused: AtomicBool,
    /// Storage says it has no room for a long write while set (a write-ahead log not copied
    /// back yet).
    no_room: AtomicBool,
}

impl Faults {
    fn fail_next_commit(&self) {
        let next = self.commits.load(Ordering::SeqCst) + 1;
        self.fail_commit.store(next, Ordering::SeqCst);
    }

    fn lose_next_commit_answer(&self) {
        let next = self.commits.load(Ordering::SeqCst) + 1;
        self.lose_commit_answer.store(next, Ordering::SeqCst);
    }
}

/// A backend that fails when told to, and otherwise is the real one.
pub struct Faulty<W> {
    inner: W,
    faults: Arc<Faults>,
}

impl<W: WriteBackend> WriteBackend for Faulty<W> {
    fn begin(&mut self) -> store::Result<()> {
        self.inner.begin()
    }
    fn commit(&mut self) -> store::Result<()> {
        while self.faults.pause_commits.load(Ordering::SeqCst) {
            self.faults.paused.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1));
        }
        let n = self.faults.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.faults.disk_full.load(Ordering::SeqCst) {
            return Err(StoreError::Full(
                "injected: database or disk is full".into(),
            ));
        }
        if self.faults.fail_commit.load(Ordering::SeqCst) == n {
            return Err(StoreError::Database("injected: the commit failed".into()));
        }
        self.inner.commit()?;
        if self.faults.lose_commit_answer.load(Ordering::SeqCst) == n {
            return Err(StoreError::Database(
                "injected: the commit's answer was lost".into(),
            ));
        }
        Ok(())
    }
    fn rollback(&mut self) -> store::Result<()> {
        self.inner.rollback()
    }
    fn room_for_long_write(&mut self) -> store::Result<bool> {
        if self.faults.no_room.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.inner.room_for_long_write()
    }
    fn between_batches(&mut self) -> store::Result<()> {
        self.inner.between_batches()
    }
    fn apply(&mut self, change: &Change) -> store::Result<()> {
        self.inner.apply(change)
    }
    fn recorded(&mut self, actor: PersonId, key: &str) -> store::Result<Option<Recorded>> {
        self.inner.recorded(actor, key)
    }
    fn person_by_hash(&mut self, rrn_hash: &[u8; 32]) -> store::Result<Option<PersonId>> {
        self.inner.person_by_hash(rrn_hash)
    }
    fn max_ids(&mut self) -> store::Result<MaxIds> {
        self.inner.max_ids()
    }
    fn active_bookings(&mut self, each: &mut dyn FnMut(Booking)) -> store::Result<()> {
        let failing =
            self.faults
                .fail_reloads
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(StoreError::Database(
                "injected: cannot read bookings".into(),
            ));
        }
        self.inner.active_bookings(each)
    }
    fn booking(&mut self, id: BookingId) -> store::Result<Option<Booking>> {
        self.inner.booking(id)
    }
    fn stored_plan(&mut self, from: jiff::civil::Date) -> store::Result<store::StoredPlan> {
        self.inner.stored_plan(from)
    }
    fn insert_supply_change(&mut self, record: &SupplyChangeRecord) -> store::Result<u64> {
        self.inner.insert_supply_change(record)
    }
    fn person_sealed(&mut self, person: PersonId) -> store::Result<Option<Vec<u8>>> {
        self.inner.person_sealed(person)
    }
    fn insert_staff(&mut self, record: &StaffRecord, token_hash: &[u8; 32]) -> store::Result<u64> {
        self.inner.insert_staff(record, token_hash)
    }
    fn insert_offer(&mut self, record: &OfferRecord) -> store::Result<OfferId> {
        self.inner.insert_offer(record)
    }
    fn offer(&mut self, id: OfferId) -> store::Result<Option<OfferRecord>> {
        self.inner.offer(id)
    }
    fn subscriptions_near(
        &mut self,
        at: GeoPoint,
        reach_km: f64,
    ) -> store::Result<Vec<Subscription>> {
        self.inner.subscriptions_near(at, reach_km)
    }
}

const QUICK_RETRIES: WriterConfig = WriterConfig {
    queue_capacity: 1_000,
    max_batch: 64,
    max_batch_cost: 256,
    // Two moved bookings or four people told per piece: a small change takes many pieces.
    supply_piece_cost: 8,
    retry_min: Duration::from_millis(20),
    retry_max: Duration::from_millis(200),
    commit_delay: Duration::ZERO,
};

struct Rig<R> {
    writer: Writer,
    reader: R,
    faults: Arc<Faults>,
}

fn start_faulty<H: Harness>(h: &H) -> Rig<H::R> {
    let (backend, reader) = h.open();
    reader.insert_clinics(&world()).unwrap();
    let faults = Arc::new(Faults::default());
    let backend = Faulty {
        inner: backend,
        faults: Arc::clone(&faults),
    };
    let writer = Writer::spawn(backend, ledger_for(&world()), QUICK_RETRIES).unwrap();
    Rig {
        writer,
        reader,
        faults,
    }
}

fn answer(writer: &Writer, book: Book) -> Result<Result<Booking, Refusal>, WriteError> {
    writer.book(book, None, 1_000).wait()
}

fn keyed(person: u64, hour: u8, key: &str) -> Book {
    Book {
        idempotency_key: Some(key.into()),
        ..book(person, 0, date(2021, 7, 20), hour)
    }
}

fn wait_until_ready(writer: &Writer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.health() != Health::Ready {
        assert!(
            Instant::now() < deadline,
            "the writer did not recover: {:?}",
            writer.health()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every band and supply count the writer shows equals capacity minus what the database holds.
fn assert_ledger_matches_database(writer: &Writer, reader: &impl ReadStore) {
    let audit = reader.audit(&Schedules::default()).unwrap();
    let availability = writer.availability();
    for record in world() {
        let clinic = record.clinic.id;
        for offset in 0..60 {
            let day: Date = TODAY.checked_add(offset.days()).unwrap();
            for hour in 9..18 {
                let held = audit
                    .per_band
                    .iter()
                    .find(|&&(c, d, h, _)| c == clinic.0 && d == day && h == hour)
                    .map_or(0, |&(.., n)| n as i32);
                let capacity = if is_open(&record.clinic.hours, day, hour) {
                    i32::from(record.clinic.hours.per_band)
                } else {
                    0
                };
                assert_eq!(
                    availability.band_left(clinic, day, hour),
                    capacity - held,
                    "clinic {} {day} {hour}h",
                    clinic.0
                );
            }
            for (product, doses) in &record.daily_doses {
                let held = audit
                    .per_supply
                    .iter()
                    .find(|&&(c, d, p, _)| c == clinic.0 && d == day && p == *product)
                    .map_or(0, |&(.., n)| n as i32);
                assert_eq!(
                    availability.supply_left(clinic, day, *product),
                    *doses as i32 - held,
                    "clinic {} {day} {product:?}",
                    clinic.0
                );
            }
        }
    }
}

fn holds_booking(reader: &impl ReadStore, person: u64) -> bool {
    reader
        .bookings_of(PersonId(person))
        .unwrap()
        .iter()
        .any(Booking::is_active)
}

pub fn a_failed_commit_acknowledges_nothing_and_the_ledger_is_rebuilt<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    for person in 1..=2 {
        assert!(matches!(
            answer(&rig.writer, book(person, 0, date(2021, 7, 20), 9)),
            Ok(Ok(_))
        ));
    }
    rig.faults.fail_next_commit();
    // Sent together, so the failing batch holds several of them.
    let people = 10..20u64;
    let pending: Vec<_> = people
        .clone()
        .map(|p| {
            let command = book(p, (p % 3) as u32, date(2021, 7, 21), 9 + (p % 9) as u8);
            (p, rig.writer.book(command, None, 1_000))
        })
        .collect();
    let mut refused = Vec::new();
    for (person, submitted) in pending {
        // Refused when sent (the writer was rebuilding) or answered after its batch.
        let answer = submitted.wait();
        match answer {
            Ok(Ok(b)) => {
                assert_eq!(rig.reader.booking(b.id).unwrap(), Some(b), "acknowledged");
            }
            Err(WriteError::Unavailable(Fault::Storage | Fault::LedgerStale)) => {
                refused.push(person);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(!refused.is_empty(), "the failed batch answered nobody");
    for &person in &refused {
        assert!(
            !holds_booking(&rig.reader, person),
            "{person} refused yet booked"
        );
    }
    assert_eq!(rig.writer.stats().failed_batches.load(Ordering::Relaxed), 1);
    wait_until_ready(&rig.writer);
    assert_ledger_matches_database(&rig.writer, &rig.reader);
    // Whoever was refused books now, in the places the failed batch had taken in memory.
    for person in refused {
        let command = book(
            person,
            (person % 3) as u32,
            date(2021, 7, 21),
            9 + (person % 9) as u8,
        );
        assert!(matches!(answer(&rig.writer, command), Ok(Ok(_))));
    }
    assert_ledger_matches_database(&rig.writer, &rig.reader);
}

pub fn writes_are_refused_while_the_ledger_cannot_be_rebuilt<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    assert!(matches!(
        answer(&rig.writer, book(1, 0, date(2021, 7, 20), 9)),
        Ok(Ok(_))
    ));
    // Five failures (20 + 40 + 80 + 160 + 200 ms of retries): time to look while it is stale.
    rig.faults.fail_reloads.store(5, Ordering::SeqCst);
    rig.faults.fail_next_commit();
    assert_eq!(
        answer(&rig.writer, book(2, 0, date(2021, 7, 20), 9)),
        Err(WriteError::Unavailable(Fault::Storage))
    );
    // The rebuild right after the failure failed: nothing is taken until one works, and
    // clinic search is shown no place meanwhile.
    assert_eq!(rig.writer.health(), Health::Failing(Fault::LedgerStale));
    let places = |hour| {
        rig.writer
            .availability()
            .bookable(ClinicId(0), date(2021, 7, 20), hour, Product::Moderna)
    };
    assert_eq!((places(9), places(10)), (0, 0));
    assert_eq!(
        rig.writer
            .book(book(3, 0, date(2021, 7, 20), 10), None, 1_000)
            .refused(),
        Some(WriteError::Unavailable(Fault::LedgerStale))
    );
    wait_until_ready(&rig.writer);
    assert_eq!(
        rig.writer.stats().failed_rebuilds.load(Ordering::Relaxed),
        5
    );
    assert!(!holds_booking(&rig.reader, 2));
    assert_ledger_matches_database(&rig.writer, &rig.reader);
    assert_eq!((places(9), places(10)), (1, 2));
    // The band had one place left, and it is still there (the ledger agrees with storage).
    assert!(matches!(
        answer(&rig.writer, book(2, 0, date(2021, 7, 20), 9)),
        Ok(Ok(_))
    ));
    assert!(matches!(
        answer(&rig.writer, book(3, 0, date(2021, 7, 20), 9)),
        Ok(Err(_))
    ));
}

pub fn a_full_disk_refuses_with_its_own_fault_and_recovers<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    let Ok(Ok(kept)) = answer(&rig.writer, keyed(1, 9, "k-1")) else {
        panic!()
    };
    rig.faults.disk_full.store(true, Ordering::SeqCst);
    assert_eq!(
        answer(&rig.writer, keyed(2, 9, "k-2")),
        Err(WriteError::Unavailable(Fault::Full))
    );
    assert_eq!(rig.writer.health(), Health::Failing(Fault::Full));
    std::thread::sleep(Duration::from_millis(300));
    // Still full: it keeps probing, and keeps refusing at once.
    assert!(rig.writer.stats().failed_probes.load(Ordering::Relaxed) >= 2);
    assert_eq!(
        rig.writer.book(keyed(2, 9, "k-2"), None, 1_000).refused(),
        Some(WriteError::Unavailable(Fault::Full))
    );
    rig.faults.disk_full.store(false, Ordering::SeqCst);
    wait_until_ready(&rig.writer);
    assert_eq!(rig.reader.booking(kept.id).unwrap(), Some(kept));
    assert!(!holds_booking(&rig.reader, 2));
    assert!(matches!(answer(&rig.writer, keyed(2, 9, "k-2")), Ok(Ok(_))));
    assert_ledger_matches_database(&rig.writer, &rig.reader);
}

pub fn a_commit_whose_answer_was_lost_is_kept_but_not_acknowledged<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    rig.faults.lose_next_commit_answer();
    assert_eq!(
        answer(&rig.writer, keyed(5, 11, "k-5")),
        Err(WriteError::Unavailable(Fault::Storage))
    );
    // It did commit: the rebuilt ledger counts it, and the retry gets it back, not a second one.
    wait_until_ready(&rig.writer);
    assert!(holds_booking(&rig.reader, 5));
    assert_ledger_matches_database(&rig.writer, &rig.reader);
    let Ok(Ok(again)) = answer(&rig.writer, keyed(5, 11, "k-5")) else {
        panic!()
    };
    assert_eq!(rig.reader.bookings_of(PersonId(5)).unwrap(), vec![again]);
}

fn dose_at(clinic: u32, day: Date, hour: u8) -> Dose {
    Dose {
        appointment: Appointment {
            clinic: ClinicId(clinic),
            day,
            hour,
            product: Product::Moderna,
        },
        status: DoseStatus::Booked,
    }
}

fn one_dose(id: u64, clinic: u32, day: Date, hour: u8) -> Change {
    Change::PutBooking {
        booking: Booking {
            id: BookingId(id),
            person: PersonId(id),
            booked_by: PersonId(id),
            first: dose_at(clinic, day, hour),
            second: None,
        },
        now_ms: 1_000,
    }
}

/// Applies `changes` in one transaction and commits; rolls back if that fails.
fn write<W: WriteBackend>(backend: &mut W, changes: &[Change]) -> store::Result<()> {
    backend.begin()?;
    let result = changes
        .iter()
        .try_for_each(|c| backend.apply(c))
        .and_then(|()| backend.commit());
    if result.is_err() {
        backend.rollback()?;
    }
    result
}

fn refused(result: store::Result<()>) -> bool {
    matches!(result, Err(StoreError::Refused(_)))
}

/// No ledger here: bookings go straight to storage, as a bug above it might write them.
pub fn the_database_refuses_overbooking_written_around_the_ledger<H: Harness>() {
    let h = H::fresh();
    let (mut backend, reader) = h.open();
    reader.insert_clinics(&world()).unwrap();
    // A backend writes once it has loaded the ledger, as the writer has it do first (PostgreSQL
    // takes the ledger's lease there); the ledger itself is not used here.
    backend.active_bookings(&mut |_| ()).unwrap();
    // Clinic 0 sees 2 people per band and has 10 Moderna doses a day (Mon–Fri).
    let tuesday = date(2021, 7, 20);
    assert!(
        write(
            &mut backend,
            &[one_dose(1, 0, tuesday, 10), one_dose(2, 0, tuesday, 10)]
        )
        .is_ok()
    );
    assert!(refused(write(&mut backend, &[one_dose(3, 0, tuesday, 10)])));
    assert_eq!(reader.booking(BookingId(3)).unwrap(), None);
    // A closed band (Sunday; before opening) has no place at all.
    assert!(refused(write(
        &mut backend,
        &[one_dose(3, 0, date(2021, 7, 25), 10)]
    )));
    assert!(refused(write(&mut backend, &[one_dose(3, 0, tuesday, 8)])));
    // Supply: 8 more doses fit that day (10 in all), a ninth does not.
    let eight: Vec<Change> = (3..11)
        .map(|id| one_dose(id, 0, tuesday, 11 + (id % 4) as u8))
        .collect();
    assert!(write(&mut backend, &eight).is_ok());
    assert!(refused(write(
        &mut backend,
        &[one_dose(11, 0, tuesday, 16)]
    )));
    // Within a transaction only the end counts: a place taken before another frees it is fine.
    assert!(
        write(
            &mut backend,
            &[
                one_dose(11, 1, tuesday, 10),
                one_dose(12, 1, tuesday, 10),
                one_dose(13, 1, tuesday, 10),
                one_dose(11, 1, tuesday, 11),
            ]
        )
        .is_ok()
    );
    // Given and cancelled doses hold no place.
    let mut given = Booking {
        id: BookingId(12),
        person: PersonId(12),
        booked_by: PersonId(12),
        first: dose_at(1, tuesday, 10),
        second: None,
    };
    given.first.status = DoseStatus::Given;
    let change = Change::PutBooking {
        booking: given,
        now_ms: 2_000,
    };
    assert!(write(&mut backend, &[change, one_dose(14, 1, tuesday, 10)]).is_ok());
    // A delivery cut refuses nothing by itself (rescheduling moves people), but no new booking
    // may take a place beyond it.
    let cut = Change::PutDelivery {
        delivery: store::Delivery {
            clinic: ClinicId(1),
            day: tuesday,
            product: Product::Moderna,
            doses: 2,
        },
        now_ms: 3_000,
    };
    assert!(write(&mut backend, &[cut]).is_ok());
    assert!(refused(write(
        &mut backend,
        &[one_dose(15, 1, tuesday, 15)]
    )));
    // A same-day leftover dose comes from spare doses: it takes no planned place.
    let offer = OfferRecord {
        offer: Offer {
            id: OfferId(0),
            clinic: ClinicId(0),
            product: Product::Moderna,
            day: tuesday,
            doses: 1,
            claimed: 0,
            until_ms: 10_000,
        },
        posted_by: 1,
        posted_ms: 1_000,
    };
    backend.begin().unwrap();
    let offer = backend.insert_offer(&offer).unwrap();
    let claim = Change::ClaimOffer {
        offer,
        person: PersonId(16),
        booking: BookingId(16),
        now_ms: 4_000,
    };
    backend.apply(&claim).unwrap();
    backend.apply(&one_dose(16, 0, tuesday, 10)).unwrap();
    backend.commit().unwrap();
    let audit = reader.audit(&Schedules::default()).unwrap();
    assert!(
        audit
            .per_band
            .iter()
            .any(|&(c, _, h, n)| c == 0 && h == 10 && n == 3)
    );
    // Nothing refused was kept.
    assert_eq!(reader.booking(BookingId(15)).unwrap(), None);
}

/// Every booking a live writer makes passes the database's own check too (they agree).
pub fn the_writer_and_the_database_agree_on_capacity<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    // 30 people for 18 places in a day (10 doses): the writer fills it exactly, and the database
    // refuses none of it (no failed batch).
    for person in 0..30u64 {
        let _ = answer(
            &rig.writer,
            book(person, 2, date(2021, 7, 22), 9 + (person % 9) as u8),
        )
        .unwrap();
    }
    assert_eq!(rig.writer.stats().failed_batches.load(Ordering::Relaxed), 0);
    assert_eq!(
        rig.reader
            .audit(&Schedules::default())
            .unwrap()
            .active_bookings,
        10
    );
    assert_ledger_matches_database(&rig.writer, &rig.reader);
}

/// Moderna's interval goes from 28 to 35 days for second doses from 08-01.
fn longer_interval() -> SupplyChange {
    SupplyChange::Interval {
        product: Product::Moderna,
        interval_days: 35,
        from_day: date(2021, 8, 1),
    }
}

fn preview_longer_interval() -> PlanSupply {
    PlanSupply {
        change: longer_interval(),
        today: TODAY,
        neighbours: Neighbours::new(),
    }
}

fn plan_supply(writer: &Writer) -> Arc<Plan> {
    writer
        .plan_supply(preview_longer_interval(), 1_500)
        .wait()
        .unwrap()
        .unwrap()
        .plan
}

/// One plan is made at a time: a second preview asked for while the first one's snapshot is
/// still out is refused, changing nothing; once it is back, the next goes.
pub fn a_second_plan_while_one_is_made_is_refused_and_the_next_goes<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    book_late_july(&rig.writer);
    // The first preview's turn waits at its commit, its snapshot with the planner.
    rig.faults.pause_commits.store(true, Ordering::SeqCst);
    let first = rig.writer.plan_supply(preview_longer_interval(), 1_500);
    wait_for("the first preview's turn", || {
        rig.faults.paused.load(Ordering::SeqCst)
    });
    let second = rig.writer.plan_supply(preview_longer_interval(), 1_600);
    rig.faults.pause_commits.store(false, Ordering::SeqCst);
    assert_eq!(second.wait().unwrap(), Err(SupplyRefusal::Busy));
    let first = first.wait().unwrap().unwrap();
    assert!(
        first.plan.moves.len() >= 8,
        "{} moves",
        first.plan.moves.len()
    );
    assert_eq!(plan_supply(&rig.writer).id(), first.plan.id());
    assert_ledger_matches_database(&rig.writer, &rig.reader);
}

fn apply_supply(writer: &Writer, plan: &Plan) -> Pending<Result<SupplyOutcome, SupplyRefusal>> {
    let apply = ApplySupply {
        change: longer_interval(),
        today: TODAY,
        neighbours: Neighbours::new(),
        expect: Expect::Plan(plan.id()),
        detail: "{}".into(),
        notify: Box::new(|notice: &Notice| MessageText {
            template: "supply".into(),
            ko: format!("{}", notice.moves.len()),
            en: format!("{}", notice.moves.len()),
        }),
    };
    writer.apply_supply(apply, None, 2_000)
}

/// Twelve people with dose 1 in late July, dose 2 at four weeks (from 08-17): all move.
fn book_late_july(writer: &Writer) {
    for person in 1..=12u64 {
        // With a contact on record, to be told.
        let ensure = EnsurePerson {
            rrn_hash: [person as u8; 32],
            birth_date: date(1980, 1, 1),
            sealed: vec![person as u8; 8],
        };
        let ensured = writer.ensure_person(ensure, None, 1_000).wait().unwrap();
        assert_eq!(ensured.id, PersonId(person));
        let day = date(2021, 7, 20)
            .checked_add(((person % 3) as i64).days())
            .unwrap();
        let booking = book(person, (person % 3) as u32, day, 9 + (person % 4) as u8);
        assert!(answer(writer, booking).unwrap().is_ok(), "person {person}");
    }
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn bookings_and_cancellations_between_pieces_are_decided_on_what_the_pieces_hold<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    book_late_july(&rig.writer);
    let plan = plan_supply(&rig.writer);
    assert!(plan.moves.len() >= 8, "{} moves", plan.moves.len());
    let availability = rig.writer.availability();
    let band_left = |a: &Appointment| availability.band_left(a.clinic, a.day, a.hour);
    let left_before: Vec<i32> = plan.moves.iter().map(|m| band_left(&m.to)).collect();
    // The first piece waits at its commit while a mover cancels and others book.
    rig.faults.pause_commits.store(true, Ordering::SeqCst);
    let applying = apply_supply(&rig.writer, &plan);
    wait_for("the first piece", || {
        rig.faults.paused.load(Ordering::SeqCst)
    });
    // Before any booking moved, every place a move goes to is already held for it.
    for (m, left) in plan.moves.iter().zip(&left_before) {
        let into = plan.moves.iter().filter(|n| n.to == m.to).count() as i32;
        assert_eq!(band_left(&m.to), left - into, "{:?} not held", m.to);
    }
    let leaving = plan.changed[plan.changed.len() / 2];
    let cancel = Cancel {
        actor: leaving.person,
        booking: leaving.id,
        idempotency_key: None,
        notify: None,
    };
    let cancelling = rig.writer.cancel(cancel, None, 2_500);
    // Newcomers ask for the places the movers go to (dose 1 five weeks before them).
    let newcomers: Vec<_> = (0..6u64)
        .map(|n| {
            let to = plan.changed[n as usize % plan.changed.len()]
                .second
                .unwrap()
                .appointment;
            let first = to.day.checked_sub(35.days()).unwrap();
            let booking = book(100 + n, to.clinic.0, first, to.hour);
            rig.writer.book(booking, None, 2_500)
        })
        .collect();
    rig.faults.pause_commits.store(false, Ordering::SeqCst);

    assert!(cancelling.wait().unwrap().is_ok());
    for newcomer in newcomers {
        // Booked or refused as the ledger decided: never a commit the database refuses.
        newcomer.wait().unwrap().ok();
    }
    let applied = applying.wait().unwrap().unwrap();
    let record = rig.reader.supply_changes(1).unwrap().remove(0);
    assert_eq!(Some(record.id), applied.change_id);
    assert!(record.pieces > 3 && !record.partial(), "{record:?}");
    // The cancellation stands: the piece did not write the booking back, nor tell them.
    let stored = rig.reader.booking(leaving.id).unwrap().unwrap();
    assert!(!stored.is_active());
    assert!(rig.reader.reschedules_of(&[leaving.id]).unwrap().is_empty());
    let told = plan.changed.len() - 1 + plan.informed.len();
    assert_eq!(applied.messages, told as u64);
    for after in plan.changed.iter().filter(|b| b.id != leaving.id) {
        assert_eq!(rig.reader.booking(after.id).unwrap(), Some(*after));
    }
    assert_eq!(
        rig.writer.stats().refused_batches.load(Ordering::Relaxed),
        0
    );
    assert_ledger_matches_database(&rig.writer, &rig.reader);
}

/// A plan is made from a snapshot of the ledger beside the writer: what is booked after the
/// preview and before the apply is planned again by the apply itself (the last booked first),
/// and the operator's plan id still applies.
pub fn bookings_made_after_the_preview_are_caught_up_by_the_apply<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    book_late_july(&rig.writer);
    let plan = plan_supply(&rig.writer);
    // Booked at four weeks, under the old interval: their dose 2 is too early under the new.
    let newcomers: Vec<Booking> = (300..305u64)
        .map(|person| {
            let first = date(2021, 7, 26);
            answer(&rig.writer, book(person, (person % 3) as u32, first, 11))
                .unwrap()
                .unwrap()
        })
        .collect();
    let applied = apply_supply(&rig.writer, &plan).wait().unwrap().unwrap();
    assert_eq!(
        applied.plan.id(),
        plan.id(),
        "the plan previewed is the one applied"
    );
    let caught_up = applied.caught_up.expect("an apply says what it caught up");
    assert_eq!(caught_up.people_moved(), newcomers.len());
    for newcomer in &newcomers {
        let stored = rig.reader.booking(newcomer.id).unwrap().unwrap();
        let first = stored.first.appointment.day;
        let second = stored.second.unwrap().appointment.day;
        assert!(
            second >= first.checked_add(35.days()).unwrap(),
            "{stored:?}"
        );
        assert_eq!(rig.reader.reschedules_of(&[newcomer.id]).unwrap().len(), 1);
    }
    let record = rig.reader.supply_changes(1).unwrap().remove(0);
    assert_eq!(
        record.people_moved,
        (plan.people_moved() + newcomers.len()) as u64
    );
    for after in &plan.changed {
        assert_eq!(rig.reader.booking(after.id).unwrap(), Some(*after));
    }
    assert_ledger_matches_database(&rig.writer, &rig.reader);
}

/// While storage has no room for a long write (on SQLite: its write-ahead log is not copied
/// back), a supply change waits between two pieces and bookings are decided meanwhile; once it
/// has, the change finishes, all of it.
pub fn a_supply_change_waits_for_storage_and_bookings_do_not<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    book_late_july(&rig.writer);
    let plan = plan_supply(&rig.writer);
    rig.faults.no_room.store(true, Ordering::SeqCst);
    let applying = apply_supply(&rig.writer, &plan);
    let stats = rig.writer.stats();
    wait_for("a piece to wait for storage", || {
        stats.pieces_waiting.load(Ordering::SeqCst) == 1
    });
    let waiting = rig.reader.supply_changes(1).unwrap().remove(0);
    assert_eq!(waiting.pieces_done, 1, "only the first piece: {waiting:?}");
    assert!(waiting.partial());
    // Bookings go on while the change waits.
    for person in 200..205u64 {
        let booking = book(person, 2, date(2021, 7, 27), 10 + (person % 4) as u8);
        assert!(answer(&rig.writer, booking).unwrap().is_ok(), "{person}");
    }
    std::thread::sleep(Duration::from_millis(100));
    let still = rig.reader.supply_changes(1).unwrap().remove(0);
    assert_eq!(still.pieces_done, 1, "no piece without room: {still:?}");

    rig.faults.no_room.store(false, Ordering::SeqCst);
    let applied = applying.wait().unwrap().unwrap();
    let record = rig.reader.supply_changes(1).unwrap().remove(0);
    assert_eq!(Some(record.id), applied.change_id);
    assert!(record.pieces > 3 && !record.partial(), "{record:?}");
    for after in &plan.changed {
        assert_eq!(rig.reader.booking(after.id).unwrap(), Some(*after));
    }
    assert_eq!(stats.piece_holds.load(Ordering::SeqCst), 1);
    assert_eq!(stats.pieces_waiting.load(Ordering::SeqCst), 0);
    assert_ledger_matches_database(&rig.writer, &rig.reader);
}

/// On a real backend that `hold_back` keeps from catching up (SQLite: a reader's snapshot keeps
/// the write-ahead log from being copied back): a supply change waits after its first piece and
/// bookings go on; once the hold is dropped, the change finishes, all of it.
pub fn a_supply_change_waits_while_storage_is_held_back<W, R, P>(
    backend: W,
    reader: R,
    hold_back: impl FnOnce() -> P,
) where
    W: WriteBackend,
    R: ReadStore + AdminStore,
{
    reader.insert_clinics(&world()).unwrap();
    let writer = Writer::spawn(backend, ledger_for(&world()), QUICK_RETRIES).unwrap();
    book_late_july(&writer);
    let plan = plan_supply(&writer);
    let held = hold_back();
    let applying = apply_supply(&writer, &plan);
    let stats = writer.stats();
    wait_for("a piece to wait for storage", || {
        stats.pieces_waiting.load(Ordering::SeqCst) == 1
    });
    for person in 200..205u64 {
        let booking = book(person, 2, date(2021, 7, 27), 10 + (person % 4) as u8);
        assert!(answer(&writer, booking).unwrap().is_ok(), "{person}");
    }
    // Several of the checkpointer's rounds: still held back.
    std::thread::sleep(Duration::from_millis(600));
    let waiting = reader.supply_changes(1).unwrap().remove(0);
    assert_eq!(waiting.pieces_done, 1, "only the first piece: {waiting:?}");

    drop(held);
    let applied = applying.wait().unwrap().unwrap();
    let record = reader.supply_changes(1).unwrap().remove(0);
    assert_eq!(Some(record.id), applied.change_id);
    assert!(record.pieces > 3 && !record.partial(), "{record:?}");
    assert!(stats.piece_holds.load(Ordering::SeqCst) >= 1);
    assert_eq!(stats.pieces_waiting.load(Ordering::SeqCst), 0);
    assert_ledger_matches_database(&writer, &reader);
}

pub fn a_crash_between_pieces_leaves_a_partial_change_and_a_consistent_database<H: Harness>() {
    let h = H::fresh();
    let rig = start_faulty(&h);
    book_late_july(&rig.writer);
    let plan = plan_supply(&rig.writer);
    // The third piece fails: two committed, the rest never will.
    let commits = rig.faults.commits.load(Ordering::SeqCst);
    rig.faults.fail_commit.store(commits + 3, Ordering::SeqCst);
    let applied = apply_supply(&rig.writer, &plan).wait();
    assert!(
        matches!(applied, Err(WriteError::Unavailable(_))),
        "{applied:?}"
    );
    wait_until_ready(&rig.writer);
    rig.writer.barrier().wait().unwrap();
    drop(rig.writer);

    // Reopened, as after a crash: every booking is as it was or as planned, nothing is over
    // capacity, and the change says it is partial.
    let (backend, reader) = h.open();
    let writer = Writer::spawn(backend, ledger_for(&world()), QUICK_RETRIES).unwrap();
    let record = reader.supply_changes(1).unwrap().remove(0);
    assert!(record.partial(), "{record:?}");
    assert_eq!(record.pieces_done, 2);
    let mut moved = 0;
    for after in &plan.changed {
        let stored = reader.booking(after.id).unwrap().unwrap();
        let records = reader.reschedules_of(&[after.id]).unwrap();
        assert_eq!(
            reader.booking_with_moves(after.id).unwrap(),
            Some((stored, records.clone()))
        );
        if stored == *after {
            moved += 1;
            assert!(!records.is_empty());
        } else {
            assert!(records.is_empty());
            assert_eq!(
                stored.second.unwrap().appointment.day,
                stored.first.appointment.day.checked_add(28.days()).unwrap()
            );
        }
    }
    assert!(moved > 0 && moved < plan.changed.len(), "{moved} moved");
    assert_ledger_matches_database(&writer, &reader);
    // Planned again, the change moves only who is left.
    let again = plan_supply(&writer);
    assert_eq!(again.changed.len(), plan.changed.len() - moved);
}
