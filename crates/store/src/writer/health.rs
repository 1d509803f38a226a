//! Whether the writer takes requests, and what it counts for `/metrics`.

use super::api::Fault;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Whether the writer takes requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Refusing requests until it recovers from this fault (it keeps trying by itself).
    Failing(Fault),
    /// The writer thread is gone; nothing will be written.
    Stopped,
}

impl Health {
    const READY: u8 = 0;
    const STOPPED: u8 = 4;

    fn encode(self) -> u8 {
        match self {
            Health::Ready => Health::READY,
            Health::Failing(Fault::Full) => 1,
            Health::Failing(Fault::Storage) => 2,
            Health::Failing(Fault::LedgerStale) => 3,
            Health::Failing(Fault::Standby) => 5,
            Health::Stopped => Health::STOPPED,
        }
    }

    fn decode(value: u8) -> Health {
        match value {
            Health::READY => Health::Ready,
            1 => Health::Failing(Fault::Full),
            2 => Health::Failing(Fault::Storage),
            3 => Health::Failing(Fault::LedgerStale),
            5 => Health::Failing(Fault::Standby),
            _ => Health::Stopped,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub commands: AtomicU64,
    pub busy_refusals: AtomicU64,
    pub failed_batches: AtomicU64,
    pub queued: AtomicU64,
    /// Batches the database itself refused (a rule the ledger should have kept: a bug).
    pub refused_batches: AtomicU64,
    /// Failed attempts to rebuild the ledger from the database.
    pub failed_rebuilds: AtomicU64,
    /// Failed probe writes while storage was failing.
    pub failed_probes: AtomicU64,
    /// Requests refused at once because the writer was recovering from a fault.
    pub fault_refusals: AtomicU64,
    /// Times the next piece of a supply change waited for storage to catch up (SQLite: for the
    /// write-ahead log to be copied back), and whether one waits now (0 or 1).
    pub piece_holds: AtomicU64,
    pub pieces_waiting: AtomicU64,
    /// A standby's looks at what is left to book: read whole (the first, after a supply change
    /// or a fault) and kept up with only the bookings written since the last look.
    pub views_whole: AtomicU64,
    pub views_kept_up: AtomicU64,
    /// [`Health`], encoded.
    health: AtomicU8,
}

impl WriterStats {
    pub fn health(&self) -> Health {
        Health::decode(self.health.load(Ordering::Acquire))
    }

    pub(super) fn set_health(&self, health: Health) {
        self.health.store(health.encode(), Ordering::Release);
    }
}
