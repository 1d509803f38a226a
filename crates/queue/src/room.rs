//! The waiting room as one node's shell sees it: arrival, status, exchange, pass check.

use crate::controller::eta_ms;
use crate::lease::{Block, SequenceLease};
use crate::poll::PollPolicy;
use crate::state::{QueueState, RankError, StateError};
use crate::token::{Keyring, Pass, Ticket, TokenError, Verified};
use crate::types::{Class, Rank, WaitingSessionId};
use serde::Serialize;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Your turn: exchange the ticket for a pass now.
    Admitted { rank: Rank },
    /// Waiting in line.
    Waiting {
        rank: Rank,
        /// Ranks still to be admitted before yours; 1 means you are next.
        position: u64,
        /// People ahead of you, at most (ranks of numbers lost in a crash hold nobody).
        people_ahead: u64,
        /// Of them, verified people of the pre-queue's draw: exact, one rank each, and each
        /// eligible in this opening (the ineligible are given no place).
        verified_ahead: u64,
        /// `position ÷ measured admission rate`; `None` until a rate has been measured.
        eta_ms: Option<u64>,
        /// Come back after this long (chosen to keep total poll traffic within budget).
        poll_after_ms: u64,
    },
    /// A pre-queue ticket: the order is drawn at the opening second.
    BeforeOpening {
        opens_at_ms: u64,
        poll_after_ms: u64,
    },
}

impl Status {
    /// 0 when admitted.
    pub fn poll_after_ms(&self) -> u64 {
        match *self {
            Status::Admitted { .. } => 0,
            Status::Waiting { poll_after_ms, .. } | Status::BeforeOpening { poll_after_ms, .. } => {
                poll_after_ms
            }
        }
    }

    pub fn is_admitted(&self) -> bool {
        matches!(self, Status::Admitted { .. })
    }

    pub fn rank(&self) -> Option<Rank> {
        match *self {
            Status::Admitted { rank } | Status::Waiting { rank, .. } => Some(rank),
            Status::BeforeOpening { .. } => None,
        }
    }
}

/// A new arrival's ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The signed ticket: a cookie for browsers, a bearer token for apps.
    pub token: String,
    pub ticket: Ticket,
    pub status: Status,
}

/// The node has no sequence number left for this class: reserve a block of `class` in the record
/// ([`QueueState::reserve_block`]), persist the record, [`WaitingRoom::refresh`] and
/// [`WaitingRoom::install_block`], then try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a new block of {class:?} sequence numbers must be reserved")]
pub struct NeedBlock {
    pub class: Class,
}

/// The result of presenting a ticket for exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// Admitted: here is a pass bound to the session.
    Pass { token: String, pass: Pass },
    /// Not yet: here is where the ticket stands.
    NotYet(Status),
}

/// Why a ticket was refused by the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The ticket's number is beyond what this queue's record knows after the opening (the record
    /// regressed, e.g. was restored from a backup). Refused rather than guessed.
    #[error("the ticket's number is unknown to this queue")]
    UnknownNumber,
    /// The ticket was verified for another person.
    #[error("the ticket belongs to another verified person")]
    OtherPerson,
}

impl RoomError {
    pub fn code(self) -> &'static str {
        match self {
            RoomError::Token(e) => e.code(),
            RoomError::UnknownNumber => "ticket_unknown_number",
            RoomError::OtherPerson => "ticket_other_person",
        }
    }
    pub fn message_ko(self) -> &'static str {
        match self {
            RoomError::Token(e) => e.message_ko(),
            RoomError::UnknownNumber => {
                "대기 번호를 확인할 수 없습니다. 잠시 후 다시 시도하거나 고객센터에 문의해 주세요."
            }
            RoomError::OtherPerson => {
                "이 대기표는 이미 다른 분의 본인인증에 쓰였습니다. 대기표는 한 사람의 것입니다."
            }
        }
    }
    pub fn message_en(self) -> &'static str {
        match self {
            RoomError::Token(e) => e.message_en(),
            RoomError::UnknownNumber => {
                "Your queue number cannot be found. Please try again shortly or contact support."
            }
            RoomError::OtherPerson => {
                "This ticket was already verified for someone else: a ticket is one person's."
            }
        }
    }
}

/// One node's waiting room for one queue: the keyring, this node's copy of the record, and its
/// leased sequence numbers. Holds no per-person state.
#[derive(Debug)]
pub struct WaitingRoom {
    keyring: Keyring,
    poll: PollPolicy,
    state: QueueState,
    pre: SequenceLease,
    fifo: SequenceLease,
}

impl WaitingRoom {
    pub fn new(keyring: Keyring, poll: PollPolicy, state: QueueState) -> WaitingRoom {
        WaitingRoom {
            keyring,
            poll,
            state,
            pre: SequenceLease::new(),
            fifo: SequenceLease::new(),
        }
    }

    /// This node's copy of the record.
    pub fn state(&self) -> &QueueState {
        &self.state
    }

    pub fn poll_policy(&self) -> &PollPolicy {
        &self.poll
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Replaces the keyring (key rotation).
    pub fn set_keyring(&mut self, keyring: Keyring) {
        self.keyring = keyring;
    }

    /// Takes a newer copy of the record (after this node's own write, or a refresh from the
    /// shared database). Refuses one that moves anything backwards.
    pub fn refresh(&mut self, newer: QueueState) -> Result<(), StateError> {
        self.state.refresh(newer)
    }

    /// Starts handing out numbers from a block whose high-water mark is durable.
    pub fn install_block(&mut self, block: Block) {
        match block.class {
            Class::Pre => self.pre.install(block),
            Class::Fifo => self.fifo.install(block),
        }
    }

    /// Once the opening is committed, the ranks of the pre-queue numbers this node reserved and
    /// never handed out (the pre-queue is closed: nobody will ever hold them), for the
    /// controller ([`crate::Observations::empty`]); empty before, and empty once told.
    pub fn abandon_prequeue(&mut self) -> Vec<Rank> {
        if !self.state.is_open() {
            return Vec::new();
        }
        self.pre
            .abandon()
            .into_iter()
            .filter_map(|seq| self.state.unissued_pre_rank(seq))
            .collect()
    }

    /// Numbers this node still holds, per class (lost if it crashes: empty ranks).
    pub fn leased_remaining(&self) -> (u64, u64) {
        (self.pre.remaining(), self.fifo.remaining())
    }

    /// The class a block should be reserved ahead for now, if any: the class an arrival at
    /// `now_ms` gets, when its lease has no spare and is at most half full. The shell reserves it
    /// in the background, so arrivals are served from memory and never wait for a write.
    ///
    /// First retires FIFO numbers reserved before the pre-queue started, as an arrival would
    /// ([`Self::retire_stale_fifo`]). Without that, a shell reserving "until nothing is wanted"
    /// would replace its spare block again and again while the stale block stays current, and
    /// every replaced spare is a block of empty ranks admission has to walk over (seen at an
    /// opening: 600 empty ranks, twelve seconds of admissions, before anyone was let in).
    pub fn refill_wanted(&mut self, now_ms: u64) -> Option<Class> {
        self.retire_stale_fifo(now_ms);
        let class = self.state.class_at(now_ms);
        let lease = match class {
            Class::Pre => &self.pre,
            Class::Fifo => &self.fifo,
        };
        lease.wants_refill().then_some(class)
    }

    /// Drops this node's FIFO numbers reserved before the pre-queue started, once it has: they
    /// would rank ahead of all of it. Returns how many were dropped (they become empty ranks).
    pub fn retire_stale_fifo(&mut self, now_ms: u64) -> u64 {
        let stale =
            self.free_flow_closed(now_ms) && self.fifo.block().is_some_and(|b| !b.after_freeze);
        if stale { self.fifo.discard() } else { 0 }
    }

    fn free_flow_closed(&self, now_ms: u64) -> bool {
        self.state.prequeue_started() || now_ms >= self.state.opening().prequeue_starts_at_ms()
    }

    /// A new arrival (someone without a valid ticket). The class comes from the server clock and
    /// the record, never from the client.
    pub fn arrive(&mut self, now_ms: u64, session: WaitingSessionId) -> Result<Arrival, NeedBlock> {
        let class = self.state.class_at(now_ms);
        if class == Class::Fifo {
            self.retire_stale_fifo(now_ms);
        }
        let lease = match class {
            Class::Pre => &mut self.pre,
            Class::Fifo => &mut self.fifo,
        };
        let seq = lease.take().ok_or(NeedBlock { class })?;
        let ticket = Ticket {
            queue: self.state.opening().queue(),
            class,
            seq,
            session,
            issued_at_ms: now_ms,
            verified: None,
        };
        let status = self
            .status_of(&ticket, now_ms)
            .unwrap_or(Status::BeforeOpening {
                opens_at_ms: self.state.opening().opens_at_ms(),
                poll_after_ms: self.poll.config().min_interval_ms,
            });
        Ok(Arrival {
            token: self.keyring.sign(&ticket),
            ticket,
            status,
        })
    }

    /// Where a presented ticket stands. O(1), no storage access; the same ticket always gets the
    /// same rank.
    pub fn status(&self, now_ms: u64, ticket_token: &str) -> Result<(Ticket, Status), RoomError> {
        let ticket = Ticket::verify(&self.keyring, ticket_token, self.state.opening().queue())?;
        Ok((ticket, self.status_of(&ticket, now_ms)?))
    }

    /// Status of an already verified ticket.
    pub fn status_of(&self, ticket: &Ticket, now_ms: u64) -> Result<Status, RoomError> {
        match self.state.rank(ticket) {
            Ok(rank) if self.state.is_admitted(rank) => Ok(Status::Admitted { rank }),
            Ok(rank) => {
                let position = self.state.position(rank);
                Ok(Status::Waiting {
                    rank,
                    position,
                    people_ahead: position - 1,
                    verified_ahead: self.state.verified_ahead(rank),
                    eta_ms: eta_ms(position, self.state.rate_per_s()),
                    poll_after_ms: self.poll.interval_ms(&self.state, now_ms, position),
                })
            }
            Err(RankError::NotYetRanked) => {
                let opens_at_ms = self.state.opening().opens_at_ms();
                let seed = ticket.seq ^ (u64::from(ticket.class.to_byte()) << 62);
                Ok(Status::BeforeOpening {
                    opens_at_ms,
                    poll_after_ms: self.poll.before_opening_ms(
                        now_ms,
                        opens_at_ms,
                        seed,
                        self.state.pre_reserved(),
                    ),
                })
            }
            Err(RankError::UnknownNumber) => Err(RoomError::UnknownNumber),
        }
    }

    /// A presented ticket, checked to belong to `session` — before it is verified for a person.
    pub fn ticket_of(
        &self,
        ticket_token: &str,
        session: &WaitingSessionId,
    ) -> Result<Ticket, RoomError> {
        let ticket = Ticket::verify(&self.keyring, ticket_token, self.state.opening().queue())?;
        if ticket.session != *session {
            return Err(TokenError::WrongSession.into());
        }
        Ok(ticket)
    }

    /// The ticket re-issued for the verified person who holds it. `draw` is the person's draw
    /// number (the shell's durable person table), given only while
    /// [`QueueState::draws_open_for`] the ticket; the same person verifying several tickets gets
    /// the same number on each, hence one place. A ticket already verified for someone else is
    /// refused: a ticket is one person's.
    pub fn verify(
        &self,
        now_ms: u64,
        ticket: &Ticket,
        verified: Verified,
    ) -> Result<(String, Ticket, Status), RoomError> {
        if ticket
            .verified
            .is_some_and(|held| held.person != verified.person)
        {
            return Err(RoomError::OtherPerson);
        }
        let ticket = Ticket {
            verified: Some(verified),
            ..*ticket
        };
        let status = self.status_of(&ticket, now_ms)?;
        Ok((self.keyring.sign(&ticket), ticket, status))
    }

    /// Exchanges an admitted ticket for a pass bound to `session`. Exchanging again (a reload, a
    /// second tab) gives an equivalent pass and admits nobody else: admission is by rank only.
    pub fn exchange(
        &self,
        now_ms: u64,
        ticket_token: &str,
        session: &WaitingSessionId,
    ) -> Result<Exchange, RoomError> {
        let (ticket, status) = self.status(now_ms, ticket_token)?;
        if ticket.session != *session {
            return Err(TokenError::WrongSession.into());
        }
        let Status::Admitted { rank } = status else {
            return Ok(Exchange::NotYet(status));
        };
        let pass = Pass {
            queue: ticket.queue,
            session: ticket.session,
            rank,
            expires_at_ms: now_ms.saturating_add(self.state.opening().pass_ttl_ms()),
            person: ticket.verified.map(|v| v.person),
        };
        Ok(Exchange::Pass {
            token: self.keyring.sign(&pass),
            pass,
        })
    }

    /// Checks the pass of a booking-side call. Needs no state beyond the keyring.
    pub fn check_pass(
        &self,
        now_ms: u64,
        pass_token: &str,
        session: &WaitingSessionId,
    ) -> Result<Pass, TokenError> {
        Pass::verify(
            &self.keyring,
            pass_token,
            self.state.opening().queue(),
            session,
            now_ms,
        )
    }
}
