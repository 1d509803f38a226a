//! What the run measured: HDR histograms per endpoint (latency from each request's *intended*
//! send time), status counts, a per-second timeline, and how each person's evening ended.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    Arrive,
    Reload,
    Status,
    Exchange,
    IdentityStart,
    IdentityVerify,
    WaitVerifyStart,
    WaitVerify,
    Eligibility,
    Search,
    ClinicDay,
    Book,
    BookingGet,
    Cancel,
}

impl Endpoint {
    pub const ALL: [Endpoint; 14] = [
        Endpoint::Arrive,
        Endpoint::Reload,
        Endpoint::Status,
        Endpoint::Exchange,
        Endpoint::IdentityStart,
        Endpoint::IdentityVerify,
        Endpoint::WaitVerifyStart,
        Endpoint::WaitVerify,
        Endpoint::Eligibility,
        Endpoint::Search,
        Endpoint::ClinicDay,
        Endpoint::Book,
        Endpoint::BookingGet,
        Endpoint::Cancel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Arrive => "POST /queue/arrive",
            Endpoint::Reload => "POST /queue/arrive (reload)",
            Endpoint::Status => "GET /queue/status",
            Endpoint::Exchange => "POST /queue/exchange",
            Endpoint::IdentityStart => "POST /identity/start",
            Endpoint::IdentityVerify => "POST /identity/verify",
            Endpoint::WaitVerifyStart => "POST /queue/verify/start",
            Endpoint::WaitVerify => "POST /queue/verify",
            Endpoint::Eligibility => "GET /eligibility",
            Endpoint::Search => "GET /clinics",
            Endpoint::ClinicDay => "GET /clinics/{id}",
            Endpoint::Book => "POST /bookings",
            Endpoint::BookingGet => "GET /bookings/{id}",
            Endpoint::Cancel => "POST /bookings/{id}/cancel",
        }
    }

    /// Pages an admitted person sees (the booking side, behind the pass, plus clinic search).
    pub fn admitted(self) -> bool {
        !matches!(
            self,
            Endpoint::Arrive
                | Endpoint::Reload
                | Endpoint::Status
                | Endpoint::Exchange
                | Endpoint::WaitVerifyStart
                | Endpoint::WaitVerify
        )
    }

    /// Calls that start an identity check (a code texted by the identity service): the
    /// booking side's own and a family member's, and those made while waiting.
    pub fn starts_identity_check(self) -> bool {
        matches!(self, Endpoint::IdentityStart | Endpoint::WaitVerifyStart)
    }
}

/// Status codes counted individually; anything else is counted as "other".
const STATUSES: [u16; 15] = [
    0, 200, 201, 202, 400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503,
];
const SLOTS: usize = STATUSES.len() + 1;

fn slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUSES.len())
}

/// Latencies up to an hour, in microseconds, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant, valid histogram bounds")
}

pub struct Timeline {
    /// Seconds since the run's time zero (the start of the pre-queue).
    pub requests: Vec<AtomicU64>,
    pub bookings: Vec<AtomicU64>,
    pub errors_5xx: Vec<AtomicU64>,
    /// Identity checks started (codes the identity service sends), wherever they were asked.
    pub identity_checks: Vec<AtomicU64>,
}

impl Timeline {
    fn new(seconds: usize) -> Timeline {
        let v = || (0..seconds).map(|_| AtomicU64::new(0)).collect();
        Timeline {
            requests: v(),
            bookings: v(),
            errors_5xx: v(),
            identity_checks: v(),
        }
    }

    fn add(series: &[AtomicU64], second: usize) {
        if let Some(c) = series.get(second.min(series.len().saturating_sub(1))) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How a person's evening ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Booked,
    GaveUp,
    /// Not in the opening's cohort, and told so: while waiting (their verification answered
    /// at once, no place taken) or, for those who never verified while waiting, on the
    /// booking side after the queue.
    Ineligible {
        while_waiting: bool,
    },
    Failed(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub booking: u64,
    /// Some(true): the client saw the cancellation acknowledged; None: unknown (lost answer).
    pub cancelled: Option<bool>,
}

/// How long one answer took, counted from two moments.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// From when the person meant to send the request: what they waited, all of it.
    pub from_intended_us: u64,
    /// From when the request had one of the client's connection slots: the server, the kernel
    /// and the wait for a core, without the wait for a slot (the pool of upstream connections
    /// the bound plays). The difference between the two is the generator's own queue.
    pub from_slot_us: u64,
}

pub struct Stats {
    latency: Vec<Mutex<Histogram<u64>>>,
    /// Per endpoint, [`Latency::from_slot_us`].
    after_slot: Vec<Mutex<Histogram<u64>>>,
    statuses: Vec<[AtomicU64; SLOTS]>,
    /// Per endpoint, each 4xx answer's status and machine-readable code (`error`), counted:
    /// which limit or rule refused people, not only how often.
    refusals: Vec<Mutex<BTreeMap<u16, BTreeMap<String, u64>>>>,
    pub timeline: Timeline,
    /// Queue wait, from arrival (or the opening, for earlier arrivals) to the pass, in ms.
    pub wait_ms: Mutex<Histogram<u64>>,
    /// From arrival (or the opening) to a confirmed booking, in ms.
    pub to_booking_ms: Mutex<Histogram<u64>>,
    /// Each admitted person's first wait shown after the opening, and the wait they had.
    pub waits_shown: Mutex<Vec<crate::eta::WaitShown>>,
    pub outcomes: Mutex<BTreeMap<Outcome, u64>>,
    pub acks: Mutex<Vec<Ack>>,
    /// What a client can see go wrong: a reload that moved the place, a retried booking that
    /// came back as a different booking, an acknowledged booking that cannot be read back.
    pub client_violations: Mutex<Vec<String>>,
    pub client_violation_count: AtomicU64,
    /// Milliseconds after the opening of the last confirmed booking.
    pub last_booking_ms: AtomicU64,
    pub in_flight: AtomicU64,
    /// Requests that found every one of the client's `max_in_flight` slots taken and waited for
    /// one (the generator shaping the load instead of the people), and the longest such wait.
    pub client_waits: AtomicU64,
    pub client_wait_max_us: AtomicU64,
    pub spawned: AtomicU64,
    pub finished: AtomicU64,
    /// Number of seconds before the opening that timeline index 0 stands for.
    pub zero_before_opening_s: f64,
}

impl Stats {
    pub fn new(seconds: usize, zero_before_opening_s: f64) -> Stats {
        Stats {
            latency: Endpoint::ALL
                .iter()
                .map(|_| Mutex::new(histogram()))
                .collect(),
            after_slot: Endpoint::ALL
                .iter()
                .map(|_| Mutex::new(histogram()))
                .collect(),
            statuses: Endpoint::ALL
                .iter()
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
            refusals: Endpoint::ALL
                .iter()
                .map(|_| Mutex::new(BTreeMap::new()))
                .collect(),
            timeline: Timeline::new(seconds),
            wait_ms: Mutex::new(histogram()),
            to_booking_ms: Mutex::new(histogram()),
            waits_shown: Mutex::new(Vec::new()),
            outcomes: Mutex::new(BTreeMap::new()),
            acks: Mutex::new(Vec::new()),
            client_violations: Mutex::new(Vec::new()),
            client_violation_count: AtomicU64::new(0),
            last_booking_ms: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            client_waits: AtomicU64::new(0),
            client_wait_max_us: AtomicU64::new(0),
            spawned: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            zero_before_opening_s,
        }
    }

    pub fn record(&self, endpoint: Endpoint, status: u16, latency: Latency, second: usize) {
        let i = endpoint as usize;
        for (series, us) in [
            (&self.latency, latency.from_intended_us),
            (&self.after_slot, latency.from_slot_us),
        ] {
            if let Some(h) = series.get(i) {
                let mut h = h.lock().unwrap_or_else(|p| p.into_inner());
                h.saturating_record(us.max(1));
            }
        }
        if let Some(row) = self.statuses.get(i) {
            row[slot(status)].fetch_add(1, Ordering::Relaxed);
        }
        Timeline::add(&self.timeline.requests, second);
        if status >= 500 || status == 0 {
            Timeline::add(&self.timeline.errors_5xx, second);
        }
        if endpoint == Endpoint::Book && status == 201 {
            Timeline::add(&self.timeline.bookings, second);
        }
        if endpoint.starts_identity_check() {
            Timeline::add(&self.timeline.identity_checks, second);
        }
    }

    /// Counts a 4xx answer by its status and code (the code is copied only the first time).
    pub fn refusal(&self, endpoint: Endpoint, status: u16, code: &str) {
        let Some(row) = self.refusals.get(endpoint as usize) else {
            return;
        };
        let mut row = row.lock().unwrap_or_else(|p| p.into_inner());
        let codes = row.entry(status).or_default();
        match codes.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                codes.insert(code.to_string(), 1);
            }
        }
    }

    /// An endpoint's 4xx answers as `"429 too_many_tickets"` → count.
    pub fn refusals(&self, endpoint: Endpoint) -> BTreeMap<String, u64> {
        self.refusals
            .get(endpoint as usize)
            .map(|row| {
                row.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .flat_map(|(status, codes)| {
                        codes
                            .iter()
                            .map(move |(code, n)| (format!("{status} {code}"), *n))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn outcome(&self, outcome: Outcome) {
        *self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(outcome)
            .or_default() += 1;
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    pub fn violation(&self, what: String) {
        self.client_violation_count.fetch_add(1, Ordering::Relaxed);
        let mut v = self
            .client_violations
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if v.len() < 100 {
            v.push(what);
        }
    }

    pub fn wait_shown(&self, wait: crate::eta::WaitShown) {
        self.waits_shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(wait);
    }

    pub fn record_ms(h: &Mutex<Histogram<u64>>, ms: u64) {
        h.lock()
            .unwrap_or_else(|p| p.into_inner())
            .saturating_record(ms.max(1));
    }

    /// An endpoint's latencies from each request's intended send time.
    pub fn latency(&self, endpoint: Endpoint) -> Histogram<u64> {
        copy_of(&self.latency, endpoint)
    }

    /// An endpoint's latencies from the moment each request had a connection slot.
    pub fn latency_after_slot(&self, endpoint: Endpoint) -> Histogram<u64> {
        copy_of(&self.after_slot, endpoint)
    }

    /// Every admitted-side endpoint together, from each request's intended send time.
    pub fn admitted_latency(&self) -> Histogram<u64> {
        admitted_together(&self.latency)
    }

    /// Every admitted-side endpoint together, from the moment each request had a slot.
    pub fn admitted_latency_after_slot(&self) -> Histogram<u64> {
        admitted_together(&self.after_slot)
    }

    /// (status, count) pairs of an endpoint, non-zero only; status 0 is a transport error and
    /// u16::MAX stands for any status not listed.
    pub fn statuses(&self, endpoint: Endpoint) -> Vec<(u16, u64)> {
        let Some(row) = self.statuses.get(endpoint as usize) else {
            return Vec::new();
        };
        row.iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    STATUSES.get(i).copied().unwrap_or(u16::MAX),
                    c.load(Ordering::Relaxed),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

fn copy_of(series: &[Mutex<Histogram<u64>>], endpoint: Endpoint) -> Histogram<u64> {
    series
        .get(endpoint as usize)
        .map(|h| h.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .unwrap_or_else(histogram)
}

fn admitted_together(series: &[Mutex<Histogram<u64>>]) -> Histogram<u64> {
    let mut all = histogram();
    for e in Endpoint::ALL.into_iter().filter(|e| e.admitted()) {
        let _ = all.add(copy_of(series, e));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_counted_from_its_intended_send_time_and_from_its_slot() {
        let stats = Stats::new(10, 0.0);
        let waited_for_a_slot = Latency {
            from_intended_us: 900_000,
            from_slot_us: 2_000,
        };
        stats.record(Endpoint::Book, 201, waited_for_a_slot, 3);
        stats.record(Endpoint::Status, 200, waited_for_a_slot, 3);
        let book = stats.latency(Endpoint::Book);
        let book_after_slot = stats.latency_after_slot(Endpoint::Book);
        assert_eq!(book.len(), 1);
        assert!(book.max() >= 899_000, "{}", book.max());
        assert!(book_after_slot.max() <= 2_010, "{}", book_after_slot.max());
        // Admitted-side pages together: the booking, not the front door's status poll.
        assert_eq!(stats.admitted_latency().len(), 1);
        assert_eq!(stats.admitted_latency_after_slot().len(), 1);
        assert!(stats.admitted_latency_after_slot().max() <= 2_010);
        assert!(stats.latency_after_slot(Endpoint::Status).max() <= 2_010);
    }

    #[test]
    fn refusals_are_counted_by_status_and_code() {
        let stats = Stats::new(10, 0.0);
        stats.refusal(Endpoint::Book, 409, "slot_full");
        stats.refusal(Endpoint::Book, 409, "slot_full");
        stats.refusal(Endpoint::Book, 409, "already_booked");
        stats.refusal(Endpoint::Book, 422, "not_eligible");
        stats.refusal(Endpoint::Arrive, 429, "too_many_tickets");
        let book = stats.refusals(Endpoint::Book);
        assert_eq!(
            book.into_iter().collect::<Vec<_>>(),
            [
                ("409 already_booked".to_string(), 1),
                ("409 slot_full".to_string(), 2),
                ("422 not_eligible".to_string(), 1),
            ]
        );
        assert_eq!(stats.refusals(Endpoint::Arrive).len(), 1);
        assert!(stats.refusals(Endpoint::Status).is_empty());
    }
}
