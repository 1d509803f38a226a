//! The 2021 bypasses, replayed against the core, and restarts mid-opening.

mod common;

use common::*;
use queue::{
    Class, ControllerConfig, Exchange, KeyId, KeyMaterial, Keyring, Observations, Opening, QueueId,
    Rank, RankError, RoomError, Status, TokenError, WaitingRoom,
};
use std::collections::HashSet;

fn opening() -> Opening {
    Opening::new(
        QueueId(7),
        OPENS_AT_MS - 30 * MINUTE_MS,
        OPENS_AT_MS,
        100,
        600_000,
    )
    .expect("valid")
}

fn obs(active: u64, started: std::ops::Range<u64>) -> Observations {
    Observations {
        active_sessions: active,
        latency_p99_ms: Some(80),
        saturated: false,
        started: started.map(Rank).collect(),
        empty: Vec::new(),
        notice_delay_ms: 1_000,
    }
}

struct World {
    db: Db,
    node: Node,
    leader: Leader,
}

fn world(block: u64) -> World {
    let db = Db::new(opening());
    World {
        node: Node::start(&db, keyring(), poll(2_000.0, 1_000_000), block),
        leader: Leader::new(ControllerConfig::for_opening(&opening()), 11),
        db,
    }
}

impl World {
    fn tick(&mut self, now: u64, o: Observations) {
        self.leader.tick(&mut self.db, now, &o);
        self.node.refresh(&self.db);
    }
    fn status(&self, now: u64, token: &str) -> Status {
        self.node.room.status(now, token).expect("valid ticket").1
    }
}

fn pass_of(e: Exchange) -> (String, queue::Pass) {
    match e {
        Exchange::Pass { token, pass } => (token, pass),
        Exchange::NotYet(s) => panic!("not admitted: {s:?}"),
    }
}

#[test]
fn before_the_opening_nothing_gets_through() {
    // 2021: a direct link to the booking page worked before the opening.
    let mut w = world(8);
    let a = w.node.arrive(&mut w.db, OPENS_AT_MS - 1, session(1));
    w.tick(OPENS_AT_MS - 1, obs(0, 0..0));
    assert!(matches!(a.status, Status::BeforeOpening { .. }));
    let e = w.node.room.exchange(OPENS_AT_MS - 1, &a.token, &session(1));
    assert!(matches!(
        e,
        Ok(Exchange::NotYet(Status::BeforeOpening { .. }))
    ));
    // No pass, a ticket instead of a pass, garbage: all refused.
    for bad in ["", "x", a.token.as_str()] {
        assert!(
            w.node
                .room
                .check_pass(OPENS_AT_MS, bad, &session(1))
                .is_err()
        );
    }
    assert_eq!(
        w.node.room.check_pass(OPENS_AT_MS, &a.token, &session(1)),
        Err(TokenError::WrongKind)
    );
}

#[test]
fn the_class_is_decided_by_the_server_clock_at_the_opening_second() {
    let mut w = world(8);
    let late_pre = w.node.arrive(&mut w.db, OPENS_AT_MS - 1, session(1));
    let first_fifo = w.node.arrive(&mut w.db, OPENS_AT_MS, session(2));
    assert_eq!(late_pre.ticket.class, Class::Pre);
    assert_eq!(first_fifo.ticket.class, Class::Fifo);
    // Before the opening is committed the FIFO ticket has no place yet either.
    assert!(matches!(first_fifo.status, Status::BeforeOpening { .. }));
    w.tick(OPENS_AT_MS, obs(0, 0..0));
    let r_pre = w.status(OPENS_AT_MS, &late_pre.token).rank();
    let r_fifo = w.status(OPENS_AT_MS, &first_fifo.token).rank();
    assert!(r_pre < r_fifo, "{r_pre:?} {r_fifo:?}");
    // A node whose clock is slow still issues FIFO tickets once the opening is committed.
    let slow = w.node.arrive(&mut w.db, OPENS_AT_MS - 5_000, session(3));
    assert_eq!(slow.ticket.class, Class::Fifo);
}

#[test]
fn reload_reconnect_and_ten_tabs_keep_the_same_place_and_admit_nobody_else() {
    let mut w = world(8);
    let tokens: Vec<String> = (0..50)
        .map(|i| {
            w.node
                .arrive(&mut w.db, OPENS_AT_MS - 1000 + i, session(i))
                .token
        })
        .collect();
    w.tick(OPENS_AT_MS, obs(0, 0..0));
    let ranks: Vec<Rank> = tokens
        .iter()
        .map(|t| w.status(OPENS_AT_MS, t).rank().expect("ranked"))
        .collect();
    // Ten tabs and a hundred reloads of ticket 0, at various times: same rank every time.
    for k in 0..100u64 {
        let s = w.status(OPENS_AT_MS + k * 37, &tokens[0]);
        assert_eq!(s.rank(), Some(ranks[0]));
    }
    // Everyone admitted exchanges from ten tabs: the watermark (admissions) does not move.
    let w_before = w.db.read().watermark();
    let mut passes = HashSet::new();
    for (i, t) in tokens.iter().enumerate() {
        for _tab in 0..10 {
            if let Ok(Exchange::Pass { pass, .. }) =
                w.node.room.exchange(OPENS_AT_MS + 5, t, &session(i as u64))
            {
                passes.insert((pass.session, pass.rank));
            }
        }
    }
    assert_eq!(w.db.read().watermark(), w_before);
    let admitted = ranks.iter().filter(|r| r.0 < w_before).count();
    assert!(admitted > 0 && admitted < 50, "{admitted}");
    assert_eq!(
        passes.len(),
        admitted,
        "ten tabs yield one admission each, not ten"
    );
    // A controller tick fed with the distinct sessions admits exactly as without tabs.
    w.tick(OPENS_AT_MS + 100, obs(passes.len() as u64, 0..0));
    assert!(w.db.read().watermark() >= w_before);
}

#[test]
fn changed_foreign_expired_and_other_queue_tokens_are_refused() {
    let mut w = world(8);
    let a = w.node.arrive(&mut w.db, OPENS_AT_MS + 10, session(1));
    let b = w.node.arrive(&mut w.db, OPENS_AT_MS + 11, session(2));
    w.tick(OPENS_AT_MS + 100, obs(0, 0..0));
    assert!(w.status(OPENS_AT_MS + 100, &a.token).is_admitted());

    // Exchanging someone else's ticket from another session.
    assert_eq!(
        w.node
            .room
            .exchange(OPENS_AT_MS + 100, &a.token, &session(2)),
        Err(RoomError::Token(TokenError::WrongSession))
    );
    let (pass, p) = pass_of(
        w.node
            .room
            .exchange(OPENS_AT_MS + 100, &a.token, &session(1))
            .expect("ok"),
    );
    assert_eq!(p.expires_at_ms, OPENS_AT_MS + 100 + 600_000);
    assert_eq!(
        w.node
            .room
            .check_pass(OPENS_AT_MS + 200, &pass, &session(1)),
        Ok(p)
    );
    // A pass replayed from another session, an expired pass.
    assert_eq!(
        w.node
            .room
            .check_pass(OPENS_AT_MS + 200, &pass, &session(2)),
        Err(TokenError::WrongSession)
    );
    assert_eq!(
        w.node.room.check_pass(p.expires_at_ms, &pass, &session(1)),
        Err(TokenError::Expired)
    );
    // The expired holder is still admitted: a new pass, same place (nobody is thrown back).
    let (_, p2) = pass_of(
        w.node
            .room
            .exchange(p.expires_at_ms, &a.token, &session(1))
            .expect("ok"),
    );
    assert_eq!(p2.rank, p.rank);

    // A changed character anywhere in a ticket or a pass.
    for token in [&a.token, &b.token, &pass] {
        for i in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let bad: String = chars.into_iter().collect();
            assert!(w.node.room.status(OPENS_AT_MS, &bad).is_err());
            assert!(
                w.node
                    .room
                    .check_pass(OPENS_AT_MS, &bad, &session(1))
                    .is_err()
            );
        }
    }

    // A ticket and a pass of another queue (same keys!).
    let other = Opening::new(QueueId(8), 0, OPENS_AT_MS, 100, 600_000).expect("valid");
    let mut db2 = Db::new(other);
    let mut node2 = Node::start(&db2, keyring(), poll(2_000.0, 1_000_000), 8);
    let foreign = node2.arrive(&mut db2, OPENS_AT_MS + 1, session(1));
    assert_eq!(
        w.node.room.status(OPENS_AT_MS, &foreign.token).map(|_| ()),
        Err(RoomError::Token(TokenError::WrongQueue))
    );
    assert_eq!(
        node2.room.check_pass(OPENS_AT_MS + 200, &pass, &session(1)),
        Err(TokenError::WrongQueue)
    );
}

#[test]
fn a_quiet_queue_lets_people_straight_through() {
    let o = Opening::free_flow(QueueId(9), 100, 600_000).expect("valid");
    let mut db = Db::new(o);
    let mut node = Node::start(&db, keyring(), poll(2_000.0, 1_000_000), 8);
    let mut leader = Leader::new(ControllerConfig::for_opening(&o), 1);
    leader.tick(&mut db, 1_000, &obs(0, 0..0));
    node.refresh(&db);
    let a = node.arrive(&mut db, 1_050, session(1));
    assert!(a.status.is_admitted(), "{:?}", a.status);
    assert!(matches!(
        node.room.exchange(1_060, &a.token, &session(1)),
        Ok(Exchange::Pass { .. })
    ));
}

#[test]
fn crash_after_the_lease_is_persisted_reuses_no_number_and_lets_nobody_jump_ahead() {
    let mut w = world(16);
    let mut issued = HashSet::new();
    let mut tokens = Vec::new();
    let mut now = OPENS_AT_MS - 10 * MINUTE_MS;
    // Pre-queue arrivals with a crash after every 37 of them, and one crash right after a block
    // was persisted but before any of its numbers was handed out.
    for i in 0..200u64 {
        let a = w.node.arrive(&mut w.db, now, session(i));
        assert!(
            issued.insert((a.ticket.class, a.ticket.seq)),
            "number reused"
        );
        tokens.push(a.token);
        now += 1_000;
        if i % 37 == 36 {
            w.node = Node::start(&w.db, keyring(), poll(2_000.0, 1_000_000), 16);
        }
    }
    let block = reserve(&mut w.db, Class::Pre, 16, now);
    w.node.refresh(&w.db);
    w.node.room.install_block(block);
    w.node = Node::start(&w.db, keyring(), poll(2_000.0, 1_000_000), 16); // crash
    let a = w.node.arrive(&mut w.db, now, session(999));
    assert!(
        a.ticket.seq >= block.end,
        "a number from the lost block was handed out"
    );
    tokens.push(a.token);

    // Opening, some admissions, then a crash of everything (node and leader) mid-opening.
    w.tick(OPENS_AT_MS, obs(0, 0..0));
    for k in 1..20 {
        w.tick(OPENS_AT_MS + k * 100, obs(0, 0..0));
    }
    let before: Vec<Status> = tokens
        .iter()
        .map(|t| w.status(OPENS_AT_MS + 2_000, t))
        .collect();
    let admitted_before = before.iter().filter(|s| s.is_admitted()).count();
    assert!(admitted_before > 0);
    let worst_old_rank = before
        .iter()
        .filter_map(|s| s.rank())
        .max()
        .expect("ranked");
    w.node = Node::start(&w.db, keyring(), poll(2_000.0, 1_000_000), 16);
    w.leader = Leader::new(ControllerConfig::for_opening(&opening()), 12);

    // Every old ticket keeps its place, admitted people stay admitted.
    for (t, s) in tokens.iter().zip(&before) {
        let after = w.status(OPENS_AT_MS + 2_001, t);
        assert_eq!(after.rank(), s.rank());
        assert!(
            !s.is_admitted() || after.is_admitted(),
            "thrown back after a restart"
        );
    }
    // New arrivals queue behind every issued ticket.
    for i in 0..50 {
        let a = w
            .node
            .arrive(&mut w.db, OPENS_AT_MS + 3_000 + i, session(5_000 + i));
        assert!(issued.insert((a.ticket.class, a.ticket.seq)));
        let r = w
            .status(OPENS_AT_MS + 3_000 + i, &a.token)
            .rank()
            .expect("ranked");
        assert!(r > worst_old_rank, "new arrival {i} jumped ahead");
    }
    // The lost numbers are empty ranks: admission walks over them and reaches everyone.
    let mut now = OPENS_AT_MS + 4_000;
    let mut last_admitted = 0..0;
    for _ in 0..2_000 {
        w.tick(now, obs(0, last_admitted));
        last_admitted = w
            .leader
            .controller
            .last()
            .map_or(0..0, |(_, d)| d.watermark_before..d.watermark);
        now += 100;
    }
    for t in &tokens {
        assert!(w.status(now, t).is_admitted());
    }
}

#[test]
fn an_unpersisted_reservation_hands_out_nothing() {
    let mut w = world(16);
    // Reserve in memory only (the write never happened), then crash.
    let mut state = w.db.read();
    // No `.persisted()`: no block, so no number can be handed out from it.
    let _lost = state
        .reserve_block(Class::Fifo, 16, OPENS_AT_MS + 1)
        .expect("ok");
    let a = w.node.arrive(&mut w.db, OPENS_AT_MS + 2, session(1));
    assert_eq!(
        a.ticket.seq, 0,
        "the durable counter did not move, nothing was skipped"
    );
}

#[test]
fn keys_persist_and_rotate_across_restarts() {
    let mut w = world(8);
    let old = w.node.arrive(&mut w.db, OPENS_AT_MS - 1, session(1));
    w.tick(OPENS_AT_MS, obs(0, 0..0));
    let rank = w.status(OPENS_AT_MS, &old.token).rank();
    // Restart with a new current key; the old key is still accepted.
    let new_material = KeyMaterial([0x77; 32]);
    let ring =
        Keyring::with_older((KeyId(2), &new_material), [(KeyId(1), &key_material())]).expect("ok");
    w.node = Node::start(&w.db, ring, poll(2_000.0, 1_000_000), 8);
    assert_eq!(w.status(OPENS_AT_MS + 1, &old.token).rank(), rank);
    let new = w.node.arrive(&mut w.db, OPENS_AT_MS + 2, session(2));
    assert_ne!(
        new.token[..6],
        old.token[..6],
        "new tickets carry the new key id"
    );
    // A server that lost its keys (a fresh random key) cannot check anyone's ticket: keys must
    // be persisted.
    let amnesiac = WaitingRoom::new(
        Keyring::new(KeyId(1), &KeyMaterial([0x01; 32])),
        poll(2_000.0, 1_000_000),
        w.db.read(),
    );
    assert_eq!(
        amnesiac.status(OPENS_AT_MS, &old.token).map(|_| ()),
        Err(RoomError::Token(TokenError::BadSignature))
    );
}

#[test]
fn a_regressed_record_is_refused_rather_than_guessed() {
    let mut w = world(8);
    let backup = w.db.clone();
    let a = w.node.arrive(&mut w.db, OPENS_AT_MS - 5, session(1));
    w.tick(OPENS_AT_MS, obs(0, 0..0));
    // The database is "restored" from a backup taken before the ticket's block, then opened.
    let mut restored = backup;
    let mut leader = Leader::new(ControllerConfig::for_opening(&opening()), 5);
    leader.tick(&mut restored, OPENS_AT_MS, &obs(0, 0..0));
    let room = WaitingRoom::new(keyring(), poll(2_000.0, 1_000_000), restored.read());
    assert_eq!(
        room.status(OPENS_AT_MS, &a.token).map(|_| ()),
        Err(RoomError::UnknownNumber)
    );
    assert_eq!(
        restored.read().rank(&a.ticket),
        Err(RankError::UnknownNumber)
    );
    // A running node refuses to move to the regressed record.
    assert!(w.node.room.refresh(restored.read()).is_err());
    assert_eq!(RoomError::UnknownNumber.code(), "ticket_unknown_number");
}

#[test]
fn reserving_ahead_at_the_opening_retires_the_stale_fifo_block_instead_of_wasting_blocks() {
    let block = 16;
    let mut w = world(block);
    // Free flow before the pre-queue: this node reserves a FIFO block and uses one number of it.
    w.node
        .arrive(&mut w.db, OPENS_AT_MS - 31 * MINUTE_MS, session(1));
    let pre = w
        .node
        .arrive(&mut w.db, OPENS_AT_MS - MINUTE_MS, session(2));
    assert_eq!(pre.ticket.class, Class::Pre);
    w.tick(OPENS_AT_MS, obs(0, 0..0));

    // The shell's reservation thread at the opening second: reserve until nothing is wanted.
    let reserved_before = w.db.read().issued_at_most();
    let mut reservations = 0;
    while let Some(class) = w.node.room.refill_wanted(OPENS_AT_MS) {
        assert!(
            reservations < 10,
            "still wanting blocks after {reservations}: each replaced spare is empty ranks"
        );
        let fresh = reserve(&mut w.db, class, block, OPENS_AT_MS);
        w.node.refresh(&w.db);
        w.node.room.install_block(fresh);
        reservations += 1;
    }
    assert_eq!(
        reservations, 1,
        "one fresh FIFO block replaces the stale one"
    );
    assert_eq!(w.db.read().issued_at_most() - reserved_before, block);

    // The first arrival after the opening ranks after the pre-queue, from the fresh block.
    let first = w.node.arrive(&mut w.db, OPENS_AT_MS + 1, session(3));
    assert_eq!(first.ticket.class, Class::Fifo);
    w.tick(OPENS_AT_MS + 1, obs(0, 0..0));
    let r_pre = w.status(OPENS_AT_MS + 1, &pre.token).rank();
    let r_first = w.status(OPENS_AT_MS + 1, &first.token).rank();
    assert!(r_pre < r_first, "{r_pre:?} {r_first:?}");
}

/// Pre-queue numbers two nodes reserved and never handed out are told to the controller as
/// empty ranks once the opening is committed: exactly the pre-queue's ranks nobody holds.
#[test]
fn numbers_left_at_the_opening_are_exactly_the_empty_ranks() {
    let mut w = world(16);
    let mut other = Node::start(&w.db, keyring(), poll(2_000.0, 1_000_000), 16);
    let before = OPENS_AT_MS - MINUTE_MS;
    w.tick(before, obs(0, 0..0));
    other.refresh(&w.db);
    let mut tokens = Vec::new();
    for i in 0..5u64 {
        tokens.push(w.node.arrive(&mut w.db, before, session(i)).token);
    }
    for i in 5..8u64 {
        tokens.push(other.arrive(&mut w.db, before, session(i)).token);
    }
    assert!(
        w.node.room.abandon_prequeue().is_empty() && w.node.room.leased_remaining().0 > 0,
        "nothing is empty before the opening: the numbers may still be handed out"
    );
    w.tick(OPENS_AT_MS, obs(0, 0..0));
    other.refresh(&w.db);
    let mut empty: Vec<u64> = w.node.room.abandon_prequeue().iter().map(|r| r.0).collect();
    empty.extend(other.room.abandon_prequeue().iter().map(|r| r.0));
    assert!(w.node.room.abandon_prequeue().is_empty(), "told once");
    let held: HashSet<u64> = tokens
        .iter()
        .map(|t| w.status(OPENS_AT_MS, t).rank().expect("ranked").0)
        .collect();
    let all: HashSet<u64> = empty.iter().copied().chain(held.iter().copied()).collect();
    assert_eq!(
        all.len(),
        empty.len() + held.len(),
        "an issued rank told empty"
    );
    let state = w.db.read();
    let pre_count = state.record().pre_count.expect("frozen at the opening");
    let start =
        state.record().free_flow_end.expect("frozen") + state.record().verified_count.unwrap_or(0);
    assert_eq!(
        all,
        (start..start + pre_count).collect::<HashSet<u64>>(),
        "issued and empty together are the whole pre-queue segment"
    );
}
