//! An opening: the operator's definition of one queue's evening.

use crate::types::{Class, Phase, QueueId};
use serde::{Deserialize, Serialize};

/// Why an opening definition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the pre-queue must start no later than the opening")]
    PrequeueAfterOpening,
    #[error("max_active must be at least 1")]
    NoCapacity,
    #[error("a pass must last at least one second and at most one day")]
    PassTtlOutOfRange,
}

impl ConfigError {
    pub fn code(self) -> &'static str {
        match self {
            ConfigError::PrequeueAfterOpening => "opening_prequeue_after_opening",
            ConfigError::NoCapacity => "opening_no_capacity",
            ConfigError::PassTtlOutOfRange => "opening_pass_ttl_out_of_range",
        }
    }
}

/// One queue's schedule and capacity. Build it with [`Opening::new`], the only way to get one, so
/// every `Opening` in the program is consistent.
///
/// A queue with no opening planned is an `Opening` whose pre-queue never starts
/// ([`Opening::free_flow`]): arrivals are FIFO and go straight through while there is room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OpeningFields", into = "OpeningFields")]
pub struct Opening {
    queue: QueueId,
    prequeue_starts_at_ms: u64,
    opens_at_ms: u64,
    max_active: u32,
    pass_ttl_ms: u64,
}

/// The serialized shape of an [`Opening`]; deserializing validates it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct OpeningFields {
    queue: QueueId,
    prequeue_starts_at_ms: u64,
    opens_at_ms: u64,
    max_active: u32,
    pass_ttl_ms: u64,
}

impl TryFrom<OpeningFields> for Opening {
    type Error = ConfigError;
    fn try_from(f: OpeningFields) -> Result<Opening, ConfigError> {
        Opening::new(
            f.queue,
            f.prequeue_starts_at_ms,
            f.opens_at_ms,
            f.max_active,
            f.pass_ttl_ms,
        )
    }
}

impl From<Opening> for OpeningFields {
    fn from(o: Opening) -> OpeningFields {
        OpeningFields {
            queue: o.queue,
            prequeue_starts_at_ms: o.prequeue_starts_at_ms,
            opens_at_ms: o.opens_at_ms,
            max_active: o.max_active,
            pass_ttl_ms: o.pass_ttl_ms,
        }
    }
}

const MIN_PASS_TTL_MS: u64 = 1_000;
const MAX_PASS_TTL_MS: u64 = 86_400_000;

impl Opening {
    /// Times are milliseconds since the Unix epoch on the server clock.
    pub fn new(
        queue: QueueId,
        prequeue_starts_at_ms: u64,
        opens_at_ms: u64,
        max_active: u32,
        pass_ttl_ms: u64,
    ) -> Result<Opening, ConfigError> {
        if prequeue_starts_at_ms > opens_at_ms {
            return Err(ConfigError::PrequeueAfterOpening);
        }
        if max_active == 0 {
            return Err(ConfigError::NoCapacity);
        }
        if !(MIN_PASS_TTL_MS..=MAX_PASS_TTL_MS).contains(&pass_ttl_ms) {
            return Err(ConfigError::PassTtlOutOfRange);
        }
        Ok(Opening {
            queue,
            prequeue_starts_at_ms,
            opens_at_ms,
            max_active,
            pass_ttl_ms,
        })
    }

    /// A queue with no opening: FIFO, straight through while there is room.
    pub fn free_flow(
        queue: QueueId,
        max_active: u32,
        pass_ttl_ms: u64,
    ) -> Result<Opening, ConfigError> {
        Opening::new(queue, u64::MAX, u64::MAX, max_active, pass_ttl_ms)
    }

    pub fn queue(&self) -> QueueId {
        self.queue
    }
    pub fn prequeue_starts_at_ms(&self) -> u64 {
        self.prequeue_starts_at_ms
    }
    pub fn opens_at_ms(&self) -> u64 {
        self.opens_at_ms
    }
    pub fn max_active(&self) -> u32 {
        self.max_active
    }
    pub fn pass_ttl_ms(&self) -> u64 {
        self.pass_ttl_ms
    }

    /// The same opening with another capacity (operators may change it during an evening).
    pub fn with_max_active(self, max_active: u32) -> Result<Opening, ConfigError> {
        Opening::new(
            self.queue,
            self.prequeue_starts_at_ms,
            self.opens_at_ms,
            max_active,
            self.pass_ttl_ms,
        )
    }

    /// The phase by the server clock. (Whether the opening has been *committed* — `N_P` frozen and
    /// the order key drawn — is a property of the durable [`crate::QueueState`].)
    pub fn phase_at(&self, now_ms: u64) -> Phase {
        if now_ms >= self.opens_at_ms {
            Phase::Open
        } else if now_ms >= self.prequeue_starts_at_ms {
            Phase::Prequeue
        } else {
            Phase::BeforePrequeue
        }
    }

    /// The class a ticket issued at `now_ms` gets by the clock alone.
    pub fn class_at(&self, now_ms: u64) -> Class {
        match self.phase_at(now_ms) {
            Phase::Prequeue => Class::Pre,
            Phase::BeforePrequeue | Phase::Open => Class::Fifo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let q = QueueId(1);
        assert!(Opening::new(q, 10, 20, 5, 60_000).is_ok());
        assert!(Opening::new(q, 20, 20, 5, 60_000).is_ok());
        assert_eq!(
            Opening::new(q, 21, 20, 5, 60_000),
            Err(ConfigError::PrequeueAfterOpening)
        );
        assert_eq!(
            Opening::new(q, 10, 20, 0, 60_000),
            Err(ConfigError::NoCapacity)
        );
        assert_eq!(
            Opening::new(q, 10, 20, 1, 999),
            Err(ConfigError::PassTtlOutOfRange)
        );
        assert_eq!(
            Opening::new(q, 10, 20, 1, 86_400_001),
            Err(ConfigError::PassTtlOutOfRange)
        );
    }

    #[test]
    fn phases_at_every_boundary() {
        let o = Opening::new(QueueId(1), 1_000, 2_000, 5, 60_000).expect("valid");
        assert_eq!(o.phase_at(0), Phase::BeforePrequeue);
        assert_eq!(o.phase_at(999), Phase::BeforePrequeue);
        assert_eq!(o.phase_at(1_000), Phase::Prequeue);
        assert_eq!(o.phase_at(1_999), Phase::Prequeue);
        assert_eq!(o.phase_at(2_000), Phase::Open);
        assert_eq!(o.class_at(999), Class::Fifo);
        assert_eq!(o.class_at(1_999), Class::Pre);
        assert_eq!(o.class_at(2_000), Class::Fifo);
        let f = Opening::free_flow(QueueId(2), 5, 60_000).expect("valid");
        assert_eq!(f.phase_at(u64::MAX - 1), Phase::BeforePrequeue);
    }
}
