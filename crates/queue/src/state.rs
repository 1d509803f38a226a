//! The durable record of one queue: a handful of counters, no per-person state.
//!
//! # The line
//!
//! Every ticket has a rank, a pure function of the ticket and this record:
//!
//! ```text
//! ranks  [0, F0)                      FIFO tickets issued before the pre-queue started (free flow): rank = seq
//!        [F0, F0 + N_V)               verified people of the pre-queue: rank = F0 + perm_V(draw)
//!        [F0 + N_V, F0 + N_V + N_P)   unverified pre-queue tickets: rank = F0 + N_V + perm(seq)
//!        [F0 + N_V + N_P, …)          FIFO tickets issued after the free-flow segment closed: rank = N_V + N_P + seq
//! ```
//!
//! `F0` (the end of the free-flow segment) is frozen when the pre-queue starts; `N_P` (the number
//! of pre-queue sequence numbers), `N_V` (the number of people verified during the pre-queue) and
//! the permutation key at the opening. FIFO numbers after `F0` continue the same counter (it is
//! raised to `F0` at the freeze), so `seq ≥ F0` for all of them. A queue with no pre-queue ever
//! has `F0` unset and every rank is its sequence number.
//!
//! # One place per verified person
//!
//! A person who proves who they are while waiting in the pre-queue gets a *draw number*: dense,
//! one per person per opening, handed out by the shell from a durable table (person → number),
//! so however many tickets one person verifies, every one carries the same number. At the opening
//! the verified segment is a keyed shuffle of the draw numbers `[0, N_V)` (its own key, derived
//! from the opening's), so each verified person's place is uniform whatever they did before:
//! a thousand tickets give one place, the same on all of them. Tickets never verified before the
//! opening are drawn *behind every verified person*: farming unverified tickets can only place a
//! script behind everyone who verified, and verifying any one of them gives one place like
//! anyone else's. (A draw number at or beyond the frozen `N_V` — verified in the instant the
//! opening was committed — falls back to the ticket's own unverified place.)
//!
//! The watermark `W` only grows; every rank below it is admitted. While the pre-queue waits for
//! the opening, `W ≤ F0` (nobody from the pre-queue is admitted early).
//!
//! # Mutations
//!
//! Every change is a read-modify-write of the whole record in one transaction: reserving a block
//! of numbers ([`QueueState::reserve_block`], any node), the phase transitions and the watermark
//! ([`crate::Controller::tick`], one leader). [`QueueState::revision`] increases with every change,
//! for compare-and-swap.
//!
//! A node may decide from a stale copy of the record (it refreshes after each tick): every
//! decision stays safe, because `W`, `F0`, `N_P` and the key never move backwards or change once
//! set, and a stale `W` is only smaller.

use crate::lease::{Block, Reservation};
use crate::opening::Opening;
use crate::perm::{PermKey, Permutation};
use crate::token::Ticket;
use crate::types::{Class, Phase, Rank};
use serde::{Deserialize, Serialize};

/// Largest block a node may reserve at once.
pub const MAX_BLOCK: u64 = 1 << 20;

/// The serialized shape of a [`QueueState`]: what the shell stores (one row, or JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    pub opening: Opening,
    /// Pre-queue sequence numbers reserved so far (high-water mark).
    pub pre_reserved: u64,
    /// FIFO sequence numbers reserved so far (high-water mark).
    pub fifo_reserved: u64,
    /// FIFO numbers skipped when the free-flow segment was closed (empty ranks, for the counts).
    pub fifo_skipped: u64,
    /// `F0`: end of the free-flow segment, frozen when the pre-queue starts.
    pub free_flow_end: Option<u64>,
    /// `N_P`: pre-queue numbers, frozen at the opening.
    pub pre_count: Option<u64>,
    /// Draw numbers handed to verified people so far (high-water mark, raised by the shell).
    #[serde(default)]
    pub verified_reserved: u64,
    /// `N_V`: people verified in the pre-queue, frozen at the opening.
    #[serde(default)]
    pub verified_count: Option<u64>,
    /// The order of the pre-queue; drawn at the opening. Secret until then.
    pub perm_key: Option<PermKey>,
    /// `W`: ranks below it are admitted.
    pub watermark: u64,
    /// Measured admission rate, in ranks per 1000 s (integer, so the record compares exactly).
    pub rate_ranks_per_ks: u64,
    pub revision: u64,
}

/// Why a record was refused or a transition could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the record is inconsistent: {0}")]
    Inconsistent(&'static str),
    #[error("a newer record cannot move the watermark backwards or change a frozen value")]
    Regression,
    #[error("the record belongs to another queue")]
    OtherQueue,
}

/// Why a block of numbers could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error("the opening has happened: no more pre-queue numbers (issue a FIFO ticket)")]
    PrequeueClosed,
    #[error("block size must be between 1 and {MAX_BLOCK}")]
    BadSize,
    #[error("sequence numbers exhausted")]
    Exhausted,
}

/// Why a ticket has no rank (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RankError {
    /// Pre-queue ticket (or a FIFO ticket issued after the pre-queue started) before the opening
    /// has been committed: its place is drawn at the opening.
    #[error("the place is drawn at the opening")]
    NotYetRanked,
    /// A pre-queue number at or beyond the frozen `N_P`: the record is older than the ticket
    /// (restored from a backup?). Never happens in a correct deployment (pre-queue blocks cannot be
    /// reserved after the opening); refuse rather than guess.
    #[error("the ticket's number was never reserved in this queue")]
    UnknownNumber,
}

/// The validated, in-memory form of a [`QueueRecord`], with the permutation built once.
#[derive(Debug, Clone)]
pub struct QueueState {
    record: QueueRecord,
    perm: Option<Permutation>,
    /// The shuffle of verified people's draw numbers, `[0, N_V)`.
    verified_perm: Option<Permutation>,
}

/// The verified segment's key: derived from the opening's, so it is as secret until the opening
/// and needs no storage of its own, and unrelated to the unverified segment's order.
fn verified_key(key: &PermKey) -> PermKey {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"yeyak verified people order v1");
    hasher.update(key.0);
    PermKey(hasher.finalize().into())
}

impl QueueState {
    /// A fresh queue: nothing issued, nothing admitted.
    pub fn new(opening: Opening) -> QueueState {
        QueueState {
            record: QueueRecord {
                opening,
                pre_reserved: 0,
                fifo_reserved: 0,
                fifo_skipped: 0,
                free_flow_end: None,
                pre_count: None,
                verified_reserved: 0,
                verified_count: None,
                perm_key: None,
                watermark: 0,
                rate_ranks_per_ks: 0,
                revision: 0,
            },
            perm: None,
            verified_perm: None,
        }
    }

    /// Validates a stored record (parse, don't validate).
    pub fn from_record(mut record: QueueRecord) -> Result<QueueState, StateError> {
        if record.pre_count.is_some() && record.verified_count.is_none() {
            // Opened before verified people were drawn: none were.
            record.verified_count = Some(0);
        }
        let r = &record;
        let inconsistent = |what| Err(StateError::Inconsistent(what));
        if let Some(f0) = r.free_flow_end {
            if r.fifo_reserved < f0 {
                return inconsistent("FIFO counter below the end of the free-flow segment");
            }
            if r.pre_count.is_none() && r.watermark > f0 {
                return inconsistent("pre-queue admitted before the opening");
            }
        } else {
            if r.pre_reserved > 0 {
                return inconsistent("pre-queue numbers without a closed free-flow segment");
            }
            if r.pre_count.is_some() {
                return inconsistent("opened without a closed free-flow segment");
            }
        }
        if r.fifo_skipped > r.fifo_reserved {
            return inconsistent("more FIFO numbers skipped than reserved");
        }
        if r.pre_count.is_some() != r.verified_count.is_some() {
            return inconsistent("opened without freezing the verified people");
        }
        if r.verified_count.is_some_and(|n| n > r.verified_reserved) {
            return inconsistent("more verified people drawn than numbered");
        }
        let (perm, verified_perm) = match (r.pre_count, &r.perm_key) {
            (None, None) => (None, None),
            (Some(n), Some(key)) => {
                if n != r.pre_reserved {
                    return inconsistent("pre-queue numbers reserved after the opening");
                }
                let n_v = r.verified_count.unwrap_or(0);
                (
                    Permutation::new(key, n).ok(),
                    Permutation::new(&verified_key(key), n_v).ok(),
                )
            }
            _ => return inconsistent("opened without a key, or a key before the opening"),
        };
        Ok(QueueState {
            record,
            perm,
            verified_perm,
        })
    }

    /// The record to persist.
    pub fn record(&self) -> &QueueRecord {
        &self.record
    }

    pub fn opening(&self) -> &Opening {
        &self.record.opening
    }

    /// Increases with every change.
    pub fn revision(&self) -> u64 {
        self.record.revision
    }

    /// `W`: every rank below it is admitted.
    pub fn watermark(&self) -> u64 {
        self.record.watermark
    }

    /// Whether the opening has been committed (`N_P` frozen, key drawn).
    pub fn is_open(&self) -> bool {
        self.record.pre_count.is_some()
    }

    /// Whether the free-flow segment has been closed (`F0` frozen).
    pub fn prequeue_started(&self) -> bool {
        self.record.free_flow_end.is_some()
    }

    /// `N_P`, once frozen.
    pub fn pre_count(&self) -> Option<u64> {
        self.record.pre_count
    }

    /// Pre-queue numbers reserved so far (an upper bound on pre-queue arrivals).
    pub fn pre_reserved(&self) -> u64 {
        self.record.pre_reserved
    }

    /// `N_V`, once frozen.
    pub fn verified_count(&self) -> Option<u64> {
        self.record.verified_count
    }

    /// People given a draw number so far (known to this copy of the record).
    pub fn verified_reserved(&self) -> u64 {
        self.record.verified_reserved
    }

    /// Whether a ticket verified now should get a draw number: it is a pre-queue ticket and the
    /// draw has not been frozen yet. (A number handed out after all is harmless: it falls back
    /// to the ticket's own place, see the module docs.)
    pub fn draws_open_for(&self, ticket: &Ticket) -> bool {
        ticket.class == Class::Pre && !self.is_open()
    }

    /// Records that draw numbers below `count` have been handed out (durably, by the shell's
    /// person table) — before the opening freezes `N_V`. Returns whether it changed anything.
    pub fn note_verified(&mut self, count: u64) -> bool {
        if self.is_open() || count <= self.record.verified_reserved {
            return false;
        }
        // No new revision: the count is raised from the durable draw table, not a change of the
        // stored record, and a node's copy must keep the revision it was stored at, or its
        // next compare-and-swap would never match. The next stored change carries it.
        self.record.verified_reserved = count;
        true
    }

    /// Measured admission rate in ranks per second (0 when unknown).
    pub fn rate_per_s(&self) -> f64 {
        self.record.rate_ranks_per_ks as f64 / 1000.0
    }

    /// Tickets issued so far, at most (exact when no reserved number was lost).
    pub fn issued_at_most(&self) -> u64 {
        self.record.pre_reserved + self.record.fifo_reserved - self.record.fifo_skipped
    }

    /// The phase by the clock, corrected by the record: once the opening is committed it is open
    /// whatever a slow clock says.
    pub fn phase_at(&self, now_ms: u64) -> Phase {
        if self.is_open() {
            Phase::Open
        } else {
            self.record.opening.phase_at(now_ms)
        }
    }

    /// The class a ticket issued now gets.
    pub fn class_at(&self, now_ms: u64) -> Class {
        if self.is_open() {
            Class::Fifo
        } else {
            self.record.opening.class_at(now_ms)
        }
    }

    /// One past the last rank that could hold an issued ticket, as far as admission may go now:
    /// before the opening is committed but after the pre-queue started, only the free-flow segment
    /// `[0, F0)` can be admitted.
    pub fn tail(&self) -> u64 {
        let r = &self.record;
        match (r.free_flow_end, r.pre_count) {
            (None, _) => r.fifo_reserved,
            (Some(f0), None) => f0,
            (Some(_), Some(n_p)) => n_p
                .saturating_add(r.verified_count.unwrap_or(0))
                .saturating_add(r.fifo_reserved),
        }
    }

    /// The highest the watermark may be set to now, regardless of demand.
    pub fn watermark_cap(&self) -> u64 {
        match (self.record.free_flow_end, self.record.pre_count) {
            (Some(f0), None) => f0,
            _ => u64::MAX,
        }
    }

    /// The rank of a ticket: a pure function of (ticket, record). The same ticket always gets the
    /// same rank, however often it is presented.
    pub fn rank(&self, ticket: &Ticket) -> Result<Rank, RankError> {
        let r = &self.record;
        let n_v = r.verified_count.unwrap_or(0);
        match ticket.class {
            Class::Fifo => match (r.free_flow_end, r.pre_count) {
                (None, _) => Ok(Rank(ticket.seq)),
                (Some(f0), _) if ticket.seq < f0 => Ok(Rank(ticket.seq)),
                (Some(_), Some(n_p)) => {
                    Ok(Rank(ticket.seq.saturating_add(n_p).saturating_add(n_v)))
                }
                (Some(_), None) => Err(RankError::NotYetRanked),
            },
            Class::Pre => match (r.free_flow_end, r.pre_count, &self.perm) {
                (Some(f0), Some(_), Some(perm)) => {
                    if let Some(place) = self.verified_place(ticket) {
                        return Ok(Rank(f0 + place));
                    }
                    perm.apply(ticket.seq)
                        .map(|p| Rank(f0 + n_v + p))
                        .ok_or(RankError::UnknownNumber)
                }
                (_, Some(_), _) => Err(RankError::UnknownNumber),
                // Before the opening nobody has a place yet. (No check against `pre_reserved`: a
                // node's copy of the record may predate the block the ticket came from.)
                (_, None, _) => Err(RankError::NotYetRanked),
            },
        }
    }

    /// The rank an unverified pre-queue ticket numbered `seq` would have, once the opening is
    /// committed (for numbers nobody was given: empty ranks).
    pub fn unissued_pre_rank(&self, seq: u64) -> Option<Rank> {
        let r = &self.record;
        let (f0, n_v, perm) = (
            r.free_flow_end?,
            r.verified_count.unwrap_or(0),
            self.perm.as_ref()?,
        );
        perm.apply(seq).map(|p| Rank(f0 + n_v + p))
    }

    /// A verified pre-queue ticket's place in the verified segment, counted from its start: the
    /// shuffle of the person's draw number, so it is the same on every ticket of theirs.
    fn verified_place(&self, ticket: &Ticket) -> Option<u64> {
        let draw = ticket.verified?.draw?;
        self.verified_perm.as_ref()?.apply(draw)
    }

    /// Ranks of the verified segment still to be admitted ahead of `rank`: each holds exactly one
    /// verified person.
    pub fn verified_ahead(&self, rank: Rank) -> u64 {
        let (Some(f0), Some(n_v)) = (self.record.free_flow_end, self.record.verified_count) else {
            return 0;
        };
        let start = f0.max(self.record.watermark);
        let end = f0.saturating_add(n_v).min(rank.0);
        end.saturating_sub(start)
    }

    /// Whether a rank has been admitted.
    pub fn is_admitted(&self, rank: Rank) -> bool {
        rank.0 < self.record.watermark
    }

    /// Place in line counting from 1 (next to be admitted); 0 once admitted. `position − 1`
    /// ranks are still to be admitted before this one.
    pub fn position(&self, rank: Rank) -> u64 {
        if self.is_admitted(rank) {
            0
        } else {
            rank.0 - self.record.watermark + 1
        }
    }

    fn bump(&mut self) {
        self.record.revision += 1;
    }

    /// Closes the free-flow segment (the pre-queue starts). Idempotent; returns whether it changed.
    /// `F0` is at least `W`, so ranks the watermark already passed are never handed to the
    /// pre-queue.
    pub fn start_prequeue(&mut self) -> bool {
        let r = &mut self.record;
        if r.free_flow_end.is_some() {
            return false;
        }
        let f0 = r.fifo_reserved.max(r.watermark);
        r.fifo_skipped += f0 - r.fifo_reserved;
        r.fifo_reserved = f0;
        r.free_flow_end = Some(f0);
        self.bump();
        true
    }

    /// Commits the opening: freezes `N_P` and the order key. Idempotent (a second call keeps the
    /// first key); returns whether it changed.
    pub fn open(&mut self, key: PermKey) -> bool {
        if self.is_open() {
            return false;
        }
        self.start_prequeue();
        let n_p = self.record.pre_reserved;
        let n_v = self.record.verified_reserved;
        self.perm = Permutation::new(&key, n_p).ok();
        self.verified_perm = Permutation::new(&verified_key(&key), n_v).ok();
        self.record.pre_count = Some(n_p);
        self.record.verified_count = Some(n_v);
        self.record.perm_key = Some(key);
        self.bump();
        true
    }

    /// Raises the durable high-water mark of `class` by `size` and returns the block it covers.
    /// `now_ms` is the reserving node's clock: a FIFO block reserved once the pre-queue has started
    /// closes the free-flow segment first, so its numbers rank after the pre-queue.
    pub fn reserve_block(
        &mut self,
        class: Class,
        size: u64,
        now_ms: u64,
    ) -> Result<Reservation, ReserveError> {
        if !(1..=MAX_BLOCK).contains(&size) {
            return Err(ReserveError::BadSize);
        }
        match class {
            Class::Pre => {
                if self.is_open() {
                    return Err(ReserveError::PrequeueClosed);
                }
                let start = self.record.pre_reserved;
                let end = start.checked_add(size).ok_or(ReserveError::Exhausted)?;
                self.start_prequeue();
                self.record.pre_reserved = end;
                self.bump();
                Ok(Reservation::new(Block {
                    class,
                    start,
                    end,
                    after_freeze: true,
                }))
            }
            Class::Fifo => {
                if now_ms >= self.record.opening.prequeue_starts_at_ms() {
                    self.start_prequeue();
                }
                let start = self.record.fifo_reserved;
                let end = start.checked_add(size).ok_or(ReserveError::Exhausted)?;
                self.record.fifo_reserved = end;
                self.bump();
                Ok(Reservation::new(Block {
                    class,
                    start,
                    end,
                    after_freeze: self.prequeue_started(),
                }))
            }
        }
    }

    /// Moves the watermark up to `watermark` (never down, never past [`QueueState::watermark_cap`])
    /// and records the measured rate. Returns the watermark now in force.
    pub fn advance(&mut self, watermark: u64, rate_per_s: f64) -> u64 {
        let target = watermark.min(self.watermark_cap());
        let rate = if rate_per_s.is_finite() && rate_per_s > 0.0 {
            (rate_per_s * 1000.0).round().min(u64::MAX as f64) as u64
        } else {
            0
        };
        let r = &mut self.record;
        if target > r.watermark || rate != r.rate_ranks_per_ks {
            r.watermark = r.watermark.max(target);
            r.rate_ranks_per_ks = rate;
            self.bump();
        }
        self.record.watermark
    }

    /// Changes the capacity (operators may, mid-evening).
    pub fn set_opening(&mut self, opening: Opening) -> Result<(), StateError> {
        let old = &self.record.opening;
        if opening.queue() != old.queue()
            || opening.prequeue_starts_at_ms() != old.prequeue_starts_at_ms()
            || opening.opens_at_ms() != old.opens_at_ms()
        {
            return Err(StateError::Regression);
        }
        self.record.opening = opening;
        self.bump();
        Ok(())
    }

    /// Accepts a newer copy of the record (a node refreshing from the shared database). Refuses
    /// one that would move anything backwards.
    pub fn refresh(&mut self, newer: QueueState) -> Result<(), StateError> {
        let (a, b) = (&self.record, &newer.record);
        if a.opening.queue() != b.opening.queue() {
            return Err(StateError::OtherQueue);
        }
        let frozen_changed = |x: Option<u64>, y: Option<u64>| x.is_some() && x != y;
        if b.watermark < a.watermark
            || b.pre_reserved < a.pre_reserved
            || b.fifo_reserved < a.fifo_reserved
            || frozen_changed(a.free_flow_end, b.free_flow_end)
            || frozen_changed(a.pre_count, b.pre_count)
            || frozen_changed(a.verified_count, b.verified_count)
            || (a.perm_key.is_some() && a.perm_key != b.perm_key)
        {
            return Err(StateError::Regression);
        }
        // The count of people drawn is a high-water mark raised from the shell's durable person
        // table, possibly between a read and a write of the record by someone else: a newer
        // record that has not seen a raise yet keeps it (until the opening freezes it).
        let drawn = self.record.verified_reserved;
        *self = newer;
        if !self.is_open() && drawn > self.record.verified_reserved {
            self.record.verified_reserved = drawn;
        }
        Ok(())
    }
}

impl Serialize for QueueState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.record.serialize(s)
    }
}

impl<'de> Deserialize<'de> for QueueState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<QueueState, D::Error> {
        QueueState::from_record(QueueRecord::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{QueueId, WaitingSessionId};

    fn opening() -> Opening {
        Opening::new(QueueId(1), 1_000, 2_000, 10, 60_000).expect("valid")
    }

    fn ticket(class: Class, seq: u64) -> Ticket {
        Ticket {
            queue: QueueId(1),
            class,
            seq,
            session: WaitingSessionId([0; 16]),
            issued_at_ms: 0,
            verified: None,
        }
    }

    fn reserve(s: &mut QueueState, class: Class, size: u64, now: u64) -> Block {
        s.reserve_block(class, size, now)
            .expect("reservable")
            .persisted()
    }

    #[test]
    fn the_line_has_three_segments() {
        let mut s = QueueState::new(opening());
        let free = reserve(&mut s, Class::Fifo, 5, 0); // seqs 0..5, free flow
        assert_eq!(s.rank(&ticket(Class::Fifo, 3)), Ok(Rank(3)));
        let pre = reserve(&mut s, Class::Pre, 4, 1_500); // closes F0 = 5
        assert_eq!((free.start, free.end, pre.start, pre.end), (0, 5, 0, 4));
        assert_eq!(s.record().free_flow_end, Some(5));
        let late = reserve(&mut s, Class::Fifo, 3, 1_600); // seqs 5..8, after the pre-queue
        assert!(late.after_freeze && !free.after_freeze);
        assert_eq!(late.start, 5);
        assert_eq!(s.rank(&ticket(Class::Pre, 0)), Err(RankError::NotYetRanked));
        assert_eq!(
            s.rank(&ticket(Class::Fifo, 5)),
            Err(RankError::NotYetRanked)
        );
        assert_eq!(s.rank(&ticket(Class::Pre, 4)), Err(RankError::NotYetRanked));
        assert_eq!(s.tail(), 5);
        assert_eq!(s.watermark_cap(), 5);

        assert!(s.open(PermKey([7; 32])));
        assert!(!s.open(PermKey([8; 32])), "second opening is a no-op");
        assert_eq!(s.pre_count(), Some(4));
        let mut pre_ranks: Vec<u64> = (0..4)
            .map(|q| s.rank(&ticket(Class::Pre, q)).expect("ranked").0)
            .collect();
        pre_ranks.sort_unstable();
        assert_eq!(pre_ranks, vec![5, 6, 7, 8]);
        assert_eq!(s.rank(&ticket(Class::Fifo, 4)), Ok(Rank(4)));
        assert_eq!(s.rank(&ticket(Class::Fifo, 5)), Ok(Rank(9)));
        assert_eq!(s.rank(&ticket(Class::Fifo, 7)), Ok(Rank(11)));
        assert_eq!(
            s.rank(&ticket(Class::Pre, 4)),
            Err(RankError::UnknownNumber)
        );
        assert_eq!(s.tail(), 12);
        assert_eq!(
            s.reserve_block(Class::Pre, 1, 1_900),
            Err(ReserveError::PrequeueClosed)
        );
        assert_eq!(s.issued_at_most(), 12);
    }

    #[test]
    fn verified_people_come_first_then_unverified_tickets_then_fifo() {
        let mut s = QueueState::new(opening());
        let _ = reserve(&mut s, Class::Fifo, 3, 0); // free flow: F0 = 3
        let _ = reserve(&mut s, Class::Pre, 4, 1_500);
        assert!(s.note_verified(2));
        assert!(!s.note_verified(1), "never lowered");
        // A record written meanwhile by someone who had not seen the raise keeps it.
        let mut other = s.clone();
        other.record.verified_reserved = 0;
        other.bump();
        s.refresh(other).expect("newer");
        assert_eq!(s.verified_reserved(), 2);
        let verified = |seq: u64, draw: u64| Ticket {
            verified: Some(crate::token::Verified {
                person: 100 + draw,
                draw: Some(draw),
            }),
            ..ticket(Class::Pre, seq)
        };
        assert!(s.draws_open_for(&ticket(Class::Pre, 0)));
        assert!(!s.draws_open_for(&ticket(Class::Fifo, 0)));
        assert!(s.open(PermKey([3; 32])));
        assert!(!s.note_verified(5), "frozen at the opening");
        assert!(!s.draws_open_for(&ticket(Class::Pre, 0)));
        assert_eq!(s.verified_count(), Some(2));
        let mut people: Vec<u64> = [verified(0, 0), verified(1, 1)]
            .iter()
            .map(|t| s.rank(t).expect("ranked").0)
            .collect();
        people.sort_unstable();
        assert_eq!(people, vec![3, 4], "the verified right after free flow");
        // The same person's draw on another ticket: the same place.
        assert_eq!(s.rank(&verified(3, 1)), s.rank(&verified(1, 1)));
        let mut tickets: Vec<u64> = (0..4)
            .map(|q| s.rank(&ticket(Class::Pre, q)).expect("ranked").0)
            .collect();
        tickets.sort_unstable();
        assert_eq!(
            tickets,
            vec![5, 6, 7, 8],
            "unverified behind every verified"
        );
        let _ = reserve(&mut s, Class::Fifo, 2, 2_100);
        assert_eq!(s.rank(&ticket(Class::Fifo, 3)), Ok(Rank(9)));
        // A draw number at or past the frozen count falls back to the ticket's own place.
        let late = verified(2, 2);
        assert_eq!(s.rank(&late), s.rank(&ticket(Class::Pre, 2)));
        assert_eq!(s.verified_ahead(Rank(8)), 2);
        s.advance(4, 1.0);
        assert_eq!(s.verified_ahead(Rank(8)), 1);
        assert_eq!(s.verified_ahead(Rank(3)), 0);
        // A record stored opened before verified draws existed reads as none drawn.
        let mut old = s.record().clone();
        old.verified_count = None;
        old.verified_reserved = 0;
        assert_eq!(
            QueueState::from_record(old)
                .expect("migrated")
                .verified_count(),
            Some(0)
        );
    }

    #[test]
    fn freezing_never_hands_admitted_ranks_to_the_prequeue() {
        let mut s = QueueState::new(opening());
        let _ = reserve(&mut s, Class::Fifo, 2, 0);
        // Free flow: the watermark ran ahead of arrivals (room for 6 more).
        assert_eq!(s.advance(8, 1.0), 8);
        let _ = reserve(&mut s, Class::Pre, 3, 1_500);
        assert_eq!(s.record().free_flow_end, Some(8));
        assert_eq!(s.record().fifo_skipped, 6);
        assert!(s.open(PermKey([1; 32])));
        for q in 0..3 {
            let r = s.rank(&ticket(Class::Pre, q)).expect("ranked");
            assert!(
                !s.is_admitted(r),
                "pre-queue ticket admitted at the opening"
            );
        }
        assert_eq!(s.issued_at_most(), 5);
    }

    #[test]
    fn watermark_never_moves_back_nor_past_f0_before_the_opening() {
        let mut s = QueueState::new(opening());
        let _ = reserve(&mut s, Class::Fifo, 3, 0);
        assert_eq!(s.advance(2, 0.0), 2);
        assert_eq!(s.advance(1, 0.0), 2);
        assert!(s.start_prequeue());
        assert_eq!(s.advance(100, 0.0), 3);
        assert!(s.open(PermKey([1; 32])));
        assert_eq!(s.advance(100, 0.0), 100);
    }

    #[test]
    fn records_round_trip_and_bad_records_are_refused() {
        let mut s = QueueState::new(opening());
        let _ = reserve(&mut s, Class::Pre, 300, 1_500);
        assert!(s.open(PermKey([3; 32])));
        let back = QueueState::from_record(s.record().clone()).expect("valid");
        for q in [0, 17, 299] {
            assert_eq!(
                back.rank(&ticket(Class::Pre, q)),
                s.rank(&ticket(Class::Pre, q))
            );
        }
        let mut bad = s.record().clone();
        bad.pre_reserved += 1;
        assert!(QueueState::from_record(bad).is_err());
        let mut bad = s.record().clone();
        bad.perm_key = None;
        assert!(QueueState::from_record(bad).is_err());
        let mut bad = QueueState::new(opening()).record().clone();
        bad.pre_reserved = 1;
        assert!(QueueState::from_record(bad).is_err());
    }

    #[test]
    fn refresh_refuses_regressions() {
        let mut s = QueueState::new(opening());
        let _ = reserve(&mut s, Class::Fifo, 3, 0);
        let old = s.clone();
        s.advance(2, 0.0);
        let mut node = old.clone();
        assert_eq!(node.refresh(s.clone()), Ok(()));
        assert_eq!(node.refresh(old), Err(StateError::Regression));
        assert_eq!(node.watermark(), 2);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashSet;

        #[derive(Debug, Clone)]
        enum Op {
            Reserve(bool, u64),
            Issue(bool),
            Advance(u64),
            Clock(u64),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (any::<bool>(), 1u64..20).prop_map(|(pre, n)| Op::Reserve(pre, n)),
                any::<bool>().prop_map(Op::Issue),
                (0u64..30).prop_map(Op::Advance),
                (0u64..400).prop_map(Op::Clock),
            ]
        }

        proptest! {
            /// W2 in the record: once a ticket has a rank it keeps it through every later change
            /// (more arrivals, the opening, admissions, a reload from the stored record); an
            /// admitted rank stays admitted; ranks are never shared.
            #[test]
            fn ranks_never_change_and_admission_is_never_taken_back(
                ops in proptest::collection::vec(op(), 1..120),
                key in any::<[u8; 32]>(),
            ) {
                let mut s = QueueState::new(opening());
                let (mut now, mut pre, mut fifo) = (0u64, Vec::<u64>::new(), Vec::<u64>::new());
                let mut leases: [Option<(u64, u64)>; 2] = [None, None];
                let mut known: Vec<(Ticket, Rank, bool)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Reserve(want_pre, n) => {
                            let class = if want_pre { Class::Pre } else { Class::Fifo };
                            if let Ok(r) = s.reserve_block(class, n, now) {
                                let b = r.persisted();
                                leases[usize::from(want_pre)] = Some((b.start, b.end));
                            }
                        }
                        Op::Issue(want_pre) => {
                            let class = s.class_at(now);
                            if (class == Class::Pre) != want_pre { continue; }
                            if let Some((next, end)) = leases[usize::from(want_pre)].as_mut()
                                && *next < *end
                            {
                                if want_pre { pre.push(*next) } else { fifo.push(*next) }
                                *next += 1;
                            }
                        }
                        Op::Advance(k) => {
                            let w = s.watermark();
                            s.advance(w + k, 1.0);
                        }
                        Op::Clock(dt) => {
                            now += dt;
                            if now >= 2_000 { s.open(PermKey(key)); }
                        }
                    }
                    // Reload from the stored record, as a restarted node would.
                    let reloaded = QueueState::from_record(s.record().clone()).expect("valid");
                    for (t, r, admitted) in &known {
                        prop_assert_eq!(reloaded.rank(t), Ok(*r));
                        prop_assert!(!admitted || reloaded.is_admitted(*r));
                    }
                    known.clear();
                    let all = pre.iter().map(|&q| ticket(Class::Pre, q))
                        .chain(fifo.iter().map(|&q| ticket(Class::Fifo, q)));
                    let mut ranks = HashSet::new();
                    for t in all {
                        if let Ok(r) = reloaded.rank(&t) {
                            prop_assert!(ranks.insert(r), "rank {:?} shared", r);
                            known.push((t, r, reloaded.is_admitted(r)));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn block_sizes_are_bounded() {
        let mut s = QueueState::new(opening());
        assert_eq!(
            s.reserve_block(Class::Fifo, 0, 0),
            Err(ReserveError::BadSize)
        );
        assert_eq!(
            s.reserve_block(Class::Fifo, MAX_BLOCK + 1, 0),
            Err(ReserveError::BadSize)
        );
        assert_eq!(s.revision(), 0);
    }
}
