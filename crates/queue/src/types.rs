//! Small identifiers shared by every part of the waiting room.

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One queue. A queue id names one opening (one cohort's evening); tickets carry it, so a ticket
/// from another queue, or from an earlier opening, is refused with [`crate::TokenError::WrongQueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueId(pub u32);

/// A waiting-room session: a browser (cookie) or app, drawn at random by the shell. Not the
/// identity session (who a person is), which the server signs after an identity check. Tickets
/// and passes are bound to it: a pass copied into another waiting session is refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitingSessionId(pub [u8; 16]);

impl WaitingSessionId {
    /// Draws a fresh session id from a cryptographic random source supplied by the caller.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> WaitingSessionId {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        WaitingSessionId(bytes)
    }
}

impl fmt::Debug for WaitingSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a prefix: enough to tell sessions apart in a test failure, not enough to hijack one.
        let [a, b, c, d, ..] = self.0;
        write!(f, "WaitingSessionId({a:02x}{b:02x}{c:02x}{d:02x}…)")
    }
}

/// Which part of the line a ticket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Class {
    /// Arrived during the pre-queue (before the opening): placed in a uniformly random order at
    /// the opening.
    Pre,
    /// Arrived before the pre-queue started (free flow) or after the opening: first in, first out.
    Fifo,
}

impl Class {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Class::Pre => 1,
            Class::Fifo => 2,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Class> {
        match byte {
            1 => Some(Class::Pre),
            2 => Some(Class::Fifo),
            _ => None,
        }
    }
}

/// A place in the line: 0 is the front. Admission lets in every rank below the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rank(pub u64);

/// The phase of an opening at a given instant of the server clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// No opening in progress yet: arrivals are FIFO and go straight through while there is room.
    BeforePrequeue,
    /// Between the pre-queue start and the opening second: arrivals get class [`Class::Pre`]
    /// tickets; none of them is admitted yet.
    Prequeue,
    /// From the opening second on: pre-queue tickets in their drawn order, then later arrivals FIFO.
    Open,
}
