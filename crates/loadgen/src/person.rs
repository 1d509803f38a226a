//! One simulated person's evening, over real HTTP: take a ticket, poll as told (reloading and
//! with several tabs, maybe giving up), exchange the admitted ticket for a pass, verify identity,
//! check eligibility, search clinics near home, look at a day's hour bands, book with an
//! Idempotency-Key (retrying after errors with the same key, honouring Retry-After), read the
//! booking back, and for some: send it twice, cancel and book again, or book for a parent.

use crate::eta::EtaWatch;
use crate::http::{Http, IDEMPOTENCY_KEY, PASS, Reply, TICKET, WAITING_SESSION};
use crate::people::Person;
use crate::scenario::Scenario;
use crate::stats::{Ack, Endpoint, Outcome, Stats};
use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use http::{Method, Uri};
use serde::Deserialize;
use serde_json::json;
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

/// What every person shares.
pub struct Ctx {
    pub http: Http,
    pub scenario: Scenario,
    pub opening: Instant,
    pub deadline: Instant,
    /// Keeps idempotency keys apart across runs against one server.
    pub salt: u64,
}

impl Ctx {
    fn stats(&self) -> &Stats {
        &self.http.stats
    }
}

/// The queue states a person acts on; any other (waiting, in the pre-queue, …) is waiting.
#[derive(Deserialize, Default, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum QueueState {
    Admitted,
    Ineligible,
    #[default]
    #[serde(other)]
    Waiting,
}

// The answers are read borrowing their strings from the body (`Cow` stays borrowed unless the
// text has escapes): a person's poll every second or so is read without allocating.
#[derive(Deserialize, Default)]
struct QueueAnswer<'a> {
    #[serde(default)]
    state: QueueState,
    number: Option<u64>,
    poll_after_ms: Option<u64>,
    /// The wait shown, while waiting once the opening has passed.
    eta_seconds: Option<u64>,
    #[serde(borrow)]
    ticket: Option<Cow<'a, str>>,
    #[serde(borrow)]
    session: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pass: Option<Cow<'a, str>>,
}

impl QueueAnswer<'_> {
    fn poll_after(&self) -> Duration {
        Duration::from_millis(self.poll_after_ms.unwrap_or(1_000))
    }

    /// What the person keeps of this answer, received now: its state and poll delay, and the
    /// wait it showed, if it is the first since the opening.
    fn read(&self, ctx: &Ctx, eta: &mut EtaWatch) -> (QueueState, Duration) {
        eta.saw(
            Instant::now,
            ctx.opening,
            self.state == QueueState::Waiting,
            self.eta_seconds,
        );
        (self.state, self.poll_after())
    }
}

#[derive(Deserialize)]
struct Started<'a> {
    #[serde(borrow)]
    verification_id: Cow<'a, str>,
    #[serde(borrow)]
    demo_code: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Verified<'a> {
    #[serde(borrow)]
    session_token: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Consent<'a> {
    #[serde(borrow)]
    consent: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Eligibility {
    eligible: bool,
}

#[derive(Deserialize)]
struct Found<'a> {
    #[serde(borrow)]
    clinics: Vec<FoundClinic<'a>>,
}

#[derive(Deserialize)]
struct FoundClinic<'a> {
    id: u32,
    #[serde(borrow)]
    availability: Vec<Day<'a>>,
}

#[derive(Deserialize)]
struct Day<'a> {
    date: &'a str,
    remaining: Remaining,
}

#[derive(Deserialize)]
struct ClinicDay {
    bands: Vec<Band>,
}

#[derive(Deserialize)]
struct Band {
    hour: u8,
    remaining: Remaining,
}

/// Places left by product code (`{"pfizer": 3}`), read into fields rather than a map of owned
/// strings: a search answer holds one per clinic and day.
#[derive(Deserialize, Default)]
struct Remaining {
    #[serde(default)]
    pfizer: u64,
    #[serde(default)]
    moderna: u64,
    #[serde(default)]
    astrazeneca: u64,
    #[serde(default)]
    janssen: u64,
}

impl Remaining {
    /// Places left of the product with this code (0 for a code the server does not give).
    fn of(&self, product: &str) -> u64 {
        match product {
            "pfizer" => self.pfizer,
            "moderna" => self.moderna,
            "astrazeneca" => self.astrazeneca,
            "janssen" => self.janssen,
            _ => 0,
        }
    }
}

#[derive(Deserialize)]
struct BookingAnswer {
    id: u64,
    active: bool,
}

const IDENTITY_START: (Endpoint, &str) = (Endpoint::IdentityStart, "/api/v1/identity/start");
const IDENTITY_VERIFY: (Endpoint, &str) = (Endpoint::IdentityVerify, "/api/v1/identity/verify");
const WAIT_VERIFY_START: (Endpoint, &str) =
    (Endpoint::WaitVerifyStart, "/api/v1/queue/verify/start");
const WAIT_VERIFY: (Endpoint, &str) = (Endpoint::WaitVerify, "/api/v1/queue/verify");

/// The answer to verifying while waiting: placed (a re-issued ticket, the queue state) or
/// turned away (`state: "ineligible"`); signed in either way.
#[derive(Deserialize)]
struct WaitVerified<'a> {
    #[serde(default)]
    state: QueueState,
    #[serde(borrow)]
    ticket: Option<Cow<'a, str>>,
    poll_after_ms: Option<u64>,
    #[serde(borrow)]
    session_token: Cow<'a, str>,
}

fn header(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

const ARRIVE: &str = "/api/v1/queue/arrive";
const BOOKINGS: &str = "/api/v1/bookings";

/// A request path made from a person's data (a booking's id, a clinic, a point).
fn request_path(text: String) -> Result<Uri, Outcome> {
    Uri::try_from(text).map_err(|_| Outcome::Failed("bad_path"))
}

/// A request body, written once and shared by its retries.
fn json_body(value: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// Transport errors, 5xx and 429 are worth retrying after a pause.
fn retryable(status: u16) -> bool {
    status == 0 || status == 429 || status >= 500
}

/// Runs one person to the end of their evening.
pub async fn run(ctx: Arc<Ctx>, person: Person, arrival: Instant) -> Outcome {
    let outcome = Box::pin(evening(&ctx, person, arrival)).await;
    ctx.stats().outcome(outcome);
    outcome
}

struct Evening<'a> {
    ctx: &'a Ctx,
    p: Person,
    headers: HeaderMap,
    /// A family member's consent, when booking for one.
    consent: Option<String>,
}

async fn evening(ctx: &Ctx, person: Person, arrival: Instant) -> Outcome {
    let mut e = Evening {
        ctx,
        p: person,
        headers: HeaderMap::new(),
        consent: None,
    };
    let start_wait = arrival.max(ctx.opening);
    if let Err(outcome) = e.queue(arrival, start_wait).await {
        return outcome;
    }
    let waited = Instant::now().saturating_duration_since(start_wait);
    Stats::record_ms(&ctx.stats().wait_ms, waited.as_millis() as u64);
    match e.book_evening(start_wait).await {
        Ok(()) => Outcome::Booked,
        Err(outcome) => outcome,
    }
}

impl Evening<'_> {
    fn past_deadline(&self) -> bool {
        Instant::now() >= self.ctx.deadline
    }

    /// One request, retried after transport errors, 5xx and 429 (Retry-After honoured, same
    /// headers, so the same Idempotency-Key), at most `retry_max` times.
    async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &Uri,
        headers: &HeaderMap,
        body: Option<&Bytes>,
        mut intended: Instant,
    ) -> Reply {
        let mut attempt = 0;
        loop {
            let reply = self
                .ctx
                .http
                .call(
                    endpoint,
                    method.clone(),
                    path.clone(),
                    headers,
                    body.cloned(),
                    intended,
                )
                .await;
            attempt += 1;
            if !retryable(reply.status)
                || attempt > self.ctx.scenario.behaviour.retry_max
                || self.past_deadline()
            {
                return reply;
            }
            let pause = reply
                .retry_after
                .unwrap_or(Duration::from_millis(500 * u64::from(attempt.min(4))));
            intended = Instant::now() + pause.min(Duration::from_secs(30));
            sleep_until(intended).await;
        }
    }

    async fn think(&mut self) {
        let mean = self.ctx.scenario.behaviour.think_ms_mean;
        if mean > 0.0 {
            let ms = self.p.rng.exp(mean).min(60_000.0);
            tokio::time::sleep(Duration::from_millis(ms as u64)).await;
        }
    }

    /// Ticket, polls, reloads, tabs; Ok once a pass is held.
    async fn queue(&mut self, arrival: Instant, start_wait: Instant) -> Result<(), Outcome> {
        let ctx = self.ctx;
        sleep_until(arrival).await;
        let reply = self
            .send(
                Endpoint::Arrive,
                Method::POST,
                &Uri::from_static(ARRIVE),
                &HeaderMap::new(),
                None,
                arrival,
            )
            .await;
        if reply.status != 201 {
            return Err(Outcome::Failed("arrive_failed"));
        }
        let answer: QueueAnswer = reply.json().unwrap_or_default();
        let (Some(session), Some(ticket)) = (
            answer.session.as_deref().and_then(header),
            answer.ticket.as_deref().and_then(header),
        ) else {
            return Err(Outcome::Failed("arrive_failed"));
        };
        let number = answer.number;
        self.headers.insert(WAITING_SESSION, session);
        self.headers.insert(TICKET, ticket);
        let mut eta = EtaWatch::default();
        let (mut state, poll_after) = answer.read(ctx, &mut eta);
        let mut next_poll = Instant::now() + poll_after;

        // Reloads, at random moments while waiting in the first minutes.
        let window_end =
            ctx.opening + Duration::from_secs_f64(ctx.scenario.behaviour.reload_window_seconds);
        let mut reloads: Vec<Instant> = Vec::new();
        if arrival < window_end {
            let span = window_end.saturating_duration_since(arrival).as_secs_f64();
            for _ in 0..self.p.reloads {
                reloads.push(arrival + Duration::from_secs_f64(self.p.rng.f64() * span));
            }
            reloads.sort();
            reloads.reverse(); // pop() gives the earliest
        }

        let mut verify_at = self
            .p
            .verify_waiting_after_s
            .map(|s| arrival + Duration::from_secs_f64(s.min(3_600.0)));

        for _ in 0..1_000_000 {
            if state == QueueState::Admitted {
                if let Some(wait) = eta.turn_told(Instant::now()) {
                    ctx.stats().wait_shown(wait);
                }
                let reply = self
                    .send(
                        Endpoint::Exchange,
                        Method::POST,
                        &Uri::from_static("/api/v1/queue/exchange"),
                        &self.headers,
                        None,
                        Instant::now(),
                    )
                    .await;
                match reply.status {
                    200 => {
                        let answer: QueueAnswer = reply.json().unwrap_or_default();
                        let pass = answer
                            .pass
                            .as_deref()
                            .and_then(header)
                            .ok_or(Outcome::Failed("pass_failed"))?;
                        self.headers.remove(TICKET);
                        self.headers.insert(PASS, pass);
                        return Ok(());
                    }
                    202 => {
                        let answer: QueueAnswer = reply.json().unwrap_or_default();
                        let poll_after;
                        (state, poll_after) = answer.read(ctx, &mut eta);
                        next_poll = Instant::now() + poll_after;
                    }
                    _ => return Err(Outcome::Failed("pass_failed")),
                }
            }
            if self.past_deadline() {
                return Err(Outcome::Failed("run_deadline"));
            }
            if let Some(patience) = self.p.patience_s {
                let now = Instant::now();
                if now > start_wait
                    && now.saturating_duration_since(start_wait).as_secs_f64() > patience
                {
                    return Err(Outcome::GaveUp);
                }
            }
            if let Some(at) = verify_first(next_poll, verify_at, reloads.last().copied()) {
                verify_at = None;
                sleep_until(at).await;
                match self.verify_waiting().await {
                    Ok((verified_state, poll_after)) => {
                        state = verified_state;
                        next_poll = Instant::now() + poll_after;
                    }
                    Err(turned_away @ Outcome::Ineligible { .. }) => return Err(turned_away),
                    // A check that did not go through: they keep waiting as they were, and
                    // verify on the booking side at their turn.
                    Err(_) => {
                        self.headers.remove(AUTHORIZATION);
                        next_poll = next_poll.max(Instant::now());
                    }
                }
                continue;
            }
            let reload_due = reloads.last().copied().filter(|r| *r < next_poll);
            if let Some(at) = reload_due {
                reloads.pop();
                sleep_until(at).await;
                let reply = self
                    .send(
                        Endpoint::Reload,
                        Method::POST,
                        &Uri::from_static(ARRIVE),
                        &self.headers,
                        None,
                        at,
                    )
                    .await;
                if reply.status == 200 {
                    let answer: QueueAnswer = reply.json().unwrap_or_default();
                    if answer.number.is_some() && number.is_some() && answer.number != number {
                        ctx.stats().violation(format!(
                            "W2: a reload moved person {} from number {number:?} to {:?}",
                            self.p.index, answer.number
                        ));
                    }
                    let poll_after;
                    (state, poll_after) = answer.read(ctx, &mut eta);
                    next_poll = Instant::now() + poll_after;
                } else if !retryable(reply.status) {
                    ctx.stats().violation(format!(
                        "W2: a reload with a valid ticket got {}",
                        reply.status
                    ));
                }
                continue;
            }
            let at = next_poll;
            sleep_until(at).await;
            // What the last tab to be answered read: its state and poll delay.
            let mut answer = None;
            for tab in 0..self.p.tabs {
                let intended = if tab == 0 { at } else { Instant::now() };
                let reply = self
                    .ctx
                    .http
                    .call(
                        Endpoint::Status,
                        Method::GET,
                        Uri::from_static("/api/v1/queue/status"),
                        &self.headers,
                        None,
                        intended,
                    )
                    .await;
                if reply.status == 200 {
                    answer = reply
                        .json::<QueueAnswer>()
                        .map(|answer| answer.read(ctx, &mut eta));
                } else if !retryable(reply.status) {
                    return Err(Outcome::Failed("ticket_refused"));
                }
            }
            match answer {
                Some((answered, poll_after)) => {
                    state = answered;
                    next_poll = Instant::now() + poll_after;
                }
                None => next_poll = Instant::now() + Duration::from_secs(1),
            }
        }
        Err(Outcome::Failed("queue_loop_bound"))
    }

    /// One identity check (the person's own, or a family member's consent): details, then the
    /// code (revealed by a demo server) back, answering with the second call's reply (a 200).
    async fn check(
        &mut self,
        (start_endpoint, start): (Endpoint, &'static str),
        (finish_endpoint, finish): (Endpoint, &'static str),
        name: &str,
        rrn: &str,
        phone: &str,
    ) -> Result<Reply, Outcome> {
        let body = json_body(&json!({"name": name, "rrn": rrn, "phone": phone}));
        let reply = self
            .send(
                start_endpoint,
                Method::POST,
                &Uri::from_static(start),
                &self.headers,
                Some(&body),
                Instant::now(),
            )
            .await;
        let started: Started = (reply.status == 202)
            .then(|| reply.json())
            .flatten()
            .ok_or(Outcome::Failed("identity_failed"))?;
        let code = started.demo_code.ok_or(Outcome::Failed("no_demo_code"))?;
        let body = json_body(&json!({"verification_id": started.verification_id, "code": code}));
        self.think().await;
        let reply = self
            .send(
                finish_endpoint,
                Method::POST,
                &Uri::from_static(finish),
                &self.headers,
                Some(&body),
                Instant::now(),
            )
            .await;
        if reply.status == 200 {
            Ok(reply)
        } else {
            Err(Outcome::Failed("identity_failed"))
        }
    }

    /// Keeps an identity session's token for the requests that follow.
    fn sign_in(&mut self, token: &str) -> Result<(), Outcome> {
        let bearer =
            header(&format!("Bearer {token}")).ok_or(Outcome::Failed("identity_failed"))?;
        self.headers.insert(AUTHORIZATION, bearer);
        Ok(())
    }

    /// Verifies on the waiting page: placed among the verified (the ticket re-issued, signed
    /// in for the booking side), or told at once that their cohort does not open tonight.
    /// Returns the queue state and when to poll next.
    async fn verify_waiting(&mut self) -> Result<(QueueState, Duration), Outcome> {
        let (name, rrn, phone) = (self.p.own_name(), self.p.rrn.clone(), self.p.phone());
        let reply = self
            .check(WAIT_VERIFY_START, WAIT_VERIFY, name, &rrn, &phone)
            .await?;
        let answer: WaitVerified = reply.json().ok_or(Outcome::Failed("identity_failed"))?;
        self.sign_in(&answer.session_token)?;
        let state = answer.state;
        if state == QueueState::Ineligible {
            return Err(Outcome::Ineligible {
                while_waiting: true,
            });
        }
        if !self.p.eligible {
            self.ctx.stats().violation(format!(
                "E1: person {} (not in the cohort) was placed while waiting",
                self.p.index
            ));
        }
        let ticket = answer
            .ticket
            .as_deref()
            .and_then(header)
            .ok_or(Outcome::Failed("verify_waiting_failed"))?;
        self.headers.insert(TICKET, ticket);
        Ok((
            state,
            Duration::from_millis(answer.poll_after_ms.unwrap_or(1_000)),
        ))
    }

    async fn book_evening(&mut self, start_wait: Instant) -> Result<(), Outcome> {
        let ctx = self.ctx;
        self.think().await;
        let (name, rrn, phone) = match &self.p.booker_rrn {
            Some(booker) => (
                crate::people::BOOKER_NAME,
                booker.clone(),
                self.p.booker_phone(),
            ),
            None => (self.p.own_name(), self.p.rrn.clone(), self.p.phone()),
        };
        // Verified while waiting: already signed in, straight to search and booking.
        if !self.headers.contains_key(AUTHORIZATION) {
            let reply = self
                .check(IDENTITY_START, IDENTITY_VERIFY, name, &rrn, &phone)
                .await?;
            let verified: Verified = reply.json().ok_or(Outcome::Failed("identity_failed"))?;
            self.sign_in(&verified.session_token)?;
        }
        if self.p.booker_rrn.is_some() {
            // The parent's consent: their code, sent to their phone, typed in by the child.
            let (rrn, phone) = (self.p.rrn.clone(), self.p.phone());
            let reply = self
                .check(
                    (Endpoint::IdentityStart, "/api/v1/family/start"),
                    (Endpoint::IdentityVerify, "/api/v1/family/verify"),
                    crate::people::MEMBER_NAME,
                    &rrn,
                    &phone,
                )
                .await?;
            let consent: Consent = reply.json().ok_or(Outcome::Failed("identity_failed"))?;
            self.consent = Some(consent.consent.into_owned());
        }
        if self.p.booker_rrn.is_none() {
            let reply = self
                .send(
                    Endpoint::Eligibility,
                    Method::GET,
                    &Uri::from_static("/api/v1/eligibility"),
                    &self.headers,
                    None,
                    Instant::now(),
                )
                .await;
            let eligible = reply.json::<Eligibility>().is_some_and(|e| e.eligible);
            if reply.status != 200 {
                return Err(Outcome::Failed("eligibility_failed"));
            }
            if !eligible {
                return Err(Outcome::Ineligible {
                    while_waiting: false,
                });
            }
            if !self.p.eligible {
                ctx.stats().violation(format!(
                    "E1: person {} (not in the cohort) was told they are eligible",
                    self.p.index
                ));
            }
        }
        let id = self.book(0).await?;
        let ms = Instant::now()
            .saturating_duration_since(start_wait)
            .as_millis() as u64;
        Stats::record_ms(&ctx.stats().to_booking_ms, ms);
        let since_opening = Instant::now()
            .saturating_duration_since(ctx.opening)
            .as_millis() as u64;
        ctx.stats()
            .last_booking_ms
            .fetch_max(since_opening, Ordering::Relaxed);
        if self.p.cancel_rebook {
            self.think().await;
            let key = header(&format!("lt{}-{}-cancel", ctx.salt, self.p.index))
                .ok_or(Outcome::Failed("booking_errors"))?;
            let mut headers = self.headers.clone();
            headers.insert(IDEMPOTENCY_KEY, key);
            let path = request_path(format!("/api/v1/bookings/{id}/cancel"))?;
            let reply = self
                .send(
                    Endpoint::Cancel,
                    Method::POST,
                    &path,
                    &headers,
                    Some(&Bytes::from_static(b"{}")),
                    Instant::now(),
                )
                .await;
            let cancelled = match reply.status {
                200 => Some(true),
                0 => None,
                s if s >= 500 => None,
                _ => Some(false),
            };
            self.ack_cancelled(id, cancelled);
            if cancelled == Some(true) {
                self.book(10).await?;
            }
        }
        Ok(())
    }

    fn ack_cancelled(&self, id: u64, cancelled: Option<bool>) {
        let mut acks = self
            .ctx
            .stats()
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(ack) = acks.iter_mut().rev().find(|a| a.booking == id) {
            ack.cancelled = cancelled;
        }
    }

    /// Search, pick, book (with retries and other places after "full"), read back. Keys are
    /// numbered from `first_key`.
    async fn book(&mut self, first_key: u32) -> Result<u64, Outcome> {
        let ctx = self.ctx;
        let b = &ctx.scenario.behaviour;
        let radii = [
            b.search_radius_km,
            (b.search_radius_km * 4.0).min(50.0),
            50.0,
        ];
        let mut radius = 0;
        for attempt in 0..8u32 {
            if self.past_deadline() {
                return Err(Outcome::Failed("run_deadline"));
            }
            self.think().await;
            let Some((clinic, date)) = self.search(radii[radius]).await? else {
                radius += 1;
                if radius >= radii.len() {
                    return Err(Outcome::Failed("no_room"));
                }
                continue;
            };
            self.think().await;
            let path = request_path(format!("/api/v1/clinics/{clinic}?date={date}"))?;
            let reply = self
                .send(
                    Endpoint::ClinicDay,
                    Method::GET,
                    &path,
                    &self.headers,
                    None,
                    Instant::now(),
                )
                .await;
            let Some(day) = (reply.status == 200)
                .then(|| reply.json::<ClinicDay>())
                .flatten()
            else {
                continue;
            };
            let open: Vec<u8> = day
                .bands
                .iter()
                .filter(|band| band.remaining.of(self.p.product) > 0)
                .map(|band| band.hour)
                .collect();
            if open.is_empty() {
                continue;
            }
            let hour = open[self.p.rng.below(open.len() as u64) as usize];
            let mut body =
                json!({"clinic_id": clinic, "date": date, "hour": hour, "product": self.p.product});
            if let Some(consent) = &self.consent {
                body["family"] = json!({ "consent": consent });
            }
            let body = json_body(&body);
            let key = format!("lt{}-{}-{}", ctx.salt, self.p.index, first_key + attempt);
            let mut headers = self.headers.clone();
            headers.insert(
                IDEMPOTENCY_KEY,
                header(&key).ok_or(Outcome::Failed("booking_errors"))?,
            );
            self.think().await;
            let reply = self
                .send(
                    Endpoint::Book,
                    Method::POST,
                    &Uri::from_static(BOOKINGS),
                    &headers,
                    Some(&body),
                    Instant::now(),
                )
                .await;
            match reply.status {
                201 => {
                    let Some(booked) = reply.json::<BookingAnswer>() else {
                        return Err(Outcome::Failed("booking_errors"));
                    };
                    ctx.stats()
                        .acks
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Ack {
                            booking: booked.id,
                            cancelled: Some(false),
                        });
                    if self.p.double_submit && first_key == 0 {
                        let again = self
                            .send(
                                Endpoint::Book,
                                Method::POST,
                                &Uri::from_static(BOOKINGS),
                                &headers,
                                Some(&body),
                                Instant::now(),
                            )
                            .await;
                        match again.json::<BookingAnswer>() {
                            Some(same) if same.id == booked.id => {}
                            other => ctx.stats().violation(format!(
                                "B2: booking {} sent again with its key answered {} {:?}",
                                booked.id,
                                again.status,
                                other.map(|o| o.id)
                            )),
                        }
                    }
                    self.read_back(booked.id).await;
                    return Ok(booked.id);
                }
                409 => {
                    let code = reply.error_code();
                    if code == "already_booked" {
                        return Err(Outcome::Failed("already_booked"));
                    }
                    // Full (someone was quicker): look again.
                }
                422 => return Err(Outcome::Failed("not_eligible")),
                s if retryable(s) => return Err(Outcome::Failed("booking_errors")),
                _ => return Err(Outcome::Failed("booking_refused")),
            }
        }
        Err(Outcome::Failed("no_room"))
    }

    async fn read_back(&self, id: u64) {
        let Ok(path) = request_path(format!("/api/v1/bookings/{id}")) else {
            return;
        };
        let reply = self
            .send(
                Endpoint::BookingGet,
                Method::GET,
                &path,
                &self.headers,
                None,
                Instant::now(),
            )
            .await;
        let ok = reply.status == 200
            && reply
                .json::<BookingAnswer>()
                .is_some_and(|b| b.id == id && b.active);
        if !ok && !retryable(reply.status) {
            self.ctx.stats().violation(format!(
                "B3: acknowledged booking {id} read back as {}",
                reply.status
            ));
        }
    }

    /// A clinic and day with room for the product near home, or None.
    async fn search(&mut self, radius_km: f64) -> Result<Option<(u32, String)>, Outcome> {
        let home = self.p.home;
        let path = request_path(format!(
            "/api/v1/clinics?lat={:.5}&lon={:.5}&radius_km={radius_km}&product={}&days=7&limit=10",
            home.lat, home.lon, self.p.product
        ))?;
        let reply = self
            .send(
                Endpoint::Search,
                Method::GET,
                &path,
                &self.headers,
                None,
                Instant::now(),
            )
            .await;
        if reply.status != 200 {
            return if retryable(reply.status) {
                Err(Outcome::Failed("search_errors"))
            } else {
                Ok(None)
            };
        }
        let Some(found) = reply.json::<Found>() else {
            return Ok(None);
        };
        let mut choices: Vec<(u32, &str)> = Vec::new();
        for clinic in &found.clinics {
            for day in &clinic.availability {
                if day.remaining.of(self.p.product) > 0 {
                    choices.push((clinic.id, day.date));
                }
            }
        }
        if choices.is_empty() {
            return Ok(None);
        }
        let (clinic, date) = choices[self.p.rng.below(choices.len() as u64) as usize];
        Ok(Some((clinic, date.to_string())))
    }
}

/// When a waiting person verifies next, if that is the next thing they do: before their next
/// poll and not after a reload they planned earlier. A reload planned for 20:00:03 is sent then
/// even when the person means to verify at 20:00:05; the reload's latency is counted from its
/// planned moment, so a reload left waiting behind the check would be charged to the server.
fn verify_first(
    next_poll: Instant,
    verify_at: Option<Instant>,
    reload_at: Option<Instant>,
) -> Option<Instant> {
    verify_at.filter(|at| *at < next_poll && reload_at.is_none_or(|reload| *at <= reload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_reload_goes_before_a_later_check_and_after_an_earlier_one() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // The check comes first: it goes.
        assert_eq!(verify_first(at(10), Some(at(5)), Some(at(7))), Some(at(5)));
        assert_eq!(verify_first(at(10), Some(at(5)), None), Some(at(5)));
        // A reload planned before it goes first (the check waits for the next turn).
        assert_eq!(verify_first(at(10), Some(at(5)), Some(at(3))), None);
        // Nothing before the next poll: the poll goes.
        assert_eq!(verify_first(at(4), Some(at(5)), None), None);
        assert_eq!(verify_first(at(10), None, Some(at(3))), None);
    }

    fn reply(body: &'static str) -> Reply {
        Reply {
            status: 200,
            body: Bytes::from_static(body.as_bytes()),
            retry_after: None,
        }
    }

    #[test]
    fn a_queue_answer_is_read_with_its_state_and_credentials() {
        let answer = reply(
            r#"{"state":"admitted","number":7,"poll_after_ms":250,"ticket":"t.1","session":"s\/2","position":3}"#,
        );
        let answer: QueueAnswer = answer.json().expect("a queue answer");
        assert_eq!(answer.state, QueueState::Admitted);
        assert_eq!(answer.number, Some(7));
        assert_eq!(answer.poll_after(), Duration::from_millis(250));
        assert_eq!(answer.ticket.as_deref(), Some("t.1"));
        // An escaped string is unescaped (into an owned copy).
        assert_eq!(answer.session.as_deref(), Some("s/2"));
        assert_eq!(answer.pass, None);
    }

    #[test]
    fn any_state_a_person_does_not_act_on_is_waiting() {
        for body in [r#"{"state":"waiting"}"#, r#"{"state":"prequeue"}"#, r#"{}"#] {
            let answer = reply(body);
            let answer: QueueAnswer = answer.json().expect("a queue answer");
            assert_eq!(answer.state, QueueState::Waiting, "{body}");
            assert_eq!(answer.poll_after(), Duration::from_millis(1_000));
        }
        let turned_away = reply(r#"{"state":"ineligible","session_token":"x"}"#);
        let turned_away: WaitVerified = turned_away.json().expect("a verification");
        assert_eq!(turned_away.state, QueueState::Ineligible);
    }

    #[test]
    fn places_left_are_read_by_product_code() {
        let found = reply(
            r#"{"clinics":[{"id":4,"name":"x","availability":[
                {"date":"2021-07-26","remaining":{"pfizer":3,"moderna":0}},
                {"date":"2021-07-27","remaining":{"moderna":2,"novavax":9}}]}]}"#,
        );
        let found: Found = found.json().expect("a search answer");
        let days = &found.clinics[0].availability;
        assert_eq!(found.clinics[0].id, 4);
        assert_eq!(days[0].date, "2021-07-26");
        assert_eq!(days[0].remaining.of("pfizer"), 3);
        assert_eq!(days[0].remaining.of("moderna"), 0);
        assert_eq!(days[1].remaining.of("moderna"), 2);
        assert_eq!(days[1].remaining.of("pfizer"), 0);
        assert_eq!(days[1].remaining.of("novavax"), 0);
    }
}
