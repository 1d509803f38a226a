//! The waiting room's tokens: the ticket a person gets on arrival and the pass an admitted ticket
//! is exchanged for. Signed in yeyak's one token format (the `token` crate: version, purpose,
//! key id, claims, truncated HMAC-SHA256); this module holds their claims and the waiting room's
//! own checks (which queue, which waiting-room session).
//!
//! # Claims
//!
//! Ticket (purpose `Ticket`): queue `u32`, class `u8` (`1` Pre, `2` Fifo), seq `u64`, waiting
//! session `[u8; 16]`, issued at (ms since the Unix epoch) `u64`. 57 bytes in all, 76 characters.
//!
//! Verified ticket (purpose `VerifiedTicket`): the ticket's claims, then the verified person
//! `u64` and their number in this opening's draw of verified people `u64` (`u64::MAX`: none,
//! verified too late for the draw). 73 bytes, 98 characters.
//!
//! Pass (purpose `Pass`): queue `u32`, waiting session `[u8; 16]`, rank `u64`, expires at (ms)
//! `u64`, the verified person it admitted `u64` (`u64::MAX`: not yet bound). 64 bytes,
//! 86 characters.
//!
//! These are the bytes tickets and passes had before the format was shared, so those already
//! issued stay valid across the upgrade.

use crate::types::{Class, QueueId, Rank, WaitingSessionId};
use token::{Claims, ClaimsReader, ClaimsWriter, Purpose};
pub use token::{KeyId, KeyMaterial, Keyring, KeyringError, MAX_KEYS, MAX_TOKEN_CHARS};

/// Written for "none" in the person fields.
const NONE: u64 = u64::MAX;

/// Issued on arrival; the person's only record in the waiting room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub queue: QueueId,
    pub class: Class,
    /// Sequence number within its class, from a durable leased counter: never reused.
    pub seq: u64,
    pub session: WaitingSessionId,
    pub issued_at_ms: u64,
    /// Set once the holder proved who they are while waiting (the identity check).
    pub verified: Option<Verified>,
}

/// The verified person a ticket belongs to. Neither number is ever `u64::MAX` (the wire's
/// "none"): person ids and draw numbers are dense from 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verified {
    /// The person, as the booking side numbers them: the same on every ticket they verify.
    pub person: u64,
    /// Their number in this opening's draw of verified people (dense, one per person, the same
    /// on every ticket they verify), or `None` when they verified too late for the draw.
    pub draw: Option<u64>,
}

/// Given once an admitted ticket is exchanged; every booking-side call needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub queue: QueueId,
    pub session: WaitingSessionId,
    /// The admitted ticket's rank: unique in the queue, so it says whom the pass was given to.
    pub rank: Rank,
    pub expires_at_ms: u64,
    /// The verified person the pass admitted (`None` until they verify on the booking side).
    pub person: Option<u64>,
}

/// Why a token was refused. Every variant has a stable [`code`](TokenError::code) and a message in
/// Korean and English for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token was signed with a key this server does not know")]
    UnknownKey,
    #[error("the token is of the wrong kind (a ticket where a pass is needed, or the reverse)")]
    WrongKind,
    #[error("the token belongs to another queue")]
    WrongQueue,
    #[error("the token belongs to another session")]
    WrongSession,
    #[error("the token has expired")]
    Expired,
}

impl TokenError {
    /// Stable machine-readable code, for the JSON error shape and metrics.
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Malformed => "token_malformed",
            TokenError::BadSignature => "token_bad_signature",
            TokenError::UnknownKey => "token_unknown_key",
            TokenError::WrongKind => "token_wrong_kind",
            TokenError::WrongQueue => "token_wrong_queue",
            TokenError::WrongSession => "token_wrong_session",
            TokenError::Expired => "token_expired",
        }
    }

    /// Message for the person, in Korean.
    pub fn message_ko(self) -> &'static str {
        match self {
            TokenError::Malformed => {
                "대기열 정보가 올바르지 않습니다. 대기열에 다시 들어와 주세요."
            }
            TokenError::BadSignature => {
                "대기열 정보가 변조되었습니다. 대기열에 다시 들어와 주세요."
            }
            TokenError::UnknownKey => {
                "대기열 정보가 만료되었거나 알 수 없습니다. 대기열에 다시 들어와 주세요."
            }
            TokenError::WrongKind => "이 요청에는 입장권이 필요합니다. 대기열을 거쳐 주세요.",
            TokenError::WrongQueue => "다른 대기열의 정보입니다. 이 예약의 대기열에 들어와 주세요.",
            TokenError::WrongSession => {
                "다른 브라우저나 기기에서 받은 정보입니다. 처음 받은 곳에서 이용해 주세요."
            }
            TokenError::Expired => "입장 시간이 지났습니다. 대기열 화면에서 다시 입장해 주세요.",
        }
    }

    /// Message for the person, in English.
    pub fn message_en(self) -> &'static str {
        match self {
            TokenError::Malformed => "Your queue ticket is not valid. Please join the queue again.",
            TokenError::BadSignature => {
                "Your queue ticket was altered. Please join the queue again."
            }
            TokenError::UnknownKey => {
                "Your queue ticket is no longer recognised. Please join the queue again."
            }
            TokenError::WrongKind => {
                "This page needs an admission pass. Please go through the queue."
            }
            TokenError::WrongQueue => {
                "This ticket is for another queue. Please join this booking's queue."
            }
            TokenError::WrongSession => {
                "This was issued to another browser or device. Please use it where you got it."
            }
            TokenError::Expired => {
                "Your admission has expired. Please enter again from the queue page."
            }
        }
    }
}

impl From<token::TokenError> for TokenError {
    fn from(error: token::TokenError) -> TokenError {
        match error {
            token::TokenError::Malformed => TokenError::Malformed,
            token::TokenError::BadSignature => TokenError::BadSignature,
            token::TokenError::UnknownKey => TokenError::UnknownKey,
            token::TokenError::WrongPurpose => TokenError::WrongKind,
            token::TokenError::Expired => TokenError::Expired,
        }
    }
}

impl Claims for Ticket {
    const PURPOSES: &'static [Purpose] = &[Purpose::Ticket, Purpose::VerifiedTicket];

    fn purpose(&self) -> Purpose {
        match self.verified {
            None => Purpose::Ticket,
            Some(_) => Purpose::VerifiedTicket,
        }
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.u32(self.queue.0);
        out.u8(self.class.to_byte());
        out.u64(self.seq);
        out.put(&self.session.0);
        out.u64(self.issued_at_ms);
        if let Some(v) = self.verified {
            out.u64(v.person);
            out.u64(v.draw.unwrap_or(NONE));
        }
    }

    fn read(purpose: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        let mut ticket = Ticket {
            queue: QueueId(body.u32()?),
            class: Class::from_byte(body.u8()?)?,
            seq: body.u64()?,
            session: WaitingSessionId(body.take()?),
            issued_at_ms: body.u64()?,
            verified: None,
        };
        if purpose == Purpose::VerifiedTicket {
            let person = body.u64()?;
            let draw = body.u64()?;
            ticket.verified = Some(Verified {
                person,
                draw: (draw != NONE).then_some(draw),
            });
        }
        Some(ticket)
    }

    /// Tickets do not expire: a ticket is valid as long as its queue exists (its place is kept),
    /// and a new opening uses a new queue id.
    fn expires_at_ms(&self) -> Option<u64> {
        None
    }
}

impl Claims for Pass {
    const PURPOSES: &'static [Purpose] = &[Purpose::Pass];

    fn purpose(&self) -> Purpose {
        Purpose::Pass
    }

    fn write(&self, out: &mut ClaimsWriter) {
        out.u32(self.queue.0);
        out.put(&self.session.0);
        out.u64(self.rank.0);
        out.u64(self.expires_at_ms);
        out.u64(self.person.unwrap_or(NONE));
    }

    fn read(_: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self> {
        Some(Pass {
            queue: QueueId(body.u32()?),
            session: WaitingSessionId(body.take()?),
            rank: Rank(body.u64()?),
            expires_at_ms: body.u64()?,
            person: Some(body.u64()?).filter(|&p| p != NONE),
        })
    }

    fn expires_at_ms(&self) -> Option<u64> {
        Some(self.expires_at_ms)
    }
}

impl Ticket {
    /// Verifies a ticket presented for `queue`.
    pub fn verify(keys: &Keyring, token: &str, queue: QueueId) -> Result<Ticket, TokenError> {
        let ticket: Ticket = keys.verify_lasting(token)?;
        if ticket.queue != queue {
            return Err(TokenError::WrongQueue);
        }
        Ok(ticket)
    }
}

impl Pass {
    /// Verifies a pass presented for `queue` by `session` at `now_ms` (server clock; nothing the
    /// client says about time is read).
    pub fn verify(
        keys: &Keyring,
        token: &str,
        queue: QueueId,
        session: &WaitingSessionId,
        now_ms: u64,
    ) -> Result<Pass, TokenError> {
        let pass: Pass = keys.verify(token, now_ms)?;
        if pass.queue != queue {
            return Err(TokenError::WrongQueue);
        }
        if pass.session != *session {
            return Err(TokenError::WrongSession);
        }
        Ok(pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn ring(id: u16, byte: u8) -> Keyring {
        Keyring::new(KeyId(id), &KeyMaterial([byte; 32]))
    }

    fn ticket() -> Ticket {
        Ticket {
            queue: QueueId(7),
            class: Class::Pre,
            seq: 123_456,
            session: WaitingSessionId([9; 16]),
            issued_at_ms: 1_626_692_399_999,
            verified: None,
        }
    }

    fn pass() -> Pass {
        Pass {
            queue: QueueId(7),
            session: WaitingSessionId([9; 16]),
            rank: Rank(42),
            expires_at_ms: 1_000_000,
            person: Some(77),
        }
    }

    fn flip(token: &str, bit: usize) -> String {
        let mut bytes = URL_SAFE_NO_PAD.decode(token).unwrap_or_default();
        bytes[bit / 8] ^= 1 << (bit % 8);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn ticket_round_trip_and_size() {
        let k = ring(1, 0xAB);
        let t = ticket();
        let token = k.sign(&t);
        assert_eq!(token.len(), 76);
        assert_eq!(Ticket::verify(&k, &token, QueueId(7)), Ok(t));
        let t2 = Ticket {
            class: Class::Fifo,
            seq: u64::MAX,
            ..t
        };
        assert_eq!(Ticket::verify(&k, &k.sign(&t2), QueueId(7)), Ok(t2));
        for draw in [Some(0), Some(u64::MAX - 1), None] {
            let v = Ticket {
                verified: Some(Verified { person: 3, draw }),
                ..t
            };
            let token = k.sign(&v);
            assert_eq!(token.len(), 98);
            assert_eq!(Ticket::verify(&k, &token, QueueId(7)), Ok(v));
            assert_eq!(
                Pass::verify(&k, &token, QueueId(7), &v.session, 0),
                Err(TokenError::WrongKind),
                "a verified ticket is not a pass either"
            );
        }
    }

    #[test]
    fn pass_round_trip_and_size() {
        let k = ring(1, 0xAB);
        let p = pass();
        let token = k.sign(&p);
        assert_eq!(token.len(), 86);
        assert_eq!(
            Pass::verify(&k, &token, QueueId(7), &p.session, 999_999),
            Ok(p)
        );
        let unbound = Pass { person: None, ..p };
        assert_eq!(
            Pass::verify(&k, &k.sign(&unbound), QueueId(7), &p.session, 0),
            Ok(unbound)
        );
    }

    #[test]
    fn every_single_bit_flip_of_a_ticket_is_rejected() {
        let k = ring(1, 0xAB);
        let token = k.sign(&ticket());
        for bit in 0..57 * 8 {
            let bad = flip(&token, bit);
            let err = Ticket::verify(&k, &bad, QueueId(7));
            assert!(
                matches!(
                    err,
                    Err(TokenError::Malformed | TokenError::BadSignature | TokenError::UnknownKey)
                ),
                "bit {bit}: {err:?}"
            );
        }
    }

    #[test]
    fn every_single_bit_flip_of_a_pass_is_rejected() {
        let k = ring(1, 0xAB);
        let p = pass();
        let token = k.sign(&p);
        for bit in 0..64 * 8 {
            let bad = flip(&token, bit);
            assert!(
                Pass::verify(&k, &bad, QueueId(7), &p.session, 0).is_err(),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn changed_fields_with_the_old_tag_are_rejected() {
        let k = ring(1, 0xAB);
        let t = ticket();
        let token = k.sign(&t);
        let tag = &URL_SAFE_NO_PAD.decode(&token).unwrap_or_default()[57 - 16..];
        let variants = [
            Ticket { seq: 0, ..t },
            Ticket {
                class: Class::Fifo,
                ..t
            },
            Ticket {
                queue: QueueId(8),
                ..t
            },
            Ticket {
                session: WaitingSessionId([1; 16]),
                ..t
            },
            Ticket {
                issued_at_ms: 0,
                ..t
            },
        ];
        for v in variants {
            // Re-sign with another key, then graft the genuine tag: the forged body must fail.
            let other = ring(1, 0xCD).sign(&v);
            let mut bytes = URL_SAFE_NO_PAD.decode(&other).unwrap_or_default();
            bytes[57 - 16..].copy_from_slice(tag);
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                Ticket::verify(&k, &forged, QueueId(7)),
                Err(TokenError::BadSignature)
            );
            assert_eq!(
                Ticket::verify(&k, &other, QueueId(7)),
                Err(TokenError::BadSignature)
            );
        }
    }

    #[test]
    fn ticket_as_pass_and_pass_as_ticket_are_rejected() {
        let k = ring(1, 0xAB);
        let t = k.sign(&ticket());
        assert_eq!(
            Pass::verify(&k, &t, QueueId(7), &WaitingSessionId([9; 16]), 0),
            Err(TokenError::WrongKind)
        );
        let p = k.sign(&pass());
        assert_eq!(
            Ticket::verify(&k, &p, QueueId(7)),
            Err(TokenError::WrongKind)
        );
    }

    #[test]
    fn other_queue_other_session_expired() {
        let k = ring(1, 0xAB);
        let p = pass();
        let token = k.sign(&p);
        assert_eq!(
            Pass::verify(&k, &token, QueueId(8), &p.session, 0),
            Err(TokenError::WrongQueue)
        );
        assert_eq!(
            Pass::verify(&k, &token, QueueId(7), &WaitingSessionId([1; 16]), 0),
            Err(TokenError::WrongSession)
        );
        assert_eq!(
            Pass::verify(&k, &token, QueueId(7), &p.session, p.expires_at_ms),
            Err(TokenError::Expired)
        );
        assert_eq!(
            Pass::verify(&k, &token, QueueId(7), &p.session, p.expires_at_ms - 1),
            Ok(p)
        );
        let t = k.sign(&ticket());
        assert_eq!(
            Ticket::verify(&k, &t, QueueId(8)),
            Err(TokenError::WrongQueue)
        );
    }

    #[test]
    fn unknown_key_and_forged_key_are_rejected() {
        let token = ring(2, 0xAB).sign(&ticket());
        assert_eq!(
            Ticket::verify(&ring(1, 0xAB), &token, QueueId(7)),
            Err(TokenError::UnknownKey)
        );
        // Same id, other material: a forgery.
        assert_eq!(
            Ticket::verify(&ring(2, 0xAC), &token, QueueId(7)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
        let old_material = KeyMaterial([1; 32]);
        let new_material = KeyMaterial([2; 32]);
        let before = Keyring::new(KeyId(1), &old_material);
        let old_token = before.sign(&ticket());

        let after = Keyring::with_older((KeyId(2), &new_material), [(KeyId(1), &old_material)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Ticket::verify(&after, &old_token, QueueId(7)), Ok(ticket()));
        let new_token = after.sign(&ticket());
        assert_ne!(new_token, old_token);
        assert_eq!(after.current_id(), KeyId(2));
        // The new token carries key id 2 and the old ring does not know it.
        assert_eq!(
            Ticket::verify(&before, &new_token, QueueId(7)),
            Err(TokenError::UnknownKey)
        );
        // Once the old key is retired, its tokens are refused.
        let retired = Keyring::new(KeyId(2), &new_material);
        assert_eq!(
            Ticket::verify(&retired, &old_token, QueueId(7)),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let k = ring(1, 0xAB);
        for junk in [
            "",
            "a",
            "!!!!",
            "AAAA",
            &"A".repeat(76),
            &"A".repeat(500),
            // Valid base64 of a too-short token.
            &URL_SAFE_NO_PAD.encode([1u8, 1, 0, 1]),
        ] {
            let e = Ticket::verify(&k, junk, QueueId(7));
            assert!(
                matches!(
                    e,
                    Err(TokenError::Malformed | TokenError::UnknownKey | TokenError::BadSignature)
                ),
                "{junk:?}: {e:?}"
            );
        }
        // A genuine token with padding or with its last character changed (non-canonical bits).
        let token = k.sign(&ticket());
        assert_eq!(
            Ticket::verify(&k, &format!("{token}="), QueueId(7)),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn every_error_has_code_and_both_messages() {
        let all = [
            TokenError::Malformed,
            TokenError::BadSignature,
            TokenError::UnknownKey,
            TokenError::WrongKind,
            TokenError::WrongQueue,
            TokenError::WrongSession,
            TokenError::Expired,
        ];
        let mut codes: Vec<_> = all.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for e in all {
            assert!(e.code().starts_with("token_"));
            assert!(e.message_ko().chars().any(|c| ('가'..='힣').contains(&c)));
            assert!(e.message_en().is_ascii() && !e.message_en().is_empty());
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn any_ticket() -> impl Strategy<Value = Ticket> {
            (
                any::<u32>(),
                any::<bool>(),
                any::<u64>(),
                any::<[u8; 16]>(),
                any::<u64>(),
            )
                .prop_map(|(q, pre, seq, s, at)| Ticket {
                    queue: QueueId(q),
                    class: if pre { Class::Pre } else { Class::Fifo },
                    seq,
                    session: WaitingSessionId(s),
                    issued_at_ms: at,
                    verified: None,
                })
        }

        proptest! {
            #[test]
            fn tickets_round_trip(t in any_ticket(), key in any::<[u8; 32]>(), id in any::<u16>()) {
                let k = Keyring::new(KeyId(id), &KeyMaterial(key));
                prop_assert_eq!(Ticket::verify(&k, &k.sign(&t), t.queue), Ok(t));
            }

            #[test]
            fn any_byte_change_is_rejected(t in any_ticket(), pos in 0usize..57, x in 1u8..=255) {
                let k = Keyring::new(KeyId(5), &KeyMaterial([7; 32]));
                let mut bytes = URL_SAFE_NO_PAD.decode(k.sign(&t)).unwrap_or_default();
                bytes[pos] ^= x;
                let bad = URL_SAFE_NO_PAD.encode(&bytes);
                prop_assert!(Ticket::verify(&k, &bad, t.queue).is_err());
            }

            #[test]
            fn passes_round_trip(q in any::<u32>(), s in any::<[u8; 16]>(), seq in any::<u64>(),
                                 exp in 1u64.., now in any::<u64>()) {
                let k = Keyring::new(KeyId(0), &KeyMaterial([1; 32]));
                let p = Pass { queue: QueueId(q), session: WaitingSessionId(s), rank: Rank(seq), expires_at_ms: exp, person: (seq % 2 == 0).then_some(seq / 2) };
                let got = Pass::verify(&k, &k.sign(&p), QueueId(q), &WaitingSessionId(s), now);
                if now < exp {
                    prop_assert_eq!(got, Ok(p));
                } else {
                    prop_assert_eq!(got, Err(TokenError::Expired));
                }
            }
        }
    }
}
