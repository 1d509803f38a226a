//! Identity sessions (`Authorization: Bearer`, the `yeyak_identity` cookie) as any client may
//! send them.
//!
//! Checks beyond "no panic": a token verifies only if it is exactly what our keys sign for the
//! person and expiry it carries (or, for the earlier layout still read for one release, exactly
//! that layout of them); a session signed by us verifies back to itself until it expires and is
//! refused from then on; the same session signed with other keys of the same id is refused.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::booking::PersonId;
use jiff::Timestamp;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use server::secrets::Secrets;
use server::session::{IdentitySession, SessionError};
use std::sync::LazyLock;

static OURS: LazyLock<Secrets> = LazyLock::new(|| keys(0x33));
static THEIRS: LazyLock<Secrets> = LazyLock::new(|| keys(0x34));

fn keys(seed: u64) -> Secrets {
    Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(seed))
}

fuzz_target!(|data: &[u8]| {
    let _ = check(&mut Unstructured::new(data));
});

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let now = timestamp(u.arbitrary()?);
    let sent: &str = u.arbitrary()?;
    if let Ok(session) = IdentitySession::verify(sent, &OURS, now) {
        assert!(session.expires_at > now);
        if session.sign(&OURS) != sent.trim() {
            assert_eq!(
                earlier_layout(sent.trim()),
                Some(session),
                "a token we did not sign was accepted"
            );
        }
    }

    let session = IdentitySession {
        person: PersonId(u.arbitrary()?),
        expires_at: timestamp(u.arbitrary()?),
    };
    let token = session.sign(&OURS);
    // Tokens keep milliseconds since 1970 and count earlier instants as 1970, failing closed: a
    // session that expires at or before then is expired whatever the clock says.
    let since_1970 = |t: Timestamp| t.as_millisecond().max(0);
    let expected = if since_1970(session.expires_at) > since_1970(now) {
        Ok(session)
    } else {
        Err(SessionError::Expired)
    };
    assert_eq!(IdentitySession::verify(&token, &OURS, now), expected);
    assert_eq!(
        IdentitySession::verify(&session.sign(&THEIRS), &OURS, now),
        Err(SessionError::BadSignature)
    );
    Ok(())
}

/// The fields of a token in the earlier layout (`[1, b's', person, expiry ms, 16-byte tag]`).
fn earlier_layout(token: &str) -> Option<IdentitySession> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 2 + 8 + 8 + 16 || bytes[..2] != [1, b's'] {
        return None;
    }
    let word = |at: usize| Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    Some(IdentitySession {
        person: PersonId(word(2)?),
        expires_at: Timestamp::from_millisecond(i64::try_from(word(10)?).ok()?).ok()?,
    })
}

/// Any instant jiff can hold, at millisecond precision (what the token keeps).
fn timestamp(ms: i64) -> Timestamp {
    let min = Timestamp::MIN.as_second() * 1000;
    let max = Timestamp::MAX.as_second() * 1000;
    Timestamp::from_millisecond(ms.clamp(min, max)).expect("within jiff's range")
}
