//! The waiting room's pure core: tickets, fair order, admission control, passes.
//!
//! Nothing here does I/O, reads a clock or draws randomness on its own: the time (`now_ms`,
//! milliseconds since the Unix epoch on the *server* clock), key material and random sources are
//! passed in, so a whole opening night can be replayed deterministically (see `tests/`). Nothing
//! the client says about time is ever read.
//!
//! # The idea
//!
//! A queued person is represented by their **ticket** alone: `(queue, class, seq, session,
//! issued_at)` signed with HMAC-SHA256 ([`Keyring`]). The server keeps only a few counters per
//! queue, the durable [`QueueState`] record. A ticket's **rank** is a pure function of the ticket
//! and that record ([`QueueState::rank`]):
//!
//! * class [`Class::Pre`] (arrived during the pre-queue), verified as a person before the opening:
//!   `rank = F0 + perm_V(draw)`, a keyed shuffle of the people's draw numbers `[0, N_V)`;
//! * class [`Class::Pre`], not verified by then: `rank = F0 + N_V + perm(seq)`, where `perm` is
//!   a keyed [`Permutation`] of `[0, N_P)`; `N_P`, `N_V` and the 32-byte key are frozen at the
//!   opening second — a uniform shuffle with no stored list;
//! * class [`Class::Fifo`] (arrived after the opening): `rank = N_V + N_P + seq` — first in, first out;
//! * before any pre-queue, FIFO tickets of the free-flow segment `[0, F0)` keep `rank = seq`.
//!
//! A **watermark** `W` only grows; a ticket with `rank < W` may be exchanged for a **pass** (also
//! signed, bound to the session, short-lived) that every booking-side call must carry.
//! Position `= rank − W + 1`, ETA `= position ÷ measured admission rate`. The [`Controller`] moves
//! `W` by AIMD on the booking side's latency, towards a target number of active sessions, making
//! up for no-shows. The [`PollPolicy`] tells each person when to poll again so the total poll
//! traffic stays within a budget for any queue length up to `max_queue`.
//!
//! # Properties (W1–W6 of the design notes)
//!
//! * **Fair order.** Pre-queue tickets get a uniformly random order at the opening: the key is
//!   drawn at the opening second from the caller's CSPRNG, so nobody can know before then which
//!   sequence number is good, and arriving at 19:59:59.999 or hammering gives nothing (chi-square
//!   tests in `tests/fairness.rs`). After the opening, admission order is arrival order.
//! * **A place is kept.** Rank is a pure function: the same ticket presented again (reload, ten
//!   tabs, reconnect) gets the same rank, never better, never worse; exchanging again admits nobody
//!   else. `W` never decreases, so whoever was admitted stays admitted.
//! * **No way round.** Passes are MAC'd, bound to queue and session, and expire; the kind byte is
//!   signed, so a ticket is never accepted as a pass. The class of a ticket comes from the server
//!   clock and the record.
//! * **Admission follows capacity** ([`Controller`]); **honest ETA** from the measured rate;
//!   **cheap**: status is one HMAC and at most a few Feistel evaluations, no storage access.
//!
//! # Durability and restarts (no per-person state)
//!
//! Sequence numbers are handed out from leased blocks ([`SequenceLease`]): a node raises the
//! durable high-water mark ([`QueueState::reserve_block`]) and only once that record is written
//! ([`Reservation::persisted`]) hands out the block's numbers from memory. After a crash the node
//! continues above the persisted mark, so **no number is ever handed out twice and no later
//! arrival is ranked ahead of an earlier one on the same node**. Numbers reserved but never handed
//! out are *empty ranks*: nobody holds them. Admission simply walks over them — the controller
//! counts admitted ranks that never show up as no-shows after `show_up_window_ms` and gives their
//! room to the next ranks.
//!
//! *ETA error from empty ranks.* Positions count ranks, so an empty rank makes a position (and
//! `people_ahead`) an over-estimate, never an under-estimate: with `k` lost blocks of size `B`
//! ahead of you, at most `k·B` of your position is nobody, and since `W` moves through empty
//! ranks like through full ones, the ETA over-estimates by at most `k·B ÷ rate` — a crash per
//! node loses at most two blocks per class (the one being handed out and the spare a shell
//! reserves ahead so that arrivals never wait for a write, [`SequenceLease`]), and for the pre-queue the loss is spread uniformly
//! through it by the shuffle.
//!
//! *Several nodes* share one record in a database and each leases its own blocks; the leader runs
//! the controller. The FIFO order across nodes is exact up to the blocks in flight: **an arrival
//! can be overtaken by at most `(K − 1)·2B` later arrivals** (`K` nodes, block size `B`), those
//! holding numbers from blocks other nodes reserved earlier. Block size trades this bound against
//! the write rate (`arrival rate ÷ B` reservations per second). Clock skew between nodes can move
//! the class boundary by at most the skew: a node whose clock is slow can still issue pre-queue
//! numbers from a block reserved before the opening commit (they rank in the shuffle), but can no
//! longer reserve one; a FIFO block reserved after the pre-queue started always ranks after it.
//! Decisions made on a stale copy of the record are safe: `W`, `F0`, `N_P` and the key never move
//! backwards or change once set, and a stale `W` is only smaller.
//!
//! Signing keys persist across restarts and rotate: [`Keyring`] signs with the current key id and
//! accepts older ones.
//!
//! # How a shell uses it
//!
//! Every mutation of the record is one read-modify-write in one transaction; publish a new record
//! to the nodes' [`WaitingRoom`]s only after it is durable.
//!
//! * **Arrival** (no valid ticket): [`WaitingRoom::arrive`]. On [`NeedBlock`], reserve
//!   (`state.reserve_block(class, size, now)`), persist the record, `refresh` the room,
//!   `install_block(reservation.persisted())`, retry. Return the ticket as a cookie or bearer token
//!   and its [`Status`].
//! * **Status poll**: [`WaitingRoom::status`] → position, people ahead, ETA, `poll_after_ms`.
//! * **Exchange**: [`WaitingRoom::exchange`] with the ticket and the request's session id → a pass
//!   (cookie) or the status.
//! * **Every booking-side call**: [`WaitingRoom::check_pass`]; refuse with 401/403 and the error's
//!   code and message on failure.
//! * **Tick** (leader, every 100–500 ms): gather [`Observations`] — active sessions (distinct
//!   sessions that used a pass recently), the booking side's p99 latency or saturation, and the
//!   [`Pass::rank`] of each session seen using its pass for the first time — call
//!   [`Controller::tick`] on the freshly read record (with a CSPRNG: at the opening second it
//!   draws the order key), persist it if [`Decision::changed`], then refresh every node.
//!   Admission follows the booking side, not the poll budget: size the poll policy's front zone
//!   for the booking side's capacity ([`PollConfig::with_front`]), and the people within it learn
//!   of their turn within one `min_interval` however fast the watermark moves ([`PollPolicy`]).
//! * **Operators**: [`Controller::snapshot`] / [`Snapshot::from_state`].
//!
//! What to persist, and when: the [`QueueRecord`] after every reservation (before handing out a
//! number of the block) and after every tick that changed it (before publishing the watermark);
//! the signing keys and the permutation key (inside the record) as secrets. Nothing per person.
//!
//! # Bounds worth knowing
//!
//! * Poll budget: guaranteed for queues up to `PollConfig::max_queue`, at any admission rate and
//!   while admission is stopped (see [`PollPolicy`]); position polls get the whole budget outside
//!   the pre-queue's window, half of it inside.
//! * Notice: someone in the front zone learns of their turn within `min_interval`; everyone else
//!   no later than they would have been admitted at the tail pace of the schedule they were last
//!   told from ([`Schedule::fresh_rate_limit_per_s`]), and within `eta_slack_ms` while the
//!   admission rate is at most that pace.
//! * Overshoot of active sessions: only late returners and the in-flight admissions forgotten by a
//!   restarted leader (see [`Controller`]); the simulation in `tests/simulation.rs` keeps active
//!   sessions under `max_active` through a crash, a booking-side slowdown, abandons, reloads and
//!   tabs.
//! * Sybils: the draw is per **verified person**, not per ticket. A ticket verified during the
//!   pre-queue ([`WaitingRoom::verify`]) carries the person's draw number, one per person per
//!   opening (the shell's durable person table hands it out), so a thousand tickets verified by
//!   one person hold one place, the same on each; the verified are shuffled ahead of every
//!   unverified ticket ([`QueueState`]'s module docs: the line). Unverified tickets are still
//!   drawn per ticket among themselves, behind everyone verified: farming them wins nothing
//!   against anyone who verified, and verifying is open to all during the pre-queue. Limiting
//!   ticket minting per address, and what one pass may do, is the shell's job. Tested in
//!   `tests/verified.rs` (chi-square over seeded openings).

mod controller;
mod lease;
mod opening;
mod perm;
mod poll;
mod room;
mod state;
mod token;
mod types;

pub use controller::{
    Controller, ControllerConfig, Decision, LastObservations, Observations, PaceConfig, Snapshot,
    Transition, eta_ms,
};
pub use lease::{Block, Reservation, SequenceLease};
pub use opening::{ConfigError, Opening};
pub use perm::{PermError, PermKey, Permutation};
pub use poll::{PollConfig, PollConfigError, PollPolicy, Schedule};
pub use room::{Arrival, Exchange, NeedBlock, RoomError, Status, WaitingRoom};
pub use state::{MAX_BLOCK, QueueRecord, QueueState, RankError, ReserveError, StateError};
pub use token::{
    KeyId, KeyMaterial, Keyring, KeyringError, MAX_KEYS, MAX_TOKEN_CHARS, Pass, Ticket, TokenError,
    Verified,
};
pub use types::{Class, Phase, QueueId, Rank, WaitingSessionId};
