//! Session tokens (`Authorization: Bearer`, the `yeyak_session` cookie) as any client may send
//! them.
//!
//! Checks beyond "no panic": a token verifies only if it is exactly what our key signs for the
//! person and expiry it carries; a session signed by us verifies back to itself until it expires
//! and is refused from then on; the same session signed with another key is refused.
#![no_main]

use domain::booking::PersonId;
use jiff::Timestamp;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use server::session::{Session, SessionError};

const KEY: [u8; 32] = [0x33; 32];
const OTHER_KEY: [u8; 32] = [0x34; 32];

fuzz_target!(|data: &[u8]| {
    let _ = check(&mut Unstructured::new(data));
});

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let now = timestamp(u.arbitrary()?);
    let sent: &str = u.arbitrary()?;
    if let Ok(session) = Session::verify(sent, &KEY, now) {
        assert_eq!(
            session.sign(&KEY),
            sent.trim(),
            "a token we did not sign was accepted"
        );
        assert!(session.expires_at > now);
    }

    let session = Session {
        person: PersonId(u.arbitrary()?),
        expires_at: timestamp(u.arbitrary()?),
    };
    let token = session.sign(&KEY);
    let expected = if session.expires_at > now {
        Ok(session)
    } else {
        Err(SessionError::Expired)
    };
    assert_eq!(Session::verify(&token, &KEY, now), expected);
    assert_eq!(
        Session::verify(&session.sign(&OTHER_KEY), &KEY, now),
        Err(SessionError::BadSignature)
    );
    Ok(())
}

/// Any instant jiff can hold, at millisecond precision (what the token keeps).
fn timestamp(ms: i64) -> Timestamp {
    let min = Timestamp::MIN.as_second() * 1000;
    let max = Timestamp::MAX.as_second() * 1000;
    Timestamp::from_millisecond(ms.clamp(min, max)).expect("within jiff's range")
}
