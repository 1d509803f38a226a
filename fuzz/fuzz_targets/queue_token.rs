//! The waiting room's tickets (`x-yeyak-ticket`) and passes (`x-yeyak-pass`), as any client may
//! send them.
//!
//! Checks beyond "no panic": a token verifies only if it is, byte for byte, what our key signs
//! for the fields it carries (so nothing else can pass, whatever the fuzzer makes); every signed
//! ticket and pass verifies back to its fields; the same fields signed with another key of the
//! same id, a ticket offered as a pass, and any changed character are refused.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use queue::{
    Class, KeyId, KeyMaterial, Keyring, Pass, QueueId, Rank, Ticket, TokenError, Verified,
    WaitingSessionId,
};

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fuzz_target!(|data: &[u8]| {
    let ours = Keyring::new(KeyId(3), &KeyMaterial([0x5A; 32]));
    let forger = Keyring::new(KeyId(3), &KeyMaterial([0xA5; 32]));
    let _ = check(&mut Unstructured::new(data), &ours, &forger);
});

fn check(u: &mut Unstructured<'_>, ours: &Keyring, forger: &Keyring) -> Result<()> {
    let ticket = Ticket {
        queue: QueueId(u.arbitrary()?),
        class: if u.arbitrary()? {
            Class::Pre
        } else {
            Class::Fifo
        },
        seq: u.arbitrary()?,
        session: WaitingSessionId(u.arbitrary()?),
        issued_at_ms: u.arbitrary()?,
        // (u64::MAX is the wire's "none": no person or draw number is ever that.)
        verified: if u.arbitrary()? {
            Some(Verified {
                person: u.int_in_range(0..=u64::MAX - 1)?,
                draw: if u.arbitrary()? {
                    Some(u.int_in_range(0..=u64::MAX - 1)?)
                } else {
                    None
                },
            })
        } else {
            None
        },
    };
    let pass = Pass {
        queue: ticket.queue,
        session: ticket.session,
        rank: Rank(u.arbitrary()?),
        expires_at_ms: u.arbitrary::<u64>()?.max(1),
        person: if u.arbitrary()? {
            Some(u.int_in_range(0..=u64::MAX - 1)?)
        } else {
            None
        },
    };
    let now_ms = u.int_in_range(0..=pass.expires_at_ms - 1)?;

    // Whatever text a client sends: accepted only if it is our own signature of its fields.
    let sent: &str = u.arbitrary()?;
    if let Ok(t) = Ticket::verify(ours, sent, ticket.queue) {
        assert_eq!(ours.sign(&t), sent, "a ticket we did not sign was accepted");
    }
    if let Ok(p) = Pass::verify(ours, sent, pass.queue, &pass.session, now_ms) {
        assert_eq!(ours.sign(&p), sent, "a pass we did not sign was accepted");
    }

    let signed_ticket = ours.sign(&ticket);
    let signed_pass = ours.sign(&pass);
    assert_eq!(
        Ticket::verify(ours, &signed_ticket, ticket.queue),
        Ok(ticket)
    );
    assert_eq!(
        Pass::verify(ours, &signed_pass, pass.queue, &pass.session, now_ms),
        Ok(pass)
    );
    assert_eq!(
        Ticket::verify(ours, &forger.sign(&ticket), ticket.queue),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        Pass::verify(ours, &forger.sign(&pass), pass.queue, &pass.session, now_ms),
        Err(TokenError::BadSignature)
    );
    assert_eq!(
        Pass::verify(ours, &signed_ticket, pass.queue, &pass.session, now_ms),
        Err(TokenError::WrongKind)
    );
    assert_eq!(
        Ticket::verify(ours, &signed_pass, ticket.queue),
        Err(TokenError::WrongKind)
    );

    // One changed character anywhere: refused.
    let at = u.choose_index(signed_ticket.len())?;
    let with = *u.choose(BASE64URL)?;
    let mut changed = signed_ticket.clone().into_bytes();
    changed[at] = with;
    let changed = String::from_utf8(changed).expect("base64url is ASCII");
    if changed != signed_ticket {
        assert!(Ticket::verify(ours, &changed, ticket.queue).is_err());
    }
    let at = u.choose_index(signed_pass.len())?;
    let mut changed = signed_pass.clone().into_bytes();
    changed[at] = with;
    let changed = String::from_utf8(changed).expect("base64url is ASCII");
    if changed != signed_pass {
        assert!(Pass::verify(ours, &changed, pass.queue, &pass.session, now_ms).is_err());
    }
    Ok(())
}
