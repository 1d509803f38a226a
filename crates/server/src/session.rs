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
use domain::booking::PersonId;
use jiff::Timestamp;
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
/// Milliseconds since 1970, as tokens keep them; earlier instants count as 1970, so a token that
/// expires at or before then is expired whatever the clock says (fails closed).
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

pub(crate) mod legacy;

#[cfg(test)]
mod tests;
