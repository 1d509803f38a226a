use super::*;
use crate::secrets::{KeyLine, read_keys_file, write_keys_file};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::SeedableRng;
use token::{KeyId, KeyMaterial};

fn now() -> Timestamp {
    Timestamp::from_second(1_626_692_400).unwrap()
}

fn secrets() -> Secrets {
    Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(7))
}

fn session() -> IdentitySession {
    IdentitySession {
        person: PersonId(42),
        expires_at: crate::clock::after(now(), jiff::SignedDuration::from_mins(30)),
    }
}

#[test]
fn round_trip_and_expiry() {
    let keys = secrets();
    let session = session();
    let token = session.sign(&keys);
    assert_eq!(IdentitySession::verify(&token, &keys, now()), Ok(session));
    assert_eq!(
        IdentitySession::verify(&token, &keys, session.expires_at),
        Err(SessionError::Expired)
    );
    let other = Secrets::generate(&mut rand::rngs::StdRng::seed_from_u64(8));
    assert_eq!(
        IdentitySession::verify(&token, &other, now()),
        Err(SessionError::BadSignature),
        "same key id, other key"
    );
}

#[test]
fn consents_round_trip_and_are_not_sessions() {
    let keys = secrets();
    let consent = Consent {
        booker: PersonId(1),
        member: PersonId(2),
        expires_at: session().expires_at,
    };
    let token = consent.sign(&keys);
    assert_eq!(Consent::verify(&token, &keys, now()), Ok(consent));
    assert_eq!(
        IdentitySession::verify(&token, &keys, now()),
        Err(SessionError::WrongPurpose)
    );
    assert_eq!(
        Consent::verify(&session().sign(&keys), &keys, now()),
        Err(SessionError::WrongPurpose)
    );
    assert_eq!(
        Consent::verify(&token, &keys, consent.expires_at),
        Err(SessionError::Expired)
    );
}

#[test]
fn any_changed_byte_is_refused() {
    let keys = secrets();
    let bytes = URL_SAFE_NO_PAD.decode(session().sign(&keys)).unwrap();
    for i in 0..bytes.len() {
        for flip in [0x01, 0x80] {
            let mut forged = bytes.clone();
            forged[i] ^= flip;
            let token = URL_SAFE_NO_PAD.encode(&forged);
            assert!(
                IdentitySession::verify(&token, &keys, now()).is_err(),
                "byte {i}"
            );
        }
    }
    for junk in ["", "!!", "AQ", "AXM", "AXMA"] {
        assert!(
            IdentitySession::verify(junk, &keys, now()).is_err(),
            "{junk:?}"
        );
    }
}

/// Tokens of the earlier format (`[1, b's' or b'c', words…, tag]`, no key id) with the token key
/// `[7; 32]`: made outside this code (Python's `hmac`) from the layout of `session.rs` at commit
/// 640c586, so a reader that drifted from it would fail here.
const OLD_SESSION: &str = "AXMAAAAAAAAAKgAAAXq-dVtAdkCUDtXTRANsAlKD0lFbsA";
const OLD_CONSENT: &str = "AWMAAAAAAAAAAQAAAAAAAAACAAABer51W0DLKT49BOU6FfpCITnpSt_9";
const OLD_EXPIRY_MS: i64 = 1_626_693_000_000;

/// Secrets whose token key is `[7; 32]`, as the earlier tokens above were signed with.
fn with_old_token_key(dir: &std::path::Path) -> Secrets {
    let mut bytes = vec![1u8; 64];
    bytes.extend_from_slice(&[7; 32]);
    std::fs::write(dir.join("secrets.key"), bytes).unwrap();
    Secrets::load_or_create(dir, &mut rand::rng()).unwrap()
}

#[test]
fn earlier_sessions_and_consents_are_accepted_for_one_release() {
    let dir = tempfile::tempdir().unwrap();
    let keys = with_old_token_key(dir.path());
    let before = Timestamp::from_millisecond(OLD_EXPIRY_MS - 1).unwrap();
    let expires_at = Timestamp::from_millisecond(OLD_EXPIRY_MS).unwrap();
    assert_eq!(
        legacy::sign(&[7; 32], legacy::KIND_SESSION, &[42, OLD_EXPIRY_MS as u64]),
        OLD_SESSION,
        "the test's signer is the earlier format"
    );
    assert_eq!(
        IdentitySession::verify(OLD_SESSION, &keys, before),
        Ok(IdentitySession {
            person: PersonId(42),
            expires_at
        })
    );
    assert_eq!(
        Consent::verify(OLD_CONSENT, &keys, before),
        Ok(Consent {
            booker: PersonId(1),
            member: PersonId(2),
            expires_at
        })
    );
    assert_eq!(
        IdentitySession::verify(OLD_SESSION, &keys, expires_at),
        Err(SessionError::Expired)
    );
    assert_eq!(
        IdentitySession::verify(OLD_CONSENT, &keys, before),
        Err(SessionError::WrongPurpose)
    );
    assert_eq!(
        Consent::verify(OLD_SESSION, &keys, before),
        Err(SessionError::WrongPurpose)
    );
    let mut forged = URL_SAFE_NO_PAD.decode(OLD_SESSION).unwrap();
    forged[9] ^= 1; // another person
    assert_eq!(
        IdentitySession::verify(&URL_SAFE_NO_PAD.encode(&forged), &keys, before),
        Err(SessionError::BadSignature)
    );
    // Under another token key: refused.
    assert_eq!(
        IdentitySession::verify(OLD_SESSION, &secrets(), before),
        Err(SessionError::BadSignature)
    );
}

#[test]
fn rotation_signs_with_the_new_key_and_retiring_the_old_refuses_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let first = with_old_token_key(dir.path());
    let path = dir.path().join("signing.keys");
    let lines = read_keys_file(&path).unwrap().expect("made at first start");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].id, crate::secrets::TOKEN_KEY_ID);
    assert_eq!(lines[0].material, KeyMaterial([7; 32]), "the token key");
    let old = session().sign(&first);

    let new_key = KeyLine {
        id: KeyId(1),
        created_s: 1_700_000_000,
        material: KeyMaterial([9; 32]),
    };
    write_keys_file(&path, &[lines[0].clone(), new_key.clone()]).unwrap();
    let rotated = Secrets::load_or_create(dir.path(), &mut rand::rng()).unwrap();
    assert_eq!(rotated.signing().current_id(), KeyId(1));
    let new = session().sign(&rotated);
    assert_eq!(URL_SAFE_NO_PAD.decode(&new).unwrap()[2..4], [0, 1]);
    assert_eq!(
        IdentitySession::verify(&old, &rotated, now()),
        Ok(session())
    );
    assert_eq!(
        IdentitySession::verify(&new, &rotated, now()),
        Ok(session())
    );
    assert_eq!(
        IdentitySession::verify(&new, &first, now()),
        Err(SessionError::UnknownKey),
        "a node not given the new key refuses its tokens"
    );
    let before = Timestamp::from_millisecond(OLD_EXPIRY_MS - 1).unwrap();
    assert!(IdentitySession::verify(OLD_SESSION, &rotated, before).is_ok());

    write_keys_file(&path, &[new_key]).unwrap();
    let retired = Secrets::load_or_create(dir.path(), &mut rand::rng()).unwrap();
    assert_eq!(
        IdentitySession::verify(&old, &retired, now()),
        Err(SessionError::UnknownKey)
    );
    assert_eq!(
        IdentitySession::verify(OLD_SESSION, &retired, before),
        Err(SessionError::UnknownKey),
        "the earlier format goes with the key that signed it"
    );
    assert_eq!(
        IdentitySession::verify(&new, &retired, now()),
        Ok(session())
    );
}
