//! One place per verified person: the pre-queue draw is over verified people, not tickets. A
//! script that mints a thousand tickets and verifies them all with one identity holds one place,
//! the same on every ticket, and its chance of a front place is an honest person's (chi-square,
//! significance 0.001, seeded: deterministic). Tickets never verified are drawn behind everyone
//! verified, so farming them wins nothing.

mod common;

use common::*;
use queue::{Opening, PermKey, QueueId, QueueState, Rank, Ticket};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::HashSet;

/// Chi-square critical value at p = 0.001 with 19 degrees of freedom.
const CHI2_DF19: f64 = 43.820;

fn opening() -> Opening {
    Opening::new(
        QueueId(2021),
        OPENS_AT_MS - 30 * MINUTE_MS,
        OPENS_AT_MS,
        500,
        600_000,
    )
    .expect("valid")
}

const SCRIPT: u64 = 1;

/// A pre-queue: `honest` people with one ticket each, all verified, and a script with
/// `script_tickets` tickets verified as one person (the first `script_verifies` of them;
/// the rest stay unverified). Arrivals interleave; returns the database and every ticket.
struct Night {
    db: Db,
    honest: Vec<Ticket>,
    script: Vec<Ticket>,
}

fn night(honest: u64, script_tickets: u64, script_verifies: u64) -> Night {
    let mut db = Db::new(opening());
    let mut node = Node::start(&db, keyring(), poll(2_000.0, 1_000_000), 64);
    let mut people = People::default();
    let start = OPENS_AT_MS - 30 * MINUTE_MS;
    let total = honest + script_tickets;
    let mut night = Night {
        db: Db::new(opening()),
        honest: Vec::new(),
        script: Vec::new(),
    };
    for i in 0..total {
        let now = start + i * (30 * MINUTE_MS - 1) / total;
        let ticket = node.arrive(&mut db, now, session(i)).ticket;
        // The script's tickets come in a burst in the middle; honest people throughout.
        let is_script = i >= honest / 2 && i < honest / 2 + script_tickets;
        if is_script {
            let n = night.script.len() as u64;
            let ticket = if n < script_verifies {
                people.verify(&mut db, &mut node, now, &ticket, SCRIPT).0
            } else {
                ticket
            };
            night.script.push(ticket);
        } else {
            let person = 100 + i;
            let (ticket, _) = people.verify(&mut db, &mut node, now, &ticket, person);
            night.honest.push(ticket);
        }
    }
    night.db = db;
    night
}

fn opened(db: &Db, seed: u64) -> QueueState {
    let mut s = db.read();
    assert!(s.open(PermKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))));
    s
}

fn rank(s: &QueueState, t: &Ticket) -> u64 {
    s.rank(t).expect("ranked").0
}

#[test]
fn a_script_with_1000_tickets_and_one_identity_holds_one_place() {
    let n = night(99, 1_000, 1_000);
    let s = opened(&n.db, 7);
    let f0 = s.record().free_flow_end.expect("frozen");
    assert_eq!(
        s.verified_count(),
        Some(100),
        "99 honest people and one script"
    );
    let script_ranks: HashSet<u64> = n.script.iter().map(|t| rank(&s, t)).collect();
    assert_eq!(script_ranks.len(), 1, "one place, the same on every ticket");
    let mut all: Vec<u64> = n.honest.iter().map(|t| rank(&s, t)).collect();
    all.extend(script_ranks);
    all.sort_unstable();
    assert_eq!(
        all,
        (f0..f0 + 100).collect::<Vec<_>>(),
        "the verified people hold the first 100 places of the pre-queue, one each"
    );
}

#[test]
fn unverified_tickets_are_drawn_behind_every_verified_person() {
    // The script verifies one ticket and farms 999 more without verifying them.
    let n = night(99, 1_000, 1);
    let s = opened(&n.db, 8);
    let f0 = s.record().free_flow_end.expect("frozen");
    let verified_last = n
        .honest
        .iter()
        .chain(&n.script[..1])
        .map(|t| rank(&s, t))
        .max()
        .expect("people");
    assert_eq!(verified_last, f0 + 99);
    let farmed_first = n.script[1..]
        .iter()
        .map(|t| rank(&s, t))
        .min()
        .expect("farmed");
    assert!(
        farmed_first > verified_last,
        "farming unverified tickets places them behind everyone verified"
    );
    // Every place is held once: the farmed tickets do not collide with anyone.
    let mut ranks: Vec<u64> = n
        .honest
        .iter()
        .chain(&n.script)
        .map(|t| rank(&s, t))
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    assert_eq!(ranks.len(), 99 + 1 + 999);
}

#[test]
fn ten_tabs_of_one_verified_person_show_one_place() {
    let mut db = Db::new(opening());
    let mut node = Node::start(&db, keyring(), poll(2_000.0, 1_000_000), 16);
    let mut people = People::default();
    let now = OPENS_AT_MS - 10 * MINUTE_MS;
    let mut tabs = Vec::new();
    for tab in 0..10 {
        // Each tab lost the others' cookies (private windows, devices): a new ticket each.
        let ticket = node.arrive(&mut db, now, session(tab)).ticket;
        tabs.push(people.verify(&mut db, &mut node, now, &ticket, 42).0);
    }
    for other in 0..30 {
        let ticket = node.arrive(&mut db, now, session(100 + other)).ticket;
        people.verify(&mut db, &mut node, now, &ticket, 1_000 + other);
    }
    let s = opened(&db, 9);
    let places: HashSet<Rank> = tabs.iter().map(|t| s.rank(t).expect("ranked")).collect();
    assert_eq!(places.len(), 1, "{places:?}");
    assert_eq!(s.verified_count(), Some(31));
}

#[test]
fn a_ticket_verified_for_one_person_cannot_be_verified_for_another() {
    let mut db = Db::new(opening());
    let mut node = Node::start(&db, keyring(), poll(2_000.0, 1_000_000), 16);
    let mut people = People::default();
    let now = OPENS_AT_MS - MINUTE_MS;
    let ticket = node.arrive(&mut db, now, session(1)).ticket;
    let (mine, _) = people.verify(&mut db, &mut node, now, &ticket, 5);
    let other = queue::Verified {
        person: 6,
        draw: Some(0),
    };
    assert_eq!(
        node.room.verify(now, &mine, other).map(|_| ()),
        Err(queue::RoomError::OtherPerson)
    );
}

#[test]
fn verifying_after_the_opening_gives_no_draw_and_keeps_the_ticket_place() {
    let mut db = Db::new(opening());
    let mut node = Node::start(&db, keyring(), poll(2_000.0, 1_000_000), 16);
    let mut people = People::default();
    let early = node
        .arrive(&mut db, OPENS_AT_MS - MINUTE_MS, session(1))
        .ticket;
    let s = opened(&db, 10);
    db.write(&s);
    node.refresh(&db);
    let before = node.room.state().rank(&early).expect("ranked");
    let (late, _) = people.verify(&mut db, &mut node, OPENS_AT_MS + 1, &early, 77);
    assert_eq!(late.verified.and_then(|v| v.draw), None);
    assert_eq!(node.room.state().rank(&late), Ok(before));
}

/// Over many seeded openings, the script's place among the verified is uniform (its chance of
/// any place, the front included, is 1/20), exactly like an honest person's: the 1,000 tickets
/// bought it nothing.
#[test]
fn a_script_s_chance_of_a_front_place_equals_an_honest_person_s_chi_square() {
    let n = night(19, 1_000, 1_000);
    let opens = 4_000;
    let mut script = [0u64; 20];
    let mut honest = [0u64; 20];
    let mut script_front = 0u64;
    for seed in 0..opens {
        let s = opened(&n.db, 1_000 + seed);
        let f0 = s.record().free_flow_end.expect("frozen");
        let place = (rank(&s, &n.script[seed as usize % 1_000]) - f0) as usize;
        script[place] += 1;
        script_front += u64::from(place == 0);
        honest[(rank(&s, &n.honest[0]) - f0) as usize] += 1;
    }
    let chi_square = |counts: &[u64; 20]| {
        let expected = opens as f64 / 20.0;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum::<f64>()
    };
    assert!(chi_square(&script) < CHI2_DF19, "{script:?}");
    assert!(chi_square(&honest) < CHI2_DF19, "{honest:?}");
    // The front place in particular: 1/20 of the openings, within 3.3 standard deviations.
    let sd = (opens as f64 * 0.05 * 0.95).sqrt();
    assert!(
        (script_front as f64 - opens as f64 / 20.0).abs() < 3.3 * sd,
        "{script_front} front places in {opens}"
    );
}

/// The check above can fail: under a per-ticket draw (what unverified tickets still get among
/// themselves), the best of the script's 1,000 tickets among 1,019 is nearly always at the front.
#[test]
fn the_check_detects_a_per_ticket_draw() {
    let n = night(19, 1_000, 0);
    let opens = 400;
    let mut best = [0u64; 20];
    for seed in 0..opens {
        let s = opened(&n.db, 5_000 + seed);
        let segment = s.record().free_flow_end.unwrap_or(0) + 19;
        let place = n.script.iter().map(|t| rank(&s, t)).min().expect("farmed") - segment;
        best[place.min(19) as usize] += 1;
    }
    let expected = opens as f64 / 20.0;
    let chi: f64 = best
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum();
    assert!(chi > CHI2_DF19, "{best:?}");
}
