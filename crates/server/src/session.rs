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
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| SessionError::Malformed)?;
        if bytes.len() != BODY_LEN + TAG_LEN || bytes[..2] != [VERSION, KIND_SESSION] {
            return Err(SessionError::Malformed);
        }
        let (body, tag) = bytes.split_at(BODY_LEN);
        mac(key, body)
            .verify_truncated_left(tag)
            .map_err(|_| SessionError::BadSignature)?;
        let number = |range: std::ops::Range<usize>| {
            body.get(range)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .ok_or(SessionError::Malformed)
        };
        let person = PersonId(u64::from_be_bytes(number(2..10)?));
        let expires_ms = i64::from_be_bytes(number(10..18)?);
        let expires_at =
            Timestamp::from_millisecond(expires_ms).map_err(|_| SessionError::Malformed)?;
        if expires_at <= now {
            return Err(SessionError::Expired);
        }
        Ok(Session { person, expires_at })
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
