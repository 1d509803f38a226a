//! What the HTTP shell may carry ([`Limits`]) and is carrying ([`Load`]), and what it sheds
//! last. Plain data the app state holds; the shell that enforces it is the parent module.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;

/// Every limit of the HTTP shell. The defaults are for one server taking a national opening:
/// see the README's configuration table for why each is what it is.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request head (request line and headers) must arrive in full within this, counted from
    /// the connection's start or its previous answer; an idle keep-alive connection is closed
    /// after it too.
    pub header_timeout: Duration,
    /// From a complete head to the answer, the body included: a body still arriving then gets
    /// 408 `request_timeout`, an answer not ready then 503 `timeout`.
    pub request_timeout: Duration,
    /// The same for the operator API (`/api/v1/admin/*`), whose bulk changes take minutes at
    /// national scale.
    pub operator_request_timeout: Duration,
    /// Connections served normally (keep-alive). A quarter more are overflow connections.
    pub max_connections: usize,
    /// Requests being handled at once before anything but the front door is shed. The front
    /// door is shed only a quarter above it.
    pub max_in_flight: usize,
    /// How long a stop may take: draining requests in flight and the writer's last batch.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            operator_request_timeout: Duration::from_secs(600),
            max_connections: 10_000,
            max_in_flight: 8_192,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

impl Limits {
    /// Overflow connections: served one front-door request each.
    pub fn overflow_connections(&self) -> usize {
        (self.max_connections / 4).max(1)
    }

    /// Requests in flight at which the front door, too, is shed.
    pub fn front_door_in_flight(&self) -> usize {
        self.max_in_flight + (self.max_in_flight / 4).max(1)
    }
}

/// What the shell is carrying now; read by `/metrics`.
#[derive(Debug, Default)]
pub struct Load {
    pub connections: AtomicUsize,
    pub overflow_connections: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub(crate) refusing: AtomicUsize,
    /// Requests and connections turned away, and requests cut by their timeout.
    pub shed_connections: AtomicU64,
    pub shed_requests: AtomicU64,
    pub timed_out: AtomicU64,
}

/// Which tier a connection was admitted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Normal,
    /// Beyond `max_connections`: one request, front door only.
    Overflow,
}

/// What is shed last: the waiting room's front door, because a person without a ticket cannot
/// queue and a person queued must keep seeing their place; and the health probes, because a
/// busy server that fails its liveness probe gets restarted, which helps nobody. (Verifying
/// while waiting, and asking for leftover alerts, are database writes, not the front door:
/// shed like the rest.)
pub fn is_shed_last(path: &str) -> bool {
    (path.starts_with("/api/v1/queue/")
        && !path.starts_with("/api/v1/queue/verify")
        && path != "/api/v1/queue/leftover-alerts")
        || matches!(path, "/wait" | "/healthz" | "/readyz")
}

/// How a machine's cores are split between the two runtimes when neither is configured: the
/// async workers that accept connections and answer the front door, and the booking side's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads {
    pub front: usize,
    pub booking: usize,
}

impl Threads {
    /// A quarter of the cores (at least one) for the front door, the rest (at least one) for
    /// the booking side. One worker per core on *each* side, as before, put twice as many busy
    /// threads as cores beside the writer: on two cores the 2% replay of the 53–54 night cost
    /// ~10% more server CPU per booked person and nearly twice the admitted people's p99
    /// (`bench/threads.md`), the workers waking and preempting each other. A front door
    /// answered from memory needs far less than the booking side: a status poll costs ~10 µs.
    pub fn for_cores(cores: usize) -> Threads {
        let front = (cores / 4).max(1);
        Threads {
            front,
            booking: cores.saturating_sub(front).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cores_are_split_a_quarter_to_the_front_door() {
        let split = |cores| {
            let t = Threads::for_cores(cores);
            (t.front, t.booking)
        };
        assert_eq!(split(0), (1, 1));
        assert_eq!(split(1), (1, 1));
        assert_eq!(split(2), (1, 1));
        assert_eq!(split(4), (1, 3));
        assert_eq!(split(8), (2, 6));
        assert_eq!(split(64), (16, 48));
    }
}
