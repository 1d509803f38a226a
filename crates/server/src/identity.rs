//! A stand-in for the national identity-verification service (PASS and the like), which cannot
//! exist here. It behaves like the real one at its interface: a one-time code sent by SMS,
//! valid for three minutes, five attempts, then a ten-minute lockout for that person; it
//! refuses new checks when it is saturated. The code goes out through yeyak's notification
//! outbox, like any other message. With `reveal_codes` (only in `--demo` mode, never in a
//! production configuration) the code is also returned to the caller, so a demo user or the
//! load generator can complete the check.

use domain::rrn::{Rrn, RrnHash};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, RngExt};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub struct IdentityConfig {
    pub code_ttl: SignedDuration,
    pub max_attempts: u8,
    pub lockout: SignedDuration,
    /// Checks in progress at most; more are refused as `Overloaded`, as a real provider would.
    pub max_pending: usize,
    pub reveal_codes: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            code_ttl: SignedDuration::from_mins(3),
            max_attempts: 5,
            lockout: SignedDuration::from_mins(10),
            max_pending: 500_000,
            reveal_codes: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerificationId(pub [u8; 16]);

/// A person's claimed identity, validated at the door.
#[derive(Clone)]
pub struct Claim {
    pub name: String,
    pub rrn: Rrn,
    /// Digits only, e.g. "01012345678".
    pub phone: String,
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
    /// The code to send by SMS.
    pub code: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("locked out until {until}")]
    LockedOut { until: Timestamp },
    #[error("unknown or expired verification")]
    UnknownOrExpired,
    #[error("wrong code")]
    WrongCode { attempts_left: u8 },
    #[error("too many wrong codes")]
    TooManyAttempts { until: Timestamp },
    #[error("identity service saturated")]
    Overloaded,
}

impl IdentityError {
    pub fn code(self) -> &'static str {
        match self {
            IdentityError::LockedOut { .. } => "identity_locked_out",
            IdentityError::UnknownOrExpired => "verification_expired",
            IdentityError::WrongCode { .. } => "wrong_code",
            IdentityError::TooManyAttempts { .. } => "too_many_attempts",
            IdentityError::Overloaded => "identity_service_busy",
        }
    }
}

struct Pending {
    verified: Verified,
    code: String,
    expires_at: Timestamp,
    attempts: u8,
}

#[derive(Default)]
struct State {
    pending: HashMap<VerificationId, Pending>,
    /// Verification ids in the order they expire, to forget them without scanning.
    expiry: VecDeque<(Timestamp, VerificationId)>,
    lockouts: HashMap<RrnHash, Timestamp>,
}

pub struct IdentityStandIn {
    config: IdentityConfig,
    rrn_key: Vec<u8>,
    state: Mutex<State>,
}

impl IdentityStandIn {
    pub fn new(config: IdentityConfig, rrn_key: &[u8]) -> IdentityStandIn {
        IdentityStandIn {
            config,
            rrn_key: rrn_key.to_vec(),
            state: Mutex::new(State::default()),
        }
    }

    pub fn reveals_codes(&self) -> bool {
        self.config.reveal_codes
    }

    pub fn start(
        &self,
        claim: Claim,
        now: Timestamp,
        rng: &mut impl Rng,
    ) -> Result<Challenge, IdentityError> {
        let rrn_hash = claim.rrn.keyed_hash(&self.rrn_key);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        forget_expired(&mut state, now);
        if let Some(&until) = state.lockouts.get(&rrn_hash) {
            if until > now {
                return Err(IdentityError::LockedOut { until });
            }
            state.lockouts.remove(&rrn_hash);
        }
        if state.pending.len() >= self.config.max_pending {
            return Err(IdentityError::Overloaded);
        }
        let id = VerificationId(rng.random());
        let code = format!("{:06}", rng.random_range(0..1_000_000u32));
        let expires_at = crate::clock::after(now, self.config.code_ttl);
        let verified = Verified {
            rrn_hash,
            birth_date: claim.rrn.birth_date(),
            masked_rrn: claim.rrn.masked(),
            name: claim.name,
            phone: claim.phone,
        };
        state.pending.insert(
            id,
            Pending {
                verified,
                code: code.clone(),
                expires_at,
                attempts: 0,
            },
        );
        state.expiry.push_back((expires_at, id));
        Ok(Challenge {
            id,
            code,
            expires_at,
        })
    }

    pub fn verify(
        &self,
        id: VerificationId,
        code: &str,
        now: Timestamp,
    ) -> Result<Verified, IdentityError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        forget_expired(&mut state, now);
        let pending = state
            .pending
            .get_mut(&id)
            .filter(|p| p.expires_at > now)
            .ok_or(IdentityError::UnknownOrExpired)?;
        if crate::secrets::constant_time_eq(pending.code.as_bytes(), code.trim().as_bytes()) {
            let done = state
                .pending
                .remove(&id)
                .ok_or(IdentityError::UnknownOrExpired)?;
            return Ok(done.verified);
        }
        pending.attempts += 1;
        let attempts_left = self.config.max_attempts.saturating_sub(pending.attempts);
        if attempts_left > 0 {
            return Err(IdentityError::WrongCode { attempts_left });
        }
        let hash = pending.verified.rrn_hash;
        state.pending.remove(&id);
        let until = crate::clock::after(now, self.config.lockout);
        state.lockouts.insert(hash, until);
        Err(IdentityError::TooManyAttempts { until })
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
    if state.lockouts.len() > 10_000 {
        state.lockouts.retain(|_, until| *until > now);
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

/// A person's name as written on their registration: 1–50 characters, not blank, no controls.
pub fn parse_name(input: &str) -> Option<String> {
    let name = input.trim();
    let length = name.chars().count();
    let valid = (1..=50).contains(&length) && !name.chars().any(char::is_control);
    valid.then(|| name.to_string())
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

    fn claim() -> Claim {
        Claim {
            name: "홍길동".into(),
            rrn: Rrn::parse("680229-1234567").unwrap(),
            phone: "01012345678".into(),
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_626_692_400 + seconds).unwrap()
    }

    #[test]
    fn the_right_code_verifies_once() {
        let service = IdentityStandIn::new(IdentityConfig::default(), b"key");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let challenge = service.start(claim(), at(0), &mut rng).unwrap();
        let verified = service
            .verify(challenge.id, &challenge.code, at(10))
            .unwrap();
        assert_eq!(verified.birth_date, jiff::civil::date(1968, 2, 29));
        assert_eq!(verified.masked_rrn, "680229-1******");
        assert_eq!(
            service.verify(challenge.id, &challenge.code, at(11)),
            Err(IdentityError::UnknownOrExpired)
        );
    }

    #[test]
    fn codes_expire_after_three_minutes() {
        let service = IdentityStandIn::new(IdentityConfig::default(), b"key");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let challenge = service.start(claim(), at(0), &mut rng).unwrap();
        assert_eq!(
            service.verify(challenge.id, &challenge.code, at(180)),
            Err(IdentityError::UnknownOrExpired)
        );
    }

    #[test]
    fn five_wrong_codes_lock_the_person_out_for_ten_minutes() {
        let service = IdentityStandIn::new(IdentityConfig::default(), b"key");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let challenge = service.start(claim(), at(0), &mut rng).unwrap();
        let wrong = if challenge.code == "000000" {
            "000001"
        } else {
            "000000"
        };
        for left in (1..5).rev() {
            assert_eq!(
                service.verify(challenge.id, wrong, at(1)),
                Err(IdentityError::WrongCode {
                    attempts_left: left
                })
            );
        }
        let until = at(1 + 600);
        assert_eq!(
            service.verify(challenge.id, wrong, at(1)),
            Err(IdentityError::TooManyAttempts { until })
        );
        assert_eq!(
            service.start(claim(), at(599), &mut rng).err(),
            Some(IdentityError::LockedOut { until })
        );
        assert!(service.start(claim(), at(601), &mut rng).is_ok());
    }

    #[test]
    fn a_saturated_service_refuses_new_checks() {
        let config = IdentityConfig {
            max_pending: 2,
            ..IdentityConfig::default()
        };
        let service = IdentityStandIn::new(config, b"key");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        service.start(claim(), at(0), &mut rng).unwrap();
        service.start(claim(), at(0), &mut rng).unwrap();
        assert_eq!(
            service.start(claim(), at(1), &mut rng).err(),
            Some(IdentityError::Overloaded)
        );
        // Expired checks make room again.
        assert!(service.start(claim(), at(200), &mut rng).is_ok());
    }

    #[test]
    fn phone_and_name_validation() {
        assert_eq!(parse_phone("010-1234-5678").as_deref(), Some("01012345678"));
        assert_eq!(parse_phone("0111234567").as_deref(), Some("0111234567"));
        for bad in ["02-123-4567", "010-1234-567a", "0101234567890", "", "010"] {
            assert_eq!(parse_phone(bad), None, "{bad}");
        }
        assert_eq!(parse_name("  홍길동 ").as_deref(), Some("홍길동"));
        assert_eq!(parse_name("   "), None);
        assert_eq!(parse_name(&"가".repeat(51)), None);
        assert_eq!(parse_name("a\u{0}b"), None);
        assert_eq!(mask_phone("01012345678"), "010-****-5678");
    }
}
