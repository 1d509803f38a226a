//! A minimal single-process "shell" for the tests: one persisted record (the "database"), one or
//! more nodes, a leader's controller. It follows the protocol in the crate docs: every mutation is
//! a read-modify-write of the record, persisted before it is published.
#![allow(dead_code)]

use queue::{
    Arrival, Block, Controller, ControllerConfig, Decision, KeyId, KeyMaterial, Keyring, NeedBlock,
    Observations, Opening, PollConfig, PollPolicy, QueueRecord, QueueState, WaitingRoom,
    WaitingSessionId,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// 2021-07-19 20:00:00 KST, in ms since the Unix epoch.
pub const OPENS_AT_MS: u64 = 1_626_692_400_000;
pub const MINUTE_MS: u64 = 60_000;

pub fn key_material() -> KeyMaterial {
    KeyMaterial([0x5A; 32])
}

pub fn keyring() -> Keyring {
    Keyring::new(KeyId(1), &key_material())
}

pub fn poll(budget_per_s: f64, max_queue: u64) -> PollPolicy {
    PollPolicy::new(PollConfig {
        max_queue,
        ..PollConfig::with_budget(budget_per_s)
    })
    .expect("valid poll config")
}

pub fn session(n: u64) -> WaitingSessionId {
    let mut s = [0u8; 16];
    s[..8].copy_from_slice(&n.to_be_bytes());
    s[8] = 0xEE;
    WaitingSessionId(s)
}

/// The "database": the last durably written record, plus a count of writes.
#[derive(Debug, Clone)]
pub struct Db {
    pub record: QueueRecord,
    pub writes: u64,
}

impl Db {
    pub fn new(opening: Opening) -> Db {
        Db {
            record: QueueState::new(opening).record().clone(),
            writes: 0,
        }
    }

    pub fn read(&self) -> QueueState {
        QueueState::from_record(self.record.clone()).expect("valid record")
    }

    pub fn write(&mut self, state: &QueueState) {
        let old = self.read();
        assert!(state.watermark() >= old.watermark(), "W moved backwards");
        assert!(state.pre_reserved() >= old.pre_reserved());
        self.record = state.record().clone();
        self.writes += 1;
    }
}

pub struct Node {
    pub room: WaitingRoom,
    pub block: u64,
}

impl Node {
    pub fn start(db: &Db, keyring: Keyring, poll: PollPolicy, block: u64) -> Node {
        Node {
            room: WaitingRoom::new(keyring, poll, db.read()),
            block,
        }
    }

    /// Refreshes this node's copy of the record from the database.
    pub fn refresh(&mut self, db: &Db) {
        self.room.refresh(db.read()).expect("monotone record");
    }

    /// Arrival with the block protocol: reserve in a fresh copy, persist, then install.
    pub fn arrive(&mut self, db: &mut Db, now_ms: u64, session: WaitingSessionId) -> Arrival {
        for _ in 0..3 {
            match self.room.arrive(now_ms, session) {
                Ok(a) => return a,
                Err(NeedBlock { class }) => {
                    let block = reserve(db, class, self.block, now_ms);
                    self.refresh(db);
                    self.room.install_block(block);
                }
            }
        }
        panic!("no number after reserving blocks");
    }
}

/// Reserves a block in the database: read, modify, write; the block is usable only after the write.
pub fn reserve(db: &mut Db, class: queue::Class, size: u64, now_ms: u64) -> Block {
    let mut state = db.read();
    let reservation = state
        .reserve_block(class, size, now_ms)
        .expect("reservable");
    db.write(&state);
    reservation.persisted()
}

pub struct Leader {
    pub controller: Controller,
    pub rng: ChaCha20Rng,
}

impl Leader {
    pub fn new(cfg: ControllerConfig, seed: u64) -> Leader {
        Leader {
            controller: Controller::new(cfg),
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// One tick on the freshly read record; persisted before anyone sees it.
    pub fn tick(&mut self, db: &mut Db, now_ms: u64, obs: &Observations) -> Decision {
        let mut state = db.read();
        let d = self.controller.tick(now_ms, obs, &mut state, &mut self.rng);
        if d.changed {
            db.write(&state);
        }
        d
    }
}

/// The shell's durable person table, standing in: a person's draw number in this opening,
/// handed out once per person, the same on every ticket they verify.
#[derive(Debug, Default)]
pub struct People {
    pub draws: std::collections::HashMap<u64, u64>,
}

impl People {
    /// The shell's verification of a held ticket for `person`: a draw number while draws are
    /// open (recorded in the record before the ticket carrying it is handed out), then the
    /// ticket re-issued.
    pub fn verify(
        &mut self,
        db: &mut Db,
        node: &mut Node,
        now_ms: u64,
        ticket: &queue::Ticket,
        person: u64,
    ) -> (queue::Ticket, queue::Status) {
        let mut draw = None;
        if node.room.state().draws_open_for(ticket) {
            let next = self.draws.len() as u64;
            let number = *self.draws.entry(person).or_insert(next);
            let mut state = db.read();
            if state.note_verified(self.draws.len() as u64) {
                db.write(&state);
            }
            node.refresh(db);
            draw = Some(number);
        }
        let (_, ticket, status) = node
            .room
            .verify(now_ms, ticket, queue::Verified { person, draw })
            .expect("verifiable");
        (ticket, status)
    }
}
