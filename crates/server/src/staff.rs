//! Clinic staff and agents: people who act for a clinic or for citizens, each with a token an
//! operator issued. The token travels in `X-Yeyak-Staff` (or the `yeyak_staff` cookie, for
//! pages); only its SHA-256 is stored, so a copy of the database lets nobody sign in. Tokens are
//! checked against storage on every request, so revoking one takes effect at once.

use crate::error::ApiError;
use crate::http::cookie;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use domain::clinic::ClinicId;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use store::{StaffRecord, StaffRole};

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

/// The staff token a request carries: the header (apps, curl) or the cookie (pages).
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(STAFF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| cookie(headers, STAFF_COOKIE))
}

async fn staff_member(parts: &Parts, state: &Arc<AppState>) -> Result<StaffRecord, ApiError> {
    let presented = presented_token(&parts.headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "staff_token_required",
            "직원 인증이 필요합니다.",
            "Staff authentication required.",
        )
    })?;
    let hash = token_hash(&presented);
    let found =
        crate::state::read(state, move |r| store::ReadStore::staff_by_token(r, &hash)).await?;
    match found {
        Some(record) if !record.revoked => Ok(record),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "staff_token_invalid",
            "직원 인증 정보가 올바르지 않거나 사용이 중지되었습니다.",
            "This staff token is unknown or was revoked.",
        )),
    }
}

fn wrong_role() -> ApiError {
    ApiError::forbidden(
        "wrong_role",
        "이 기능을 사용할 권한이 없습니다.",
        "Your role does not allow this.",
    )
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
