//! Who is acting, besides citizens: the operator ([`Operator`], with the credentials of
//! `crate::operator`), and clinic staff and agents, people who act for a clinic or for citizens,
//! each with a token an operator issued. The token travels in `X-Yeyak-Staff`; only its SHA-256 is stored, so a copy
//! of the database lets nobody sign in. Tokens are checked against storage on every request, so
//! revoking one takes effect at once.
//!
//! The staff token itself stays a random secret (not a signed token): it is shown once, kept by a
//! clinic for months, and storage is what can revoke it. A desk's browser holds instead the
//! `yeyak_staff` sign-in cookie, a signed token ([`StaffSignIn`]) naming the token's hash until
//! it expires, so the token never sits in a cookie. A cookie of the earlier form (the token
//! itself) is still read for one release.

use crate::error::ApiError;
use crate::http::cookie;
use crate::state::AppState;
use crate::text::errors;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use domain::clinic::ClinicId;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use store::{StaffRecord, StaffRole};
use token::{Claims, ClaimsReader, ClaimsWriter, Keyring, Purpose};

pub const STAFF_HEADER: &str = "x-yeyak-staff";
pub const STAFF_COOKIE: &str = "yeyak_staff";

/// A new random token (shown once) and the hash that is stored.
pub fn new_token(rng: &mut impl Rng) -> (String, [u8; 32]) {
    let mut bytes = [0u8; 24];
    rng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// How an actor appears in the audit log.
pub fn actor_label(record: &StaffRecord) -> String {
    format!("{}:{}", record.role.code(), record.id)
}

/// What the staff sign-in cookie says: signed in with the staff token of this hash, until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaffSignIn {
    pub token_hash: [u8; 32],
    pub expires_at_ms: u64,
}

impl Claims for StaffSignIn {
    const PURPOSES: &'static [Purpose] = &[Purpose::StaffSignIn];

    fn purpose(&self) -> Purpose {
        Purpose::StaffSignIn
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.put(&self.token_hash);
        out.u64(self.expires_at_ms);
    }

    fn read(_: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        Some(StaffSignIn {
            token_hash: body.take()?,
            expires_at_ms: body.u64()?,
        })
    }

    fn expires_at_ms(&self) -> Option<u64> {
        Some(self.expires_at_ms)
    }
}

/// The staff credential a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// None at all.
    Nothing,
    /// A token (or a valid sign-in cookie for one) of this hash, still to be looked up.
    Token([u8; 32]),
    /// A sign-in cookie that is forged, expired or of another kind.
    BadCookie,
}

/// The staff credential a request carries: the token in the header (apps, curl), else the
/// sign-in cookie (pages), checked at `now_ms`.
pub fn presented(headers: &HeaderMap, keys: &Keyring, now_ms: u64) -> Presented {
    if let Some(token) = headers.get(STAFF_HEADER).and_then(|v| v.to_str().ok()) {
        return Presented::Token(token_hash(token));
    }
    let Some(cookie) = cookie(headers, STAFF_COOKIE) else {
        return Presented::Nothing;
    };
    if is_earlier_cookie(&cookie) {
        return Presented::Token(token_hash(&cookie));
    }
    match keys.verify::<StaffSignIn>(&cookie, now_ms) {
        Ok(signed) => Presented::Token(signed.token_hash),
        Err(_) => Presented::BadCookie,
    }
}

/// Before this release the cookie held the token itself (48 hex digits; a signed cookie is 80
/// base64url characters). Read for one release.
fn is_earlier_cookie(cookie: &str) -> bool {
    cookie.len() == 48 && cookie.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sign-in cookie's value for the staff token of `hash`, valid until `expires_at_ms`.
pub fn sign_in_cookie(keys: &Keyring, hash: [u8; 32], expires_at_ms: u64) -> String {
    keys.sign(&StaffSignIn {
        token_hash: hash,
        expires_at_ms,
    })
}

async fn staff_member(parts: &Parts, state: &Arc<AppState>) -> Result<StaffRecord, ApiError> {
    let invalid = || ApiError::new(StatusCode::UNAUTHORIZED, errors::STAFF_TOKEN_INVALID);
    let now_ms = u64::try_from(state.clock.now().as_millisecond()).unwrap_or(0);
    let hash = match presented(&parts.headers, state.secrets.signing(), now_ms) {
        Presented::Token(hash) => hash,
        Presented::BadCookie => return Err(invalid()),
        Presented::Nothing => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                errors::STAFF_TOKEN_REQUIRED,
            ));
        }
    };
    let found =
        crate::state::read_by_key(state, move |r| store::ReadStore::staff_by_token(r, &hash))
            .await?;
    match found {
        Some(record) if !record.revoked => Ok(record),
        _ => Err(invalid()),
    }
}

fn wrong_role() -> ApiError {
    ApiError::forbidden(errors::WRONG_ROLE)
}

/// Proof that the request comes from staff of one clinic.
pub struct ClinicStaff {
    pub record: StaffRecord,
    pub clinic: ClinicId,
}

impl FromRequestParts<Arc<AppState>> for ClinicStaff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let record = staff_member(parts, state).await?;
        match (record.role, record.clinic) {
            (StaffRole::Clinic, Some(clinic)) => Ok(ClinicStaff { record, clinic }),
            _ => Err(wrong_role()),
        }
    }
}

/// Proof that the request comes from an agent (call centre, community centre).
pub struct Agent(pub StaffRecord);

impl FromRequestParts<Arc<AppState>> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let record = staff_member(parts, state).await?;
        match record.role {
            StaffRole::Agent => Ok(Agent(record)),
            StaffRole::Clinic => Err(wrong_role()),
        }
    }
}

/// Proof that the request comes from an operator.
pub struct Operator;

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let bearer = crate::http::bearer(&parts.headers);
        // A browser signed in on the operator pages; cross-site use is stopped by
        // `security::protect` before any handler runs.
        if bearer.is_none()
            && let Some(cookie) =
                crate::http::cookie(&parts.headers, crate::operator::OPERATOR_COOKIE)
        {
            return if state.operator.verify_cookie(
                state.secrets.signing(),
                &cookie,
                state.clock.now().as_millisecond(),
            ) {
                Ok(Operator)
            } else {
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    errors::OPERATOR_SIGNED_OUT,
                ))
            };
        }
        match bearer {
            Some(token) if state.operator.matches(&token) => Ok(Operator),
            Some(_) => Err(ApiError::forbidden(errors::NOT_AN_OPERATOR)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                errors::OPERATOR_TOKEN_REQUIRED,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_random_and_only_their_hash_matches() {
        let mut rng = rand::rng();
        let (a, hash_a) = super::new_token(&mut rng);
        let (b, _) = super::new_token(&mut rng);
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
        assert_eq!(super::token_hash(&a), hash_a);
        assert_ne!(super::token_hash(&b), hash_a);
    }
}
