//! The waiting room's shell: one [`Gate`] in front of every booking-side call. The pure logic
//! lives in the `queue` crate; this module persists its record, keeps its signing keys, feeds the
//! admission controller with what the booking side is experiencing, and ticks it.
//!
//! Per-person state is kept only for people *admitted and active* (bounded by the opening's
//! `max_active`); a queued person is their ticket alone.

use crate::clock::Clock;
use crate::secrets::{
    KeyLine, KeysFileError, SharedKeysError, keyring_of, keyring_signing_with, read_keys_file,
    update_shared_keys, write_keys_file,
};
use crate::startup::StartError;
use queue::{
    Controller, ControllerConfig, Exchange, KeyId, KeyMaterial, Keyring, Observations, Opening,
    PaceConfig, Pass, PollConfig, PollPolicy, QueueId, QueueState, Rank, RoomError, Snapshot,
    Status, WaitingRoom, WaitingSessionId,
};
use rand::Rng;
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use store::QueueStore;

mod draws;
mod expiring;
use expiring::Expiring;

/// Sequence numbers reserved per durable write, sized to about a quarter-second of arrivals:
/// few writes at a surge, and few empty places (numbers reserved but never handed out, which make
/// positions over-estimates) when the queue is small. See [`block_size`].
pub const BLOCK_MIN: u64 = 16;
pub const BLOCK_MAX: u64 = 4_096;
/// A session that has not used its pass for this long no longer counts as active. Short, because
/// a booking takes seconds; a confirmed booking releases its place at once (see [`Gate::done`]).
const ACTIVE_WINDOW_MS: u64 = 15_000;
const LATENCY_SAMPLES_MAX: usize = 20_000;
pub const TICK_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
pub struct GateConfig {
    /// People using the booking side at once when no opening says otherwise.
    pub max_active: u32,
    pub pass_ttl_ms: u64,
    /// Status polls per second the whole queue may cause, whatever its length.
    pub poll_budget_per_s: f64,
    /// Admissions per second the booking side can take: the waiting room's front zone (the next
    /// second of admissions at this rate) polls every second, so they learn of their turn within
    /// one second however fast admission runs (at most half the position budget, smaller if the
    /// budget is). It also sizes the controller's opening step (five seconds of it) and how fast
    /// the limit grows (one second of it per second). The cap is
    /// [`GateConfig::max_admission_rate_per_s`]; below it the controller follows the booking
    /// side's latency.
    pub admission_rate_per_s: f64,
    /// The most people let in per second (a token bucket holding one second of them), whatever
    /// room the controller's limit leaves; 0 (the default): no cap. For a machine with no CPU to
    /// spare at the opening: there, with the limit alone, admission came in bursts of thousands
    /// a second and then stopped for seconds while the machine idled (the limit filled at once,
    /// the booking side's latency rose, the limit was cut, and the people already through held
    /// their room for the activity window after they had booked and gone). Set to what the
    /// booking side was measured to take, it smooths that out; set below it, people wait longer
    /// with the machine idle, and more give up (`bench/loadtest-53-54-2026-12-06-amd/`: 1.2×
    /// the stated rate at full scale on two cores, and the same at 40%, where it was too low).
    /// The adaptive pace ([`GateConfig::paced_admission`]) finds its own rate; the cap bounds it.
    pub max_admission_rate_per_s: f64,
    /// Whether admissions follow a pace that starts near `admission_rate_per_s` and adapts to
    /// the booking side (grows while it binds and latency is fine, is cut with the limit:
    /// [`queue::PaceConfig`]), so room that opens at once is not all let in at once.
    pub paced_admission: bool,
    /// The longest queue the poll budget is guaranteed for. Further back, everyone polls at the
    /// longest interval. The tail's pace is `budget ÷ Λ` with `Λ ≈ ln(max_queue ÷ front zone)`,
    /// so an operator who knows the crowd (a cohort of 1.5 million) gets a faster tail by saying
    /// so than by leaving the ten million sized for any crowd.
    pub max_queue: u64,
    /// Booking-side latency the controller aims to keep admitted people under.
    pub latency_target_ms: u32,
    /// How long someone admitted has to show up, once they could know it, before their room
    /// goes to the next person (they are still let in if they come later).
    pub show_up_window_ms: u64,
    /// New tickets per client address (IPv4 address, IPv6 /64) per minute; 0: no limit (load
    /// tests from one machine only).
    pub tickets_per_address_minute: u32,
    /// How long the place of someone who left to be texted is held once their turn came (the
    /// text is sent then); after it the place has passed on and they rejoin at the back.
    pub return_window_ms: u64,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            max_active: 5_000,
            pass_ttl_ms: 30 * 60 * 1000,
            poll_budget_per_s: 20_000.0,
            admission_rate_per_s: 1_500.0,
            max_admission_rate_per_s: 0.0,
            paced_admission: true,
            max_queue: MAX_QUEUE,
            latency_target_ms: 100,
            show_up_window_ms: 20_000,
            tickets_per_address_minute: TICKETS_PER_ADDRESS_MINUTE,
            return_window_ms: 10 * 60_000,
        }
    }
}

/// The longest queue the poll budget holds by default: ten million places, over six times the
/// 2021 cohort (KDCA counted over 6 million in its queue for 1.5 million eligible).
pub const MAX_QUEUE: u64 = 10_000_000;
/// The shortest `max_queue` an operator may state: people beyond it all poll at the longest
/// interval, which a short bound makes short, so a slip of a digit must not make a real crowd
/// overrun the budget.
pub const MIN_MAX_QUEUE: u64 = 100_000;

/// New tickets per client address per minute. Generous: Korean carriers put thousands of phones
/// behind one IPv4 address (carrier-grade NAT), and at an opening most of them arrive in the
/// same minute. It bounds how fast one client can mint tickets (each costs a queue number and,
/// unverified, holds a place behind everyone verified); fairness does not rest on it.
pub const TICKETS_PER_ADDRESS_MINUTE: u32 = 1_200;
/// Identity checks one pass may start (its holder's own, retries, family members' consents).
pub const PASS_IDENTITY_STARTS: u32 = 8;
/// Bookings for family members one pass may make (the per-booker family limit is separate).
pub const PASS_FAMILY_BOOKINGS: u32 = 4;
/// A person's pass counts as in use while it was used this recently: a second pass for the same
/// person (another device's verified ticket) is refused meanwhile, and so is the older of two on
/// the booking side. After it, the first device is taken as gone. A fresh identity check on the
/// booking side (the phone in hand now) takes the person's pass over at once, so a closed
/// browser or a lost phone never locks its owner out.
pub const PERSON_PASS_IDLE_MS: u64 = 5 * 60_000;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Room(#[from] RoomError),
    #[error("the waiting room cannot store its record: {0}")]
    Storage(String),
    /// No durably reserved number is at hand: the background reservation is behind (a slow or
    /// stalled disk). The arrival is refused rather than given an undurable number (W5).
    #[error("no queue number is ready yet")]
    NoNumbers,
    /// This client address minted [`GateConfig::tickets_per_address_minute`] tickets this minute.
    #[error("too many new tickets from this address")]
    TooManyTickets { retry_after_s: u64 },
    /// The verified person already holds a pass in use on another session.
    #[error("this person already holds a pass in use")]
    PersonHasPass,
    /// "Text me": only a verified ticket can be texted (the phone is the verified one).
    #[error("only a verified ticket can be texted")]
    NotVerified,
    /// "Text me": the table of people to text is full.
    #[error("too many people are waiting to be texted")]
    TextingFull,
    /// Agents hold [`MAX_AGENT_CALLERS`] callers in the queue already.
    #[error("too many callers are held in the queue by agents")]
    CallersFull,
    /// The person was texted that their turn came and did not return within the window.
    #[error("the place was held for the return window and has passed on")]
    PlacePassedOn,
    /// [`draws::MAX_WAITING`] draw numbers of verified people are already waiting to be
    /// stored (a stalled disk): the verification is refused, nothing done.
    #[error("too many draw numbers are waiting to be stored")]
    DrawsBusy,
    /// The pass has done all it may of this kind.
    #[error("the pass has reached its limit of {limit} {what}")]
    PassLimit { what: PassUse, limit: u32 },
}

/// What a pass may do a limited number of times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassUse {
    IdentityStart,
    FamilyBooking,
}

impl PassUse {
    pub fn limit(self) -> u32 {
        match self {
            PassUse::IdentityStart => PASS_IDENTITY_STARTS,
            PassUse::FamilyBooking => PASS_FAMILY_BOOKINGS,
        }
    }
}

impl std::fmt::Display for PassUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PassUse::IdentityStart => "identity checks",
            PassUse::FamilyBooking => "family bookings",
        })
    }
}

/// The pass a verified person was admitted with, and what admitted passes have done. Memory for
/// admitted people only: each entry leaves when its pass expires (at the first tick after).
#[derive(Default)]
struct Holders {
    by_person: Expiring<u64, Holder>,
    uses: Expiring<Rank, Uses>,
    /// Passes that named nobody when issued, bound since (by rank, unique in the queue) to a
    /// person: the old token keeps working, for its person only.
    bound: Expiring<Rank, u64>,
}

struct Holder {
    session: WaitingSessionId,
    seen_ms: u64,
}

#[derive(Default)]
struct Uses {
    identity_starts: u32,
    family_bookings: u32,
}

impl Uses {
    fn count_of(&mut self, what: PassUse) -> &mut u32 {
        match what {
            PassUse::IdentityStart => &mut self.identity_starts,
            PassUse::FamilyBooking => &mut self.family_bookings,
        }
    }
}

/// People who left the page to be texted at their turn, by the session holding their ticket.
/// Memory per person who asked (at most [`MAX_TEXTED`]), not per queued person.
#[derive(Default)]
struct Texting {
    by_session: HashMap<WaitingSessionId, Texted>,
    texted_away: u64,
}

struct Texted {
    person: u64,
    ticket: queue::Ticket,
    token: String,
    /// When the watermark (durably) passed their rank, as first seen.
    reached_at_ms: Option<u64>,
    sent: bool,
    returned: bool,
}

/// People waiting to be texted at once, at most: beyond it "text me" is refused (503) and they
/// keep the page open. 200,000 entries are about 60 MB.
pub const MAX_TEXTED: usize = 200_000;

/// A text due: the person's turn came (their rank is below the durable watermark).
#[derive(Debug, Clone)]
pub struct DueText {
    pub session: WaitingSessionId,
    pub person: u64,
    pub ticket: String,
    pub until_ms: u64,
}

/// The key an address is counted under: an IPv4 address, or an IPv6 address's /64 (what one
/// subscriber is usually given).
fn address_key(address: std::net::IpAddr) -> u128 {
    match address {
        std::net::IpAddr::V4(v4) => u128::from(u32::from(v4)),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => u128::from(v6) & !((1u128 << 64) - 1),
        },
    }
}

struct Activity {
    /// Admitted sessions seen using their pass, with their rank and when last seen.
    active: HashMap<WaitingSessionId, (Rank, u64)>,
    /// Ranks seen using a pass for the first time since the last tick.
    started: Vec<Rank>,
    latencies_ms: Vec<u32>,
    saturated: bool,
}

/// Arrivals counted per second, to size the next block.
#[derive(Default)]
struct ArrivalRate {
    second: u64,
    this_second: u64,
    last_second: u64,
}

impl ArrivalRate {
    fn count(&mut self, now_ms: u64) {
        let second = now_ms / 1000;
        if second != self.second {
            self.last_second = if second == self.second + 1 {
                self.this_second
            } else {
                0
            };
            self.second = second;
            self.this_second = 0;
        }
        self.this_second += 1;
    }

    fn per_second(&self) -> u64 {
        self.last_second.max(self.this_second)
    }
}

/// A quarter-second of arrivals, as a power of two between [`BLOCK_MIN`] and [`BLOCK_MAX`].
pub fn block_size(arrivals_per_s: u64) -> u64 {
    (arrivals_per_s / 4)
        .next_power_of_two()
        .clamp(BLOCK_MIN, BLOCK_MAX)
}

/// The waiting room of this node.
///
/// Locking: `room` is taken only for memory work (never across I/O), so the front door —
/// arrivals, status, exchange — is answered on the async workers from memory. Every change of
/// the durable record (a block reserved ahead, a controller tick, a new opening) is a
/// read-modify-write made under `record_writer`, off the async workers: one writer at a time,
/// so two changes never race to the same revision and a block is installed only once the
/// record covering it is stored.
pub struct Gate {
    arrivals: Mutex<ArrivalRate>,
    /// Tickets this node issued since it started (exact, unlike the record's reserved counts).
    tickets_issued: std::sync::atomic::AtomicU64,
    room: RwLock<WaitingRoom>,
    record_writer: Mutex<()>,
    controller: Mutex<Controller>,
    activity: Mutex<Activity>,
    store: Arc<dyn QueueStore>,
    /// Draw numbers of people verified in the pre-queue, committed together.
    draws: draws::Draws,
    config: GateConfig,
    refill_nudge: SyncSender<()>,
    refill_inbox: Mutex<Option<Receiver<()>>>,
    /// Woken when a block is installed, for arrivals waiting for a number.
    numbers_ready: tokio::sync::Notify,
    holders: Mutex<Holders>,
    /// Tickets minted per address ([`address_key`]) in fixed one-minute windows; `None` when
    /// [`GateConfig::tickets_per_address_minute`] is 0 (no limit).
    minting: Option<Mutex<crate::rate::Counter<u128>>>,
    texting: Mutex<Texting>,
    /// Callers an agent put in the queue, by (agent, person): their ticket, so the agent's
    /// reloads show the same place. Memory per queued caller, at most [`MAX_AGENT_CALLERS`].
    agent_callers: Mutex<HashMap<(String, u64), String>>,
    counts: Counts,
    role: Role,
    /// Other nodes' latest count of active sessions and when they reported it (the leader's).
    peers: Mutex<Peers>,
}

/// Who moves this waiting room's record besides reserving numbers.
pub enum Role {
    /// The only node (SQLite): it ticks the controller and nobody else writes the record.
    Only,
    /// One of several nodes on one database. Every node reserves its own blocks of numbers
    /// (compare-and-swap on the shared record); the node for which `leads` answers true (the
    /// ledger's lease holder) runs the admission controller on what every node reports; the
    /// others report what they saw each tick and take up the stored record, so they follow a
    /// new watermark or opening within one tick ([`TICK_INTERVAL`]).
    Shared {
        node: String,
        leads: Box<dyn Fn() -> bool + Send + Sync>,
    },
}

/// This node's part in the waiting room, for the operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    /// This node runs the admission controller.
    pub controls: bool,
    /// The revision of this node's copy of the record.
    pub revision: u64,
}

/// Attempts at a change of the shared record before giving up until the next tick or nudge:
/// each failed one means another node changed the record first, which is read again.
const SAVE_ATTEMPTS: usize = 8;

/// How long another node's last report of its active sessions counts for the controller.
const PEER_REPORT_FRESH_MS: u64 = 3_000;

/// Callers held in the queue by agents at once, at most (a call centre's evening).
pub const MAX_AGENT_CALLERS: usize = 100_000;

/// Who waits, for the operators.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct People {
    /// People given a place in this queue's draw of verified people (each once, however many
    /// tickets they verified).
    pub verified_people: u64,
    /// Tickets verified on this node (a person verifying three tabs counts three).
    pub verifications: u64,
    /// Tickets this node issued that were never verified, at most.
    pub unverified_tickets: u64,
    /// Verified people told their cohort does not open now, and given no place.
    pub ineligible_turned_away: u64,
    /// New tickets refused by the per-address limit.
    pub tickets_refused: u64,
    /// Second passes refused for a person whose first was in use.
    pub second_passes_refused: u64,
    /// People who left the page and were texted when their turn came.
    pub texted_away: u64,
}

/// Running totals behind [`People`].
#[derive(Default)]
struct Counts {
    pub verified: std::sync::atomic::AtomicU64,
    pub ineligible: std::sync::atomic::AtomicU64,
    pub tickets_refused: std::sync::atomic::AtomicU64,
    pub second_passes_refused: std::sync::atomic::AtomicU64,
}

/// The poll policy for `config`: its front zone sized for the admission rate, or as large as the
/// budget allows (half of it) when that rate would need more.
fn poll_policy(config: &GateConfig) -> PollPolicy {
    let base = PollConfig {
        max_queue: config.max_queue,
        ..PollConfig::with_budget(config.poll_budget_per_s)
    };
    let wanted = base.with_front(config.admission_rate_per_s);
    match PollPolicy::new(wanted) {
        Err(queue::PollConfigError::FrontZoneTooLarge { max_positions }) => {
            let horizon_s = wanted.front_horizon_ms as f64 / 1000.0;
            PollPolicy::new(base.with_front(max_positions as f64 / horizon_s))
        }
        other => other,
    }
    .expect("a positive budget and rate are a valid policy")
}

/// Admission follows the booking side (AIMD on its latency), not the poll budget: the poll
/// policy's front zone tells the people near the front at any rate. The stated admission rate
/// sizes the opening step and the probe ([`ControllerConfig::sized_for_rate`]), so an opening
/// with a large `max_active` does not let a quarter of it in at one tick.
fn controller_for(opening: &Opening, config: &GateConfig) -> Controller {
    let mut cfg =
        ControllerConfig::for_opening(opening).sized_for_rate(config.admission_rate_per_s);
    cfg.latency_target_ms = config.latency_target_ms;
    cfg.show_up_window_ms = config.show_up_window_ms;
    cfg.max_admit_per_s = admission_cap(config);
    cfg.pace = config
        .paced_admission
        .then(|| PaceConfig::for_rate(config.admission_rate_per_s))
        .flatten();
    Controller::new(cfg)
}

/// The controller's cap on admissions per second, if any (see
/// [`GateConfig::max_admission_rate_per_s`]).
fn admission_cap(config: &GateConfig) -> Option<f64> {
    let cap = config.max_admission_rate_per_s;
    (cap.is_finite() && cap > 0.0).then_some(cap)
}

impl Gate {
    /// Takes up the newest stored queue, or starts a free-flowing one.
    pub fn open(
        store: Arc<dyn QueueStore>,
        keyring: Keyring,
        config: GateConfig,
        now_ms: u64,
    ) -> Result<Gate, StartError> {
        let stored =
            stored_state(store.as_ref()).map_err(|e| StartError::Settings(e.to_string()))?;
        let state = match stored {
            Some(state) => state,
            None => {
                let opening = Opening::free_flow(QueueId(1), config.max_active, config.pass_ttl_ms)
                    .map_err(|e| StartError::Settings(e.to_string()))?;
                let state = QueueState::new(opening);
                let created = save(store.as_ref(), None, &state, now_ms)
                    .map_err(|e| StartError::Settings(e.to_string()))?;
                match created {
                    true => state,
                    // Another node starting at the same moment created it first.
                    false => stored_state(store.as_ref())
                        .map_err(|e| StartError::Settings(e.to_string()))?
                        .ok_or_else(|| StartError::Settings("the queue record vanished".into()))?,
                }
            }
        };
        let mut state = state;
        // Draw numbers handed out before a crash that the record did not yet count.
        let drawn = store.people_drawn(state.opening().queue().0)?;
        state.note_verified(drawn);
        let poll = poll_policy(&config);
        let controller = controller_for(state.opening(), &config);
        let (refill_nudge, refill_inbox) = std::sync::mpsc::sync_channel(1);
        let minting = (config.tickets_per_address_minute > 0).then(|| {
            Mutex::new(crate::rate::Counter::new(crate::rate::limit(
                config.tickets_per_address_minute,
                1,
            )))
        });
        let draws = draws::Draws::start(Arc::clone(&store)).map_err(|e| {
            StartError::Settings(format!("cannot start the queue-draws thread: {e}"))
        })?;
        Ok(Gate {
            draws,
            arrivals: Mutex::new(ArrivalRate::default()),
            tickets_issued: std::sync::atomic::AtomicU64::new(0),
            room: RwLock::new(WaitingRoom::new(keyring, poll, state)),
            record_writer: Mutex::new(()),
            refill_nudge,
            refill_inbox: Mutex::new(Some(refill_inbox)),
            numbers_ready: tokio::sync::Notify::new(),
            controller: Mutex::new(controller),
            activity: Mutex::new(Activity {
                active: HashMap::new(),
                started: Vec::new(),
                latencies_ms: Vec::new(),
                saturated: false,
            }),
            store,
            config,
            holders: Mutex::new(Holders::default()),
            minting,
            texting: Mutex::new(Texting::default()),
            agent_callers: Mutex::new(HashMap::new()),
            counts: Counts::default(),
            role: Role::Only,
            peers: Mutex::new(HashMap::new()),
        })
    }

    /// This gate as one of several nodes sharing the record (see [`Role::Shared`]).
    pub fn shared(mut self, role: Role) -> Gate {
        self.role = role;
        self
    }

    pub fn replica(&self) -> Replica {
        Replica {
            controls: self.leads(),
            revision: self.room().state().revision(),
        }
    }

    /// Whether this node runs the admission controller.
    pub fn leads(&self) -> bool {
        match &self.role {
            Role::Only => true,
            Role::Shared { leads, .. } => leads(),
        }
    }

    fn room(&self) -> std::sync::RwLockReadGuard<'_, WaitingRoom> {
        self.room.read().unwrap_or_else(|p| p.into_inner())
    }

    fn room_mut(&self) -> std::sync::RwLockWriteGuard<'_, WaitingRoom> {
        self.room.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn queue_id(&self) -> QueueId {
        self.room().state().opening().queue()
    }

    /// A new ticket, from the numbers already durably reserved: memory only, so it may run on
    /// an async worker. [`GateError::NoNumbers`] when none is at hand (the reservation ahead is
    /// late); wait for [`Gate::numbers_ready`] and try again, or refuse the arrival.
    pub fn arrive(
        &self,
        now_ms: u64,
        session: WaitingSessionId,
    ) -> Result<(String, Status), GateError> {
        self.arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(now_ms);
        let (arrived, refill) = {
            let mut room = self.room_mut();
            let arrived = room.arrive(now_ms, session);
            (arrived, room.refill_wanted(now_ms).is_some())
        };
        if refill {
            self.nudge_refill();
        }
        let arrival = arrived.map_err(|_| GateError::NoNumbers)?;
        self.tickets_issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok((arrival.token, arrival.status))
    }

    /// Counts a new ticket against the client's address ([`GateConfig::tickets_per_address_minute`]).
    /// Call before [`Gate::arrive`] for a client without a ticket.
    pub fn may_mint(&self, now_ms: u64, address: std::net::IpAddr) -> Result<(), GateError> {
        let Some(minting) = &self.minting else {
            return Ok(());
        };
        minting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_hit(address_key(address), now_ms as i64)
            .map_err(|retry_after_s| {
                self.counts
                    .tickets_refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                GateError::TooManyTickets { retry_after_s }
            })
    }

    /// Who waits, as operators see it (`/metrics`, `GET /api/v1/admin/queue`).
    pub fn people(&self) -> People {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let verifications = load(&self.counts.verified);
        People {
            verified_people: self.room().state().verified_reserved(),
            verifications,
            unverified_tickets: self.tickets_issued().saturating_sub(verifications),
            ineligible_turned_away: load(&self.counts.ineligible),
            tickets_refused: load(&self.counts.tickets_refused),
            second_passes_refused: load(&self.counts.second_passes_refused),
            texted_away: self
                .texting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .texted_away,
        }
    }

    /// Re-issues the ticket held by `session` for the verified `person`. While the pre-queue's
    /// draw is open the person gets their draw number (one per person, from the durable person
    /// table), so every ticket they verify shows the same place. Blocking I/O (the table): run
    /// off the async workers. A request's handler uses [`Gate::verify_waiting`], which does not
    /// block.
    pub fn verify(
        &self,
        now_ms: u64,
        ticket: &str,
        session: &WaitingSessionId,
        person: u64,
    ) -> Result<(String, Status), GateError> {
        let held = self.room().ticket_of(ticket, session)?;
        let draw = self
            .open_draw(&held)
            .map(|queue| self.draws.draw(queue, person).map_err(draw_error))
            .transpose()?;
        if let Some(number) = draw {
            self.note_verified(number + 1);
        }
        self.place_verified(now_ms, &held, person, draw)
    }

    /// [`Gate::verify`] on an async worker, without holding it or a blocking thread: after the
    /// opening (most verifications of a night) there is no draw and all of it is memory; while
    /// the pre-queue's draw is open, the draw is queued to the `queue-draws` thread and its
    /// answer awaited. The number is noted by a task of its own, so a client that goes away
    /// while its draw is being committed still has its durable number counted, as when the
    /// whole verification ran on the blocking pool.
    pub async fn verify_waiting(
        self: &Arc<Self>,
        now_ms: u64,
        ticket: &str,
        session: &WaitingSessionId,
        person: u64,
    ) -> Result<(String, Status), GateError> {
        let held = self.room().ticket_of(ticket, session)?;
        let draw = match self.open_draw(&held) {
            Some(queue) => {
                let answer = self.draws.queue(queue, person).map_err(draw_error)?;
                let gate = Arc::clone(self);
                let noted = tokio::spawn(async move {
                    let number = draws::Draws::answer(answer).await?;
                    gate.note_verified(number + 1);
                    Ok(number)
                });
                let number = noted
                    .await
                    .map_err(|_| GateError::Storage("the draw was not answered".into()))?
                    .map_err(draw_error)?;
                Some(number)
            }
            None => None,
        };
        self.place_verified(now_ms, &held, person, draw)
    }

    /// The queue whose draw `ticket` takes a number in, if its draw is open. The number is
    /// durable before the ticket carrying it is handed out. No lock is held across the write
    /// (block reservations for arrivals must never wait behind it); the count is raised in
    /// memory after it, and a tick that commits the opening freezes what it has seen: a number
    /// handed out in that instant falls back to the ticket's own unverified place (documented
    /// in `queue::QueueState`).
    fn open_draw(&self, ticket: &queue::Ticket) -> Option<u32> {
        let room = self.room();
        let state = room.state();
        state
            .draws_open_for(ticket)
            .then(|| state.opening().queue().0)
    }

    /// The ticket re-issued for `person`, with their draw number if they drew one.
    fn place_verified(
        &self,
        now_ms: u64,
        ticket: &queue::Ticket,
        person: u64,
        draw: Option<u64>,
    ) -> Result<(String, Status), GateError> {
        let verified = queue::Verified { person, draw };
        let (token, _, status) = self.room().verify(now_ms, ticket, verified)?;
        self.counts
            .verified
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok((token, status))
    }

    /// The ticket `session` presents, checked (signature, queue, session) from memory.
    pub fn ticket_of(
        &self,
        ticket: &str,
        session: &WaitingSessionId,
    ) -> Result<queue::Ticket, GateError> {
        Ok(self.room().ticket_of(ticket, session)?)
    }

    /// "Leave and we'll text you": the verified holder of `ticket` may close the page; when the
    /// durable watermark passes their rank, [`Gate::due_texts`] hands out their text, and their
    /// place is held for [`GateConfig::return_window_ms`] from then.
    pub fn text_me(&self, ticket: &str, session: &WaitingSessionId) -> Result<(), GateError> {
        let held = self.ticket_of(ticket, session)?;
        let Some(verified) = held.verified else {
            return Err(GateError::NotVerified);
        };
        let mut texting = self.texting.lock().unwrap_or_else(|p| p.into_inner());
        if texting.by_session.len() >= MAX_TEXTED && !texting.by_session.contains_key(session) {
            return Err(GateError::TextingFull);
        }
        texting.by_session.entry(*session).or_insert(Texted {
            person: verified.person,
            ticket: held,
            token: ticket.to_string(),
            reached_at_ms: None,
            sent: false,
            returned: false,
        });
        Ok(())
    }

    pub fn return_window_ms(&self) -> u64 {
        self.config.return_window_ms
    }

    /// Whether this session asked to be texted (and has not come back yet).
    pub fn texting(&self, session: &WaitingSessionId) -> bool {
        self.texting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_session
            .get(session)
            .is_some_and(|t| !t.returned)
    }

    /// The texts due now: people whose rank the watermark has passed in the record this node
    /// holds, which is only ever published once stored, so nobody is texted for a place not
    /// really reached. Each is handed out until [`Gate::mark_texted`].
    pub fn due_texts(&self, now_ms: u64) -> Vec<DueText> {
        let room = self.room();
        let state = room.state();
        let window = self.config.return_window_ms;
        let mut texting = self.texting.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        for (session, texted) in &mut texting.by_session {
            if texted.sent || texted.returned {
                continue;
            }
            let reached = state
                .rank(&texted.ticket)
                .is_ok_and(|r| state.is_admitted(r));
            if !reached {
                continue;
            }
            let reached_at = *texted.reached_at_ms.get_or_insert(now_ms);
            due.push(DueText {
                session: *session,
                person: texted.person,
                ticket: texted.token.clone(),
                until_ms: reached_at.saturating_add(window),
            });
        }
        due
    }

    /// The text to `session` is committed to the outbox: it is not handed out again.
    pub fn mark_texted(&self, session: &WaitingSessionId) {
        let mut texting = self.texting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(texted) = texting.by_session.get_mut(session)
            && !texted.sent
        {
            texted.sent = true;
            texting.texted_away += 1;
        }
    }

    /// Refuses a texted person's ticket once the return window has passed without them; marks
    /// them returned when they come in time.
    fn check_return(
        &self,
        now_ms: u64,
        session: &WaitingSessionId,
        admitted: bool,
    ) -> Result<(), GateError> {
        let mut texting = self.texting.lock().unwrap_or_else(|p| p.into_inner());
        let Some(texted) = texting.by_session.get_mut(session) else {
            return Ok(());
        };
        if texted.returned {
            return Ok(());
        }
        if let Some(reached) = texted.reached_at_ms
            && now_ms >= reached.saturating_add(self.config.return_window_ms)
        {
            return Err(GateError::PlacePassedOn);
        }
        if admitted {
            texted.returned = true;
        }
        Ok(())
    }

    /// Of the people who verified while waiting, the share found eligible in this opening (1
    /// before anyone has): the honest estimate of how many unverified tickets ahead will turn
    /// out to be people who can book now.
    pub fn eligible_share(&self) -> f64 {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let (placed, away) = (load(&self.counts.verified), load(&self.counts.ineligible));
        if placed + away == 0 {
            1.0
        } else {
            placed as f64 / (placed + away) as f64
        }
    }

    /// Raises this node's count of people drawn (memory only; the table is the durable count).
    fn note_verified(&self, count: u64) {
        let mut room = self.room_mut();
        let mut state = room.state().clone();
        if state.note_verified(count) && room.refresh(state).is_err() {
            tracing::error!("the count of verified people could not be raised");
        }
    }

    /// The place of a caller an agent checked: the same ticket on every call (the agent's
    /// reloads), minted and verified for the person the first time, under the same rules as
    /// anyone's (one draw number per person: a caller who also queued themselves holds one
    /// place). Blocking I/O (the person table): run off the async workers.
    pub fn queue_caller(
        &self,
        now_ms: u64,
        agent: &str,
        person: u64,
        rng: &mut (impl rand::CryptoRng + ?Sized),
    ) -> Result<(String, Status), GateError> {
        let key = (agent.to_string(), person);
        let held = self
            .agent_callers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(ticket) = held
            && let Ok(status) = self.status(now_ms, &ticket)
        {
            return Ok((ticket, status));
        }
        if self
            .agent_callers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
            >= MAX_AGENT_CALLERS
        {
            return Err(GateError::CallersFull);
        }
        let session = WaitingSessionId::random(rng);
        let (ticket, _) = match self.arrive(now_ms, session) {
            Err(GateError::NoNumbers) => {
                // Off the async workers already: reserve the block here rather than wait.
                self.refill(now_ms)?;
                self.arrive(now_ms, session)?
            }
            arrived => arrived?,
        };
        let (ticket, status) = self.verify(now_ms, &ticket, &session, person)?;
        self.agent_callers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, ticket.clone());
        Ok((ticket, status))
    }

    /// Whether an agent may act for `person` now: always when no opening is being held (free
    /// flow), else only once the caller's place they queued has been admitted.
    pub fn caller_admitted(&self, now_ms: u64, agent: &str, person: u64) -> bool {
        if !self.room().state().prequeue_started()
            && self.room().state().opening().prequeue_starts_at_ms() > now_ms
        {
            return true;
        }
        let held = self
            .agent_callers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(agent.to_string(), person))
            .cloned();
        held.is_some_and(|ticket| {
            self.status(now_ms, &ticket)
                .is_ok_and(|status| status.is_admitted())
        })
    }

    /// A person turned away at verification (their cohort does not open now).
    pub fn count_ineligible(&self) {
        self.counts
            .ineligible
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes `person`'s place as the holder of a pass on `session`, unless another session
    /// holds one for them that is still in use ([`PERSON_PASS_IDLE_MS`]).
    fn hold(
        &self,
        now_ms: u64,
        person: u64,
        session: WaitingSessionId,
        expires_at_ms: u64,
        take_over: bool,
    ) -> Result<(), GateError> {
        let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((held, held_until_ms)) = holders.by_person.get(&person)
            && !take_over
            && held.session != session
            && held_until_ms > now_ms
            && now_ms.saturating_sub(held.seen_ms) < PERSON_PASS_IDLE_MS
        {
            self.counts
                .second_passes_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(GateError::PersonHasPass);
        }
        holders.by_person.insert(
            person,
            Holder {
                session,
                seen_ms: now_ms,
            },
            expires_at_ms,
        );
        Ok(())
    }

    /// A booking-side call with a pass that names its person: it is theirs in use now, unless
    /// another session's pass for them was used within [`PERSON_PASS_IDLE_MS`] (one person, one
    /// pass in use).
    pub fn use_as_holder(&self, now_ms: u64, pass: &Pass) -> Result<(), GateError> {
        match pass.person {
            Some(person) => self.hold(now_ms, person, pass.session, pass.expires_at_ms, false),
            None => Ok(()),
        }
    }

    /// Binds an admitted pass that names nobody yet to the person who just verified with it
    /// (on the booking side): the new pass to use from now on.
    pub fn bind_pass(&self, now_ms: u64, pass: &Pass, person: u64) -> Result<String, GateError> {
        match pass.person {
            Some(held) if held == person => {}
            Some(_) => return Err(GateError::Room(RoomError::OtherPerson)),
            None => {}
        }
        // A fresh identity check proves the phone is in hand now: the person's pass is this one
        // from here on, and one held elsewhere stops working (a browser closed, a phone lost).
        self.hold(now_ms, person, pass.session, pass.expires_at_ms, true)?;
        self.holders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bound
            .insert(pass.rank, person, pass.expires_at_ms);
        let bound = Pass {
            person: Some(person),
            ..*pass
        };
        Ok(self.room().keyring().sign(&bound))
    }

    /// Counts one use of `what` by `pass`, refused past its limit.
    pub fn use_pass(&self, pass: &Pass, what: PassUse) -> Result<(), GateError> {
        let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        let uses = holders.uses.entry(pass.rank, pass.expires_at_ms);
        let count = uses.count_of(what);
        if *count >= what.limit() {
            return Err(GateError::PassLimit {
                what,
                limit: what.limit(),
            });
        }
        *count += 1;
        Ok(())
    }

    /// Gives back one use of `what` counted by [`Gate::use_pass`] for a request then refused
    /// for want of capacity: such a refusal changes nothing, the pass's count included.
    pub fn give_back_pass_use(&self, pass: &Pass, what: PassUse) {
        let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(uses) = holders.uses.get_mut(&pass.rank) {
            let count = uses.count_of(what);
            *count = count.saturating_sub(1);
        }
    }

    /// Tickets this node has issued since it started: the dashboard's arrivals. (The record's
    /// count of reserved numbers runs up to two blocks ahead of it.)
    pub fn tickets_issued(&self) -> u64 {
        self.tickets_issued
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resolves once a block has been installed after this future was created and enabled.
    pub fn numbers_ready(&self) -> tokio::sync::futures::Notified<'_> {
        self.numbers_ready.notified()
    }

    fn nudge_refill(&self) {
        match self.refill_nudge.try_send(()) {
            // Full: a nudge is already waiting, which is as good.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::error!("the waiting room's block reservation thread is gone");
            }
        }
    }

    /// Reserves blocks ahead until the lease of the class arriving now has a spare. Blocking
    /// I/O: runs on the reservation thread ([`Gate::start_refiller`]) or in tests.
    pub fn refill(&self, now_ms: u64) -> Result<(), GateError> {
        loop {
            // (Bound first: a guard in the `while let` would be held through the body.)
            let wanted = self.room_mut().refill_wanted(now_ms);
            let Some(class) = wanted else { return Ok(()) };
            let size = block_size(
                self.arrivals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .per_second(),
            );
            let _writing = self.record_writer.lock().unwrap_or_else(|p| p.into_inner());
            self.reserve(class, size, now_ms)?;
            self.numbers_ready.notify_waiters();
        }
    }

    /// Reserves a block of `class` in the stored record and installs it. Another node changing
    /// the record first (a block of its own, a tick) makes this one read it again and retry.
    /// Called under `record_writer`.
    fn reserve(&self, class: queue::Class, size: u64, now_ms: u64) -> Result<(), GateError> {
        for _ in 0..SAVE_ATTEMPTS {
            let mut state = self.room().state().clone();
            let base = state.revision();
            let reservation = state
                .reserve_block(class, size, now_ms)
                .map_err(|e| GateError::Storage(e.to_string()))?;
            if save(self.store.as_ref(), Some(base), &state, now_ms)? {
                let mut room = self.room_mut();
                room.refresh(state)
                    .map_err(|e| GateError::Storage(e.to_string()))?;
                room.install_block(reservation.persisted());
                return Ok(());
            }
            self.take_up_stored()?;
        }
        Err(GateError::Storage(format!(
            "the queue record changed under {SAVE_ATTEMPTS} reservations in a row"
        )))
    }

    /// Takes up the stored record when it is newer than this node's copy: another node's
    /// reservations and ticks (the watermark, the phases), or a new opening scheduled on
    /// another node. Called under `record_writer`.
    fn take_up_stored(&self) -> Result<(), GateError> {
        let Some(stored) =
            stored_state(self.store.as_ref()).map_err(|e| GateError::Storage(e.to_string()))?
        else {
            return Ok(());
        };
        let (queue, revision) = {
            let room = self.room();
            (room.state().opening().queue(), room.state().revision())
        };
        let stored_queue = stored.opening().queue();
        if stored_queue == queue {
            if stored.revision() > revision {
                self.room_mut()
                    .refresh(stored)
                    .map_err(|e| GateError::Storage(e.to_string()))?;
            }
        } else if stored_queue.0 > queue.0 {
            tracing::info!(
                queue = stored_queue.0,
                "taking up an opening scheduled on another node"
            );
            self.install_queue(stored);
        }
        Ok(())
    }

    /// Starts the thread that reserves blocks ahead of arrivals. It holds the gate weakly and
    /// ends with it.
    pub fn start_refiller(self: &Arc<Self>, clock: Arc<dyn Clock>) -> std::io::Result<()> {
        let Some(inbox) = self
            .refill_inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Ok(());
        };
        let gate = Arc::downgrade(self);
        self.nudge_refill();
        std::thread::Builder::new()
            .name("queue-blocks".into())
            .spawn(move || refill_forever(&gate, &inbox, clock.as_ref()))?;
        Ok(())
    }

    pub fn status(&self, now_ms: u64, ticket: &str) -> Result<Status, GateError> {
        Ok(self.status_in_queue(now_ms, ticket)?.1)
    }

    /// A ticket's status and the queue it is in, read under one lock.
    pub fn status_in_queue(
        &self,
        now_ms: u64,
        ticket: &str,
    ) -> Result<(QueueId, Status), GateError> {
        let room = self.room();
        let (_, status) = room.status(now_ms, ticket)?;
        Ok((room.state().opening().queue(), status))
    }

    pub fn exchange(
        &self,
        now_ms: u64,
        ticket: &str,
        session: &WaitingSessionId,
    ) -> Result<Exchange, GateError> {
        let exchange = self.room().exchange(now_ms, ticket, session)?;
        self.check_return(now_ms, session, matches!(exchange, Exchange::Pass { .. }))?;
        if let Exchange::Pass { pass, .. } = &exchange {
            if let Some(person) = pass.person {
                self.hold(now_ms, person, pass.session, pass.expires_at_ms, false)?;
            }
            // Exchanging is showing up: the admission is no longer in flight.
            self.seen(now_ms, session, pass);
        }
        Ok(exchange)
    }

    /// Checks a pass and counts its session as active.
    pub fn check_pass(
        &self,
        now_ms: u64,
        pass: &str,
        session: &WaitingSessionId,
    ) -> Result<Pass, queue::TokenError> {
        let mut pass = self.room().check_pass(now_ms, pass, session)?;
        if pass.person.is_none() {
            pass.person = self
                .holders
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .bound
                .get(&pass.rank)
                .map(|(person, _)| *person);
        }
        self.seen(now_ms, session, &pass);
        Ok(pass)
    }

    /// Counts the session as active; its first appearance is its admission showing up.
    fn seen(&self, now_ms: u64, session: &WaitingSessionId, pass: &Pass) {
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        if activity
            .active
            .insert(*session, (pass.rank, now_ms))
            .is_none()
        {
            activity.started.push(pass.rank);
        }
    }

    /// The session finished what it came for (a confirmed booking): its place on the booking
    /// side goes to the next person now rather than after [`ACTIVE_WINDOW_MS`]. The pass stays
    /// valid, so the person can still read or change what they booked.
    pub fn done(&self, session: &WaitingSessionId) {
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        activity.active.remove(session);
    }

    /// How long a booking-side request took, for the controller's latency signal.
    pub fn observe_latency(&self, latency_ms: u32, refused_busy: bool) {
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        if activity.latencies_ms.len() < LATENCY_SAMPLES_MAX {
            activity.latencies_ms.push(latency_ms);
        }
        activity.saturated |= refused_busy;
    }

    /// One control step: observe, decide, persist, publish.
    pub fn tick(
        &self,
        now_ms: u64,
        rng: &mut (impl rand::CryptoRng + ?Sized),
    ) -> Result<(), GateError> {
        let observations = self.take_observations(now_ms);
        {
            let _writing = self.record_writer.lock().unwrap_or_else(|p| p.into_inner());
            match &self.role {
                Role::Only => self.control(now_ms, &observations, rng)?,
                Role::Shared { node, leads } => {
                    self.take_up_stored()?;
                    if leads() {
                        let observations = self.with_peers(node, observations, now_ms)?;
                        self.count_drawn()?;
                        self.control(now_ms, &observations, rng)?;
                    } else {
                        self.report(node, observations, now_ms)?;
                    }
                }
            }
        }
        // A phase change (the pre-queue starting) switches arrivals to a class with no block yet.
        if self.room_mut().refill_wanted(now_ms).is_some() {
            self.nudge_refill();
        }
        Ok(())
    }

    /// The controller's step on the stored record: decided on a copy of the controller and the
    /// record, kept only once the record is stored (another node's change in between makes it
    /// read the record again and decide again, so nothing is counted twice). Called under
    /// `record_writer`.
    fn control(
        &self,
        now_ms: u64,
        observations: &Observations,
        rng: &mut (impl rand::CryptoRng + ?Sized),
    ) -> Result<(), GateError> {
        let controller = || self.controller.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..SAVE_ATTEMPTS {
            // Not held across the save: taking up a new opening replaces the controller.
            let mut decided = controller().clone();
            let mut state = self.room().state().clone();
            let base = state.revision();
            let decision = decided.tick(now_ms, observations, &mut state, rng);
            if decision.changed && !save(self.store.as_ref(), Some(base), &state, now_ms)? {
                self.take_up_stored()?;
                continue;
            }
            *controller() = decided;
            if decision.changed {
                self.room_mut()
                    .refresh(state)
                    .map_err(|e| GateError::Storage(e.to_string()))?;
            }
            return Ok(());
        }
        Err(GateError::Storage(format!(
            "the queue record changed under {SAVE_ATTEMPTS} ticks in a row"
        )))
    }

    /// Before the opening, the count of verified people drawn on every node (the shared draw
    /// table), so the opening freezes them all. Called under `record_writer`.
    fn count_drawn(&self) -> Result<(), GateError> {
        let (open, queue) = {
            let room = self.room();
            (room.state().is_open(), room.state().opening().queue())
        };
        if !open {
            let drawn = self
                .store
                .people_drawn(queue.0)
                .map_err(|e| GateError::Storage(e.to_string()))?;
            self.note_verified(drawn);
        }
        Ok(())
    }

    /// A follower's tick: what it saw, left for the leader.
    fn report(&self, node: &str, seen: Observations, now_ms: u64) -> Result<(), GateError> {
        let report = store::QueueReport {
            node: node.to_string(),
            at_ms: now_ms as i64,
            active: self.active_ranks(),
            latency_p99_ms: seen.latency_p99_ms,
            saturated: seen.saturated,
            started: seen.started.iter().map(|r| r.0).collect(),
            empty: seen.empty.iter().map(|r| r.0).collect(),
        };
        self.store
            .report(self.queue_id().0, &report)
            .map_err(|e| GateError::Storage(e.to_string()))
    }

    /// The leader's observations with every other node's reports added.
    fn with_peers(
        &self,
        node: &str,
        own: Observations,
        now_ms: u64,
    ) -> Result<Observations, GateError> {
        let reports = self
            .store
            .take_reports(self.queue_id().0)
            .map_err(|e| GateError::Storage(e.to_string()))?;
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let own_active = self.active_ranks();
        Ok(merge_reports(
            node,
            (own, own_active),
            reports,
            &mut peers,
            now_ms,
        ))
    }

    /// The ranks of the sessions active on this node (as of the last observation).
    fn active_ranks(&self) -> Vec<u64> {
        let activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        activity.active.values().map(|(rank, _)| rank.0).collect()
    }

    fn take_observations(&self, now_ms: u64) -> Observations {
        {
            let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
            holders.by_person.sweep(now_ms);
            holders.uses.sweep(now_ms);
            holders.bound.sweep(now_ms);
        }
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        activity
            .active
            .retain(|_, (_, seen)| now_ms.saturating_sub(*seen) < ACTIVE_WINDOW_MS);
        let mut latencies = std::mem::take(&mut activity.latencies_ms);
        let latency_p99_ms = (!latencies.is_empty()).then(|| {
            latencies.sort_unstable();
            latencies[(latencies.len() - 1) * 99 / 100]
        });
        let started = std::mem::take(&mut activity.started);
        let saturated = std::mem::take(&mut activity.saturated);
        let active_sessions = activity.active.len() as u64;
        drop(activity);
        // Each on its own line: a guard taken in a struct literal lives to the literal's end.
        let empty = self.room_mut().abandon_prequeue();
        let notice_delay_ms = self.notice_delay_ms(now_ms);
        Observations {
            active_sessions,
            latency_p99_ms,
            saturated,
            started,
            empty,
            notice_delay_ms,
        }
    }

    fn notice_delay_ms(&self, now_ms: u64) -> u64 {
        let room = self.room();
        room.poll_policy().notice_delay_ms(room.state(), now_ms)
    }

    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        let controller = self.controller.lock().unwrap_or_else(|p| p.into_inner());
        controller.snapshot(now_ms, self.room().state())
    }

    /// Replaces the current queue with a new opening. Tickets of the old queue stop working.
    pub fn schedule(&self, opening: Opening, now_ms: u64) -> Result<(), GateError> {
        let state = QueueState::new(opening);
        let _writing = self.record_writer.lock().unwrap_or_else(|p| p.into_inner());
        if save(self.store.as_ref(), None, &state, now_ms)? {
            self.install_queue(state);
            return Ok(());
        }
        // Another node stored this queue first (the same configured opening, nodes starting
        // together): take it up, as it is, if it is this opening.
        self.take_up_stored()?;
        if self.opening() == opening {
            Ok(())
        } else {
            Err(GateError::Storage(format!(
                "queue {} was scheduled with another opening on another node",
                opening.queue().0
            )))
        }
    }

    /// Makes `state` (a new queue) this node's. Called under `record_writer`.
    fn install_queue(&self, state: QueueState) {
        let mut controller = self.controller.lock().unwrap_or_else(|p| p.into_inner());
        *controller = controller_for(state.opening(), &self.config);
        {
            let poll = poll_policy(&self.config);
            let mut room = self.room_mut();
            let keyring = room.keyring().clone();
            *room = WaitingRoom::new(keyring, poll, state);
        }
        // The old queue's tickets stop working: nobody of it is texted, no caller held.
        *self.texting.lock().unwrap_or_else(|p| p.into_inner()) = Texting::default();
        self.agent_callers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        drop(controller);
        self.nudge_refill();
    }

    /// Replaces the keyring (shared keys reloaded: a key another node added).
    pub fn set_keyring(&self, keyring: Keyring) {
        self.room_mut().set_keyring(keyring);
    }

    pub fn opening(&self) -> Opening {
        *self.room().state().opening()
    }
}

/// An opening as operators write it (API body or `--opening FILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "prequeue_starts_at": "2021-07-19T10:30:00Z", "opens_at": "2021-07-19T11:00:00Z", "max_active": 5000 }))]
pub struct OpeningSpec {
    #[schema(value_type = String, format = DateTime)]
    pub prequeue_starts_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub opens_at: jiff::Timestamp,
    pub max_active: u32,
    pub pass_ttl_minutes: Option<u64>,
}

impl OpeningSpec {
    pub fn to_opening(self, queue: QueueId) -> Result<Opening, queue::ConfigError> {
        let ms = |t: jiff::Timestamp| t.as_millisecond().max(0) as u64;
        let ttl_ms = self.pass_ttl_minutes.unwrap_or(30).saturating_mul(60_000);
        Opening::new(
            queue,
            ms(self.prequeue_starts_at),
            ms(self.opens_at),
            self.max_active,
            ttl_ms,
        )
    }
}

impl Gate {
    /// Schedules `spec` as a new queue unless the current queue already is that opening (so a
    /// restart with the same configuration file keeps the queue and every ticket in it).
    pub fn ensure_opening(
        &self,
        spec: OpeningSpec,
        now_ms: u64,
    ) -> Result<Option<QueueId>, GateError> {
        let current = self.opening();
        let wanted = spec
            .to_opening(current.queue())
            .map_err(|e| GateError::Storage(e.to_string()))?;
        if wanted == current {
            return Ok(None);
        }
        let queue = QueueId(current.queue().0 + 1);
        let opening = spec
            .to_opening(queue)
            .map_err(|e| GateError::Storage(e.to_string()))?;
        self.schedule(opening, now_ms)?;
        Ok(Some(queue))
    }
}

/// A draw that could not be given, as the gate says it.
fn draw_error(error: draws::DrawError) -> GateError {
    match error {
        draws::DrawError::Busy => GateError::DrawsBusy,
        draws::DrawError::Storage(message) => GateError::Storage(message),
    }
}

/// Stores `state`, made from the copy at revision `base` (`None`: a new queue). False when
/// another node changed the record first: what `state` holds is not durable, so nothing from it
/// may be handed out.
fn save(
    store: &dyn QueueStore,
    base: Option<u64>,
    state: &QueueState,
    now_ms: u64,
) -> Result<bool, GateError> {
    let record = state.record();
    let json = serde_json::to_string(record).map_err(|e| GateError::Storage(e.to_string()))?;
    let id = state.opening().queue().0;
    store
        .save_queue(id, base, state.revision(), &json, now_ms as i64)
        .map_err(|e| GateError::Storage(e.to_string()))
}

/// The newest stored queue's record, if any.
fn stored_state(store: &dyn QueueStore) -> Result<Option<QueueState>, String> {
    let Some((_, json)) = store.current_queue().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let record = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    QueueState::from_record(record)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Each other node's latest ranks of active sessions, and when it reported them.
type Peers = HashMap<String, (Vec<u64>, u64)>;

/// The leader's observations with the other nodes' reports added: their people who showed up,
/// the worst of their latencies, any saturation, and as active sessions the ranks active on any
/// node, each counted once (a person whose requests reach two nodes is one person on the booking
/// side). A node whose last report is older than [`PEER_REPORT_FRESH_MS`] counts none: it
/// stopped, and its people's requests go elsewhere. The leader's own earlier reports (from
/// before it led) are left out: its own are `own`.
fn merge_reports(
    node: &str,
    (mut own, own_active): (Observations, Vec<u64>),
    reports: Vec<store::QueueReport>,
    peers: &mut Peers,
    now_ms: u64,
) -> Observations {
    for report in reports.into_iter().filter(|r| r.node != node) {
        own.started.extend(report.started.into_iter().map(Rank));
        own.empty.extend(report.empty.into_iter().map(Rank));
        own.saturated |= report.saturated;
        own.latency_p99_ms = own.latency_p99_ms.max(report.latency_p99_ms);
        let at_ms = report.at_ms.max(0) as u64;
        let seen = peers.entry(report.node).or_insert((Vec::new(), 0));
        if at_ms >= seen.1 {
            *seen = (report.active, at_ms);
        }
    }
    peers.retain(|_, (_, at_ms)| now_ms.saturating_sub(*at_ms) < PEER_REPORT_FRESH_MS);
    let mut active: std::collections::HashSet<u64> = own_active.into_iter().collect();
    active.extend(peers.values().flat_map(|(ranks, _)| ranks.iter().copied()));
    // Sessions of this node sharing a rank (one person's tabs) count as they did on one node.
    own.active_sessions = own.active_sessions.max(active.len() as u64);
    own
}

/// The block-reservation thread: waits for a nudge, then reserves ahead on the server clock.
/// A failed reservation is logged and retried at the next nudge; meanwhile arrivals get
/// [`GateError::NoNumbers`], never an undurable number.
fn refill_forever(gate: &Weak<Gate>, inbox: &Receiver<()>, clock: &dyn Clock) {
    while inbox.recv().is_ok() {
        let Some(gate) = gate.upgrade() else { return };
        let now_ms = clock.now().as_millisecond().max(0) as u64;
        if let Err(error) = gate.refill(now_ms) {
            tracing::error!(%error, "reserving queue numbers ahead failed");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The link that brings a texted person back: their session and ticket, so the browser they
/// open it in holds their place. No personal data; useful only until the return window ends.
pub fn return_link(base: &str, session: &WaitingSessionId, ticket: &str) -> String {
    use base64::Engine as _;
    let sid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(session.0);
    format!(
        "{}/wait/return?s={sid}&t={ticket}",
        base.trim_end_matches('/')
    )
}

/// Ticks the gate forever on the server clock.
pub async fn tick_forever(gate: Arc<Gate>, clock: Arc<dyn Clock>) {
    let mut interval = tokio::time::interval(TICK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let now_ms = clock.now().as_millisecond().max(0) as u64;
        let gate = Arc::clone(&gate);
        let ticked = tokio::task::spawn_blocking(move || gate.tick(now_ms, &mut rand::rng())).await;
        if let Ok(Err(error)) = ticked {
            tracing::error!(%error, "waiting-room tick failed");
        }
    }
}

/// A new waiting-room key is added when the newest is older than this.
const ROTATE_AFTER_S: i64 = 24 * 3600;
/// Waiting-room keys kept (the newest ones): tickets and passes signed before a restart or a
/// rotation stay valid.
const KEEP_KEYS: usize = 3;
/// A key another node added is taken up by every node within [`KEYS_RELOAD`]; it signs only
/// once it is this old, so no node meets a ticket signed with a key it does not know yet.
pub const KEY_PUBLISHED_S: i64 = 60;
/// How often a node of several reads the shared keys again (and rotates them when due).
pub const KEYS_RELOAD: Duration = Duration::from_secs(10);
/// The name of the waiting room's keys where several nodes share them.
const SHARED_QUEUE_KEYS: &str = "queue.keys";

/// Adds a fresh key when the newest is older than a day (or there is none), keeping the
/// [`KEEP_KEYS`] newest. True when it changed `keys`.
fn rotate_if_due(keys: &mut Vec<KeyLine>, now_s: i64, rng: &mut impl Rng) -> bool {
    let newest = keys.iter().map(|k| k.created_s).max();
    if newest.is_some_and(|created| now_s - created < ROTATE_AFTER_S) {
        return false;
    }
    let id = keys
        .iter()
        .map(|k| k.id.0)
        .max()
        .map_or(1, |id| id.wrapping_add(1).max(1));
    let mut material = [0u8; 32];
    rng.fill_bytes(&mut material);
    keys.push(KeyLine {
        id: KeyId(id),
        created_s: now_s,
        material: KeyMaterial(material),
    });
    keys.sort_by_key(|k| k.created_s);
    let keep_from = keys.len().saturating_sub(KEEP_KEYS);
    keys.drain(..keep_from);
    true
}

/// The waiting room's signing keys, in `dir/queue.keys` ("id created_unix_s hex" per line).
/// A new key is added when the newest is older than a day; the three newest are kept, so tickets
/// and passes signed before a restart or a rotation stay valid.
pub fn load_keyring(dir: &Path, now_s: i64, rng: &mut impl Rng) -> Result<Keyring, StartError> {
    let path = dir.join("queue.keys");
    let mut keys = read_keys_file(&path)
        .map_err(|e| keys_file_error(&path, e))?
        .unwrap_or_default();
    if rotate_if_due(&mut keys, now_s, rng) {
        write_keys_file(&path, &keys).map_err(|e| keys_file_error(&path, KeysFileError::Io(e)))?;
    }
    keyring_of(&keys).map_err(|e| keys_file_error(&path, e))
}

fn keys_file_error(path: &Path, e: KeysFileError) -> StartError {
    match e {
        KeysFileError::Io(source) => StartError::DataDir {
            path: path.display().to_string(),
            source,
        },
        other => StartError::Settings(format!("{} is damaged: {other}", path.display())),
    }
}

/// The waiting room's signing keys shared by several nodes through the database, rotated there
/// daily by whichever node finds them due (compare-and-swap: two nodes rotating at once add one
/// key). The first node to start on a database publishes its `dir/queue.keys` if it has one
/// (tickets issued before keep working), else a fresh key. A new key signs only once it is
/// [`KEY_PUBLISHED_S`] old (every node has read it by then).
pub fn load_shared_keyring(
    shared: &dyn store::SharedKeys,
    dir: &Path,
    now_s: i64,
    rng: &mut impl Rng,
) -> Result<Keyring, StartError> {
    let failed = |e: SharedKeysError| StartError::Settings(format!("the shared keys: {e}"));
    let keys = update_shared_keys(shared, SHARED_QUEUE_KEYS, |keys, stored| {
        if !stored {
            let path = dir.join("queue.keys");
            *keys = read_keys_file(&path)?.unwrap_or_default();
        }
        Ok(rotate_if_due(keys, now_s, rng))
    })
    .map_err(failed)?;
    keyring_signing_with(&keys, |k| now_s - k.created_s >= KEY_PUBLISHED_S)
        .map_err(|e| failed(e.into()))
}

impl Gate {
    /// Starts the thread that reads the shared keys again every [`KEYS_RELOAD`] (rotating them
    /// when due) and installs them. It holds the gate weakly and ends with it.
    pub fn start_key_reloader(
        self: &Arc<Self>,
        shared: Arc<dyn store::SharedKeys>,
        dir: std::path::PathBuf,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<()> {
        let gate = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("queue-keys".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(KEYS_RELOAD);
                    let Some(gate) = gate.upgrade() else { return };
                    let now_s = clock.now().as_second();
                    match load_shared_keyring(shared.as_ref(), &dir, now_s, &mut rand::rng()) {
                        Ok(keyring) => gate.set_keyring(keyring),
                        Err(error) => tracing::error!(%error, "reading the shared keys failed"),
                    }
                }
            })
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::parse_keys;
    use rand::SeedableRng;

    #[test]
    fn the_leader_counts_each_rank_active_on_any_node_once() {
        let report =
            |node: &str, at_ms: i64, active: Vec<u64>, started: Vec<u64>| store::QueueReport {
                node: node.into(),
                at_ms,
                active,
                latency_p99_ms: Some(at_ms as u32),
                saturated: node == "c",
                empty: started.iter().map(|r| r + 100).collect(),
                started,
            };
        let own = Observations {
            active_sessions: 2,
            latency_p99_ms: Some(5),
            started: vec![Rank(1)],
            ..Observations::default()
        };
        let mut peers = Peers::new();
        let merged = merge_reports(
            "a",
            (own.clone(), vec![1, 2]),
            vec![
                report("b", 900, vec![2, 3], vec![3]),
                // B's later report replaces its earlier one.
                report("b", 1_000, vec![2, 3, 4], vec![4]),
                report("c", 950, vec![4, 5], vec![5]),
                // The leader's own report from before it led: its own count is `own`.
                report("a", 980, vec![9, 10, 11], vec![9]),
            ],
            &mut peers,
            1_000,
        );
        assert_eq!(merged.active_sessions, 5, "ranks 1..=5, each once");
        assert_eq!(
            merged.started,
            vec![Rank(1), Rank(3), Rank(4), Rank(5)],
            "everyone who showed up anywhere"
        );
        assert_eq!(
            merged.empty,
            vec![Rank(103), Rank(104), Rank(105)],
            "every node's empty ranks"
        );
        assert_eq!(merged.latency_p99_ms, Some(1_000), "the worst node's");
        assert!(merged.saturated, "C refused a request as busy");

        // Later: B keeps reporting, C went silent (killed): its people no longer count.
        let merged = merge_reports(
            "a",
            (own, vec![1]),
            vec![report("b", 3_500, vec![2], vec![])],
            &mut peers,
            4_000,
        );
        assert_eq!(merged.active_sessions, 2, "rank 1 here, rank 2 on B");
        assert!(!merged.saturated);
    }

    #[test]
    fn a_stated_longest_queue_speeds_the_tail_and_still_bounds_it() {
        let default = poll_policy(&GateConfig::default());
        let stated = poll_policy(&GateConfig {
            max_queue: 1_500_000,
            ..GateConfig::default()
        });
        for (default, stated) in [
            (default.shared(), stated.shared()),
            (default.settled(), stated.settled()),
        ] {
            // The tail's pace is budget ÷ Λ, and Λ is ln(max_queue ÷ front zone).
            assert!(stated.lambda() < default.lambda());
            assert!(stated.fresh_rate_limit_per_s() > 1.1 * default.fresh_rate_limit_per_s());
            assert!(stated.interval_ms(200_000) < default.interval_ms(200_000));
            // The front zone is the admission rate's, whatever the queue.
            assert_eq!(stated.front_positions(), default.front_positions());
            assert_eq!(stated.interval_ms(1_000), 1_000);
            // Beyond the stated queue everyone waits the longest interval.
            assert_eq!(
                stated.interval_ms(1_500_001),
                stated.max_interval_ms(),
                "beyond max_queue"
            );
        }
    }

    #[test]
    fn blocks_hold_about_a_quarter_second_of_arrivals() {
        assert_eq!(block_size(0), BLOCK_MIN);
        assert_eq!(block_size(100), 32);
        assert_eq!(block_size(10_000), 4_096);
        assert_eq!(block_size(10_000_000), BLOCK_MAX);
        let mut rate = ArrivalRate::default();
        for ms in 0..1000 {
            rate.count(5_000 + ms);
        }
        rate.count(6_000);
        assert_eq!(rate.per_second(), 1000);
        rate.count(9_000);
        assert_eq!(rate.per_second(), 1, "a quiet gap forgets the old rate");
    }

    #[test]
    fn a_configured_opening_survives_restarts_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (_writer, reader) = store::sqlite::open(&dir.path().join("yeyak.db")).unwrap();
        let store: Arc<dyn QueueStore> = Arc::new(reader);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let spec = OpeningSpec {
            prequeue_starts_at: "2021-07-19T10:30:00Z".parse().unwrap(),
            opens_at: "2021-07-19T11:00:00Z".parse().unwrap(),
            max_active: 300,
            pass_ttl_minutes: None,
        };
        let now = 1_626_000_000_000;
        let open = |rng: &mut rand::rngs::StdRng| {
            let keyring = load_keyring(dir.path(), 1, rng).unwrap();
            Gate::open(Arc::clone(&store), keyring, GateConfig::default(), now).unwrap()
        };
        let gate = open(&mut rng);
        assert_eq!(
            gate.queue_id(),
            QueueId(1),
            "a fresh database starts free-flowing"
        );
        assert_eq!(gate.ensure_opening(spec, now).unwrap(), Some(QueueId(2)));
        gate.refill(now).unwrap();
        let (ticket, _) = gate.arrive(now, WaitingSessionId([9; 16])).unwrap();
        drop(gate);

        let gate = open(&mut rng);
        assert_eq!(
            gate.ensure_opening(spec, now).unwrap(),
            None,
            "same file, same queue"
        );
        assert!(
            gate.status(now, &ticket).is_ok(),
            "tickets survive the restart"
        );
        let changed = OpeningSpec {
            max_active: 400,
            ..spec
        };
        assert_eq!(gate.ensure_opening(changed, now).unwrap(), Some(QueueId(3)));
    }

    #[test]
    fn a_finished_session_gives_its_place_back_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (_writer, reader) = store::sqlite::open(&dir.path().join("yeyak.db")).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let keyring = load_keyring(dir.path(), 1, &mut rng).unwrap();
        let now = 1_626_000_000_000;
        let gate = Gate::open(Arc::new(reader), keyring, GateConfig::default(), now).unwrap();
        let session = WaitingSessionId([5; 16]);
        gate.refill(now).unwrap();
        let (ticket, _) = gate.arrive(now, session).unwrap();
        gate.tick(now + 250, &mut rng).unwrap();
        let Exchange::Pass { token, .. } = gate.exchange(now + 300, &ticket, &session).unwrap()
        else {
            panic!("free flow admits at once");
        };
        gate.check_pass(now + 400, &token, &session).unwrap();
        assert_eq!(gate.take_observations(now + 500).active_sessions, 1);
        assert_eq!(
            gate.take_observations(now + 400 + ACTIVE_WINDOW_MS - 1)
                .active_sessions,
            1
        );
        gate.done(&session);
        assert_eq!(gate.take_observations(now + 600).active_sessions, 0);
        // The pass still works for reading back what was booked.
        assert!(gate.check_pass(now + 700, &token, &session).is_ok());
    }

    /// A store whose writes can be stalled, standing in for a disk that stops answering.
    struct StallingStore {
        inner: store::sqlite::QueueFile,
        stalled: std::sync::atomic::AtomicBool,
    }

    impl QueueStore for StallingStore {
        fn current_queue(&self) -> store::Result<Option<(u32, String)>> {
            self.inner.current_queue()
        }
        fn save_queue(
            &self,
            id: u32,
            base: Option<u64>,
            rev: u64,
            record: &str,
            now: i64,
        ) -> store::Result<bool> {
            if self.stalled.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(store::StoreError::Database("disk stalled".into()));
            }
            self.inner.save_queue(id, base, rev, record, now)
        }
    }

    #[test]
    fn arrivals_use_numbers_reserved_ahead_and_never_an_undurable_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(StallingStore {
            inner: store::sqlite::QueueFile::open(&dir.path().join("queue.db"), None).unwrap(),
            stalled: false.into(),
        });
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let keyring = load_keyring(dir.path(), 1, &mut rng).unwrap();
        let now = 1_626_000_000_000;
        let gate = Gate::open(store.clone(), keyring, GateConfig::default(), now).unwrap();
        assert!(
            matches!(
                gate.arrive(now, WaitingSessionId([1; 16])),
                Err(GateError::NoNumbers)
            ),
            "nothing reserved yet: refused, not handed an undurable number"
        );
        gate.refill(now).unwrap();
        let arrive = |i: u64| {
            let (ticket, _) = gate.arrive(now, WaitingSessionId([i as u8; 16])).unwrap();
            let room = gate.room();
            queue::Ticket::verify(room.keyring(), &ticket, gate.queue_id())
                .unwrap()
                .seq
        };
        let mut seqs: Vec<u64> = (0..BLOCK_MIN / 2).map(arrive).collect();
        assert!(
            gate.room_mut().refill_wanted(now).is_some(),
            "half the block is gone: time to reserve ahead"
        );
        gate.refill(now).unwrap();
        assert_eq!(
            gate.room_mut().refill_wanted(now),
            None,
            "a spare is in hand"
        );

        // The disk stalls: the numbers already durable still serve arrivals from memory.
        store
            .stalled
            .store(true, std::sync::atomic::Ordering::SeqCst);
        seqs.extend((BLOCK_MIN / 2..2 * BLOCK_MIN).map(arrive));
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in arrival order");
        assert!(gate.refill(now).is_err(), "the reservation ahead fails");
        assert!(
            matches!(
                gate.arrive(now, WaitingSessionId([99; 16])),
                Err(GateError::NoNumbers)
            ),
            "both blocks spent and nothing durable: refused"
        );
        let stored: u64 = {
            let (_, json) = store.inner.current_queue().unwrap().unwrap();
            let record: queue::QueueRecord = serde_json::from_str(&json).unwrap();
            QueueState::from_record(record).unwrap().issued_at_most()
        };
        assert!(
            seqs.iter().all(|seq| *seq < stored),
            "every number handed out is below the stored high-water mark"
        );

        // The disk comes back: so do arrivals.
        store
            .stalled
            .store(false, std::sync::atomic::Ordering::SeqCst);
        gate.refill(now).unwrap();
        assert!(gate.arrive(now, WaitingSessionId([100; 16])).is_ok());
    }

    #[test]
    fn the_record_moves_to_its_own_file_keeping_every_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let (_writer, reader) = store::sqlite::open(&dir.path().join("yeyak.db")).unwrap();
        let reader = Arc::new(reader);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let keyring = load_keyring(dir.path(), 1, &mut rng).unwrap();
        let now = 1_626_000_000_000;
        let old = Gate::open(reader.clone(), keyring.clone(), GateConfig::default(), now).unwrap();
        old.refill(now).unwrap();
        let (ticket, before) = old.arrive(now, WaitingSessionId([7; 16])).unwrap();
        drop(old);
        let file =
            store::sqlite::QueueFile::open(&dir.path().join("queue.db"), Some(reader.as_ref()))
                .unwrap();
        let gate = Gate::open(Arc::new(file), keyring, GateConfig::default(), now).unwrap();
        assert_eq!(gate.status(now, &ticket).unwrap(), before, "same place");
        gate.refill(now).unwrap();
        let (later, _) = gate.arrive(now, WaitingSessionId([8; 16])).unwrap();
        let seq = |t: &str| {
            queue::Ticket::verify(gate.room().keyring(), t, gate.queue_id())
                .unwrap()
                .seq
        };
        assert!(
            seq(&later) > seq(&ticket),
            "numbers continue above the old file's"
        );
    }

    /// Admitted people in the first `seconds` after 1,000 arrive at once, with room for all of
    /// them and a booking side that answers at once.
    fn admitted_after(config: GateConfig, seconds: u64) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let file = store::sqlite::QueueFile::open(&dir.path().join("queue.db"), None).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let keyring = load_keyring(dir.path(), 1, &mut rng).unwrap();
        let start = 1_626_000_000_000;
        let gate = Gate::open(Arc::new(file), keyring, config, start).unwrap();
        gate.refill(start).unwrap();
        for i in 0..1_000u32 {
            let mut session = [0; 16];
            session[..4].copy_from_slice(&i.to_le_bytes());
            let session = WaitingSessionId(session);
            if gate.arrive(start, session).is_err() {
                // The numbers reserved ahead ran out (the background refill's work here).
                gate.refill(start).unwrap();
                gate.arrive(start, session).unwrap();
            }
        }
        let tick = TICK_INTERVAL.as_millis() as u64;
        let mut now = start;
        while now < start + seconds * 1_000 {
            now += tick;
            gate.tick(now, &mut rng).unwrap();
        }
        gate.snapshot(now).admitted
    }

    /// Our own full night on two cores: with nothing but the limit, admission came in bursts of
    /// thousands a second and then stopped for seconds while the machine idled. A cap lets in at
    /// most that many a second (one second's worth at once); by default there is none.
    #[test]
    fn admission_never_runs_faster_than_its_cap() {
        let stated = GateConfig {
            max_active: 100_000,
            admission_rate_per_s: 100.0,
            max_admission_rate_per_s: 100.0,
            ..GateConfig::default()
        };
        let capped = admitted_after(stated, 3);
        // One second's worth at the start, then 100 a second.
        assert!((300..=400).contains(&capped), "{capped}");
        let faster = admitted_after(
            GateConfig {
                max_admission_rate_per_s: 120.0,
                ..stated
            },
            3,
        );
        assert!(faster > capped && faster <= 480, "{faster}");
        let unpaced = GateConfig {
            max_admission_rate_per_s: GateConfig::default().max_admission_rate_per_s,
            paced_admission: false,
            ..stated
        };
        let uncapped = admitted_after(unpaced, 3);
        assert!(uncapped >= 500, "the limit alone lets more in: {uncapped}");
        assert!(
            GateConfig::default().paced_admission,
            "paced by default (the next test)"
        );
    }

    /// By default admission follows a pace that starts at 1.2× the stated rate and grows while
    /// the booking side keeps up (`queue::PaceConfig`): room that opens at once is let in over
    /// seconds, faster than a fixed cap at that start, slower than the limit alone.
    #[test]
    fn admission_is_paced_by_default() {
        let stated = GateConfig {
            max_active: 100_000,
            admission_rate_per_s: 100.0,
            ..GateConfig::default()
        };
        let paced = admitted_after(stated, 3);
        let fixed = admitted_after(
            GateConfig {
                max_admission_rate_per_s: 120.0,
                ..stated
            },
            3,
        );
        let unpaced = admitted_after(
            GateConfig {
                paced_admission: false,
                ..stated
            },
            3,
        );
        assert!(
            paced > fixed,
            "the pace grew past its start: {paced} vs {fixed}"
        );
        assert!(paced < unpaced, "{paced} vs the limit alone {unpaced}");
        assert!(paced <= 120 + 3 * 180, "{paced}");
    }

    /// Our own replay: admitted people who never came froze admission for a minute. Their room
    /// now goes to the next person once they could have known (the front's poll interval) and
    /// did not come within the show-up window; someone who came (exchanged the ticket) keeps it.
    #[test]
    fn no_shows_give_their_room_to_the_next_person_after_the_show_up_window() {
        let dir = tempfile::tempdir().unwrap();
        let file = store::sqlite::QueueFile::open(&dir.path().join("queue.db"), None).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let keyring = load_keyring(dir.path(), 1, &mut rng).unwrap();
        let config = GateConfig {
            max_active: 1,
            ..GateConfig::default()
        };
        let start = 1_626_000_000_000;
        let gate = Gate::open(Arc::new(file), keyring, config, start).unwrap();
        gate.refill(start).unwrap();
        let arrive = |i: u8| gate.arrive(start, WaitingSessionId([i; 16])).unwrap().0;
        let (no_show, comes, waits) = (arrive(1), arrive(2), arrive(3));
        let admitted_within = |ticket: &str, from: u64, limit_ms: u64, rng: &mut _| {
            let mut now = from;
            while now < from + limit_ms {
                now += TICK_INTERVAL.as_millis() as u64;
                gate.tick(now, rng).unwrap();
                if gate.status(now, ticket).unwrap().is_admitted() {
                    return Some(now);
                }
            }
            None
        };
        let first = admitted_within(&no_show, start, 1_000, &mut rng).expect("room for one");
        // The first never comes: the second gets in after 1 s to learn of it + the window.
        let second = admitted_within(&comes, first, 60_000, &mut rng).expect("not frozen");
        let window = GateConfig::default().show_up_window_ms;
        let waited = second - first;
        assert!(
            (1_000 + window..=1_000 + window + 1_000).contains(&waited),
            "a no-show holds the room for the notice delay and the window: {waited} ms"
        );
        // The second comes: the third waits while they are active, however long the window.
        let session = WaitingSessionId([2; 16]);
        assert!(matches!(
            gate.exchange(second, &comes, &session).unwrap(),
            Exchange::Pass { .. }
        ));
        assert_eq!(
            admitted_within(&waits, second, ACTIVE_WINDOW_MS - 1_000, &mut rng),
            None,
            "someone who came keeps their room"
        );
    }

    /// A person's draw number is durable before their verified ticket is handed out, and a
    /// restart (the record not yet saved since) still counts them when the opening freezes the
    /// draw: their place exists, the same one on every ticket.
    #[test]
    fn verified_people_survive_a_restart_before_the_record_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let keyring = load_keyring(dir.path(), 1, &mut rng).unwrap();
        let now = 1_626_000_000_000;
        let open = |keyring: Keyring| {
            let file = store::sqlite::QueueFile::open(&path, None).unwrap();
            Gate::open(Arc::new(file), keyring, GateConfig::default(), now).unwrap()
        };
        let gate = open(keyring.clone());
        let spec = OpeningSpec {
            prequeue_starts_at: jiff::Timestamp::from_millisecond(now as i64).unwrap(),
            opens_at: jiff::Timestamp::from_millisecond(now as i64 + 60_000).unwrap(),
            max_active: 10,
            pass_ttl_minutes: None,
        };
        gate.ensure_opening(spec, now).unwrap();
        gate.refill(now).unwrap();
        let mut tickets = Vec::new();
        for (i, person) in [(1u8, 501u64), (2, 502), (3, 501)] {
            let session = WaitingSessionId([i; 16]);
            let (ticket, _) = gate.arrive(now, session).unwrap();
            let (verified, _) = gate.verify(now, &ticket, &session, person).unwrap();
            tickets.push(verified);
        }
        assert_eq!(gate.people().verified_people, 2);
        drop(gate);
        let gate = open(keyring);
        assert_eq!(gate.people().verified_people, 2, "counted from the table");
        gate.tick(now + 60_000, &mut rng).unwrap();
        let rank = |t: &str| gate.status(now + 60_000, t).unwrap().rank().unwrap();
        assert_eq!(rank(&tickets[0]), rank(&tickets[2]), "one place per person");
        assert_ne!(rank(&tickets[0]), rank(&tickets[1]));
        assert!(
            rank(&tickets[0]).0 < 2 && rank(&tickets[1]).0 < 2,
            "the verified go first"
        );
    }

    /// The handlers' verification awaits the draw without a thread of its own: a person gets
    /// one draw number on every ticket they verify, a second person another; and a person whose
    /// request is dropped once their draw was queued (the client went away) is still counted,
    /// so the opening's freeze does not leave their durable number out.
    #[tokio::test(flavor = "current_thread")]
    async fn a_verification_awaits_its_draw_and_counts_it_even_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let keyring = load_keyring(dir.path(), 1, &mut rng).unwrap();
        let now = 1_626_000_000_000;
        let file = store::sqlite::QueueFile::open(&dir.path().join("queue.db"), None).unwrap();
        let gate =
            Arc::new(Gate::open(Arc::new(file), keyring, GateConfig::default(), now).unwrap());
        let spec = OpeningSpec {
            prequeue_starts_at: jiff::Timestamp::from_millisecond(now as i64).unwrap(),
            opens_at: jiff::Timestamp::from_millisecond(now as i64 + 60_000).unwrap(),
            max_active: 10,
            pass_ttl_minutes: None,
        };
        gate.ensure_opening(spec, now).unwrap();
        gate.refill(now).unwrap();
        let arrive = |i: u8| {
            let session = WaitingSessionId([i; 16]);
            (gate.arrive(now, session).unwrap().0, session)
        };
        let mut verified = Vec::new();
        for (i, person) in [(1u8, 601u64), (2, 602), (3, 601)] {
            let (ticket, session) = arrive(i);
            let (token, _) = gate
                .verify_waiting(now, &ticket, &session, person)
                .await
                .unwrap();
            verified.push(gate.ticket_of(&token, &session).unwrap());
        }
        let draw = |t: &queue::Ticket| t.verified.as_ref().and_then(|v| v.draw).unwrap();
        assert_eq!(
            draw(&verified[0]),
            draw(&verified[2]),
            "one number per person"
        );
        assert_ne!(draw(&verified[0]), draw(&verified[1]));
        assert_eq!(gate.people().verified_people, 2);

        // A third person's request goes away after its draw was queued: polled once, dropped.
        let (ticket, session) = arrive(4);
        let mut dropped = Box::pin(gate.verify_waiting(now, &ticket, &session, 603));
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(dropped.as_mut().poll(cx)));
        assert!(
            first.await.is_pending(),
            "the draw is committed on a thread of its own"
        );
        drop(dropped);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while gate.people().verified_people < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the dropped person's durable number was never counted"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn keys_survive_restarts_and_rotate_daily() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let first = load_keyring(dir.path(), 1_000, &mut rng).unwrap();
        let again = load_keyring(dir.path(), 2_000, &mut rng).unwrap();
        assert_eq!(first.current_id(), again.current_id());
        let ticket = queue::Ticket {
            queue: QueueId(1),
            class: queue::Class::Fifo,
            seq: 7,
            session: WaitingSessionId([3; 16]),
            issued_at_ms: 5,
            verified: None,
        };
        let token = first.sign(&ticket);
        let rotated = load_keyring(dir.path(), 1_000 + 86_400, &mut rng).unwrap();
        assert_ne!(rotated.current_id(), first.current_id());
        assert_eq!(
            queue::Ticket::verify(&rotated, &token, QueueId(1)).unwrap(),
            ticket
        );
        // After three more rotations the first key is gone.
        for day in 2..5 {
            load_keyring(dir.path(), 1_000 + day * 86_400, &mut rng).unwrap();
        }
        let later = load_keyring(dir.path(), 1_000 + 5 * 86_400, &mut rng).unwrap();
        assert!(queue::Ticket::verify(&later, &token, QueueId(1)).is_err());
    }

    #[test]
    fn nodes_share_the_waiting_rooms_keys_and_a_new_key_signs_once_every_node_has_it() {
        let table = crate::secrets::KeysTable::default();
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        // A node upgraded from one node publishes the keys its tickets were signed with.
        let before = load_keyring(a_dir.path(), 1_000, &mut rng).unwrap();
        let a = load_shared_keyring(&table, a_dir.path(), 1_000, &mut rng).unwrap();
        assert_eq!(a.current_id(), before.current_id());
        let b = load_shared_keyring(&table, b_dir.path(), 1_010, &mut rng).unwrap();
        assert_eq!(
            b.current_id(),
            a.current_id(),
            "the second node takes the first's"
        );
        assert!(
            !b_dir.path().join("queue.keys").exists(),
            "nothing written beside"
        );

        // A day on, B rotates; A, reading again 10 s later, learns the new key, and neither
        // signs with it until it is a minute old.
        let day = 1_000 + ROTATE_AFTER_S;
        let b = load_shared_keyring(&table, b_dir.path(), day, &mut rng).unwrap();
        let a = load_shared_keyring(&table, a_dir.path(), day + 10, &mut rng).unwrap();
        assert_eq!(
            b.current_id(),
            before.current_id(),
            "not yet: A may not know it"
        );
        assert_eq!(a.current_id(), before.current_id());
        let (lines, _) = store::SharedKeys::shared_keys(&table, "queue.keys")
            .unwrap()
            .unwrap();
        let new_id = parse_keys(&lines).unwrap().last().unwrap().id;
        assert_ne!(new_id, before.current_id(), "one key added");
        assert_eq!(parse_keys(&lines).unwrap().len(), 2);
        assert!(a.accepts(new_id), "A accepts what B will sign with");
        let later = day + KEY_PUBLISHED_S;
        let a = load_shared_keyring(&table, a_dir.path(), later, &mut rng).unwrap();
        let b = load_shared_keyring(&table, b_dir.path(), later, &mut rng).unwrap();
        assert_eq!((a.current_id(), b.current_id()), (new_id, new_id));
        assert_eq!(
            parse_keys(
                &store::SharedKeys::shared_keys(&table, "queue.keys")
                    .unwrap()
                    .unwrap()
                    .0
            )
            .unwrap()
            .len(),
            2,
            "a node reading the keys again adds none before the next day"
        );
    }
}
