//! Leased blocks of sequence numbers: durable counters without a write per arrival.
//!
//! A node reserves a block `[start, end)` by raising the durable high-water mark (a read-modify-
//! write of the [`crate::QueueState`] record inside one transaction), and only after that write is
//! committed does it hand out numbers from the block, one per arrival, from memory. A crash loses at
//! most the unused rest of each node's block: those numbers were never given to anyone, so they are
//! empty ranks that admission simply walks over. A restarted node reserves a fresh block above the
//! persisted high-water mark, so no number is ever handed out twice and nobody issued later can be
//! ranked ahead of someone issued earlier on the same node.
//!
//! The protocol is in the types: [`crate::QueueState::reserve_block`] returns a [`Reservation`],
//! which is *not* a block; only [`Reservation::persisted`], called once the record is durable,
//! yields the [`Block`] a [`SequenceLease`] accepts.

use crate::types::Class;
use serde::{Deserialize, Serialize};

/// A range `[start, end)` of sequence numbers of one class, durably reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub class: Class,
    pub start: u64,
    pub end: u64,
    /// Whether the free-flow segment was already closed when this block was reserved. A FIFO
    /// block reserved before that must not be used once the pre-queue has started: its numbers
    /// would rank ahead of the whole pre-queue.
    pub after_freeze: bool,
}

impl Block {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A block whose high-water mark has been raised in memory but not yet written. Persist the
/// record, then call [`Reservation::persisted`]. Dropping it loses nothing: no number was handed
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "persist the queue record, then call .persisted() to get the block"]
pub struct Reservation {
    block: Block,
}

impl Reservation {
    pub(crate) fn new(block: Block) -> Reservation {
        Reservation { block }
    }

    /// The high-water mark that must be durable before any number of the block is handed out.
    pub fn high_water(&self) -> u64 {
        self.block.end
    }

    /// Call once the record holding [`Reservation::high_water`] is durably written.
    pub fn persisted(self) -> Block {
        self.block
    }
}

/// One node's current block of one class, handed out from memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequenceLease {
    block: Option<Block>,
    next: u64,
}

impl SequenceLease {
    pub fn new() -> SequenceLease {
        SequenceLease::default()
    }

    /// Replaces the current block (its unused numbers become empty ranks).
    pub fn install(&mut self, block: Block) {
        self.next = block.start;
        self.block = Some(block);
    }

    /// The block currently being handed out, if any.
    pub fn block(&self) -> Option<&Block> {
        self.block.as_ref()
    }

    /// Numbers left in the current block.
    pub fn remaining(&self) -> u64 {
        self.block.map_or(0, |b| b.end - self.next)
    }

    /// The next number, or `None` when a new block must be reserved.
    pub fn take(&mut self) -> Option<u64> {
        let block = self.block?;
        if self.next >= block.end {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        debug_assert!(block.start <= seq && seq < block.end);
        Some(seq)
    }

    /// Drops the current block; returns how many of its numbers were never handed out.
    pub fn discard(&mut self) -> u64 {
        let unused = self.remaining();
        self.block = None;
        unused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_each_number_once_then_asks_for_more() {
        let mut lease = SequenceLease::new();
        assert_eq!(lease.take(), None);
        lease.install(Block {
            class: Class::Fifo,
            start: 10,
            end: 13,
            after_freeze: false,
        });
        assert_eq!(lease.remaining(), 3);
        assert_eq!(
            [lease.take(), lease.take(), lease.take(), lease.take()],
            [Some(10), Some(11), Some(12), None]
        );
        assert_eq!(lease.discard(), 0);
        lease.install(Block {
            class: Class::Fifo,
            start: 13,
            end: 20,
            after_freeze: false,
        });
        assert_eq!(lease.take(), Some(13));
        assert_eq!(lease.discard(), 6);
        assert_eq!(lease.take(), None);
    }
}
