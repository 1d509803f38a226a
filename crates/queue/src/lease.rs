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

/// One node's blocks of one class, handed out from memory: the current block and at most one
/// spare, reserved ahead so that an arrival never waits for a durable write. The spare is used
/// only once the current block is spent, so numbers are still handed out in increasing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequenceLease {
    block: Option<Block>,
    next: u64,
    spare: Option<Block>,
}

impl SequenceLease {
    pub fn new() -> SequenceLease {
        SequenceLease::default()
    }

    /// Adds a durably reserved block: it becomes the current block when the current one is spent
    /// (or absent), otherwise the spare. A spare that was already there is replaced (its numbers
    /// become empty ranks), which the shell avoids by asking only when [`Self::wants_refill`].
    pub fn install(&mut self, block: Block) {
        if self.remaining() > 0 {
            self.spare = Some(block);
        } else {
            self.next = block.start;
            self.block = Some(block);
        }
    }

    /// The block currently being handed out, if any.
    pub fn block(&self) -> Option<&Block> {
        self.block.as_ref()
    }

    /// The block reserved ahead, if any.
    pub fn spare(&self) -> Option<&Block> {
        self.spare.as_ref()
    }

    /// Numbers left in the current block (the spare not counted).
    pub fn remaining(&self) -> u64 {
        self.block.map_or(0, |b| b.end - self.next)
    }

    /// Whether a block should be reserved ahead now: there is no spare and at most half of the
    /// current block is left, so the reservation has the other half's worth of arrivals to
    /// become durable before anyone has to wait for it.
    pub fn wants_refill(&self) -> bool {
        self.spare.is_none() && self.remaining() <= self.block.map_or(0, |b| b.len() / 2)
    }

    /// The next number, or `None` when a new block must be reserved.
    pub fn take(&mut self) -> Option<u64> {
        if self.remaining() == 0 {
            let spare = self.spare.take()?;
            self.next = spare.start;
            self.block = Some(spare);
        }
        let block = self.block?;
        if self.next >= block.end {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        debug_assert!(block.start <= seq && seq < block.end);
        Some(seq)
    }

    /// Drops the current block and the spare; returns the numbers that were never handed out.
    pub fn abandon(&mut self) -> Vec<u64> {
        let current = self.block.map_or(0..0, |b| self.next.max(b.start)..b.end);
        let spare = self.spare.map_or(0..0, |b| b.start..b.end);
        self.block = None;
        self.spare = None;
        current.chain(spare).collect()
    }

    /// Drops the current block and the spare; returns how many numbers were never handed out.
    pub fn discard(&mut self) -> u64 {
        let unused = self.remaining() + self.spare.map_or(0, |b| b.len());
        self.block = None;
        self.spare = None;
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

    fn fifo(start: u64, end: u64) -> Block {
        Block {
            class: Class::Fifo,
            start,
            end,
            after_freeze: true,
        }
    }

    #[test]
    fn a_spare_block_is_used_only_after_the_current_one_in_order() {
        let mut lease = SequenceLease::new();
        assert!(lease.wants_refill(), "an empty lease wants a block");
        lease.install(fifo(0, 4));
        assert!(!lease.wants_refill(), "a whole block left: no refill yet");
        assert_eq!([lease.take(), lease.take()], [Some(0), Some(1)]);
        assert!(lease.wants_refill(), "half the block left: reserve ahead");
        lease.install(fifo(4, 8));
        assert_eq!(
            lease.spare(),
            Some(&fifo(4, 8)),
            "the current block is not replaced"
        );
        assert!(!lease.wants_refill(), "one spare is enough");
        let taken: Vec<_> = std::iter::from_fn(|| lease.take()).collect();
        assert_eq!(
            taken,
            vec![2, 3, 4, 5, 6, 7],
            "increasing, each number once"
        );
        assert!(lease.spare().is_none());
    }

    #[test]
    fn discard_drops_the_spare_too() {
        let mut lease = SequenceLease::new();
        lease.install(fifo(0, 4));
        assert_eq!(lease.take(), Some(0));
        lease.install(fifo(4, 8));
        assert_eq!(lease.discard(), 3 + 4);
        assert_eq!(lease.take(), None);
        assert!(lease.wants_refill());
    }
}
