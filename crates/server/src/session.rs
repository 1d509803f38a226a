//! Signed session tokens, issued after an identity check. Stateless: the token carries the
//! person and its expiry, and a MAC proves the server issued it, so checking one costs no
//! database access.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::booking::PersonId;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;

const VERSION: u8 = 1;
const KIND_SESSION: u8 = b's';
const KIND_CONSENT: u8 = b'c';
const TAG_LEN: usize = 16;
const BODY_LEN: usize = 2 + 8 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub person: PersonId,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("malformed session token")]
    Malformed,
    #[error("session token signature does not match")]
    BadSignature,
    #[error("session expired")]
    Expired,
}

fn mac(key: &[u8; 32], body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac
}

impl Session {
    pub fn sign(&self, key: &[u8; 32]) -> String {
        let mut bytes = Vec::with_capacity(BODY_LEN + TAG_LEN);
        bytes.extend_from_slice(&[VERSION, KIND_SESSION]);
        bytes.extend_from_slice(&self.person.0.to_be_bytes());
        bytes.extend_from_slice(&self.expires_at.as_millisecond().to_be_bytes());
        let tag = mac(key, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn verify(token: &str, key: &[u8; 32], now: Timestamp) -> Result<Session, SessionError> {
        let words = open(token, key, KIND_SESSION, BODY_LEN)?;
        let expires_at = unexpired(words[1], now)?;
        Ok(Session {
            person: PersonId(words[0]),
            expires_at,
        })
    }
}

/// Checks a token's kind, length and MAC and returns the 8-byte big-endian words after its
/// two-byte header.
fn open(token: &str, key: &[u8; 32], kind: u8, body_len: usize) -> Result<Vec<u64>, SessionError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| SessionError::Malformed)?;
    if bytes.len() != body_len + TAG_LEN || bytes[..2] != [VERSION, kind] {
        return Err(SessionError::Malformed);
    }
    let (body, tag) = bytes.split_at(body_len);
    mac(key, body)
        .verify_truncated_left(tag)
        .map_err(|_| SessionError::BadSignature)?;
    body[2..]
        .chunks(8)
        .map(|c| {
            <[u8; 8]>::try_from(c)
                .map(u64::from_be_bytes)
                .map_err(|_| SessionError::Malformed)
        })
        .collect()
}

/// The expiry word as a time, refused once it has passed.
fn unexpired(word: u64, now: Timestamp) -> Result<Timestamp, SessionError> {
    let expires_at =
        Timestamp::from_millisecond(word as i64).map_err(|_| SessionError::Malformed)?;
    if expires_at <= now {
        return Err(SessionError::Expired);
    }
    Ok(expires_at)
}

/// A family member's consent, proven by their own one-time code typed in by the booker: lets
/// `booker` book for `member` until it expires. Signed like a session, with its own kind byte,
/// so neither can stand in for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    pub booker: PersonId,
    pub member: PersonId,
    pub expires_at: Timestamp,
}

const CONSENT_LEN: usize = 2 + 8 + 8 + 8;

impl Consent {
    pub fn sign(&self, key: &[u8; 32]) -> String {
        let mut bytes = Vec::with_capacity(CONSENT_LEN + TAG_LEN);
        bytes.extend_from_slice(&[VERSION, KIND_CONSENT]);
        bytes.extend_from_slice(&self.booker.0.to_be_bytes());
        bytes.extend_from_slice(&self.member.0.to_be_bytes());
        bytes.extend_from_slice(&self.expires_at.as_millisecond().to_be_bytes());
        let tag = mac(key, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn verify(token: &str, key: &[u8; 32], now: Timestamp) -> Result<Consent, SessionError> {
        let words = open(token, key, KIND_CONSENT, CONSENT_LEN)?;
        Ok(Consent {
            booker: PersonId(words[0]),
            member: PersonId(words[1]),
            expires_at: unexpired(words[2], now)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn now() -> Timestamp {
        Timestamp::from_second(1_626_692_400).unwrap()
    }

    #[test]
    fn round_trip_and_expiry() {
        let session = Session {
            person: PersonId(42),
            expires_at: crate::clock::after(now(), jiff::SignedDuration::from_mins(30)),
        };
        let token = session.sign(&KEY);
        assert_eq!(Session::verify(&token, &KEY, now()), Ok(session));
        assert_eq!(
            Session::verify(&token, &KEY, session.expires_at),
            Err(SessionError::Expired)
        );
        assert_eq!(
            Session::verify(&token, &[8; 32], now()),
            Err(SessionError::BadSignature)
        );
    }

    #[test]
    fn consents_round_trip_and_are_not_sessions() {
        let consent = Consent {
            booker: PersonId(1),
            member: PersonId(2),
            expires_at: crate::clock::after(now(), jiff::SignedDuration::from_mins(30)),
        };
        let token = consent.sign(&KEY);
        assert_eq!(Consent::verify(&token, &KEY, now()), Ok(consent));
        assert!(Session::verify(&token, &KEY, now()).is_err());
        let session = Session {
            person: PersonId(1),
            expires_at: consent.expires_at,
        };
        assert!(Consent::verify(&session.sign(&KEY), &KEY, now()).is_err());
        assert_eq!(
            Consent::verify(&token, &KEY, consent.expires_at),
            Err(SessionError::Expired)
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&token).unwrap();
        forged[10] ^= 1;
        assert!(Consent::verify(&URL_SAFE_NO_PAD.encode(&forged), &KEY, now()).is_err());
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let session = Session {
            person: PersonId(42),
            expires_at: crate::clock::after(now(), jiff::SignedDuration::from_mins(30)),
        };
        let bytes = URL_SAFE_NO_PAD.decode(session.sign(&KEY)).unwrap();
        for i in 0..bytes.len() {
            let mut forged = bytes.clone();
            forged[i] ^= 0x01;
            let token = URL_SAFE_NO_PAD.encode(&forged);
            assert!(Session::verify(&token, &KEY, now()).is_err(), "byte {i}");
        }
        assert_eq!(
            Session::verify("", &KEY, now()),
            Err(SessionError::Malformed)
        );
        assert_eq!(
            Session::verify("!!", &KEY, now()),
            Err(SessionError::Malformed)
        );
    }
}
