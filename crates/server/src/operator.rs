//! Operator authentication: a bearer token, from configuration or generated at first start into
//! `DATA_DIR/operator.token` (mode 0600), or — for the operator pages — a signed, expiring
//! cookie that the sign-in form sets after checking that token. Roles for clinic staff come with
//! the supply work.

use crate::error::ApiError;
use crate::error::StartError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct OperatorToken(String);

impl OperatorToken {
    pub fn load_or_create(
        dir: &Path,
        configured: Option<String>,
        rng: &mut impl Rng,
    ) -> Result<OperatorToken, StartError> {
        if let Some(token) = configured.filter(|t| t.len() >= 16) {
            return Ok(OperatorToken(token));
        }
        let path = dir.join("operator.token");
        let io = |source| StartError::DataDir {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(token) if token.trim().len() >= 16 => Ok(OperatorToken(token.trim().to_string())),
            Ok(_) => Err(StartError::Settings(format!(
                "{} is too short",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 24];
                rng.fill_bytes(&mut bytes);
                let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                crate::secrets::write_private_file(&path, token.as_bytes()).map_err(io)?;
                tracing::info!(path = %path.display(), "operator token created");
                Ok(OperatorToken(token))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        crate::secrets::constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// A sign-in cookie valid until `expires_ms`. It is keyed by the token itself, so changing
    /// the token signs every browser out; the token never travels in the cookie.
    pub fn sign_cookie(&self, expires_ms: i64) -> String {
        let expiry = expires_ms.to_be_bytes();
        let tag = self.cookie_tag(&expiry);
        let mut bytes = expiry.to_vec();
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether a sign-in cookie is ours and not yet expired at `now_ms`.
    pub fn verify_cookie(&self, cookie: &str, now_ms: i64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(cookie.trim()) else {
            return false;
        };
        let Some((expiry, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        crate::secrets::constant_time_eq(&self.cookie_tag(expiry), tag)
            && i64::from_be_bytes(*expiry) > now_ms
    }

    fn cookie_tag(&self, expiry: &[u8; 8]) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(b"yeyak operator cookie v1");
        mac.update(expiry);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }
}

/// The operator pages' sign-in cookie.
pub const OPERATOR_COOKIE: &str = "yeyak_operator";
/// How long a sign-in lasts: one shift.
pub const OPERATOR_COOKIE_HOURS: i64 = 8;

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
            && let Some(cookie) = crate::http::cookie(&parts.headers, OPERATOR_COOKIE)
        {
            return if state
                .operator
                .verify_cookie(&cookie, state.clock.now().as_millisecond())
            {
                Ok(Operator)
            } else {
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "operator_signed_out",
                    "운영자 로그인이 만료되었습니다. 다시 로그인해 주세요.",
                    "Your operator sign-in has expired; please sign in again.",
                ))
            };
        }
        match bearer {
            Some(token) if state.operator.matches(&token) => Ok(Operator),
            Some(_) => Err(ApiError::forbidden(
                "not_an_operator",
                "운영자 권한이 없습니다.",
                "This needs an operator's token.",
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "operator_token_required",
                "운영자 인증이 필요합니다.",
                "Operator authentication required.",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_cookies_expire_and_cannot_be_forged() {
        let token = OperatorToken("operator-token-0123456789".into());
        let cookie = token.sign_cookie(2_000);
        assert!(token.verify_cookie(&cookie, 1_999));
        assert!(!token.verify_cookie(&cookie, 2_000), "expired");
        let other = OperatorToken("another-token-0123456789".into());
        assert!(!other.verify_cookie(&cookie, 0), "keyed by the token");
        let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).unwrap_or_default();
        bytes[7] ^= 1; // a later expiry
        assert!(!token.verify_cookie(&URL_SAFE_NO_PAD.encode(&bytes), 0));
        assert!(!token.verify_cookie("", 0));
        assert!(!token.verify_cookie("operator-token-0123456789", 0));
    }
}
