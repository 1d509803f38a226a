//! Random request sequences against the whole service over real HTTP: bookings (for oneself and
//! for a family member, some replayed with the same Idempotency-Key), cancellations, changes,
//! and supply cuts (previewed and applied, or entered without a plan), on a small world where
//! places run out. After every step, straight from the database and the admin API:
//!
//! - no clinic-day band holds more appointments than its staff, and no clinic-day more doses of
//!   a product than planned for it (cuts included);
//! - nobody holds two active bookings, and every dose 2 fits its dose 1;
//! - every booking the service acknowledged exists, as acknowledged at the time, and stays
//!   active unless its person saw it cancelled or a supply change could not place it;
//! - a step that every answer refused changed no booking;
//! - no answer is a server error, and every refusal is in the API's JSON error shape.
//!
//! Proptest shrinks a failing sequence to a short one and records it in
//! `random_requests.proptest-regressions`.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use common::{
    TestServer, Visitor, assert_within_planned_supply, booking_body, clinic, operator, rrn_1967,
};
use domain::booking::{Booking, BookingId};
use domain::product::Product;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use store::ReadStore;

/// People who log in at the start of each case; each may also book for a family member.
const PEOPLE: usize = 5;
const FAMILY: usize = 2;
/// Clinics 0–2 exist; 3 does not (a refusal to exercise).
const CLINICS: u32 = 4;
/// Bookable days used: Tuesday 2021-07-20 and the two days after.
const DAYS: [&str; 3] = ["2021-07-20", "2021-07-21", "2021-07-22"];
const PRODUCTS: [&str; 3] = ["moderna", "pfizer", "janssen"];

/// Small enough that bands and supplies fill within a few steps.
fn tight_world() -> Vec<store::ClinicRecord> {
    vec![
        clinic(
            0,
            11010,
            37.5735,
            126.9790,
            2,
            &[(Product::Moderna, 4), (Product::Pfizer, 3)],
        ),
        clinic(1, 11010, 37.5750, 126.9800, 1, &[(Product::Moderna, 2)]),
        clinic(2, 11010, 37.5760, 126.9810, 2, &[(Product::Pfizer, 3)]),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Book {
        who: usize,
        family: Option<usize>,
        clinic: u32,
        day: usize,
        /// 8 is before opening hours: refused.
        hour: u8,
        product: usize,
        /// Idempotency-Key `k{who}-{n}`: a repeated key replays the first answer.
        key: Option<u8>,
    },
    Cancel {
        who: usize,
        pick: usize,
    },
    Change {
        who: usize,
        pick: usize,
        clinic: u32,
        day: usize,
        hour: u8,
    },
    /// Preview a delivery change, then apply exactly that plan.
    Cut {
        clinic: u32,
        day: usize,
        product: usize,
        doses: u32,
    },
    /// The same without a plan: refused with 409 if it would move anyone.
    Deliveries {
        clinic: u32,
        day: usize,
        product: usize,
        doses: u32,
    },
}

fn step() -> impl Strategy<Value = Step> {
    // Mostly requests that can succeed (so places fill up), some that must be refused.
    let who = 0..PEOPLE;
    let clinic = prop_oneof![9 => 0..CLINICS - 1, 1 => Just(CLINICS - 1)];
    let day = 0..DAYS.len();
    let hour = prop_oneof![9 => 9u8..=10, 1 => Just(8u8)];
    let product = prop_oneof![9 => 0..2usize, 1 => Just(2usize)];
    prop_oneof![
        5 => (who.clone(), proptest::option::weighted(0.25, 0..FAMILY), clinic.clone(),
              day.clone(), hour.clone(), product.clone(), proptest::option::of(0u8..3))
            .prop_map(|(who, family, clinic, day, hour, product, key)| Step::Book {
                who, family, clinic, day, hour, product, key
            }),
        2 => (who.clone(), 0usize..8).prop_map(|(who, pick)| Step::Cancel { who, pick }),
        2 => (who, 0usize..8, clinic.clone(), day.clone(), hour)
            .prop_map(|(who, pick, clinic, day, hour)| Step::Change { who, pick, clinic, day, hour }),
        1 => (clinic.clone(), day.clone(), product.clone(), 0u32..4)
            .prop_map(|(clinic, day, product, doses)| Step::Cut { clinic, day, product, doses }),
        1 => (clinic, day, product, 0u32..6)
            .prop_map(|(clinic, day, product, doses)| Step::Deliveries { clinic, day, product, doses }),
    ]
}

/// What a client was told about a booking.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Told {
    Booked,
    Cancelled,
}

/// Everything the clients of one case hold and were told.
struct Clients {
    people: Vec<Visitor>,
    /// Bookings each person acknowledged having made (for themselves or family), in order.
    made: Vec<Vec<u64>>,
    told: BTreeMap<u64, Told>,
}

fn family_rrn(n: usize) -> String {
    rrn_1967(500_000 + n as u32)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_requests_keep_every_booking_invariant(steps in proptest::collection::vec(step(), 5..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(steps));
    }
}

async fn run(steps: Vec<Step>) {
    let server = TestServer::start(tight_world()).await;
    let mut people = Vec::new();
    for n in 0..PEOPLE {
        people.push(server.login("김예약", &rrn_1967(n as u32)).await);
    }
    let mut clients = Clients {
        people,
        made: vec![Vec::new(); PEOPLE],
        told: BTreeMap::new(),
    };
    let (_w, reader) = store::sqlite::open(&server.dir.path().join("yeyak.db")).unwrap();
    for (i, step) in steps.iter().enumerate() {
        let before = all_bookings(&reader);
        let changed_something = perform(&server, &reader, &mut clients, step).await;
        let after = all_bookings(&reader);
        if !changed_something {
            assert_eq!(
                before, after,
                "step {i} {step:?} was refused but changed bookings"
            );
        }
        assert_within_planned_supply(&server, CLINICS - 1).await;
        assert_staff_capacity(&reader);
        assert_acknowledged_present(&reader, &clients, &after);
    }
}

/// Sends one step's requests; whether any of them was accepted (a 2xx).
async fn perform(
    server: &TestServer,
    reader: &store::sqlite::SqliteReader,
    clients: &mut Clients,
    step: &Step,
) -> bool {
    match *step {
        Step::Book {
            who,
            family,
            clinic,
            day,
            hour,
            product,
            key,
        } => {
            let mut body = booking_body(clinic, DAYS[day], hour, PRODUCTS[product]);
            if let Some(f) = family {
                body["family"] =
                    json!({"name": "김가족", "rrn": family_rrn(f), "phone": "010-2222-3333"});
            }
            let key = key.map(|n| format!("k{who}-{n}"));
            let (status, answer) = checked(
                server
                    .post(
                        "/api/v1/bookings",
                        Some(&clients.people[who]),
                        body,
                        key.as_deref(),
                    )
                    .await,
            );
            if status != 201 {
                return false;
            }
            let stored = stored(reader, &answer);
            let id = stored.id.0;
            let replayed = clients.told.contains_key(&id);
            if !replayed {
                let first = stored.first.appointment;
                assert_eq!(
                    (
                        first.clinic.0,
                        first.day.to_string(),
                        first.hour,
                        first.product.code()
                    ),
                    (clinic, DAYS[day].to_string(), hour, PRODUCTS[product]),
                    "booking {id} is not what was asked"
                );
                assert!(stored.is_active());
                clients.made[who].push(id);
                clients.told.insert(id, Told::Booked);
            }
            assert_eq!(
                answer["doses"][0]["date"],
                json!(stored.first.appointment.day.to_string())
            );
            !replayed
        }
        Step::Cancel { who, pick } => {
            let Some(&id) = pick_one(&clients.made[who], pick) else {
                return false;
            };
            let (status, _) = checked(
                server
                    .post(
                        &format!("/api/v1/bookings/{id}/cancel"),
                        Some(&clients.people[who]),
                        json!({}),
                        None,
                    )
                    .await,
            );
            if status != 200 {
                return false;
            }
            clients.told.insert(id, Told::Cancelled);
            true
        }
        Step::Change {
            who,
            pick,
            clinic,
            day,
            hour,
        } => {
            let Some(&id) = pick_one(&clients.made[who], pick) else {
                return false;
            };
            let (status, answer) = checked(
                server
                    .post(
                        &format!("/api/v1/bookings/{id}/change"),
                        Some(&clients.people[who]),
                        json!({"clinic_id": clinic, "date": DAYS[day], "hour": hour}),
                        None,
                    )
                    .await,
            );
            if status != 200 {
                return false;
            }
            let stored = stored(reader, &answer);
            let new_id = stored.id.0;
            let first = stored.first.appointment;
            assert_eq!(
                (first.clinic.0, first.day.to_string(), first.hour),
                (clinic, DAYS[day].to_string(), hour),
                "change of {id} is not what was asked"
            );
            assert!(stored.is_active());
            if new_id != id {
                clients.told.insert(id, Told::Cancelled);
                clients.made[who].push(new_id);
            }
            clients.told.insert(new_id, Told::Booked);
            true
        }
        Step::Cut {
            clinic,
            day,
            product,
            doses,
        } => {
            let change = json!({
                "kind": "deliveries",
                "deliveries": [{"clinic": clinic, "day": DAYS[day], "product": PRODUCTS[product], "doses": doses}],
            });
            let (status, plan) = checked(
                server
                    .post(
                        "/api/v1/admin/supply-changes/plan",
                        Some(&operator()),
                        change.clone(),
                        None,
                    )
                    .await,
            );
            if status != 200 {
                return false;
            }
            let mut apply = change;
            apply["plan_id"] = plan["plan_id"].clone();
            let (status, applied) = checked(
                server
                    .post(
                        "/api/v1/admin/supply-changes/apply",
                        Some(&operator()),
                        apply,
                        None,
                    )
                    .await,
            );
            assert_eq!(
                status, 200,
                "nothing changed between preview and apply: {applied}"
            );
            true
        }
        Step::Deliveries {
            clinic,
            day,
            product,
            doses,
        } => {
            let body = json!({
                "deliveries": [{"clinic": clinic, "day": DAYS[day], "product": PRODUCTS[product], "doses": doses}],
            });
            let response = operator()
                .apply(
                    server
                        .http
                        .put(server.url("/api/v1/admin/deliveries"))
                        .json(&body),
                )
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer = response.json().await.unwrap_or(Value::Null);
            let (status, answer) = checked((status, answer));
            if status == 409 {
                assert_eq!(answer["error"], "plan_required", "{answer}");
            }
            status == 200
        }
    }
}

/// The stored row of the booking an answer acknowledged.
fn stored(reader: &store::sqlite::SqliteReader, answer: &Value) -> Booking {
    let id = answer["id"].as_u64().unwrap();
    reader
        .booking(BookingId(id))
        .unwrap()
        .unwrap_or_else(|| panic!("acknowledged booking {id} is not stored"))
}

fn pick_one(ids: &[u64], pick: usize) -> Option<&u64> {
    (!ids.is_empty()).then(|| &ids[pick % ids.len()])
}

/// No server error; a refusal carries a code and both messages.
fn checked((status, answer): (u16, Value)) -> (u16, Value) {
    assert!(status < 500, "server error {status}: {answer}");
    if status >= 400 {
        assert!(answer["error"].is_string(), "{status}: {answer}");
        assert!(
            answer["message_ko"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
        assert!(
            answer["message_en"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    (status, answer)
}

/// Every booking row, by id (ids are handed out in order; a few missing ids end the scan).
fn all_bookings(reader: &store::sqlite::SqliteReader) -> BTreeMap<u64, Booking> {
    let mut rows = BTreeMap::new();
    let mut misses = 0;
    let mut id = 1;
    while misses < 8 {
        match reader.booking(BookingId(id)).unwrap() {
            Some(b) => {
                rows.insert(id, b);
                misses = 0;
            }
            None => misses += 1,
        }
        id += 1;
    }
    rows
}

/// No band holds more appointments than its clinic's staff can vaccinate.
fn assert_staff_capacity(reader: &store::sqlite::SqliteReader) {
    let world = tight_world();
    let audit = reader
        .audit(&domain::product::Schedules::default())
        .unwrap();
    for (clinic, day, hour, count) in audit.per_band {
        let staff = world[clinic as usize].clinic.hours.per_band;
        assert!(
            count <= u32::from(staff),
            "clinic {clinic} on {day} at {hour}:00 holds {count} for {staff} places"
        );
    }
}

/// Every acknowledged booking is stored; active unless its person saw it cancelled or a supply
/// change could not place it (then it is listed as unplaced).
fn assert_acknowledged_present(
    reader: &store::sqlite::SqliteReader,
    clients: &Clients,
    rows: &BTreeMap<u64, Booking>,
) {
    for (&id, &told) in &clients.told {
        let booking = rows
            .get(&id)
            .unwrap_or_else(|| panic!("acknowledged booking {id} is gone"));
        match told {
            Told::Cancelled => assert!(
                !booking.is_active(),
                "booking {id} was cancelled but is active"
            ),
            Told::Booked if booking.is_active() => {}
            Told::Booked => {
                let records = reader.reschedules_of(&[BookingId(id)]).unwrap();
                assert!(
                    records.iter().any(|r| r.to.is_none()),
                    "acknowledged booking {id} is inactive, and no supply change unplaced it: {booking:?}"
                );
            }
        }
    }
}
