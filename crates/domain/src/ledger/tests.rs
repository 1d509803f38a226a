use super::*;
use crate::clinic::{ClinicKind, GeoPoint, MunicipalityCode};
use jiff::civil::date;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

const TODAY: Date = date(2021, 7, 19); // a Monday

fn clinic(id: u32, per_band: u16, products: Vec<Product>) -> Clinic {
    Clinic {
        id: ClinicId(id),
        name: format!("clinic {id}"),
        kind: ClinicKind::Consigned,
        municipality: MunicipalityCode(11010),
        location: GeoPoint {
            lat: 37.5,
            lon: 127.0,
        },
        products,
        hours: Hours {
            open_hour: 9,
            close_hour: 18,
            per_band,
            saturdays: false,
        },
    }
}

fn ledger_with(clinics: &[Clinic], supply_per_day: u32) -> Ledger {
    let calendar = Calendar {
        first: TODAY,
        days: 90,
    };
    Ledger::new(calendar, clinics, Schedules::default(), |_, _| {
        [supply_per_day; 4]
    })
}

fn appt(clinic: u32, day: Date, hour: u8, product: Product) -> Appointment {
    Appointment {
        clinic: ClinicId(clinic),
        day,
        hour,
        product,
    }
}

fn request(person: u64, first: Appointment) -> BookRequest {
    BookRequest {
        person: PersonId(person),
        booked_by: PersonId(person),
        first,
        today: TODAY,
    }
}

#[test]
fn books_second_dose_at_the_products_interval_same_band() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Moderna])], 100);
    let booking = ledger
        .book(request(1, appt(0, date(2021, 7, 20), 10, Product::Moderna)))
        .unwrap();
    let second = booking.second.unwrap().appointment;
    assert_eq!(second, appt(0, date(2021, 8, 17), 10, Product::Moderna));
    let availability = ledger.availability();
    assert_eq!(
        availability.band_left(ClinicId(0), date(2021, 7, 20), 10),
        4
    );
    assert_eq!(
        availability.band_left(ClinicId(0), date(2021, 8, 17), 10),
        4
    );
    assert_eq!(
        availability.supply_left(ClinicId(0), date(2021, 7, 20), Product::Moderna),
        99
    );
}

#[test]
fn single_dose_product_books_no_second_dose() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Janssen])], 100);
    let booking = ledger
        .book(request(1, appt(0, date(2021, 7, 20), 10, Product::Janssen)))
        .unwrap();
    assert!(booking.second.is_none());
}

#[test]
fn a_full_band_refuses_and_changes_nothing() {
    let mut ledger = ledger_with(&[clinic(0, 1, vec![Product::Pfizer])], 100);
    let first = appt(0, date(2021, 7, 20), 9, Product::Pfizer);
    ledger.book(request(1, first)).unwrap();
    assert_eq!(ledger.book(request(2, first)), Err(BookingError::SlotFull));
    assert!(ledger.active_booking_of(PersonId(2)).is_none());
    assert_eq!(
        ledger.availability().band_left(ClinicId(0), first.day, 9),
        0
    );
}

#[test]
fn supply_limits_bookings_as_well_as_staff() {
    let mut ledger = ledger_with(&[clinic(0, 50, vec![Product::Janssen])], 2);
    let day = date(2021, 7, 20);
    for person in 1..=2 {
        ledger
            .book(request(
                person,
                appt(0, day, 9 + person as u8, Product::Janssen),
            ))
            .unwrap();
    }
    assert_eq!(
        ledger.book(request(3, appt(0, day, 14, Product::Janssen))),
        Err(BookingError::SlotFull)
    );
    assert_eq!(
        ledger
            .availability()
            .bookable_day(ClinicId(0), day, Product::Janssen),
        0
    );
}

#[test]
fn second_dose_moves_to_the_nearest_open_band_then_day() {
    let mut ledger = ledger_with(&[clinic(0, 1, vec![Product::Pfizer])], 100);
    // Pfizer: 21 days. Fill 2021-08-10 10:00 (dose-2 day) by a booking whose dose 1 is there.
    let d2 = date(2021, 8, 10);
    ledger
        .book(request(1, appt(0, d2, 10, Product::Pfizer)))
        .unwrap();
    let booking = ledger
        .book(request(2, appt(0, date(2021, 7, 20), 10, Product::Pfizer)))
        .unwrap();
    // Same day, the nearest band: 09:00 before 11:00 at equal distance.
    assert_eq!(
        booking.second.unwrap().appointment,
        appt(0, d2, 9, Product::Pfizer)
    );
}

#[test]
fn no_second_dose_place_means_no_first_dose_either() {
    // Only three weeks of calendar: dose 2 of Moderna (28 days) never fits.
    let calendar = Calendar {
        first: TODAY,
        days: 21,
    };
    let mut ledger = Ledger::new(
        calendar,
        &[clinic(0, 5, vec![Product::Moderna])],
        Schedules::default(),
        |_, _| [100; 4],
    );
    let first = appt(0, date(2021, 7, 20), 10, Product::Moderna);
    assert_eq!(
        ledger.book(request(1, first)),
        Err(BookingError::SecondDoseUnavailable)
    );
    assert_eq!(
        ledger.availability().band_left(ClinicId(0), first.day, 10),
        5
    );
    assert!(ledger.active_booking_of(PersonId(1)).is_none());
}

#[test]
fn one_active_booking_per_person() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Moderna])], 100);
    let first = ledger
        .book(request(1, appt(0, date(2021, 7, 20), 10, Product::Moderna)))
        .unwrap();
    assert_eq!(
        ledger.book(request(1, appt(0, date(2021, 7, 21), 10, Product::Moderna))),
        Err(BookingError::AlreadyBooked(first.id))
    );
}

#[test]
fn refuses_closed_days_hours_and_the_past() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Moderna])], 100);
    let cases = [
        (
            appt(0, date(2021, 7, 25), 10, Product::Moderna),
            BookingError::HourNotOpen,
        ), // Sunday
        (
            appt(0, date(2021, 7, 24), 10, Product::Moderna),
            BookingError::HourNotOpen,
        ), // Saturday
        (
            appt(0, date(2021, 7, 20), 18, Product::Moderna),
            BookingError::HourNotOpen,
        ),
        (
            appt(0, date(2021, 7, 20), 8, Product::Moderna),
            BookingError::HourNotOpen,
        ),
        (
            appt(0, TODAY, 10, Product::Moderna),
            BookingError::DayNotBookable,
        ),
        (
            appt(0, date(2021, 7, 1), 10, Product::Moderna),
            BookingError::DayNotBookable,
        ),
        (
            appt(0, date(2022, 7, 20), 10, Product::Moderna),
            BookingError::DayNotBookable,
        ),
        (
            appt(0, date(2021, 7, 20), 10, Product::Pfizer),
            BookingError::ProductNotOffered,
        ),
        (
            appt(7, date(2021, 7, 20), 10, Product::Moderna),
            BookingError::NoSuchClinic,
        ),
    ];
    for (first, expected) in cases {
        assert_eq!(ledger.book(request(1, first)), Err(expected), "{first:?}");
    }
}

#[test]
fn cancel_frees_both_doses() {
    let mut ledger = ledger_with(&[clinic(0, 1, vec![Product::Moderna])], 100);
    let first = appt(0, date(2021, 7, 20), 10, Product::Moderna);
    let booking = ledger.book(request(1, first)).unwrap();
    let cancelled = ledger.cancel(PersonId(1), booking.id).unwrap();
    assert_eq!(cancelled.first.status, DoseStatus::Cancelled);
    assert_eq!(cancelled.second.unwrap().status, DoseStatus::Cancelled);
    let availability = ledger.availability();
    assert_eq!(availability.band_left(ClinicId(0), first.day, 10), 1);
    assert_eq!(
        availability.band_left(ClinicId(0), date(2021, 8, 17), 10),
        1
    );
    assert!(ledger.book(request(2, first)).is_ok());
    assert_eq!(
        ledger.cancel(PersonId(1), booking.id),
        Err(BookingError::NoSuchBooking)
    );
}

#[test]
fn only_the_person_or_their_proxy_may_touch_a_booking() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Moderna])], 100);
    let mut for_parent = request(10, appt(0, date(2021, 7, 20), 10, Product::Moderna));
    for_parent.booked_by = PersonId(11);
    let booking = ledger.book(for_parent).unwrap();
    assert_eq!(
        ledger.cancel(PersonId(12), booking.id),
        Err(BookingError::NotYourBooking)
    );
    assert!(ledger.cancel(PersonId(11), booking.id).is_ok());
}

#[test]
fn a_failed_change_leaves_the_booking_as_it_was() {
    let mut ledger = ledger_with(
        &[
            clinic(0, 1, vec![Product::Moderna]),
            clinic(1, 1, vec![Product::Moderna]),
        ],
        100,
    );
    let mine = ledger
        .book(request(1, appt(0, date(2021, 7, 20), 10, Product::Moderna)))
        .unwrap();
    let taken = appt(1, date(2021, 7, 21), 10, Product::Moderna);
    ledger.book(request(2, taken)).unwrap();
    assert_eq!(
        ledger.change(PersonId(1), mine.id, taken, TODAY),
        Err(BookingError::SlotFull)
    );
    assert_eq!(ledger.booking(mine.id), Some(&mine));
    assert_eq!(
        ledger
            .availability()
            .band_left(ClinicId(0), date(2021, 7, 20), 10),
        0
    );

    let free = appt(1, date(2021, 7, 22), 11, Product::Moderna);
    let moved = ledger.change(PersonId(1), mine.id, free, TODAY).unwrap();
    assert_eq!(moved.first.appointment, free);
    assert_eq!(moved.second.unwrap().appointment.clinic, ClinicId(1));
    assert_eq!(
        ledger
            .availability()
            .band_left(ClinicId(0), date(2021, 7, 20), 10),
        1
    );
}

#[test]
fn reset_then_restore_gives_the_same_availability() {
    let mut ledger = ledger_with(&[clinic(0, 2, vec![Product::Moderna])], 100);
    let booking = ledger
        .book(request(1, appt(0, date(2021, 7, 20), 10, Product::Moderna)))
        .unwrap();
    ledger
        .book(request(2, appt(0, date(2021, 7, 21), 11, Product::Moderna)))
        .unwrap();
    ledger.reset();
    assert_eq!(
        ledger
            .availability()
            .band_left(ClinicId(0), date(2021, 7, 21), 11),
        2
    );
    assert!(ledger.active_booking_of(PersonId(2)).is_none());
    ledger.restore(booking);
    assert_eq!(
        ledger
            .availability()
            .band_left(ClinicId(0), date(2021, 7, 20), 10),
        1
    );
    assert_eq!(
        ledger
            .availability()
            .band_left(ClinicId(0), date(2021, 7, 21), 11),
        2
    );
    assert_eq!(ledger.active_booking_of(PersonId(1)), Some(&booking));
}

#[derive(Debug, Clone)]
enum Op {
    Book {
        person: u64,
        clinic: u32,
        day: i64,
        hour: u8,
        product: usize,
    },
    Cancel {
        person: u64,
    },
    Change {
        person: u64,
        clinic: u32,
        day: i64,
        hour: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..30u64, 0..3u32, 1..40i64, 8..19u8, 0..4usize).prop_map(
            |(person, clinic, day, hour, product)| Op::Book {
                person,
                clinic,
                day,
                hour,
                product
            }
        ),
        (0..30u64).prop_map(|person| Op::Cancel { person }),
        (0..30u64, 0..3u32, 1..40i64, 8..19u8).prop_map(|(person, clinic, day, hour)| Op::Change {
            person,
            clinic,
            day,
            hour
        }),
    ]
}

proptest! {
    /// Whatever happens, each cell's remaining count equals its capacity minus the active
    /// appointments in it, and never drops below zero.
    #[test]
    fn remaining_always_equals_capacity_minus_held(ops in proptest::collection::vec(op(), 1..200)) {
        let clinics = [
            clinic(0, 2, vec![Product::Pfizer, Product::Moderna]),
            clinic(1, 1, vec![Product::Janssen, Product::Pfizer]),
            clinic(2, 3, Product::ALL.to_vec()),
        ];
        let supply = 4;
        let mut ledger = ledger_with(&clinics, supply);
        for op in ops {
            match op {
                Op::Book { person, clinic, day, hour, product } => {
                    let first = appt(clinic, TODAY.checked_add(day.days()).unwrap(), hour, Product::ALL[product]);
                    let _ = ledger.book(request(person, first));
                }
                Op::Cancel { person } => {
                    if let Some(id) = ledger.active_booking_of(PersonId(person)).map(|b| b.id) {
                        ledger.cancel(PersonId(person), id).unwrap();
                    }
                }
                Op::Change { person, clinic, day, hour } => {
                    if let Some(b) = ledger.active_booking_of(PersonId(person)).copied() {
                        let first = Appointment { clinic: ClinicId(clinic), day: TODAY.checked_add(day.days()).unwrap(), hour, product: b.first.appointment.product };
                        let _ = ledger.change(PersonId(person), b.id, first, TODAY);
                    }
                }
            }
        }
        let availability = ledger.availability();
        let mut band_held: HashMap<(ClinicId, Date, u8), i32> = HashMap::new();
        let mut supply_held: HashMap<(ClinicId, Date, Product), i32> = HashMap::new();
        let mut people = std::collections::HashSet::new();
        for booking in ledger.active_bookings() {
            prop_assert!(people.insert(booking.person), "two active bookings for one person");
            for a in booking.booked_appointments() {
                *band_held.entry((a.clinic, a.day, a.hour)).or_default() += 1;
                *supply_held.entry((a.clinic, a.day, a.product)).or_default() += 1;
            }
        }
        for c in &clinics {
            for d in 0..90 {
                let day = TODAY.checked_add(d.days()).unwrap();
                for hour in FIRST_HOUR..END_HOUR {
                    let cap = if is_open(&c.hours, day, hour) { i32::from(c.hours.per_band) } else { 0 };
                    let held = band_held.get(&(c.id, day, hour)).copied().unwrap_or(0);
                    prop_assert_eq!(availability.band_left(c.id, day, hour), cap - held);
                    prop_assert!(cap - held >= 0);
                }
                for p in Product::ALL {
                    let cap = if c.offers(p) { supply as i32 } else { 0 };
                    let held = supply_held.get(&(c.id, day, p)).copied().unwrap_or(0);
                    prop_assert_eq!(availability.supply_left(c.id, day, p), cap - held);
                    prop_assert!(cap - held >= 0);
                }
            }
        }
        // A day's places for every product at once are what its bands and supply give, on
        // days booked on, days untouched (the standing plan, Sundays closed) and days outside
        // the horizon on either side.
        for c in &clinics {
            for d in -2..95 {
                let day = TODAY.checked_add(d.days()).unwrap();
                let left = availability.day_left(c.id, day);
                let bands: i32 = (FIRST_HOUR..END_HOUR)
                    .map(|hour| availability.band_left(c.id, day, hour).max(0))
                    .sum();
                for p in Product::ALL {
                    let expected = bands.min(availability.supply_left(c.id, day, p)).max(0);
                    prop_assert_eq!(i64::from(left.bookable(p)), i64::from(expected), "{} {} {:?}", c.id.0, day, p);
                    prop_assert_eq!(availability.bookable_day(c.id, day, p), left.bookable(p));
                }
            }
        }
    }
}

/// Runs `op` on `ledger`; the states of the bookings it changed.
fn run(ledger: &mut Ledger, op: &Op) -> Vec<Booking> {
    match *op {
        Op::Book {
            person,
            clinic,
            day,
            hour,
            product,
        } => {
            let first = appt(
                clinic,
                TODAY.checked_add(day.days()).unwrap(),
                hour,
                Product::ALL[product],
            );
            ledger.book(request(person, first)).into_iter().collect()
        }
        Op::Cancel { person } => {
            let Some(id) = ledger.active_booking_of(PersonId(person)).map(|b| b.id) else {
                return Vec::new();
            };
            vec![ledger.cancel(PersonId(person), id).unwrap()]
        }
        Op::Change {
            person,
            clinic,
            day,
            hour,
        } => {
            let Some(b) = ledger.active_booking_of(PersonId(person)).copied() else {
                return Vec::new();
            };
            let first = Appointment {
                clinic: ClinicId(clinic),
                day: TODAY.checked_add(day.days()).unwrap(),
                hour,
                product: b.first.appointment.product,
            };
            ledger
                .change(PersonId(person), b.id, first, TODAY)
                .into_iter()
                .collect()
        }
    }
}

proptest! {
    /// A standby's view kept up with only the last state of each booking written since it last
    /// looked, in whatever order storage gives them (here by id, upwards or downwards), some
    /// read twice, shows what the writer's ledger shows, cell by cell.
    #[test]
    fn a_view_refreshed_with_changed_bookings_matches_the_writer(
        ops in proptest::collection::vec((op(), any::<bool>(), any::<bool>()), 1..150),
    ) {
        let clinics = [
            clinic(0, 2, vec![Product::Pfizer, Product::Moderna]),
            clinic(1, 1, vec![Product::Janssen, Product::Pfizer]),
            clinic(2, 3, Product::ALL.to_vec()),
        ];
        let mut writer = ledger_with(&clinics, 4);
        let mut view = ledger_with(&clinics, 4);
        let mut written: BTreeMap<BookingId, Booking> = BTreeMap::new();
        let mut last_read: Vec<Booking> = Vec::new();
        for (op, look, downwards) in &ops {
            // Few people, so one often cancels and books again between two looks.
            let mut op = op.clone();
            let (Op::Book { person, .. } | Op::Cancel { person } | Op::Change { person, .. }) = &mut op;
            *person %= 4;
            for booking in run(&mut writer, &op) {
                written.insert(booking.id, booking);
            }
            if *look {
                let mut read: Vec<Booking> = std::mem::take(&mut written).into_values().collect();
                if *downwards {
                    read.reverse();
                }
                // What the last look read, read again (a view's mark is conservative).
                for booking in last_read.iter().chain(&read) {
                    view.refresh(*booking);
                }
                last_read = read;
            }
        }
        for booking in std::mem::take(&mut written).into_values() {
            view.refresh(booking);
        }
        let (seen, truth) = (view.availability(), writer.availability());
        for c in &clinics {
            for d in 0..90 {
                let day = TODAY.checked_add(d.days()).unwrap();
                for hour in FIRST_HOUR..END_HOUR {
                    prop_assert_eq!(seen.band_left(c.id, day, hour), truth.band_left(c.id, day, hour));
                }
                for p in Product::ALL {
                    prop_assert_eq!(seen.supply_left(c.id, day, p), truth.supply_left(c.id, day, p));
                }
            }
        }
        for person in 0..30 {
            prop_assert_eq!(
                view.active_booking_of(PersonId(person)),
                writer.active_booking_of(PersonId(person))
            );
        }
    }
}

#[test]
fn nearest_bands_match_the_sorted_order() {
    for from in FIRST_HOUR..END_HOUR {
        let mut expected: Vec<u8> = (FIRST_HOUR..END_HOUR).collect();
        expected.sort_by_key(|h| (h.abs_diff(from), *h));
        assert_eq!(
            NEAREST_BANDS[band_index(from).unwrap()].to_vec(),
            expected,
            "from {from}"
        );
    }
}

#[test]
fn calendar_index_counts_days_across_months_years_and_leap_days() {
    let calendar = Calendar {
        first: date(2023, 12, 20),
        days: 120,
    };
    for offset in -400i64..400 {
        let day = calendar.first.checked_add(offset.days()).unwrap();
        let expected = (0..120).contains(&offset).then_some(offset as usize);
        assert_eq!(calendar.index(day), expected, "{day}");
    }
    assert_eq!(epoch_day(date(1970, 1, 1)), 0);
    assert_eq!(epoch_day(date(2000, 3, 1)), 11_017);
    assert_eq!(epoch_day(date(1969, 12, 31)), -1);
}

#[test]
fn a_dose_is_given_only_at_its_clinic_on_its_day_and_in_order() {
    let mut ledger = ledger_with(
        &[
            clinic(0, 5, vec![Product::Moderna]),
            clinic(1, 5, vec![Product::Moderna]),
        ],
        100,
    );
    let day1 = date(2021, 7, 20);
    let booking = ledger
        .book(request(1, appt(0, day1, 10, Product::Moderna)))
        .unwrap();
    let day2 = booking.second.unwrap().appointment.day;
    let id = booking.id;
    assert_eq!(
        ledger.mark_given(ClinicId(0), id, 1, TODAY),
        Err(BookingError::NotDueToday)
    );
    assert_eq!(
        ledger.mark_given(ClinicId(1), id, 1, day1),
        Err(BookingError::OtherClinic)
    );
    assert_eq!(
        ledger.mark_given(ClinicId(0), id, 2, day2),
        Err(BookingError::FirstDoseNotGiven)
    );
    assert_eq!(
        ledger.mark_given(ClinicId(0), id, 3, day1),
        Err(BookingError::NoSuchBooking)
    );
    let after_first = ledger.mark_given(ClinicId(0), id, 1, day1).unwrap();
    assert_eq!(after_first.first.status, DoseStatus::Given);
    assert!(after_first.is_active(), "dose 2 is still to come");
    // A given dose keeps its place: it was used.
    assert_eq!(ledger.availability().band_left(ClinicId(0), day1, 10), 4);
    assert_eq!(
        ledger.mark_given(ClinicId(0), id, 1, day1),
        Err(BookingError::DoseNotBooked)
    );
    // Dose 1 given: the booking can no longer be moved or replaced.
    assert_eq!(
        ledger.change(
            PersonId(1),
            id,
            appt(0, date(2021, 7, 21), 10, Product::Moderna),
            TODAY
        ),
        Err(BookingError::FirstDoseGiven)
    );
    let done = ledger.mark_given(ClinicId(0), id, 2, day2).unwrap();
    assert!(!done.is_active());
    assert!(ledger.active_booking_of(PersonId(1)).is_none());
    assert_eq!(
        ledger.mark_given(ClinicId(0), id, 2, day2),
        Err(BookingError::NoSuchBooking)
    );
}

#[test]
fn a_leftover_dose_replaces_a_later_booking_and_keeps_dose_two_rules() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Pfizer])], 100);
    let later = ledger
        .book(request(1, appt(0, date(2021, 7, 30), 10, Product::Pfizer)))
        .unwrap();
    let before = ledger
        .availability()
        .band_left(ClinicId(0), date(2021, 7, 30), 10);
    let (leftover, replaced) = ledger
        .book_leftover(PersonId(1), appt(0, TODAY, 15, Product::Pfizer))
        .unwrap();
    assert_eq!(replaced.map(|b| b.id), Some(later.id));
    assert_eq!(replaced.unwrap().first.status, DoseStatus::Cancelled);
    assert_eq!(
        ledger
            .availability()
            .band_left(ClinicId(0), date(2021, 7, 30), 10),
        before + 1,
        "the replaced booking's place is free again"
    );
    assert_eq!(leftover.first.appointment.day, TODAY);
    assert_eq!(
        leftover.second.unwrap().appointment.day,
        date(2021, 8, 9),
        "dose 2 at Pfizer's 21 days"
    );
    assert_eq!(
        ledger.active_booking_of(PersonId(1)).map(|b| b.id),
        Some(leftover.id)
    );
    // Once dose 1 is given, a second leftover dose is refused.
    ledger
        .mark_given(ClinicId(0), leftover.id, 1, TODAY)
        .unwrap();
    assert_eq!(
        ledger.book_leftover(PersonId(1), appt(0, TODAY, 16, Product::Pfizer)),
        Err(BookingError::AlreadyBooked(leftover.id))
    );
}

#[test]
fn a_leftover_dose_without_a_dose_two_place_changes_nothing() {
    // Pfizer has no planned supply on any day, so its dose 2 cannot be placed; Janssen has.
    let clinics = [clinic(0, 5, vec![Product::Pfizer, Product::Janssen])];
    let calendar = Calendar {
        first: TODAY,
        days: 90,
    };
    let mut ledger = Ledger::new(calendar, &clinics, Schedules::default(), |_, _| {
        let mut supply = [0; 4];
        supply[Product::Janssen.index()] = 10;
        supply
    });
    let pfizer_today = appt(0, TODAY, 15, Product::Pfizer);
    assert_eq!(
        ledger.book_leftover(PersonId(2), pfizer_today),
        Err(BookingError::SecondDoseUnavailable)
    );
    assert!(ledger.active_booking_of(PersonId(2)).is_none());
    // A booking that would have been replaced stays, with its places.
    let day = date(2021, 7, 20);
    let held = ledger
        .book(request(1, appt(0, day, 10, Product::Janssen)))
        .unwrap();
    let availability = ledger.availability();
    let (band, supply) = (
        availability.band_left(ClinicId(0), day, 10),
        availability.supply_left(ClinicId(0), day, Product::Janssen),
    );
    assert_eq!(
        ledger.book_leftover(PersonId(1), pfizer_today),
        Err(BookingError::SecondDoseUnavailable)
    );
    assert_eq!(ledger.active_booking_of(PersonId(1)), Some(&held));
    assert_eq!(availability.band_left(ClinicId(0), day, 10), band);
    assert_eq!(
        availability.supply_left(ClinicId(0), day, Product::Janssen),
        supply
    );
    // Janssen needs no dose 2: the same person takes a Janssen leftover instead.
    let (_, replaced) = ledger
        .book_leftover(PersonId(1), appt(0, TODAY, 15, Product::Janssen))
        .unwrap();
    assert_eq!(replaced.map(|b| b.id), Some(held.id));
    assert_eq!(availability.band_left(ClinicId(0), day, 10), band + 1);
}

#[test]
fn a_second_leftover_claim_the_same_day_is_refused() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Pfizer])], 100);
    let (first, _) = ledger
        .book_leftover(PersonId(1), appt(0, TODAY, 15, Product::Pfizer))
        .unwrap();
    assert_eq!(
        ledger.book_leftover(PersonId(1), appt(0, TODAY, 16, Product::Pfizer)),
        Err(BookingError::AlreadyBooked(first.id))
    );
}

/// A ten-day ring on a clinic open every weekday with 30 standing Janssen doses (one dose:
/// no dose 2 to place), first day [`TODAY`].
fn rolling_ledger() -> Ledger {
    let clinics = [clinic(0, 5, vec![Product::Janssen])];
    let calendar = Calendar {
        first: TODAY,
        days: 10,
    };
    let standing = [[30; 4]];
    Ledger::with_standing(
        calendar,
        &clinics,
        Schedules::default(),
        &standing,
        |c, day| standing_supply(&c.hours, day, standing[0]),
    )
}

fn on(day: Date, today: Date, person: u64) -> BookRequest {
    BookRequest {
        today,
        ..request(person, appt(0, day, 10, Product::Janssen))
    }
}

#[test]
fn the_calendar_reaches_as_far_ahead_every_day() {
    let mut ledger = rolling_ledger();
    let availability = ledger.availability();
    let last = date(2021, 7, 28); // TODAY + 9, a Wednesday
    let next = date(2021, 7, 29);
    assert!(ledger.book(on(last, TODAY, 1)).is_ok());
    assert_eq!(
        ledger.book(on(next, TODAY, 2)),
        Err(BookingError::DayNotBookable)
    );
    assert_eq!(
        availability.supply_left(ClinicId(0), next, Product::Janssen),
        0
    );

    // The clock moves on (another thread): the new day reads as the standing plan at once,
    // before the writer has touched it.
    let tomorrow = TODAY.tomorrow().unwrap();
    availability.advance_to(tomorrow);
    assert_eq!(availability.calendar().first, tomorrow);
    assert_eq!(availability.band_left(ClinicId(0), next, 10), 5);
    assert_eq!(
        availability.supply_left(ClinicId(0), next, Product::Janssen),
        30
    );
    assert_eq!(
        availability.band_left(ClinicId(0), TODAY, 10),
        0,
        "a day gone"
    );
    // The writer books it, in the slot the day gone held.
    assert!(ledger.book(on(next, tomorrow, 2)).is_ok());
    assert_eq!(availability.band_left(ClinicId(0), next, 10), 4);
    assert_eq!(
        availability.supply_left(ClinicId(0), next, Product::Janssen),
        29
    );
    // What was there before is untouched.
    assert_eq!(availability.band_left(ClinicId(0), last, 10), 4);

    // Weeks later (longer than the ring): every day is the standing plan again, a Sunday
    // included (closed), and the far end books.
    let later = date(2021, 8, 30); // a Monday
    let far = date(2021, 9, 8); // later + 9, a Wednesday
    assert!(ledger.book(on(far, later, 3)).is_ok());
    assert_eq!(availability.calendar().first, later);
    assert_eq!(
        availability.supply_left(ClinicId(0), far, Product::Janssen),
        29
    );
    assert_eq!(
        availability.supply_left(ClinicId(0), date(2021, 9, 1), Product::Janssen),
        30
    );
    assert_eq!(
        availability.band_left(ClinicId(0), date(2021, 9, 5), 10),
        0,
        "Sunday"
    );
    assert_eq!(availability.band_left(ClinicId(0), next, 10), 0, "gone");

    // A booking whose day has gone gives nothing back to the day now in its slot.
    let before = availability.supply_left(ClinicId(0), date(2021, 9, 7), Product::Janssen);
    ledger.cancel(PersonId(2), BookingId(2)).unwrap();
    assert_eq!(
        availability.supply_left(ClinicId(0), date(2021, 9, 7), Product::Janssen),
        before
    );
    // And a rebuild from the bookings gives the same counts.
    let counts = |a: &Availability| {
        (0..10)
            .map(|d| {
                let day = later.checked_add(d.days()).unwrap();
                (
                    a.band_left(ClinicId(0), day, 10),
                    a.supply_left(ClinicId(0), day, Product::Janssen),
                )
            })
            .collect::<Vec<_>>()
    };
    let live = counts(&availability);
    let held: Vec<Booking> = ledger.active_bookings().copied().collect();
    ledger.reset();
    for booking in held {
        ledger.restore(booking);
    }
    assert_eq!(counts(&availability), live);
}

#[test]
fn a_stored_plan_replaces_only_the_cells_it_names_and_only_offered_products() {
    let mut ledger = ledger_with(&[clinic(0, 5, vec![Product::Moderna])], 10);
    let (day, other) = (date(2021, 7, 20), date(2021, 7, 21));
    ledger
        .book(request(1, appt(0, day, 10, Product::Moderna)))
        .unwrap();
    let booked = *ledger.active_bookings().next().unwrap();
    let mut interval = Schedules::default();
    interval.set(
        Product::Moderna,
        crate::product::DoseSchedule::two_doses(42),
    );
    let delivery = |day, product, doses| reschedule::Delivery {
        clinic: ClinicId(0),
        day,
        product,
        doses,
    };
    ledger.take_up_plan(
        &[
            delivery(day, Product::Moderna, 4),
            // Not offered there: stays at none, as at start.
            delivery(day, Product::Pfizer, 7),
            // Beyond the horizon: nothing to change.
            delivery(date(2022, 1, 3), Product::Moderna, 9),
        ],
        Some(interval),
    );
    ledger.reset();
    ledger.restore(booked);
    let left = |d, p| ledger.availability().supply_left(ClinicId(0), d, p);
    assert_eq!(left(day, Product::Moderna), 3, "4 planned, 1 booked");
    assert_eq!(left(day, Product::Pfizer), 0);
    assert_eq!(left(other, Product::Moderna), 10, "not named: as it was");
    assert_eq!(ledger.schedules(), interval);
}

/// Two clinics of different parts of a ledger cut in two, and the part each belongs to.
fn clinics_of_two_parts() -> (Vec<Clinic>, Part, Part) {
    let clinics: Vec<Clinic> = (0..8)
        .map(|id| clinic(id, 5, vec![Product::Moderna]))
        .collect();
    let parts = Part::all(2).unwrap();
    (clinics, parts[0], parts[1])
}

fn first_of(part: Part, clinics: &[Clinic]) -> u32 {
    clinics.iter().find(|c| part.holds(c.id)).unwrap().id.0
}

#[test]
fn a_ledger_of_one_part_books_only_at_its_own_clinics() {
    let (clinics, home, other) = clinics_of_two_parts();
    let (mine, theirs) = (first_of(other, &clinics), first_of(home, &clinics));
    let calendar = Calendar {
        first: TODAY,
        days: 90,
    };
    let standing = vec![[100; 4]; clinics.len()];
    let mut ledger = Ledger::with_standing(
        calendar,
        &clinics,
        Schedules::default(),
        &standing,
        |_, _| [100; 4],
    )
    .for_part(other);
    let day = date(2021, 7, 20);
    let availability = ledger.availability();
    assert_eq!(availability.band_left(ClinicId(mine), day, 10), 5);
    assert_eq!(availability.band_left(ClinicId(theirs), day, 10), 0);
    assert_eq!(
        availability.supply_left(ClinicId(theirs), day, Product::Moderna),
        0
    );
    assert!(
        ledger
            .book(request(1, appt(theirs, day, 10, Product::Moderna)))
            .is_err()
    );
    // A delivery to another part's clinic does not give it doses here either.
    ledger.take_up_plan(
        &[reschedule::Delivery {
            clinic: ClinicId(theirs),
            day,
            product: Product::Moderna,
            doses: 50,
        }],
        None,
    );
    assert_eq!(
        availability.supply_left(ClinicId(theirs), day, Product::Moderna),
        0
    );
    // Days that come into the horizon later stay empty for the other part's clinics.
    let later = date(2021, 10, 20);
    let booked = ledger
        .book(BookRequest {
            today: date(2021, 9, 18),
            ..request(2, appt(mine, later, 10, Product::Moderna))
        })
        .unwrap();
    assert!(other.numbered(booked.id.0));
    assert_eq!(availability.band_left(ClinicId(theirs), later, 10), 0);
    assert_eq!(availability.band_left(ClinicId(mine), later, 10), 4);
}

#[test]
fn a_ledger_of_one_part_keeps_its_own_bookings_and_numbers_after_everyone() {
    let (clinics, home, other) = clinics_of_two_parts();
    let (mine, theirs) = (first_of(other, &clinics), first_of(home, &clinics));
    let day = date(2021, 7, 20);
    let mut whole = ledger_with(&clinics, 100);
    let at_theirs = whole
        .book(request(1, appt(theirs, day, 10, Product::Moderna)))
        .unwrap();
    let at_mine = whole
        .book(request(2, appt(mine, day, 10, Product::Moderna)))
        .unwrap();
    let mut part = ledger_with(&clinics, 100).for_part(other);
    part.reset();
    part.restore(at_theirs);
    part.restore(at_mine);
    assert_eq!(part.active_booking_of(PersonId(1)), None);
    assert_eq!(part.active_booking_of(PersonId(2)), Some(&at_mine));
    assert_eq!(part.availability().band_left(ClinicId(mine), day, 10), 4);
    // Its next id is its own and after every id it saw.
    let next = part
        .book(request(3, appt(mine, day, 11, Product::Moderna)))
        .unwrap();
    assert!(other.numbered(next.id.0));
    assert!(next.id.0 > at_theirs.id.0.max(at_mine.id.0));
}

#[test]
fn copies_for_parts_keep_their_own_places_and_nothing_more() {
    let (clinics, home, other) = clinics_of_two_parts();
    let (mine, theirs) = (first_of(other, &clinics), first_of(home, &clinics));
    let whole = ledger_with(&clinics, 100);
    let mut at_home = whole.copy_for_part(home);
    let at_other = whole.copy_for_part(other);
    let day = date(2021, 7, 20);
    let left = |l: &Ledger, c: u32| l.availability().band_left(ClinicId(c), day, 10);
    assert_eq!((left(&at_home, theirs), left(&at_home, mine)), (5, 0));
    assert_eq!((left(&at_other, theirs), left(&at_other, mine)), (0, 5));
    // Each copy's counts are its own.
    at_home
        .book(request(1, appt(theirs, day, 10, Product::Moderna)))
        .unwrap();
    assert_eq!(left(&at_home, theirs), 4);
    assert_eq!(left(&whole, theirs), 5);
    assert_eq!(at_home.part(), home);
}

#[test]
fn a_view_reading_a_persons_new_booking_before_their_cancelled_one_keeps_the_new_one() {
    let clinics = [clinic(0, 2, vec![Product::Moderna])];
    let mut writer = ledger_with(&clinics, 4);
    let mut view = ledger_with(&clinics, 4);
    let day = date(2021, 7, 20);
    let first = writer
        .book(request(1, appt(0, day, 10, Product::Moderna)))
        .unwrap();
    view.refresh(first);
    let cancelled = writer.cancel(PersonId(1), first.id).unwrap();
    let again = writer
        .book(request(1, appt(0, day, 11, Product::Moderna)))
        .unwrap();
    view.refresh(again);
    view.refresh(cancelled);
    assert_eq!(view.active_booking_of(PersonId(1)), Some(&again));
    let left = |l: &Ledger, hour| l.availability().band_left(ClinicId(0), day, hour);
    assert_eq!((left(&view, 10), left(&view, 11)), (2, 1));
    assert_eq!((left(&writer, 10), left(&writer, 11)), (2, 1));
}
