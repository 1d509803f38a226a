//! The operator pages' sign-in cookie (`yeyak_operator`) as any browser may send it.
//!
//! Checks beyond "no panic": a cookie is accepted only if it is exactly what the operator token
//! signs for the expiry it carries, and only before that expiry; a cookie signed under another
//! token is refused.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use server::operator::OperatorToken;

fuzz_target!(|data: &[u8]| {
    let _ = check(&mut Unstructured::new(data));
});

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let ours = configured("fuzz-operator-token-0123456789");
    let theirs = configured("fuzz-operator-token-9876543210");
    let now_ms: i64 = u.arbitrary()?;
    let sent: &str = u.arbitrary()?;
    if ours.verify_cookie(sent, now_ms) {
        let expiry = expiry_of(sent.trim());
        assert_eq!(
            ours.sign_cookie(expiry),
            sent.trim(),
            "a cookie we did not sign was accepted"
        );
        assert!(expiry > now_ms);
    }

    let expires_ms: i64 = u.arbitrary()?;
    let cookie = ours.sign_cookie(expires_ms);
    assert_eq!(ours.verify_cookie(&cookie, now_ms), expires_ms > now_ms);
    assert!(!theirs.verify_cookie(&cookie, now_ms));
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

fn expiry_of(cookie: &str) -> i64 {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cookie)
        .expect("an accepted cookie is base64url");
    i64::from_be_bytes(
        bytes[..8]
            .try_into()
            .expect("an accepted cookie starts with its expiry"),
    )
}
