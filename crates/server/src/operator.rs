//! The operator's credentials: a bearer token, from configuration or generated at first start into
//! `DATA_DIR/operator.token` (mode 0600), or — for the operator pages — a signed, expiring
//! cookie that the sign-in form sets after checking that token. The extractor that checks them
//! on a request is `staff::Operator`, beside the clinic staff's and agents'.

use crate::startup::StartError;
use rand::Rng;
use sha2::Digest;
use std::path::Path;
use token::{Claims, ClaimsReader, ClaimsWriter, Keyring, Purpose};

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
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// Names this token without revealing it: the first bytes of its SHA-256. A sign-in cookie
    /// carries it, so changing the token signs every browser out.
    fn fingerprint(&self) -> [u8; 8] {
        let digest = sha2::Sha256::new()
            .chain_update(b"yeyak operator token\n")
            .chain_update(self.0.as_bytes())
            .finalize();
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&digest[..8]);
        fingerprint
    }

    /// A sign-in cookie valid until `expires_ms`, signed with the server's signing keys. The
    /// token never travels in the cookie, only its fingerprint.
    pub fn sign_cookie(&self, keys: &Keyring, expires_ms: i64) -> String {
        keys.sign(&OperatorSignIn {
            token: self.fingerprint(),
            expires_at_ms: u64::try_from(expires_ms).unwrap_or(0),
        })
    }

    /// Whether a sign-in cookie is ours, for this token, and not yet expired at `now_ms`.
    /// Cookies of the earlier format (no version, keyed by the token) are refused: the operator
    /// signs in again (`operator_signed_out`).
    pub fn verify_cookie(&self, keys: &Keyring, cookie: &str, now_ms: i64) -> bool {
        let now_ms = u64::try_from(now_ms).unwrap_or(0);
        keys.verify::<OperatorSignIn>(cookie.trim(), now_ms)
            .is_ok_and(|signed| signed.token == self.fingerprint())
    }
}

/// What the operator cookie says: signed in with the token of this fingerprint, until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorSignIn {
    pub token: [u8; 8],
    pub expires_at_ms: u64,
}

impl Claims for OperatorSignIn {
    const PURPOSES: &'static [Purpose] = &[Purpose::OperatorSignIn];

    fn purpose(&self) -> Purpose {
        Purpose::OperatorSignIn
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.put(&self.token);
        out.u64(self.expires_at_ms);
    }

    fn read(_: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        Some(OperatorSignIn {
            token: body.take()?,
            expires_at_ms: body.u64()?,
        })
    }

    fn expires_at_ms(&self) -> Option<u64> {
        Some(self.expires_at_ms)
    }
}

/// The operator pages' sign-in cookie.
pub const OPERATOR_COOKIE: &str = "yeyak_operator";
/// How long a sign-in lasts: one shift.
pub const OPERATOR_COOKIE_HOURS: i64 = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use token::{KeyId, KeyMaterial};

    fn keys() -> Keyring {
        Keyring::new(KeyId(0), &KeyMaterial([3; 32]))
    }

    #[test]
    fn sign_in_cookies_expire_and_cannot_be_forged() {
        let keys = keys();
        let token = OperatorToken("operator-token-0123456789".into());
        let cookie = token.sign_cookie(&keys, 2_000);
        assert!(token.verify_cookie(&keys, &cookie, 1_999));
        assert!(!token.verify_cookie(&keys, &cookie, 2_000), "expired");
        let other = OperatorToken("another-token-0123456789".into());
        assert!(
            !other.verify_cookie(&keys, &cookie, 0),
            "signs out when the token changes"
        );
        let other_keys = Keyring::new(KeyId(0), &KeyMaterial([4; 32]));
        assert!(!token.verify_cookie(&other_keys, &cookie, 0));
        let mut bytes = URL_SAFE_NO_PAD.decode(&cookie).unwrap_or_default();
        bytes[19] ^= 1; // a later expiry
        assert!(!token.verify_cookie(&keys, &URL_SAFE_NO_PAD.encode(&bytes), 0));
        assert!(!token.verify_cookie(&keys, "", 0));
        assert!(!token.verify_cookie(&keys, "operator-token-0123456789", 0));
        assert!(!cookie.contains("operator-token"));
    }

    #[test]
    fn earlier_cookies_are_refused() {
        // The earlier cookie: the expiry, then HMAC(token, "yeyak operator cookie v1" ‖ expiry).
        let token = OperatorToken("operator-token-0123456789".into());
        let expiry = 2_000i64.to_be_bytes();
        use hmac::{KeyInit, Mac};
        let tag = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(token.0.as_bytes())
            .map(|mac| {
                mac.chain_update(b"yeyak operator cookie v1")
                    .chain_update(expiry)
                    .finalize()
                    .into_bytes()
            })
            .unwrap_or_default();
        let earlier = URL_SAFE_NO_PAD.encode([&expiry[..], &tag[..16]].concat());
        assert!(!token.verify_cookie(&keys(), &earlier, 0));
    }
}
