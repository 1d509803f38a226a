//! Identity sessions and family consents: signed tokens the server issues after an identity
//! check (a person's own, or a family member's code). Stateless: the token carries the person and
//! its expiry, and a MAC proves the server issued it, so checking one costs no database access.
//!
//! Not the waiting-room session (`queue::WaitingSessionId`), which only names a browser or app in
//! the queue. Both are signed in the one token format (`token`), with the server's signing keys
//! (`secrets::Secrets::signing`), each with its own purpose, so neither stands in for the other
//! or for any other token.
//!
//! Identity sessions and consents of the earlier format (version 1, kind `b's'`/`b'c'`, no key
//! id; signed with `secrets.key`'s token key) are still accepted for one release, so a deploy in
//! the middle of an opening does not sign anyone out; they are no longer issued.

use crate::secrets::Secrets;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::booking::PersonId;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;
use token::{Claims, ClaimsReader, ClaimsWriter, Purpose, TokenError};

/// A person who passed the identity check, until `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentitySession {
    pub person: PersonId,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("malformed session token")]
    Malformed,
    #[error("session token signature does not match")]
    BadSignature,
    #[error("session token signed with a key no longer accepted")]
    UnknownKey,
    #[error("a token made for something else")]
    WrongPurpose,
    #[error("session expired")]
    Expired,
}

impl From<TokenError> for SessionError {
    fn from(error: TokenError) -> SessionError {
        match error {
            TokenError::Malformed => SessionError::Malformed,
            TokenError::BadSignature => SessionError::BadSignature,
            TokenError::UnknownKey => SessionError::UnknownKey,
            TokenError::WrongPurpose => SessionError::WrongPurpose,
            TokenError::Expired => SessionError::Expired,
        }
    }
}

/// Milliseconds since the Unix epoch, as the format's expiry check takes them (before 1970:
/// long expired).
fn ms(at: Timestamp) -> u64 {
    u64::try_from(at.as_millisecond()).unwrap_or(0)
}

fn timestamp(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

impl Claims for IdentitySession {
    const PURPOSES: &'static [Purpose] = &[Purpose::IdentitySession];

    fn purpose(&self) -> Purpose {
        Purpose::IdentitySession
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.u64(self.person.0);
        out.i64(self.expires_at.as_millisecond());
    }

    fn read(_: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        Some(IdentitySession {
            person: PersonId(body.u64()?),
            expires_at: timestamp(body.i64()?)?,
        })
    }

    fn expires_at_ms(&self) -> Option<u64> {
        Some(ms(self.expires_at))
    }
}

impl IdentitySession {
    pub fn sign(&self, keys: &Secrets) -> String {
        keys.signing().sign(self)
    }

    pub fn verify(
        token: &str,
        keys: &Secrets,
        now: Timestamp,
    ) -> Result<IdentitySession, SessionError> {
        verify_either(token, keys, now, legacy::KIND_SESSION, |words| {
            Ok(IdentitySession {
                person: PersonId(words[0]),
                expires_at: legacy::unexpired(words[1], now)?,
            })
        })
    }
}

/// A family member's consent, proven by their own one-time code typed in by the booker: lets
/// `booker` book for `member` until it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    pub booker: PersonId,
    pub member: PersonId,
    pub expires_at: Timestamp,
}

impl Claims for Consent {
    const PURPOSES: &'static [Purpose] = &[Purpose::FamilyConsent];

    fn purpose(&self) -> Purpose {
        Purpose::FamilyConsent
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.u64(self.booker.0);
        out.u64(self.member.0);
        out.i64(self.expires_at.as_millisecond());
    }

    fn read(_: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        Some(Consent {
            booker: PersonId(body.u64()?),
            member: PersonId(body.u64()?),
            expires_at: timestamp(body.i64()?)?,
        })
    }

    fn expires_at_ms(&self) -> Option<u64> {
        Some(ms(self.expires_at))
    }
}

impl Consent {
    pub fn sign(&self, keys: &Secrets) -> String {
        keys.signing().sign(self)
    }

    pub fn verify(token: &str, keys: &Secrets, now: Timestamp) -> Result<Consent, SessionError> {
        verify_either(token, keys, now, legacy::KIND_CONSENT, |words| {
            Ok(Consent {
                booker: PersonId(words[0]),
                member: PersonId(words[1]),
                expires_at: legacy::unexpired(words[2], now)?,
            })
        })
    }
}

/// Checks a token of the current format, or of the earlier one (its words read by `earlier`)
/// while that is still accepted.
fn verify_either<C: Claims>(
    token: &str,
    keys: &Secrets,
    now: Timestamp,
    earlier_kind: u8,
    earlier: impl FnOnce(&[u64]) -> Result<C, SessionError>,
) -> Result<C, SessionError> {
    let token = token.trim();
    match legacy::open(token, keys, earlier_kind)? {
        Some(words) => earlier(&words),
        None => Ok(keys.signing().verify(token, ms(now))?),
    }
}

/// The earlier format, read (never written) for one release: `[1, kind, u64 words…, 16-byte
/// HMAC-SHA256 tag]` under `secrets.key`'s token key. Remove with the release after this one.
pub(crate) mod legacy {
    use super::*;

    pub const KIND_SESSION: u8 = b's';
    pub const KIND_CONSENT: u8 = b'c';
    const VERSION: u8 = 1;
    const TAG_LEN: usize = 16;

    /// `None` when the token is not of the earlier format (so the current one applies); its
    /// words when it is, authentic, and of `kind`.
    pub fn open(token: &str, keys: &Secrets, kind: u8) -> Result<Option<Vec<u64>>, SessionError> {
        // The first four characters hold the first three bytes: enough to tell the formats
        // apart without decoding a current token twice.
        let head = token.get(..4).and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
        let Some([VERSION, found, ..]) = head.as_deref() else {
            return Ok(None);
        };
        let found = *found;
        if found != KIND_SESSION && found != KIND_CONSENT {
            return Ok(None);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| SessionError::Malformed)?;
        let key = keys.legacy_session_key().ok_or(SessionError::UnknownKey)?;
        let body_len = bytes
            .len()
            .checked_sub(TAG_LEN)
            .filter(|n| n.checked_sub(2).is_some_and(|w| w % 8 == 0))
            .ok_or(SessionError::Malformed)?;
        let (body, tag) = bytes.split_at(body_len);
        <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
            .chain_update(body)
            .verify_truncated_left(tag)
            .map_err(|_| SessionError::BadSignature)?;
        if found != kind {
            return Err(SessionError::WrongPurpose);
        }
        let words: Vec<u64> = body[2..]
            .chunks_exact(8)
            .filter_map(|c| c.try_into().ok().map(u64::from_be_bytes))
            .collect();
        let expected = if kind == KIND_SESSION { 2 } else { 3 };
        if words.len() != expected {
            return Err(SessionError::Malformed);
        }
        Ok(Some(words))
    }

    /// The expiry word as a time, refused once it has passed.
    pub fn unexpired(word: u64, now: Timestamp) -> Result<Timestamp, SessionError> {
        let expires_at = i64::try_from(word)
            .ok()
            .and_then(timestamp)
            .ok_or(SessionError::Malformed)?;
        if expires_at <= now {
            return Err(SessionError::Expired);
        }
        Ok(expires_at)
    }

    /// An identity session or consent as the earlier format signed it, for tests.
    #[cfg(test)]
    pub fn sign(key: &[u8; 32], kind: u8, words: &[u64]) -> String {
        let mut bytes = vec![VERSION, kind];
        for word in words {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        let tag = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!())
            .chain_update(&bytes)
            .finalize()
            .into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
mod tests;
