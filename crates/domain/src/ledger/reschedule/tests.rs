use super::*;
use crate::booking::FIRST_HOUR;
use crate::clinic::{Clinic, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use crate::ledger::{BookRequest, Calendar, END_HOUR};
use jiff::civil::date;
use proptest::prelude::*;

const TODAY: Date = date(2021, 7, 19); // a Monday
const WEDNESDAY: Date = date(2021, 7, 28);

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

/// Clinics with `supply` doses of every product they offer on every day.
fn ledger(clinics: &[Clinic], supply: u32) -> Ledger {
    let calendar = Calendar {
        first: TODAY,
        days: 120,
    };
    Ledger::new(calendar, clinics, Schedules::default(), |_, _| [supply; 4])
}

fn appt(clinic: u32, day: Date, hour: u8, product: Product) -> Appointment {
    Appointment {
        clinic: ClinicId(clinic),
        day,
        hour,
        product,
    }
}

fn book(ledger: &mut Ledger, person: u64, first: Appointment) -> Booking {
    ledger
        .book(BookRequest {
            person: PersonId(person),
            booked_by: PersonId(person),
            first,
            today: TODAY,
        })
        .unwrap()
}

fn cut(clinic: u32, day: Date, product: Product, doses: u32) -> SupplyChange {
    SupplyChange::Deliveries {
        deliveries: vec![Delivery {
            clinic: ClinicId(clinic),
            day,
            product,
            doses,
        }],
        switch_to: vec![],
    }
}

/// No band and no supply cell in the calendar is over-committed.
fn assert_nothing_over_capacity(ledger: &Ledger) {
    let availability = ledger.availability();
    let calendar = availability.calendar();
    for c in 0..availability.clinics {
        for d in 0..usize::from(calendar.days) {
            let day = calendar.day(d);
            for hour in FIRST_HOUR..END_HOUR {
                assert!(availability.band_left(ClinicId(c as u32), day, hour) >= 0);
            }
            for product in Product::ALL {
                let left = availability.supply_left(ClinicId(c as u32), day, product);
                assert!(left >= 0, "clinic {c} {day} {product:?} left {left}");
            }
        }
    }
}

/// Every active two-dose booking has dose 2 at the dose-1 clinic and product, within the window.
fn assert_second_doses_consistent(ledger: &Ledger) {
    let schedules = ledger.schedules();
    for booking in ledger.active_bookings() {
        let first = booking.first.appointment;
        let Some(second) = booking.second.filter(|d| d.status == DoseStatus::Booked) else {
            continue;
        };
        let second = second.appointment;
        let gap = epoch_day(second.day) - epoch_day(first.day);
        let interval = i32::from(schedules.get(first.product).interval_days);
        assert_eq!(second.clinic, first.clinic);
        assert_eq!(second.product, first.product);
        assert!(
            (interval..=interval + SECOND_DOSE_WINDOW_DAYS).contains(&gap),
            "booking {:?}: gap {gap}, interval {interval}",
            booking.id
        );
    }
}

#[test]
fn a_delivery_cut_by_half_moves_exactly_the_excess_last_booked_first_by_one_or_two_days() {
    let (mut ledger, plan) = cut_wednesday();
    assert_eq!(plan.people_moved(), 10);
    assert!(plan.unplaced.is_empty());
    assert_eq!(plan.over_capacity_after, 0);
    let mut moved: Vec<u64> = plan.moves.iter().map(|m| m.person.0).collect();
    moved.dedup();
    assert_eq!(moved, (11..=20).collect::<Vec<_>>());
    for m in plan.moves.iter().filter(|m| m.dose == 1) {
        let shift = epoch_day(m.to.day) - epoch_day(m.from.day);
        assert!((1..=2).contains(&shift), "moved {shift} days");
        assert_eq!(m.to.clinic, m.from.clinic);
        assert_eq!(m.to.product, Product::Moderna);
    }
    // Planning changed nothing.
    assert_eq!(
        ledger
            .availability()
            .supply_left(ClinicId(0), WEDNESDAY, Product::Moderna),
        0
    );
    assert_eq!(ledger.planned(ClinicId(0), WEDNESDAY, Product::Moderna), 20);

    ledger.apply_plan(&plan);
    assert_eq!(ledger.planned(ClinicId(0), WEDNESDAY, Product::Moderna), 10);
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
    let on_wednesday = ledger
        .active_bookings()
        .filter(|b| b.first.appointment.day == WEDNESDAY)
        .count();
    assert_eq!(on_wednesday, 10);
    assert_eq!(ledger.active_bookings().count(), 20);
}

#[test]
fn a_plan_changes_nothing_and_its_id_follows_the_bookings() {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 4);
    for person in 1..=4 {
        book(
            &mut ledger,
            person,
            appt(0, WEDNESDAY, 10, Product::Moderna),
        );
    }
    let change = cut(0, WEDNESDAY, Product::Moderna, 2);
    let first = ledger.plan(&change, TODAY, &Neighbours::new()).unwrap();
    let again = ledger.plan(&change, TODAY, &Neighbours::new()).unwrap();
    assert_eq!(first.id(), again.id());
    assert_eq!(first, again);
    ledger.cancel(PersonId(1), BookingId(1)).unwrap();
    let changed = ledger.plan(&change, TODAY, &Neighbours::new()).unwrap();
    assert_ne!(first.id(), changed.id());
}

#[test]
fn a_dose_with_no_room_anywhere_is_unplaced_listed_and_its_booking_cancelled() {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 0);
    // Supply only on Wednesday and on the dose-2 days.
    let wednesday_cell = ledger
        .availability
        .supply_cell(ClinicId(0), WEDNESDAY, Product::Moderna)
        .unwrap();
    ledger.supply_capacity[wednesday_cell] = 3;
    ledger.availability.add_supply(wednesday_cell, 3);
    for d in 28..=42 {
        let day = add_days(WEDNESDAY, d).unwrap();
        let cell = ledger
            .availability
            .supply_cell(ClinicId(0), day, Product::Moderna)
            .unwrap();
        ledger.supply_capacity[cell] = 10;
        ledger.availability.add_supply(cell, 10);
    }
    for person in 1..=3 {
        book(
            &mut ledger,
            person,
            appt(0, WEDNESDAY, 10, Product::Moderna),
        );
    }
    let plan = ledger
        .plan(
            &cut(0, WEDNESDAY, Product::Moderna, 1),
            TODAY,
            &Neighbours::new(),
        )
        .unwrap();
    assert!(plan.moves.is_empty());
    let unplaced: Vec<u64> = plan.unplaced.iter().map(|u| u.person.0).collect();
    assert_eq!(unplaced, vec![2, 3]);
    assert!(plan.unplaced.iter().all(|u| u.dose == 1));
    ledger.apply_plan(&plan);
    assert_nothing_over_capacity(&ledger);
    assert!(ledger.active_booking_of(PersonId(2)).is_none());
    assert!(ledger.active_booking_of(PersonId(1)).is_some());
    // The cancelled bookings' dose-2 places are free again.
    let second_day = add_days(WEDNESDAY, 28).unwrap();
    assert_eq!(
        ledger
            .availability()
            .supply_left(ClinicId(0), second_day, Product::Moderna),
        9
    );
}

#[test]
fn a_nearby_clinic_takes_whom_the_own_clinic_cannot() {
    // Clinic 0 has supply only on Wednesday; clinic 1 nearby has plenty.
    let clinics = [
        clinic(0, 10, vec![Product::Moderna]),
        clinic(1, 10, vec![Product::Moderna]),
    ];
    let mut ledger = ledger(&clinics, 10);
    for d in 0..120 {
        let day = add_days(TODAY, d).unwrap();
        if day == WEDNESDAY || d >= 28 {
            continue;
        }
        let cell = ledger
            .availability
            .supply_cell(ClinicId(0), day, Product::Moderna)
            .unwrap();
        let planned = ledger.supply_capacity[cell];
        ledger.supply_capacity[cell] = 0;
        ledger.availability.add_supply(cell, -planned);
    }
    for person in 1..=4 {
        book(
            &mut ledger,
            person,
            appt(0, WEDNESDAY, 10, Product::Moderna),
        );
    }
    let neighbours = Neighbours::from([(ClinicId(0), vec![ClinicId(1)])]);
    let plan = ledger
        .plan(&cut(0, WEDNESDAY, Product::Moderna, 2), TODAY, &neighbours)
        .unwrap();
    assert_eq!(plan.people_moved(), 2);
    assert_eq!(
        plan.moved_to_other_clinics(),
        4,
        "both doses follow to clinic 1"
    );
    for m in &plan.moves {
        assert_eq!(m.to.clinic, ClinicId(1));
    }
    assert!(
        plan.moves
            .iter()
            .filter(|m| m.dose == 1)
            .all(|m| m.to.day == WEDNESDAY),
        "same day at the nearby clinic"
    );
    ledger.apply_plan(&plan);
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
}

#[test]
fn switching_to_another_product_happens_only_where_allowed() {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna, Product::Pfizer])], 0);
    let cell = |l: &Ledger, day: Date, p: Product| {
        l.availability.supply_cell(ClinicId(0), day, p).unwrap()
    };
    for (day, product, doses) in [
        (WEDNESDAY, Product::Moderna, 2),
        (WEDNESDAY, Product::Pfizer, 5),
    ] {
        let c = cell(&ledger, day, product);
        ledger.supply_capacity[c] = doses;
        ledger.availability.add_supply(c, doses);
    }
    for d in 21..=42 {
        for product in [Product::Moderna, Product::Pfizer] {
            let c = cell(&ledger, add_days(WEDNESDAY, d).unwrap(), product);
            ledger.supply_capacity[c] = 10;
            ledger.availability.add_supply(c, 10);
        }
    }
    book(&mut ledger, 1, appt(0, WEDNESDAY, 10, Product::Moderna));
    book(&mut ledger, 2, appt(0, WEDNESDAY, 10, Product::Moderna));
    let without = ledger
        .plan(
            &cut(0, WEDNESDAY, Product::Moderna, 1),
            TODAY,
            &Neighbours::new(),
        )
        .unwrap();
    assert_eq!(without.unplaced.len(), 1);
    let with = ledger
        .plan(
            &SupplyChange::Deliveries {
                deliveries: vec![Delivery {
                    clinic: ClinicId(0),
                    day: WEDNESDAY,
                    product: Product::Moderna,
                    doses: 1,
                }],
                switch_to: vec![Product::Pfizer],
            },
            TODAY,
            &Neighbours::new(),
        )
        .unwrap();
    assert!(with.unplaced.is_empty());
    let first = with.moves.iter().find(|m| m.dose == 1).unwrap();
    assert_eq!(first.to, appt(0, WEDNESDAY, 10, Product::Pfizer));
    let second = with.moves.iter().find(|m| m.dose == 2).unwrap();
    assert_eq!(second.to.product, Product::Pfizer);
    assert_eq!(second.to.day, add_days(WEDNESDAY, 21).unwrap());
    ledger.apply_plan(&with);
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
}

#[test]
fn a_product_switch_moves_first_doses_in_range_and_never_a_dose_two_of_another_product() {
    let mut ledger = ledger(
        &[clinic(0, 20, vec![Product::Moderna, Product::Pfizer])],
        20,
    );
    // Person 1 had dose 1 of Moderna before the switch range; their dose 2 falls inside it.
    let early = book(
        &mut ledger,
        1,
        appt(0, date(2021, 7, 21), 10, Product::Moderna),
    );
    let early_second = early.second.unwrap().appointment;
    assert_eq!(early_second.day, date(2021, 8, 18));
    // Persons 2..=4 have dose 1 of Moderna inside the range.
    for person in 2..=4 {
        book(
            &mut ledger,
            person,
            appt(0, date(2021, 8, 18), 11, Product::Moderna),
        );
    }
    let change = moderna_to_pfizer_at_clinic_0();
    let plan = ledger.plan(&change, TODAY, &Neighbours::new()).unwrap();
    assert_eq!(plan.people_moved(), 3);
    assert!(plan.unplaced.is_empty());
    assert!(plan.moves.iter().all(|m| m.person != PersonId(1)));
    for m in plan.moves.iter().filter(|m| m.dose == 1) {
        assert_eq!(
            m.to,
            Appointment {
                product: Product::Pfizer,
                ..m.from
            }
        );
    }
    ledger.apply_plan(&plan);
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
    // Moderna for 08-18 now covers only person 1's dose 2.
    assert_eq!(
        ledger.planned(ClinicId(0), date(2021, 8, 18), Product::Moderna),
        1
    );
    let kept = ledger.active_booking_of(PersonId(1)).unwrap();
    assert_eq!(kept.second.unwrap().appointment, early_second);
    for person in 2..=4 {
        let b = ledger.active_booking_of(PersonId(person)).unwrap();
        assert_eq!(b.second.unwrap().appointment.day, date(2021, 9, 8));
    }
}

#[test]
fn an_interval_change_moves_late_second_doses_to_exactly_the_new_interval() {
    let mut ledger = ledger(&[clinic(0, 20, vec![Product::Moderna])], 20);
    // Dose 2 on 08-17 (before the change applies) and on 08-18 onwards (moved).
    let stays = book(
        &mut ledger,
        1,
        appt(0, date(2021, 7, 20), 10, Product::Moderna),
    );
    let moves = book(
        &mut ledger,
        2,
        appt(0, date(2021, 7, 21), 10, Product::Moderna),
    );
    let change = six_weeks_from_0818();
    let plan = ledger.plan(&change, TODAY, &Neighbours::new()).unwrap();
    assert_eq!(plan.moves.len(), 1);
    let m = plan.moves[0];
    assert_eq!((m.person, m.dose), (PersonId(2), 2));
    assert_eq!(m.from, moves.second.unwrap().appointment);
    assert_eq!(m.to, appt(0, date(2021, 9, 1), 10, Product::Moderna));
    assert_eq!(plan.informed, vec![stays]);
    ledger.apply_plan(&plan);
    let moved = ledger.active_booking_of(PersonId(2)).unwrap();
    assert_eq!(moved.second.unwrap().appointment, m.to);
    let kept = ledger.active_booking_of(PersonId(1)).unwrap();
    assert_eq!(kept.second, stays.second);
    // New bookings use the new interval.
    let new = book(
        &mut ledger,
        3,
        appt(0, date(2021, 7, 22), 10, Product::Moderna),
    );
    assert_eq!(new.second.unwrap().appointment.day, date(2021, 9, 2));
}

#[test]
fn bad_changes_are_refused_with_their_reason() {
    let ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 10);
    let none = Neighbours::new();
    let refused = |change: SupplyChange| ledger.plan(&change, TODAY, &none).unwrap_err();
    assert_eq!(
        refused(cut(0, TODAY, Product::Moderna, 1)),
        PlanError::DayNotChangeable(TODAY)
    );
    assert_eq!(
        refused(cut(0, WEDNESDAY, Product::Pfizer, 1)),
        PlanError::ProductNotOffered(ClinicId(0), Product::Pfizer)
    );
    assert_eq!(
        refused(cut(7, WEDNESDAY, Product::Moderna, 1)),
        PlanError::NoSuchClinic(ClinicId(7))
    );
    assert_eq!(
        refused(SupplyChange::Interval {
            product: Product::Janssen,
            interval_days: 42,
            from_day: WEDNESDAY
        }),
        PlanError::InvalidInterval
    );
    assert_eq!(
        refused(SupplyChange::ProductSwitch {
            from: Product::Moderna,
            to: Product::Janssen,
            clinics: vec![ClinicId(0)],
            first_day: WEDNESDAY,
            last_day: WEDNESDAY,
        }),
        PlanError::IncompatibleProducts
    );
}

#[test]
fn undo_puts_supply_and_schedules_back() {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 10);
    let plan = ledger
        .plan(
            &SupplyChange::Interval {
                product: Product::Moderna,
                interval_days: 42,
                from_day: WEDNESDAY,
            },
            TODAY,
            &Neighbours::new(),
        )
        .unwrap();
    let undo = ledger.apply_plan(&plan);
    assert_eq!(ledger.schedules().get(Product::Moderna).interval_days, 42);
    ledger.undo_plan(undo);
    assert_eq!(ledger.schedules().get(Product::Moderna).interval_days, 28);

    let plan = ledger
        .plan(
            &cut(0, WEDNESDAY, Product::Moderna, 3),
            TODAY,
            &Neighbours::new(),
        )
        .unwrap();
    let undo = ledger.apply_plan(&plan);
    assert_eq!(ledger.planned(ClinicId(0), WEDNESDAY, Product::Moderna), 3);
    ledger.undo_plan(undo);
    ledger.reset();
    assert_eq!(ledger.planned(ClinicId(0), WEDNESDAY, Product::Moderna), 10);
    assert_eq!(
        ledger
            .availability()
            .supply_left(ClinicId(0), WEDNESDAY, Product::Moderna),
        10
    );
}

/// Moderna cut at three clinics, each the others' neighbour, with Pfizer allowed instead:
/// `(clinic, days from today, doses)`.
fn cuts_among_three(cuts: Vec<(u32, i32, u32)>) -> (SupplyChange, Neighbours) {
    let deliveries: Vec<Delivery> = cuts
        .into_iter()
        .map(|(c, d, doses)| Delivery {
            clinic: ClinicId(c),
            day: add_days(TODAY, d).unwrap(),
            product: Product::Moderna,
            doses,
        })
        .collect();
    let neighbours: Neighbours = (0..3)
        .map(|c| {
            (
                ClinicId(c),
                (0..3).filter(|&o| o != c).map(ClinicId).collect(),
            )
        })
        .collect();
    let change = SupplyChange::Deliveries {
        deliveries,
        switch_to: vec![Product::Pfizer],
    };
    (change, neighbours)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever was booked and however deliveries are cut: after the plan, nothing is over
    /// capacity, dose 2s stay consistent, and every displaced dose is moved or listed.
    #[test]
    fn after_any_cut_nothing_is_over_capacity(
        bookings in proptest::collection::vec((0u32..3, 1i32..20, 9u8..18), 1..120),
        cuts in proptest::collection::vec((0u32..3, 1i32..20, 0u32..6), 1..6),
    ) {
        let clinics: Vec<Clinic> = (0..3).map(|c| clinic(c, 3, vec![Product::Moderna, Product::Pfizer])).collect();
        let mut ledger = ledger(&clinics, 6);
        for (person, (c, d, hour)) in bookings.into_iter().enumerate() {
            let day = add_days(TODAY, d).unwrap();
            let _ = ledger.book(BookRequest {
                person: PersonId(person as u64 + 1),
                booked_by: PersonId(person as u64 + 1),
                first: appt(c, day, hour, Product::Moderna),
                today: TODAY,
            });
        }
        let before = ledger.active_bookings().count();
        let (change, neighbours) = cuts_among_three(cuts);
        let plan = ledger.plan(&change, TODAY, &neighbours).unwrap();
        prop_assert_eq!(plan.over_capacity_after, 0);
        ledger.apply_plan(&plan);
        assert_nothing_over_capacity(&ledger);
        assert_second_doses_consistent(&ledger);
        let cancelled = plan.unplaced.iter().filter(|u| u.dose == 1).count();
        prop_assert_eq!(ledger.active_bookings().count(), before - cancelled);
    }

    /// Whatever is booked, cancelled or moved while a cut is planned from a snapshot: once the
    /// plan and its catch-up are written, nothing is over capacity and the counts are the
    /// bookings'.
    #[test]
    fn whatever_happens_while_a_cut_is_planned_nothing_ends_over_capacity(
        bookings in proptest::collection::vec((0u32..3, 1i32..12, 9u8..18), 1..80),
        cuts in proptest::collection::vec((0u32..3, 1i32..12, 0u32..6), 1..6),
        meanwhile in proptest::collection::vec((0u8..3, 0u32..3, 1i32..12, 9u8..18, 0u64..100), 0..30),
    ) {
        let clinics: Vec<Clinic> = (0..3).map(|c| clinic(c, 3, vec![Product::Moderna, Product::Pfizer])).collect();
        let mut ledger = ledger(&clinics, 6);
        let request = |person: u64, c: u32, d: i32, hour: u8| BookRequest {
            person: PersonId(person),
            booked_by: PersonId(person),
            first: appt(c, add_days(TODAY, d).unwrap(), hour, Product::Moderna),
            today: TODAY,
        };
        for (person, (c, d, hour)) in bookings.into_iter().enumerate() {
            let _ = ledger.book(request(person as u64 + 1, c, d, hour));
        }
        let (change, neighbours) = cuts_among_three(cuts);
        plan_from_snapshot(&mut ledger, &change, &neighbours, |l| {
            for (what, c, d, hour, person) in meanwhile {
                let person = PersonId(person + 1);
                let held = l.active_booking_of(person).map(|b| b.id);
                let _ = match (what, held) {
                    (0, _) => l.book(request(person.0 + 1000, c, d, hour)).map(|_| ()),
                    (1, Some(id)) => l.cancel(person, id).map(|_| ()),
                    (_, Some(id)) => {
                        let first = request(0, c, d, hour).first;
                        l.change(person, id, first, TODAY).map(|_| ())
                    }
                    _ => Ok(()),
                };
            }
        });
        assert_nothing_over_capacity(&ledger);
        assert_second_doses_consistent(&ledger);
        assert_counts_match_bookings(&mut ledger);
    }
}

/// Every band and supply count of clinic 0 over the calendar's first 60 days.
fn counts(ledger: &Ledger) -> Vec<i32> {
    let availability = ledger.availability();
    let mut out = Vec::new();
    for offset in 0..60 {
        let day = TODAY.checked_add(jiff::Span::new().days(offset)).unwrap();
        for hour in FIRST_HOUR..END_HOUR {
            out.push(availability.band_left(ClinicId(0), day, hour));
        }
        for product in Product::ALL {
            out.push(availability.supply_left(ClinicId(0), day, product));
        }
    }
    out
}

/// The counts equal those of a ledger rebuilt from its own active bookings.
fn assert_counts_match_bookings(ledger: &mut Ledger) {
    let shown = counts(ledger);
    let bookings: Vec<Booking> = ledger.active_bookings().copied().collect();
    ledger.reset();
    for booking in bookings {
        ledger.restore(booking);
    }
    assert_eq!(shown, counts(ledger));
}

/// Twenty people on Wednesday, whose delivery is cut by half: ten move.
fn cut_wednesday() -> (Ledger, Plan) {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 20);
    for person in 1..=20 {
        let hour = 9 + (person % 9) as u8;
        book(
            &mut ledger,
            person,
            appt(0, WEDNESDAY, hour, Product::Moderna),
        );
    }
    let change = cut(0, WEDNESDAY, Product::Moderna, 10);
    let plan = ledger.plan(&change, TODAY, &Neighbours::new()).unwrap();
    assert_eq!(plan.people_moved(), 10);
    (ledger, plan)
}

#[test]
fn a_held_plan_keeps_old_and_new_places_until_each_booking_is_settled() {
    let (mut ledger, plan) = cut_wednesday();
    let band_left =
        |ledger: &Ledger, a: &Appointment| ledger.availability().band_left(a.clinic, a.day, a.hour);
    let left_before: Vec<i32> = plan
        .moves
        .iter()
        .map(|m| band_left(&ledger, &m.to))
        .collect();
    let (_undo, before) = ledger.hold_plan(&plan);
    // Every new place is held: each band moved into has one place fewer per move into it.
    for (m, left) in plan.moves.iter().zip(&left_before) {
        let into = plan.moves.iter().filter(|n| n.to == m.to).count() as i32;
        assert_eq!(
            band_left(&ledger, &m.to),
            left - into,
            "{:?} not held",
            m.to
        );
    }
    // Every new place is taken while every old one still is: Wednesday is over its cut.
    assert_eq!(
        ledger
            .availability()
            .supply_left(ClinicId(0), WEDNESDAY, Product::Moderna),
        -10
    );
    // A booking made between pieces cannot take Wednesday, which storage still counts full.
    let refused = ledger.book(BookRequest {
        person: PersonId(99),
        booked_by: PersonId(99),
        first: appt(0, WEDNESDAY, 9, Product::Moderna),
        today: TODAY,
    });
    assert_eq!(refused, Err(crate::booking::BookingError::SlotFull));
    for (before, after) in before.iter().zip(&plan.changed) {
        assert!(ledger.settle(before.as_ref().unwrap(), after));
    }
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
    assert_eq!(
        ledger
            .availability()
            .supply_left(ClinicId(0), WEDNESDAY, Product::Moderna),
        0
    );
    assert_counts_match_bookings(&mut ledger);
}

#[test]
fn a_booking_cancelled_between_pieces_stays_cancelled_and_gives_its_held_places_back() {
    let (mut ledger, plan) = cut_wednesday();
    let (_undo, before) = ledger.hold_plan(&plan);
    let leaving = plan.changed[0];
    ledger.cancel(leaving.person, leaving.id).unwrap();
    for (before, after) in before.iter().zip(&plan.changed) {
        let settled = ledger.settle(before.as_ref().unwrap(), after);
        assert_eq!(settled, after.id != leaving.id);
    }
    assert!(ledger.booking(leaving.id).is_none());
    assert_eq!(ledger.active_bookings().count(), 19);
    assert_nothing_over_capacity(&ledger);
    assert_counts_match_bookings(&mut ledger);
}

/// Clinic 0's Moderna first doses from 08-16 to 09-30 switch to Pfizer.
fn moderna_to_pfizer_at_clinic_0() -> SupplyChange {
    SupplyChange::ProductSwitch {
        from: Product::Moderna,
        to: Product::Pfizer,
        clinics: vec![ClinicId(0)],
        first_day: date(2021, 8, 16),
        last_day: date(2021, 9, 30),
    }
}

/// Moderna's second doses from 08-18 at six weeks.
fn six_weeks_from_0818() -> SupplyChange {
    SupplyChange::Interval {
        product: Product::Moderna,
        interval_days: 42,
        from_day: date(2021, 8, 18),
    }
}

/// What the writer does with a plan made off its thread: snapshot, plan from it while
/// `meanwhile` changes the live ledger, hold the plan, catch up on what changed, apply the
/// catch-up at once and settle every held booking. Returns the main plan and the catch-up.
fn plan_from_snapshot(
    ledger: &mut Ledger,
    change: &SupplyChange,
    neighbours: &Neighbours,
    meanwhile: impl FnOnce(&mut Ledger),
) -> (Plan, Plan) {
    let (snapshot, serial) = ledger.snapshot_for_planning().unwrap();
    let main = snapshot.plan(change, TODAY, neighbours).unwrap();
    meanwhile(ledger);
    drop(snapshot);
    let changed = ledger.changed_since_snapshot(serial).unwrap();
    let (_undo, held) = ledger.hold_plan(&main);
    let catch_up = ledger.catch_up_plan(change, TODAY, neighbours, &main, &held, changed);
    ledger.end_snapshot_journal();
    assert_eq!(catch_up.over_capacity_after, 0);
    ledger.apply_plan(&catch_up);
    for (found, after) in held.iter().zip(&main.changed) {
        if let Some(found) = found {
            assert!(ledger.settle(found, after));
        }
    }
    (main, catch_up)
}

#[test]
fn a_snapshot_plans_without_the_bookings_made_after_it_and_a_second_waits() {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 30);
    book(&mut ledger, 1, appt(0, WEDNESDAY, 9, Product::Moderna));
    let (snapshot, _) = ledger.snapshot_for_planning().unwrap();
    book(&mut ledger, 2, appt(0, WEDNESDAY, 9, Product::Moderna));
    assert_eq!(snapshot.active_bookings().count(), 1);
    assert_eq!(
        snapshot
            .availability()
            .supply_left(ClinicId(0), WEDNESDAY, Product::Moderna),
        29
    );
    assert_eq!(ledger.active_bookings().count(), 2);
    assert_eq!(
        ledger.snapshot_for_planning().unwrap_err(),
        crate::ledger::PlannerBusy
    );
    drop(snapshot);
    assert!(ledger.snapshot_for_planning().is_ok());
}

#[test]
fn a_snapshot_copied_into_recycled_buffers_has_the_counts_of_its_moment() {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 30);
    ledger.prepare_snapshot_buffers();
    book(&mut ledger, 1, appt(0, WEDNESDAY, 9, Product::Moderna));
    let (first, _) = ledger.snapshot_for_planning().unwrap();
    book(&mut ledger, 2, appt(0, WEDNESDAY, 9, Product::Moderna));
    ledger.recycle_snapshot(first);
    let (second, _) = ledger.snapshot_for_planning().unwrap();
    book(&mut ledger, 3, appt(0, WEDNESDAY, 9, Product::Moderna));
    let left = |l: &Ledger| {
        let a = l.availability();
        (
            a.supply_left(ClinicId(0), WEDNESDAY, Product::Moderna),
            a.band_left(ClinicId(0), WEDNESDAY, 9),
        )
    };
    assert_eq!(left(&second), (28, 8));
    assert_eq!(second.active_bookings().count(), 2);
    assert_eq!(left(&ledger), (27, 7));
    assert_eq!(counts(&second), {
        let mut l = ledger;
        l.cancel(PersonId(3), l.active_booking_of(PersonId(3)).unwrap().id)
            .unwrap();
        counts(&l)
    });
}

#[test]
fn bookings_made_into_a_cut_day_while_it_was_planned_move_too_the_latest_first() {
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 30);
    for person in 1..=20 {
        book(
            &mut ledger,
            person,
            appt(0, WEDNESDAY, 9 + (person % 9) as u8, Product::Moderna),
        );
    }
    let change = cut(0, WEDNESDAY, Product::Moderna, 10);
    let (main, catch_up) = plan_from_snapshot(&mut ledger, &change, &Neighbours::new(), |l| {
        // One the plan moves cancels; two more book Wednesday.
        l.cancel(PersonId(20), l.active_booking_of(PersonId(20)).unwrap().id)
            .unwrap();
        book(l, 21, appt(0, WEDNESDAY, 12, Product::Moderna));
        book(l, 22, appt(0, WEDNESDAY, 13, Product::Moderna));
    });
    assert_eq!(main.people_moved(), 10);
    let caught: Vec<PersonId> = catch_up.moves.iter().map(|m| m.person).collect();
    assert_eq!(catch_up.people_moved(), 2, "{caught:?}");
    assert!(caught.contains(&PersonId(21)) && caught.contains(&PersonId(22)));
    assert_eq!(
        ledger
            .availability()
            .supply_left(ClinicId(0), WEDNESDAY, Product::Moderna),
        0
    );
    // Person 20 cancelled: the plan wrote nothing for them.
    assert!(ledger.active_booking_of(PersonId(20)).is_none());
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
    assert_counts_match_bookings(&mut ledger);
}

#[test]
fn a_place_a_move_goes_into_taken_meanwhile_moves_the_newcomer_not_the_plan() {
    let thursday = add_days(WEDNESDAY, 1).unwrap();
    let mut ledger = ledger(&[clinic(0, 10, vec![Product::Moderna])], 20);
    for person in 1..=20 {
        book(
            &mut ledger,
            person,
            appt(0, WEDNESDAY, 9 + (person % 9) as u8, Product::Moderna),
        );
    }
    // Thursday has 10 doses: exactly what the ten moved from Wednesday need.
    let change = SupplyChange::Deliveries {
        deliveries: vec![
            Delivery {
                clinic: ClinicId(0),
                day: WEDNESDAY,
                product: Product::Moderna,
                doses: 10,
            },
            Delivery {
                clinic: ClinicId(0),
                day: thursday,
                product: Product::Moderna,
                doses: 10,
            },
        ],
        switch_to: vec![],
    };
    let (main, catch_up) = plan_from_snapshot(&mut ledger, &change, &Neighbours::new(), |l| {
        book(l, 99, appt(0, thursday, 9, Product::Moderna));
    });
    assert_eq!(main.people_moved(), 10);
    assert!(
        main.moves
            .iter()
            .filter(|m| m.dose == 1)
            .all(|m| m.to.day == thursday)
    );
    assert_eq!(catch_up.moves.len(), 2, "{:?}", catch_up.moves);
    assert!(catch_up.moves.iter().all(|m| m.person == PersonId(99)));
    let newcomer = ledger.active_booking_of(PersonId(99)).unwrap();
    assert_ne!(newcomer.first.appointment.day, thursday);
    for m in &main.moves {
        let b = ledger.active_booking_of(m.person).unwrap();
        assert!(b.doses().any(|d| d.appointment == m.to));
    }
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
    assert_counts_match_bookings(&mut ledger);
}

#[test]
fn a_booking_made_meanwhile_under_a_new_interval_is_moved_or_told() {
    let mut ledger = ledger(&[clinic(0, 20, vec![Product::Moderna])], 20);
    book(
        &mut ledger,
        1,
        appt(0, date(2021, 7, 21), 10, Product::Moderna),
    );
    let change = six_weeks_from_0818();
    let (main, catch_up) = plan_from_snapshot(&mut ledger, &change, &Neighbours::new(), |l| {
        book(l, 2, appt(0, date(2021, 7, 22), 10, Product::Moderna)); // dose 2 too early: moves
        book(l, 3, appt(0, date(2021, 7, 20), 10, Product::Moderna)); // dose 2 before 08-18: told
    });
    assert_eq!(main.moves.len(), 1);
    assert_eq!(catch_up.moves.len(), 1);
    assert_eq!(catch_up.moves[0].person, PersonId(2));
    assert_eq!(catch_up.moves[0].to.day, date(2021, 9, 2));
    assert_eq!(
        catch_up
            .informed
            .iter()
            .map(|b| b.person)
            .collect::<Vec<_>>(),
        [PersonId(3)]
    );
    assert_counts_match_bookings(&mut ledger);
}

#[test]
fn a_first_dose_booked_meanwhile_inside_a_product_switch_is_switched() {
    let mut ledger = ledger(
        &[clinic(0, 20, vec![Product::Moderna, Product::Pfizer])],
        20,
    );
    book(
        &mut ledger,
        1,
        appt(0, date(2021, 8, 18), 11, Product::Moderna),
    );
    let change = moderna_to_pfizer_at_clinic_0();
    let (main, catch_up) = plan_from_snapshot(&mut ledger, &change, &Neighbours::new(), |l| {
        book(l, 2, appt(0, date(2021, 8, 19), 11, Product::Moderna));
    });
    assert_eq!(main.people_moved(), 1);
    assert_eq!(catch_up.people_moved(), 1);
    let switched = ledger.active_booking_of(PersonId(2)).unwrap();
    assert_eq!(switched.first.appointment.product, Product::Pfizer);
    assert_nothing_over_capacity(&ledger);
    assert_second_doses_consistent(&ledger);
    assert_counts_match_bookings(&mut ledger);
}
