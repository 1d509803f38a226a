//! The operator pages' sign-in cookie (`yeyak_operator`) as any browser may send it.
//!
//! Checks beyond "no panic": a cookie is accepted only if it is exactly what our keys sign for
//! this operator token and the expiry it carries, and only before that expiry; a cookie signed
//! for another operator token, or with other keys of the same id, is refused.
#![no_main]

use base64::Engine;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use queue::{KeyId, KeyMaterial, Keyring};
use server::operator::OperatorToken;

fuzz_target!(|data: &[u8]| {
    let _ = check(&mut Unstructured::new(data));
});

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let keys = Keyring::new(KeyId(0), &KeyMaterial([0x44; 32]));
    let other_keys = Keyring::new(KeyId(0), &KeyMaterial([0x45; 32]));
    let ours = configured("fuzz-operator-token-0123456789");
    let theirs = configured("fuzz-operator-token-9876543210");
    let now_ms: i64 = u.arbitrary()?;
    let sent: &str = u.arbitrary()?;
    if ours.verify_cookie(&keys, sent, now_ms) {
        let expiry = expiry_of(sent.trim());
        assert_eq!(
            ours.sign_cookie(&keys, expiry),
            sent.trim(),
            "a cookie we did not sign was accepted"
        );
        assert!(expiry > now_ms);
    }

    let expires_ms: i64 = u.arbitrary()?;
    let cookie = ours.sign_cookie(&keys, expires_ms);
    // Expiries before 1970 are kept as 1970 (the format's times are unsigned).
    assert_eq!(
        ours.verify_cookie(&keys, &cookie, now_ms),
        expires_ms.max(0) > now_ms.max(0)
    );
    assert!(!theirs.verify_cookie(&keys, &cookie, now_ms));
    assert!(!ours.verify_cookie(&other_keys, &cookie, now_ms));
    Ok(())
}

/// A token given in the configuration (it is not read from or written to the data directory).
fn configured(token: &str) -> OperatorToken {
    let nowhere = std::path::Path::new("/nonexistent");
    OperatorToken::load_or_create(nowhere, Some(token.to_string()), &mut rand::rng())
        .unwrap_or_else(|_| {
            unreachable!("a configured token of 16 characters or more is used as is")
        })
}

/// The expiry an accepted cookie carries: after the 4-byte header and the 8-byte fingerprint.
fn expiry_of(cookie: &str) -> i64 {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cookie)
        .expect("an accepted cookie is base64url");
    let expiry = u64::from_be_bytes(
        bytes[12..20]
            .try_into()
            .expect("an accepted cookie holds its expiry"),
    );
    i64::try_from(expiry).expect("signed from an i64")
}
