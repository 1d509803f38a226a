//! A stand-in for Korea's mobile identity check (휴대폰 본인확인: PASS and the like), which cannot
//! exist here. It behaves like the real one at its interface:
//!
//! - The caller gives a name, a registration number (birth date and the seventh digit) and a
//!   phone. The phone's carrier matches the name, birth date and seventh digit against its
//!   subscriber record ([`SubscriberRegistry`]) and texts a six-digit code only when they match.
//!   A mismatch gets the same answer as a match (a verification id, and in demo mode a decoy
//!   code): nobody learns whose phone a number is.
//! - The code is valid for three minutes and five attempts. Only its hash is kept here; the text
//!   handed to the SMS sender is the only place the code exists.
//! - Limits ([`Limits`]) per phone, per registration number, per requester (the waiting-room
//!   session) and per client address stop floods and guessing. Wrong codes count against the
//!   requester and its address, never as a lockout of the person: a stranger's guesses cannot
//!   keep the owner out. Wrong codes per registration number are counted across checks too; past
//!   that budget every new check for the number allows a single attempt, so guessing stays
//!   hopeless while the owner, who has the code, still gets in.
//! - It refuses new checks when saturated, as a real provider would.
//!
//! A real deployment plugs the provider in behind [`SubscriberRegistry`] (the carrier's match)
//! and keeps the rest. With `reveal_codes` (only in `--demo` mode, never in production) the code
//! is also returned to the caller, so a demo user or the load generator can complete the check.

use domain::name::PersonName;
use domain::rrn::{Rrn, RrnHash};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, RngExt};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use subtle::ConstantTimeEq;

use crate::rate::{Counter, Limit, limit};

/// The numbers, and why, are in the README ("Identity check limits").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub codes_per_phone_hour: Limit,
    pub codes_per_phone_day: Limit,
    pub checks_per_rrn: Limit,
    pub checks_per_requester: Limit,
    pub checks_per_address: Limit,
    pub wrong_codes_per_requester: Limit,
    pub wrong_codes_per_address: Limit,
    /// Past this, each new check for the number allows one attempt instead of five.
    pub wrong_codes_per_rrn: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            codes_per_phone_hour: limit(5, 60),
            codes_per_phone_day: limit(10, 24 * 60),
            checks_per_rrn: limit(10, 60),
            checks_per_requester: limit(10, 60),
            checks_per_address: limit(600, 60),
            wrong_codes_per_requester: limit(10, 60),
            wrong_codes_per_address: limit(300, 60),
            wrong_codes_per_rrn: limit(10, 24 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct IdentityConfig {
    pub code_ttl: SignedDuration,
    pub max_attempts: u8,
    /// Checks in progress at most; more are refused as `Overloaded`, as a real provider would.
    pub max_pending: usize,
    pub reveal_codes: bool,
    pub limits: Limits,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            code_ttl: SignedDuration::from_mins(3),
            max_attempts: 5,
            max_pending: 500_000,
            reveal_codes: false,
            limits: Limits::default(),
        }
    }
}

/// Mobile carriers (and the budget carriers on their networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Skt,
    Kt,
    LgUplus,
    Mvno,
}

impl Carrier {
    pub fn parse(code: &str) -> Option<Carrier> {
        match code.trim().to_ascii_lowercase().as_str() {
            "skt" => Some(Carrier::Skt),
            "kt" => Some(Carrier::Kt),
            "lgu" | "lgu+" | "lguplus" => Some(Carrier::LgUplus),
            "mvno" => Some(Carrier::Mvno),
            _ => None,
        }
    }
}

/// What the carrier checks a phone's subscriber against.
pub struct SubscriberQuery<'a> {
    /// Digits only.
    pub phone: &'a str,
    pub name: &'a PersonName,
    pub birth_date: Date,
    /// The registration number's seventh digit (sex and century).
    pub sex_digit: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the carrier's subscriber check is unavailable")]
    Unavailable,
}

/// The carrier's side of the check: does this phone belong to this person? A real provider
/// answers match or no match and never says who the subscriber is; that is all yeyak asks.
pub trait SubscriberRegistry: Send + Sync {
    fn matches(&self, query: &SubscriberQuery<'_>) -> Result<bool, ProviderError>;
}

/// One phone's subscriber as the stand-in keeps it: the name only as a digest.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Subscriber {
    name_digest: [u8; 16],
    birth_date: Date,
    sex_digit: u8,
    #[allow(dead_code)] // kept as a real record has it; nothing routes by carrier yet
    carrier: Carrier,
}

fn name_digest(name: &PersonName) -> [u8; 16] {
    let digest = Sha256::digest(name.as_str().as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Phones as numbers: 10 or 11 digits fit, and the map stays small at millions of subscribers.
fn phone_key(digits: &str) -> Option<u64> {
    digits.parse().ok()
}

/// The carriers' subscriber records, in memory: seeded by the demo world, by
/// `--subscribers FILE`, or by tests.
#[derive(Default)]
pub struct MemoryRegistry {
    subscribers: RwLock<HashMap<u64, Subscriber>>,
}

impl std::fmt::Debug for MemoryRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryRegistry({} phones)", self.len())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("subscriber line {line}: {reason}")]
pub struct SubscriberFileError {
    pub line: usize,
    pub reason: &'static str,
}

impl MemoryRegistry {
    pub fn len(&self) -> usize {
        self.subscribers.read().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that `phone` belongs to the holder of `rrn` named `name` (replacing whoever had
    /// the number before, as when a carrier reassigns one). False when the phone is not valid.
    pub fn register(&self, phone: &str, name: &PersonName, rrn: &Rrn, carrier: Carrier) -> bool {
        let Some(key) = parse_phone(phone).as_deref().and_then(phone_key) else {
            return false;
        };
        let subscriber = Subscriber {
            name_digest: name_digest(name),
            birth_date: rrn.birth_date(),
            sex_digit: rrn.sex_digit(),
            carrier,
        };
        let mut map = self.subscribers.write().unwrap_or_else(|p| p.into_inner());
        map.insert(key, subscriber);
        true
    }

    /// Loads lines `phone,name,registration number,carrier` (a header line starting with
    /// `phone` and blank lines are skipped). The registration number is used for its birth date
    /// and seventh digit only and is not kept.
    pub fn load_csv(&self, text: &str) -> Result<usize, SubscriberFileError> {
        let mut added = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (i == 0 && line.starts_with("phone")) {
                continue;
            }
            let error = |reason| SubscriberFileError {
                line: i + 1,
                reason,
            };
            let fields: Vec<&str> = line.split(',').collect();
            let [phone, name, rrn, carrier] = fields[..] else {
                return Err(error("expected phone,name,rrn,carrier"));
            };
            let name = PersonName::parse(name).map_err(|_| error("invalid name"))?;
            let rrn = Rrn::parse(rrn).map_err(|_| error("invalid registration number"))?;
            let carrier = Carrier::parse(carrier).ok_or_else(|| error("unknown carrier"))?;
            if !self.register(phone, &name, &rrn, carrier) {
                return Err(error("invalid phone"));
            }
            added += 1;
        }
        Ok(added)
    }
}

impl SubscriberRegistry for MemoryRegistry {
    fn matches(&self, query: &SubscriberQuery<'_>) -> Result<bool, ProviderError> {
        let Some(key) = phone_key(query.phone) else {
            return Ok(false);
        };
        let map = self.subscribers.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(&key).is_some_and(|s| {
            let name_matches = bool::from(s.name_digest[..].ct_eq(&name_digest(query.name)[..]));
            name_matches && s.birth_date == query.birth_date && s.sex_digit == query.sex_digit
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerificationId(pub [u8; 16]);

/// A person's claimed identity, validated at the door.
#[derive(Clone)]
pub struct Claim {
    pub name: PersonName,
    pub rrn: Rrn,
    /// Digits only, e.g. "01012345678".
    pub phone: String,
}

/// Who is asking: the waiting-room session (or another stable credential) and the client's
/// address. Limits and wrong codes are counted against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester {
    pub session: [u8; 16],
    pub address: IpAddr,
}

/// What a completed check proves.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    pub rrn_hash: RrnHash,
    pub birth_date: Date,
    pub masked_rrn: String,
    pub name: String,
    pub phone: String,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verified({})", self.masked_rrn)
    }
}

pub struct Challenge {
    pub id: VerificationId,
    /// The code to text, or a decoy that never verifies when the details did not match the
    /// phone's subscriber (`send` is false then: nothing is texted).
    pub code: String,
    pub send: bool,
    pub expires_at: Timestamp,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Phone,
    Person,
    Requester,
    Address,
    WrongCodes,
}

impl Scope {
    pub fn code(self) -> &'static str {
        match self {
            Scope::Phone => "phone",
            Scope::Person => "person",
            Scope::Requester => "session",
            Scope::Address => "address",
            Scope::WrongCodes => "wrong_codes",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("too many requests ({scope:?}); retry in {retry_after_s} s")]
    RateLimited { scope: Scope, retry_after_s: u64 },
    #[error("unknown or expired verification")]
    UnknownOrExpired,
    #[error("wrong code")]
    WrongCode { attempts_left: u8 },
    #[error("too many wrong codes for this verification")]
    TooManyAttempts,
    #[error("identity service saturated")]
    Overloaded,
}

impl IdentityError {
    pub fn code(self) -> &'static str {
        match self {
            IdentityError::RateLimited { .. } => "identity_rate_limited",
            IdentityError::UnknownOrExpired => "verification_expired",
            IdentityError::WrongCode { .. } => "wrong_code",
            IdentityError::TooManyAttempts => "too_many_attempts",
            IdentityError::Overloaded => "identity_service_busy",
        }
    }
}

struct Pending {
    verified: Verified,
    /// SHA-256 of the verification id and the code: the code itself is not kept.
    code_hash: [u8; 32],
    expires_at: Timestamp,
    attempts: u8,
    allowed: u8,
}

fn code_hash(id: VerificationId, code: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(id.0);
    hasher.update(code.trim().as_bytes());
    hasher.finalize().into()
}

struct Counters {
    codes_per_phone_hour: Counter<u64>,
    codes_per_phone_day: Counter<u64>,
    checks_per_rrn: Counter<[u8; 32]>,
    checks_per_requester: Counter<[u8; 16]>,
    checks_per_address: Counter<IpAddr>,
    wrong_per_requester: Counter<[u8; 16]>,
    wrong_per_address: Counter<IpAddr>,
    wrong_per_rrn: Counter<[u8; 32]>,
}

impl Counters {
    fn new(limits: &Limits) -> Counters {
        Counters {
            codes_per_phone_hour: Counter::new(limits.codes_per_phone_hour),
            codes_per_phone_day: Counter::new(limits.codes_per_phone_day),
            checks_per_rrn: Counter::new(limits.checks_per_rrn),
            checks_per_requester: Counter::new(limits.checks_per_requester),
            checks_per_address: Counter::new(limits.checks_per_address),
            wrong_per_requester: Counter::new(limits.wrong_codes_per_requester),
            wrong_per_address: Counter::new(limits.wrong_codes_per_address),
            wrong_per_rrn: Counter::new(limits.wrong_codes_per_rrn),
        }
    }

    /// A requester who guessed wrong too often is refused everything for a while: the failures
    /// are theirs, not the person's whose number they typed.
    fn guessing(&self, who: Requester, now_ms: i64) -> Result<(), IdentityError> {
        let refused = [
            self.wrong_per_requester.retry_after(who.session, now_ms),
            self.wrong_per_address.retry_after(who.address, now_ms),
        ];
        refusal(Scope::WrongCodes, refused.into_iter().flatten().max())
    }

    fn check_start(
        &self,
        who: Requester,
        rrn: &RrnHash,
        phone: u64,
        now_ms: i64,
    ) -> Result<(), IdentityError> {
        self.guessing(who, now_ms)?;
        let limits = [
            (
                Scope::Requester,
                self.checks_per_requester.retry_after(who.session, now_ms),
            ),
            (
                Scope::Address,
                self.checks_per_address.retry_after(who.address, now_ms),
            ),
            (
                Scope::Person,
                self.checks_per_rrn.retry_after(rrn.0, now_ms),
            ),
            (
                Scope::Phone,
                self.codes_per_phone_day
                    .retry_after(phone, now_ms)
                    .or_else(|| self.codes_per_phone_hour.retry_after(phone, now_ms)),
            ),
        ];
        for (scope, retry) in limits {
            refusal(scope, retry)?;
        }
        Ok(())
    }

    /// Counted for every accepted check, whether or not the details matched, so that a refusal
    /// says nothing about whose phone it is.
    fn count_start(&mut self, who: Requester, rrn: &RrnHash, phone: u64, now_ms: i64) {
        self.checks_per_requester.hit(who.session, now_ms);
        self.checks_per_address.hit(who.address, now_ms);
        self.checks_per_rrn.hit(rrn.0, now_ms);
        self.codes_per_phone_hour.hit(phone, now_ms);
        self.codes_per_phone_day.hit(phone, now_ms);
    }

    fn count_wrong(&mut self, who: Requester, rrn: &RrnHash, now_ms: i64) {
        self.wrong_per_requester.hit(who.session, now_ms);
        self.wrong_per_address.hit(who.address, now_ms);
        self.wrong_per_rrn.hit(rrn.0, now_ms);
    }
}

fn refusal(scope: Scope, retry_after_s: Option<u64>) -> Result<(), IdentityError> {
    match retry_after_s {
        Some(retry_after_s) => Err(IdentityError::RateLimited {
            scope,
            retry_after_s,
        }),
        None => Ok(()),
    }
}

struct State {
    pending: HashMap<VerificationId, Pending>,
    /// Verification ids in the order they expire, to forget them without scanning.
    expiry: VecDeque<(Timestamp, VerificationId)>,
    counters: Counters,
}

pub struct IdentityStandIn {
    config: IdentityConfig,
    rrn_key: Vec<u8>,
    registry: std::sync::Arc<dyn SubscriberRegistry>,
    state: Mutex<State>,
}

impl IdentityStandIn {
    pub fn new(
        config: IdentityConfig,
        rrn_key: &[u8],
        registry: std::sync::Arc<dyn SubscriberRegistry>,
    ) -> IdentityStandIn {
        IdentityStandIn {
            config,
            rrn_key: rrn_key.to_vec(),
            registry,
            state: Mutex::new(State {
                pending: HashMap::new(),
                expiry: VecDeque::new(),
                counters: Counters::new(&config.limits),
            }),
        }
    }

    pub fn reveals_codes(&self) -> bool {
        self.config.reveal_codes
    }

    pub fn start(
        &self,
        claim: Claim,
        who: Requester,
        now: Timestamp,
        rng: &mut impl Rng,
    ) -> Result<Challenge, IdentityError> {
        let rrn_hash = claim.rrn.keyed_hash(&self.rrn_key);
        let phone = phone_key(&claim.phone).ok_or(IdentityError::UnknownOrExpired)?;
        let now_ms = now.as_millisecond();
        {
            let mut state = self.lock();
            forget_expired(&mut state, now);
            state.counters.check_start(who, &rrn_hash, phone, now_ms)?;
            if state.pending.len() >= self.config.max_pending {
                return Err(IdentityError::Overloaded);
            }
        }
        // The carrier's check runs outside the lock: a real one is a network call.
        let query = SubscriberQuery {
            phone: &claim.phone,
            name: &claim.name,
            birth_date: claim.rrn.birth_date(),
            sex_digit: claim.rrn.sex_digit(),
        };
        let matched = self
            .registry
            .matches(&query)
            .map_err(|_| IdentityError::Overloaded)?;
        let id = VerificationId(rng.random());
        let code = format!("{:06}", rng.random_range(0..1_000_000u32));
        let expires_at = crate::clock::after(now, self.config.code_ttl);
        let mut state = self.lock();
        // Checked again: another caller may have used the last of a limit meanwhile.
        state.counters.check_start(who, &rrn_hash, phone, now_ms)?;
        state.counters.count_start(who, &rrn_hash, phone, now_ms);
        let spent = state.counters.wrong_per_rrn.retry_after(rrn_hash.0, now_ms);
        let allowed = if spent.is_some() {
            1
        } else {
            self.config.max_attempts
        };
        // A mismatch keeps the hash of a code nobody was sent, which no answer can match.
        let stored = if matched {
            code_hash(id, &code)
        } else {
            rng.random()
        };
        let verified = Verified {
            rrn_hash,
            birth_date: claim.rrn.birth_date(),
            masked_rrn: claim.rrn.masked(),
            name: claim.name.into_string(),
            phone: claim.phone,
        };
        state.pending.insert(
            id,
            Pending {
                verified,
                code_hash: stored,
                expires_at,
                attempts: 0,
                allowed,
            },
        );
        state.expiry.push_back((expires_at, id));
        Ok(Challenge {
            id,
            code,
            send: matched,
            expires_at,
        })
    }

    pub fn verify(
        &self,
        id: VerificationId,
        code: &str,
        who: Requester,
        now: Timestamp,
    ) -> Result<Verified, IdentityError> {
        let now_ms = now.as_millisecond();
        let mut state = self.lock();
        forget_expired(&mut state, now);
        state.counters.guessing(who, now_ms)?;
        let pending = state
            .pending
            .get_mut(&id)
            .filter(|p| p.expires_at > now)
            .ok_or(IdentityError::UnknownOrExpired)?;
        if bool::from(pending.code_hash[..].ct_eq(&code_hash(id, code)[..])) {
            let done = state
                .pending
                .remove(&id)
                .ok_or(IdentityError::UnknownOrExpired)?;
            return Ok(done.verified);
        }
        pending.attempts += 1;
        let attempts_left = pending.allowed.saturating_sub(pending.attempts);
        let rrn_hash = pending.verified.rrn_hash;
        if attempts_left == 0 {
            state.pending.remove(&id);
        }
        state.counters.count_wrong(who, &rrn_hash, now_ms);
        if attempts_left > 0 {
            Err(IdentityError::WrongCode { attempts_left })
        } else {
            Err(IdentityError::TooManyAttempts)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn forget_expired(state: &mut State, now: Timestamp) {
    while let Some(&(expires_at, id)) = state.expiry.front() {
        if expires_at > now {
            break;
        }
        state.expiry.pop_front();
        state.pending.remove(&id);
    }
}

/// Korean mobile numbers: 010/011/016/017/018/019 and 10 or 11 digits; dashes and spaces allowed.
pub fn parse_phone(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    let valid = digits.chars().all(|c| c.is_ascii_digit())
        && (10..=11).contains(&digits.len())
        && ["010", "011", "016", "017", "018", "019"]
            .iter()
            .any(|p| digits.starts_with(p));
    valid.then_some(digits)
}

/// "010-****-5678": what may appear in logs and messages.
pub fn mask_phone(phone: &str) -> String {
    let tail: String = phone
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}-****-{tail}", phone.get(..3).unwrap_or("***"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::sync::Arc;

    const RRN: &str = "680229-1234567";

    fn name(text: &str) -> PersonName {
        PersonName::parse(text).unwrap()
    }

    fn claim_with(rrn: &str, phone: &str) -> Claim {
        Claim {
            name: name("홍길동"),
            rrn: Rrn::parse(rrn).unwrap(),
            phone: phone.into(),
        }
    }

    fn claim() -> Claim {
        claim_with(RRN, "01012345678")
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_626_692_400 + seconds).unwrap()
    }

    fn requester(n: u8) -> Requester {
        Requester {
            session: [n; 16],
            address: IpAddr::from([10, 0, 0, n]),
        }
    }

    fn service_with(config: IdentityConfig) -> IdentityStandIn {
        let registry = MemoryRegistry::default();
        registry.register(
            "010-1234-5678",
            &name("홍길동"),
            &Rrn::parse(RRN).unwrap(),
            Carrier::Skt,
        );
        IdentityStandIn::new(config, b"key", Arc::new(registry))
    }

    fn service() -> IdentityStandIn {
        service_with(IdentityConfig::default())
    }

    fn wrong(code: &str) -> &'static str {
        if code == "000000" { "000001" } else { "000000" }
    }

    #[test]
    fn the_right_code_verifies_once() {
        let service = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let challenge = service
            .start(claim(), requester(1), at(0), &mut rng)
            .unwrap();
        assert!(challenge.send);
        let verified = service
            .verify(challenge.id, &challenge.code, requester(1), at(10))
            .unwrap();
        assert_eq!(verified.birth_date, jiff::civil::date(1968, 2, 29));
        assert_eq!(verified.masked_rrn, "680229-1******");
        assert_eq!(
            service.verify(challenge.id, &challenge.code, requester(1), at(11)),
            Err(IdentityError::UnknownOrExpired)
        );
    }

    #[test]
    fn details_that_do_not_match_the_phone_get_the_same_answer_and_never_verify() {
        let service = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // Someone else's number with my phone; my number with another name; a stranger's phone.
        let mut other_name = claim();
        other_name.name = name("김철수");
        for claim in [
            claim_with("670101-1000001", "01012345678"),
            other_name,
            claim_with(RRN, "01099998888"),
            claim_with("680229-2234567", "01012345678"),
        ] {
            let challenge = service.start(claim, requester(2), at(0), &mut rng).unwrap();
            assert!(!challenge.send, "nothing is texted");
            assert_eq!(challenge.code.len(), 6, "a decoy that looks like a code");
            assert_eq!(
                service.verify(challenge.id, &challenge.code, requester(2), at(1)),
                Err(IdentityError::WrongCode { attempts_left: 4 })
            );
        }
    }

    #[test]
    fn codes_are_kept_only_as_hashes() {
        let service = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let challenge = service
            .start(claim(), requester(1), at(0), &mut rng)
            .unwrap();
        let state = service.lock();
        let pending = &state.pending[&challenge.id];
        assert_eq!(pending.code_hash, code_hash(challenge.id, &challenge.code));
        assert!(
            !pending
                .code_hash
                .windows(6)
                .any(|w| w == challenge.code.as_bytes())
        );
    }

    #[test]
    fn codes_expire_after_three_minutes() {
        let service = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let challenge = service
            .start(claim(), requester(1), at(0), &mut rng)
            .unwrap();
        assert_eq!(
            service.verify(challenge.id, &challenge.code, requester(1), at(180)),
            Err(IdentityError::UnknownOrExpired)
        );
    }

    #[test]
    fn a_strangers_wrong_codes_do_not_lock_the_owner_out() {
        let service = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let stranger = requester(66);
        let challenge = service.start(claim(), stranger, at(0), &mut rng).unwrap();
        let guess = wrong(&challenge.code);
        for left in (1..5).rev() {
            assert_eq!(
                service.verify(challenge.id, guess, stranger, at(1)),
                Err(IdentityError::WrongCode {
                    attempts_left: left
                })
            );
        }
        assert_eq!(
            service.verify(challenge.id, guess, stranger, at(1)),
            Err(IdentityError::TooManyAttempts)
        );
        let owner = requester(1);
        let mine = service.start(claim(), owner, at(2), &mut rng).unwrap();
        assert!(service.verify(mine.id, &mine.code, owner, at(3)).is_ok());
    }

    #[test]
    fn wrong_codes_count_against_the_requester_across_checks() {
        let service = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let stranger = requester(66);
        for i in 0..2 {
            let c = service
                .start(
                    claim_with(&format!("670101-100000{i}"), "01012345678"),
                    stranger,
                    at(0),
                    &mut rng,
                )
                .unwrap();
            for _ in 0..5 {
                assert!(service.verify(c.id, "123456", stranger, at(1)).is_err());
            }
        }
        let refused = service.start(claim(), stranger, at(2), &mut rng).err();
        assert!(
            matches!(
                refused,
                Some(IdentityError::RateLimited {
                    scope: Scope::WrongCodes,
                    retry_after_s: 3598 | 3599
                })
            ),
            "{refused:?}"
        );
        // Everyone else, the owner included, is unaffected; the stranger is free after the hour.
        assert!(
            service
                .start(claim(), requester(1), at(2), &mut rng)
                .is_ok()
        );
        assert!(service.start(claim(), stranger, at(3601), &mut rng).is_ok());
    }

    #[test]
    fn past_the_numbers_wrong_code_budget_each_check_allows_one_attempt() {
        // Phone and number limits raised, so only the wrong-code budget is at work.
        let service = service_with(IdentityConfig {
            limits: Limits {
                codes_per_phone_hour: limit(100, 60),
                codes_per_phone_day: limit(100, 60),
                checks_per_rrn: limit(100, 60),
                ..Limits::default()
            },
            ..IdentityConfig::default()
        });
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        // Ten strangers, one wrong code each, across ten checks of the same number.
        for n in 0..10 {
            let c = service
                .start(claim(), requester(100 + n), at(0), &mut rng)
                .unwrap();
            let _ = service.verify(c.id, wrong(&c.code), requester(100 + n), at(1));
        }
        let owner = requester(1);
        let c = service.start(claim(), owner, at(2), &mut rng).unwrap();
        assert_eq!(
            service.verify(c.id, wrong(&c.code), owner, at(3)),
            Err(IdentityError::TooManyAttempts)
        );
        let c = service.start(claim(), owner, at(4), &mut rng).unwrap();
        assert!(
            service.verify(c.id, &c.code, owner, at(5)).is_ok(),
            "the owner, who has the code, gets in"
        );
    }

    #[test]
    fn codes_to_one_phone_are_limited_per_hour_and_day() {
        let service = service();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut sent = 0;
        for n in 0..20u8 {
            // Each from a fresh requester, so only the phone's own limit can stop them.
            match service.start(claim(), requester(n), at(i64::from(n)), &mut rng) {
                Ok(_) => sent += 1,
                Err(IdentityError::RateLimited { scope, .. }) => {
                    assert!(matches!(scope, Scope::Phone | Scope::Person));
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(sent, 5);
        for hour in 1..4 {
            for n in 0..5u8 {
                let _ = service.start(claim(), requester(n), at(hour * 3600 + 10), &mut rng);
            }
        }
        assert!(
            matches!(
                service.start(claim(), requester(9), at(4 * 3600), &mut rng),
                Err(IdentityError::RateLimited {
                    scope: Scope::Phone,
                    ..
                })
            ),
            "ten a day"
        );
    }

    #[test]
    fn checks_per_requester_and_address_are_limited() {
        let config = IdentityConfig {
            limits: Limits {
                checks_per_address: limit(3, 60),
                ..Limits::default()
            },
            ..IdentityConfig::default()
        };
        let limited = service_with(config);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let one = requester(1);
        for i in 0..10 {
            let phone = format!("0101000{i:04}");
            let c = claim_with(RRN, &phone);
            if i < 3 {
                assert!(
                    limited
                        .start(
                            c,
                            Requester {
                                session: [i as u8; 16],
                                ..one
                            },
                            at(0),
                            &mut rng
                        )
                        .is_ok()
                );
            } else {
                assert!(matches!(
                    limited.start(
                        c,
                        Requester {
                            session: [i as u8; 16],
                            ..one
                        },
                        at(0),
                        &mut rng
                    ),
                    Err(IdentityError::RateLimited {
                        scope: Scope::Address,
                        ..
                    })
                ));
            }
        }
        let fresh = self::service();
        for i in 0..11 {
            let c = claim_with(&format!("670101-10000{i:02}"), &format!("0102000{i:04}"));
            let answer = fresh.start(c, requester(1), at(0), &mut rng);
            if i < 10 {
                assert!(answer.is_ok(), "{i}");
            } else {
                assert!(matches!(
                    answer,
                    Err(IdentityError::RateLimited {
                        scope: Scope::Requester,
                        ..
                    })
                ));
            }
        }
    }

    #[test]
    fn a_saturated_service_refuses_new_checks() {
        let config = IdentityConfig {
            max_pending: 2,
            ..IdentityConfig::default()
        };
        let service = service_with(config);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        service
            .start(claim(), requester(1), at(0), &mut rng)
            .unwrap();
        service
            .start(claim(), requester(2), at(0), &mut rng)
            .unwrap();
        assert_eq!(
            service.start(claim(), requester(3), at(1), &mut rng).err(),
            Some(IdentityError::Overloaded)
        );
        // Expired checks make room again.
        assert!(
            service
                .start(claim(), requester(4), at(200), &mut rng)
                .is_ok()
        );
    }

    #[test]
    fn the_subscriber_file_is_parsed_strictly() {
        let registry = MemoryRegistry::default();
        let text = "phone,name,rrn,carrier\n010-1234-5678,홍길동,680229-1234567,skt\n\n01099990000,김영희,700101-2000001,LGU+\n";
        assert_eq!(registry.load_csv(text).unwrap(), 2);
        assert_eq!(registry.len(), 2);
        for (bad, reason) in [
            ("010-1,홍길동,680229-1234567,skt", "invalid phone"),
            (
                "01012345678,홍\u{202E}길동,680229-1234567,skt",
                "invalid name",
            ),
            (
                "01012345678,홍길동,681329-1234567,skt",
                "invalid registration number",
            ),
            (
                "01012345678,홍길동,680229-1234567,sprint",
                "unknown carrier",
            ),
            ("01012345678,홍길동", "expected phone,name,rrn,carrier"),
        ] {
            let e = registry.load_csv(bad).unwrap_err();
            assert_eq!((e.line, e.reason), (1, reason), "{bad}");
        }
    }

    #[test]
    fn phone_validation_and_masking() {
        assert_eq!(parse_phone("010-1234-5678").as_deref(), Some("01012345678"));
        assert_eq!(parse_phone("0111234567").as_deref(), Some("0111234567"));
        for bad in ["02-123-4567", "010-1234-567a", "0101234567890", "", "010"] {
            assert_eq!(parse_phone(bad), None, "{bad}");
        }
        assert_eq!(mask_phone("01012345678"), "010-****-5678");
    }
}
