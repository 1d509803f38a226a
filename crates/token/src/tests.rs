use super::*;
use proptest::prelude::*;

/// An expiring claim, like a sign-in cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SignIn {
    who: u64,
    expires_at_ms: u64,
}

impl Claims for SignIn {
    const PURPOSES: &'static [Purpose] = &[Purpose::OperatorSignIn];

    fn purpose(&self) -> Purpose {
        Purpose::OperatorSignIn
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.u64(self.who);
        out.u64(self.expires_at_ms);
    }

    fn read(_: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        Some(SignIn {
            who: body.u64()?,
            expires_at_ms: body.u64()?,
        })
    }

    fn expires_at_ms(&self) -> Option<u64> {
        Some(self.expires_at_ms)
    }
}

/// A lasting claim with two purposes and two layouts, like a (verified) ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    seq: u32,
    person: Option<u64>,
}

impl Claims for Place {
    const PURPOSES: &'static [Purpose] = &[Purpose::Ticket, Purpose::VerifiedTicket];

    fn purpose(&self) -> Purpose {
        match self.person {
            None => Purpose::Ticket,
            Some(_) => Purpose::VerifiedTicket,
        }
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.u32(self.seq);
        if let Some(person) = self.person {
            out.u64(person);
        }
    }

    fn read(purpose: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        let seq = body.u32()?;
        let person = match purpose {
            Purpose::VerifiedTicket => Some(body.u64()?),
            _ => None,
        };
        Some(Place { seq, person })
    }

    fn expires_at_ms(&self) -> Option<u64> {
        None
    }
}

/// The largest claims body there is: every byte of it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Full([u8; MAX_CLAIMS_LEN]);

impl Claims for Full {
    const PURPOSES: &'static [Purpose] = &[Purpose::StaffSignIn];

    fn purpose(&self) -> Purpose {
        Purpose::StaffSignIn
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.put(&self.0);
    }

    fn read(_: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        Some(Full(body.take()?))
    }

    fn expires_at_ms(&self) -> Option<u64> {
        None
    }
}

fn ring(id: u16, byte: u8) -> Keyring {
    Keyring::new(KeyId(id), &KeyMaterial([byte; 32]))
}

const SIGN_IN: SignIn = SignIn {
    who: 42,
    expires_at_ms: 1_000_000,
};

fn bytes_of(token: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(token).unwrap_or_default()
}

fn text_of(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn round_trip_and_layout() {
    let k = ring(0x0102, 0xAB);
    let token = k.sign(&SIGN_IN);
    assert_eq!(k.verify::<SignIn>(&token, 999_999), Ok(SIGN_IN));
    let bytes = bytes_of(&token);
    assert_eq!(bytes.len(), 4 + 16 + TAG_LEN);
    assert_eq!(
        &bytes[..4],
        &[VERSION, Purpose::OperatorSignIn.byte(), 1, 2]
    );
    assert_eq!(&bytes[4..12], &42u64.to_be_bytes());

    for place in [
        Place {
            seq: 7,
            person: None,
        },
        Place {
            seq: 7,
            person: Some(9),
        },
    ] {
        assert_eq!(k.verify_lasting::<Place>(&k.sign(&place)), Ok(place));
    }
    let full = Full([0xEE; MAX_CLAIMS_LEN]);
    let token = k.sign(&full);
    assert_eq!(token.len(), MAX_TOKEN_CHARS);
    assert_eq!(k.verify_lasting::<Full>(&token), Ok(full));
}

#[test]
fn the_mac_is_hmac_sha256_over_header_and_claims() {
    // Written out by hand, so the format cannot drift without this test noticing.
    let material = KeyMaterial([0x11; 32]);
    let token = Keyring::new(KeyId(3), &material).sign(&SIGN_IN);
    let bytes = bytes_of(&token);
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    let full = <HmacSha256 as KeyInit>::new_from_slice(&material.0)
        .unwrap_or_else(|_| unreachable!())
        .chain_update(signed)
        .finalize()
        .into_bytes();
    assert_eq!(tag, &full[..TAG_LEN]);
}

#[test]
fn every_changed_byte_is_refused() {
    let k = ring(1, 0xAB);
    for token in [
        k.sign(&SIGN_IN),
        k.sign(&Place {
            seq: 1,
            person: Some(2),
        }),
    ] {
        let bytes = bytes_of(&token);
        for at in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut changed = bytes.clone();
                changed[at] ^= flip;
                let changed = text_of(&changed);
                assert!(
                    k.verify::<SignIn>(&changed, 0).is_err(),
                    "byte {at} ^ {flip:#x}"
                );
                assert!(
                    k.verify_lasting::<Place>(&changed).is_err(),
                    "byte {at} ^ {flip:#x}"
                );
            }
        }
    }
}

#[test]
fn claims_grafted_onto_a_genuine_tag_are_refused() {
    let k = ring(1, 0xAB);
    let genuine = bytes_of(&k.sign(&SIGN_IN));
    let forged_claims = SignIn { who: 43, ..SIGN_IN };
    let mut forged = bytes_of(&ring(1, 0xCD).sign(&forged_claims));
    let tag_at = forged.len() - TAG_LEN;
    forged[tag_at..].copy_from_slice(&genuine[tag_at..]);
    assert_eq!(
        k.verify::<SignIn>(&text_of(&forged), 0),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn unknown_key_and_same_id_other_material() {
    let token = ring(2, 0xAB).sign(&SIGN_IN);
    assert_eq!(
        ring(1, 0xAB).verify::<SignIn>(&token, 0),
        Err(TokenError::UnknownKey)
    );
    assert_eq!(
        ring(2, 0xAC).verify::<SignIn>(&token, 0),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn rotation_signs_with_the_new_key_and_accepts_the_old_until_retired() {
    let old = KeyMaterial([1; 32]);
    let new = KeyMaterial([2; 32]);
    let before = Keyring::new(KeyId(1), &old);
    let old_token = before.sign(&SIGN_IN);

    let rotated =
        Keyring::with_older((KeyId(2), &new), [(KeyId(1), &old)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rotated.current_id(), KeyId(2));
    assert_eq!(rotated.older_ids().collect::<Vec<_>>(), [KeyId(1)]);
    assert!(rotated.accepts(KeyId(1)) && rotated.accepts(KeyId(2)));
    assert_eq!(rotated.verify::<SignIn>(&old_token, 0), Ok(SIGN_IN));
    let new_token = rotated.sign(&SIGN_IN);
    assert_eq!(bytes_of(&new_token)[2..4], [0, 2]);
    assert_eq!(
        before.verify::<SignIn>(&new_token, 0),
        Err(TokenError::UnknownKey)
    );

    let retired = Keyring::new(KeyId(2), &new);
    assert!(!retired.accepts(KeyId(1)));
    assert_eq!(
        retired.verify::<SignIn>(&old_token, 0),
        Err(TokenError::UnknownKey)
    );
    assert_eq!(retired.verify::<SignIn>(&new_token, 0), Ok(SIGN_IN));
}

#[test]
fn expiry_is_checked_against_the_time_passed_in() {
    let k = ring(1, 0xAB);
    let token = k.sign(&SIGN_IN);
    assert_eq!(k.verify::<SignIn>(&token, 0), Ok(SIGN_IN));
    assert_eq!(
        k.verify::<SignIn>(&token, SIGN_IN.expires_at_ms - 1),
        Ok(SIGN_IN)
    );
    assert_eq!(
        k.verify::<SignIn>(&token, SIGN_IN.expires_at_ms),
        Err(TokenError::Expired)
    );
    assert_eq!(
        k.verify::<SignIn>(&token, u64::MAX),
        Err(TokenError::Expired)
    );
}

#[test]
fn a_token_for_one_purpose_is_refused_for_another_under_the_same_key() {
    let k = ring(1, 0xAB);
    let place = k.sign(&Place {
        seq: 1,
        person: None,
    });
    assert_eq!(k.verify::<SignIn>(&place, 0), Err(TokenError::WrongPurpose));
    assert_eq!(
        k.verify_lasting::<Place>(&k.sign(&SIGN_IN)),
        Err(TokenError::WrongPurpose)
    );
    assert_eq!(
        k.verify_lasting::<Full>(&place),
        Err(TokenError::WrongPurpose)
    );
}

#[test]
fn purposes_are_distinct_and_never_the_old_session_kinds() {
    let mut bytes: Vec<u8> = Purpose::ALL.iter().map(|p| p.byte()).collect();
    bytes.sort_unstable();
    bytes.dedup();
    assert_eq!(bytes.len(), Purpose::ALL.len());
    assert!(!bytes.contains(&b's') && !bytes.contains(&b'c'));
    for p in Purpose::ALL {
        assert_eq!(Purpose::from_byte(p.byte()), Some(p));
    }
    assert_eq!(Purpose::from_byte(0), None);
    assert_eq!(Purpose::from_byte(b's'), None);
}

/// Signs raw bytes as a token would be, to build authentic tokens the format refuses.
fn sign_raw(material: &KeyMaterial, signed: &[u8]) -> String {
    let tag = <HmacSha256 as KeyInit>::new_from_slice(&material.0)
        .unwrap_or_else(|_| unreachable!())
        .chain_update(signed)
        .finalize()
        .into_bytes();
    text_of(&[signed, &tag[..TAG_LEN]].concat())
}

#[test]
fn authentic_tokens_the_format_does_not_allow_are_malformed() {
    let material = KeyMaterial([5; 32]);
    let k = Keyring::new(KeyId(1), &material);
    let claims = [&42u64.to_be_bytes()[..], &1_000_000u64.to_be_bytes()].concat();
    let op = Purpose::OperatorSignIn.byte();
    for (signed, why) in [
        ([&[2, op, 0, 1][..], &claims].concat(), "another version"),
        (
            [&[VERSION, 99, 0, 1][..], &claims].concat(),
            "no such purpose",
        ),
        ([&[VERSION, op, 0, 1][..], &claims[..15]].concat(), "short"),
        ([&[VERSION, op, 0, 1][..], &claims, &[0]].concat(), "long"),
        (vec![VERSION, op, 0, 1], "no claims"),
    ] {
        assert_eq!(
            k.verify::<SignIn>(&sign_raw(&material, &signed), 0),
            Err(TokenError::Malformed),
            "{why}"
        );
    }
}

#[test]
fn garbage_is_refused_before_any_work() {
    let k = ring(1, 0xAB);
    let token = k.sign(&SIGN_IN);
    for junk in [
        "",
        "a",
        "!!!!",
        "AAAA",
        &"A".repeat(MAX_TOKEN_CHARS + 1),
        &"A".repeat(5000),
        &format!("{token}="),
        &format!(" {token}"),
        &text_of(&[VERSION, 6, 0, 1]),
    ] {
        let e = k.verify::<SignIn>(junk, 0);
        assert!(
            matches!(
                e,
                Err(TokenError::Malformed | TokenError::UnknownKey | TokenError::BadSignature)
            ),
            "{junk:?}: {e:?}"
        );
    }
}

#[test]
fn keyrings_refuse_duplicates_and_too_many_keys() {
    let m = KeyMaterial([3; 32]);
    assert_eq!(
        Keyring::with_older((KeyId(1), &m), [(KeyId(1), &m)]).map(|_| ()),
        Err(KeyringError::DuplicateKeyId(KeyId(1)))
    );
    let many: Vec<_> = (2..40).map(|i| (KeyId(i), &m)).collect();
    assert_eq!(
        Keyring::with_older((KeyId(1), &m), many).map(|_| ()),
        Err(KeyringError::TooManyKeys)
    );
    assert!(format!("{m:?}").contains("redacted"));
}

proptest! {
    #[test]
    fn any_claims_round_trip(who in any::<u64>(), exp in 1u64.., now in any::<u64>(),
                             key in any::<[u8; 32]>(), id in any::<u16>()) {
        let k = Keyring::new(KeyId(id), &KeyMaterial(key));
        let claims = SignIn { who, expires_at_ms: exp };
        let got = k.verify::<SignIn>(&k.sign(&claims), now);
        if now < exp {
            prop_assert_eq!(got, Ok(claims));
        } else {
            prop_assert_eq!(got, Err(TokenError::Expired));
        }
    }

    #[test]
    fn any_text_accepted_is_our_own_signature(text in "[A-Za-z0-9_-]{0,120}") {
        let k = ring(1, 0xAB);
        if let Ok(claims) = k.verify::<SignIn>(&text, 0) {
            prop_assert_eq!(k.sign(&claims), text);
        }
    }
}
