//! Signed tokens: the ticket a person gets on arrival and the pass an admitted ticket is exchanged
//! for.
//!
//! # Wire format (version 1)
//!
//! A token is base64url without padding of these bytes (all integers big-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | version, `1` |
//! | 1 | 1 | kind: `1` ticket, `3` verified ticket, `2` pass |
//! | 2 | 2 | key id |
//! | 4 | 37 / 53 / 44 | body (below) |
//! | end − 16 | 16 | HMAC-SHA256 over every byte before it, truncated to its first 16 bytes |
//!
//! Ticket body: queue `u32`, class `u8` (`1` Pre, `2` Fifo), seq `u64`, session `[u8; 16]`,
//! issued at (ms since the Unix epoch) `u64`. 57 bytes in all, 76 characters.
//!
//! Verified ticket body: the ticket body, then the verified person `u64` and their number in
//! this opening's draw of verified people `u64` (`u64::MAX`: none, verified too late for the
//! draw). 73 bytes, 98 characters.
//!
//! Pass body: queue `u32`, session `[u8; 16]`, rank `u64`, expires at (ms) `u64`, the verified
//! person it admitted `u64` (`u64::MAX`: not yet bound). 64 bytes, 86 characters.
//!
//! The kind byte is covered by the MAC, so a ticket can never be presented as a pass (or the
//! reverse): it verifies, then fails with [`TokenError::WrongKind`]. There is no algorithm field:
//! version 1 means HMAC-SHA256, so there is nothing to confuse. The tag is compared in constant
//! time (`hmac`'s `verify_truncated_left`). Tokens are not encrypted: the fields are not secret.

use crate::types::{Class, QueueId, Rank, SessionId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use std::fmt;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const VERSION: u8 = 1;
const KIND_TICKET: u8 = 1;
const KIND_PASS: u8 = 2;
const KIND_VERIFIED_TICKET: u8 = 3;
const HEADER_LEN: usize = 4;
const TAG_LEN: usize = 16;
const TICKET_BODY_LEN: usize = 4 + 1 + 8 + 16 + 8;
const VERIFIED_BODY_LEN: usize = TICKET_BODY_LEN + 8 + 8;
const PASS_BODY_LEN: usize = 4 + 16 + 8 + 8 + 8;
const MAX_BODY_LEN: usize = VERIFIED_BODY_LEN;
const _: () = assert!(PASS_BODY_LEN <= MAX_BODY_LEN && TICKET_BODY_LEN <= MAX_BODY_LEN);
/// Written for "none" in the person fields.
const NONE: u64 = u64::MAX;
/// Longest token text accepted before any decoding work is done.
pub const MAX_TOKEN_CHARS: usize = 112;
/// At most this many keys in a ring (one current plus older ones still accepted).
pub const MAX_KEYS: usize = 16;

/// Which signing key made a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u16);

/// Secret key material for one key id. Supplied by the caller (it must persist across restarts so
/// issued tickets stay valid); never printed.
#[derive(Clone)]
pub struct KeyMaterial(pub [u8; 32]);

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

/// Issued on arrival; the person's only record in the waiting room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub queue: QueueId,
    pub class: Class,
    /// Sequence number within its class, from a durable leased counter: never reused.
    pub seq: u64,
    pub session: SessionId,
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
    pub session: SessionId,
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

/// Why a keyring could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("key id {0:?} appears twice")]
    DuplicateKeyId(KeyId),
    #[error("at most {MAX_KEYS} keys may be held")]
    TooManyKeys,
}

/// A token body, sized for the longer kind (a ticket).
type Body = [u8; MAX_BODY_LEN];

#[derive(Clone)]
struct Key {
    id: KeyId,
    /// HMAC state with the key already absorbed: cloned per token, so the key is hashed once.
    mac: HmacSha256,
}

/// Signing keys by id: the current one signs, older ones are still accepted so keys can rotate
/// across restarts without invalidating tickets already issued.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    older: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field(
                "older",
                &self.older.iter().map(|k| k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn make_key(id: KeyId, material: &KeyMaterial) -> Key {
    Key {
        id,
        mac: <HmacSha256 as KeyInit>::new_from_slice(&material.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
    }
}

impl Keyring {
    /// A ring with one key, used both to sign and to verify.
    pub fn new(current: KeyId, material: &KeyMaterial) -> Keyring {
        Keyring {
            current: make_key(current, material),
            older: Vec::new(),
        }
    }

    /// A ring that signs with `current` and also accepts tokens signed by each of `older`.
    pub fn with_older<'a>(
        current: (KeyId, &KeyMaterial),
        older: impl IntoIterator<Item = (KeyId, &'a KeyMaterial)>,
    ) -> Result<Keyring, KeyringError> {
        let mut ring = Keyring::new(current.0, current.1);
        for (id, material) in older {
            if ring.find(id).is_some() {
                return Err(KeyringError::DuplicateKeyId(id));
            }
            if ring.older.len() + 1 >= MAX_KEYS {
                return Err(KeyringError::TooManyKeys);
            }
            ring.older.push(make_key(id, material));
        }
        Ok(ring)
    }

    /// The id new tokens are signed with.
    pub fn current_id(&self) -> KeyId {
        self.current.id
    }

    fn find(&self, id: KeyId) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(self.older.iter())
            .find(|k| k.id == id)
    }

    fn seal(&self, kind: u8, body: &[u8]) -> String {
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len() + TAG_LEN);
        bytes.push(VERSION);
        bytes.push(kind);
        bytes.extend_from_slice(&self.current.id.0.to_be_bytes());
        bytes.extend_from_slice(body);
        let tag = self.current.mac.clone().chain_update(&bytes).finalize();
        bytes.extend_from_slice(&tag.into_bytes()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(&bytes)
    }

    /// Decodes and authenticates a token of `kind`; returns its body (no allocation).
    fn open(&self, token: &str, kind: u8, body_len: usize) -> Result<(Body, u8), TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let mut buf = [0u8; MAX_TOKEN_CHARS * 3 / 4];
        let len = URL_SAFE_NO_PAD
            .decode_slice(token, &mut buf)
            .map_err(|_| TokenError::Malformed)?;
        let bytes = buf.get(..len).ok_or(TokenError::Malformed)?;
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let (header, body) = signed.split_at(HEADER_LEN);
        let [version, found_kind, id_hi, id_lo] = [header[0], header[1], header[2], header[3]];
        if version != VERSION {
            return Err(TokenError::Malformed);
        }
        let key = self
            .find(KeyId(u16::from_be_bytes([id_hi, id_lo])))
            .ok_or(TokenError::UnknownKey)?;
        key.mac
            .clone()
            .chain_update(signed)
            .verify_truncated_left(tag)
            .map_err(|_| TokenError::BadSignature)?;
        // Authentic from here on: the remaining checks are about where it is presented.
        let same_kind =
            found_kind == kind || (kind == KIND_TICKET && found_kind == KIND_VERIFIED_TICKET);
        if !same_kind {
            return Err(
                if matches!(found_kind, KIND_TICKET | KIND_PASS | KIND_VERIFIED_TICKET) {
                    TokenError::WrongKind
                } else {
                    TokenError::Malformed
                },
            );
        }
        let expected_len = if found_kind == KIND_VERIFIED_TICKET {
            VERIFIED_BODY_LEN
        } else {
            body_len
        };
        if body.len() != expected_len {
            return Err(TokenError::Malformed);
        }
        let mut out = [0u8; MAX_BODY_LEN];
        out.get_mut(..expected_len)
            .ok_or(TokenError::Malformed)?
            .copy_from_slice(body);
        Ok((out, found_kind))
    }

    /// Signs a ticket with the current key (a verified ticket when it names its person).
    pub fn sign_ticket(&self, ticket: &Ticket) -> String {
        let mut body = [0u8; MAX_BODY_LEN];
        let mut w = Writer(&mut body, 0);
        w.put(&ticket.queue.0.to_be_bytes());
        w.put(&[ticket.class.to_byte()]);
        w.put(&ticket.seq.to_be_bytes());
        w.put(&ticket.session.0);
        w.put(&ticket.issued_at_ms.to_be_bytes());
        debug_assert_eq!(w.1, TICKET_BODY_LEN);
        match ticket.verified {
            None => self.seal(KIND_TICKET, &body[..TICKET_BODY_LEN]),
            Some(v) => {
                w.put(&v.person.to_be_bytes());
                w.put(&v.draw.unwrap_or(NONE).to_be_bytes());
                debug_assert_eq!(w.1, VERIFIED_BODY_LEN);
                self.seal(KIND_VERIFIED_TICKET, &body[..VERIFIED_BODY_LEN])
            }
        }
    }

    /// Signs a pass with the current key.
    pub fn sign_pass(&self, pass: &Pass) -> String {
        let mut body = [0u8; PASS_BODY_LEN];
        let mut w = Writer(&mut body, 0);
        w.put(&pass.queue.0.to_be_bytes());
        w.put(&pass.session.0);
        w.put(&pass.rank.0.to_be_bytes());
        w.put(&pass.expires_at_ms.to_be_bytes());
        w.put(&pass.person.unwrap_or(NONE).to_be_bytes());
        debug_assert_eq!(w.1, PASS_BODY_LEN);
        self.seal(KIND_PASS, &body)
    }

    /// Verifies a ticket presented for `queue`. Tickets do not expire: a ticket is valid as long as
    /// its queue exists (its place is kept), and a new opening uses a new queue id.
    pub fn verify_ticket(&self, token: &str, queue: QueueId) -> Result<Ticket, TokenError> {
        let (body, kind) = self.open(token, KIND_TICKET, TICKET_BODY_LEN)?;
        let mut r = Reader(&body, 0);
        let mut ticket = Ticket {
            queue: QueueId(u32::from_be_bytes(r.take())),
            class: Class::from_byte(r.take::<1>()[0]).ok_or(TokenError::Malformed)?,
            seq: u64::from_be_bytes(r.take()),
            session: SessionId(r.take()),
            issued_at_ms: u64::from_be_bytes(r.take()),
            verified: None,
        };
        if kind == KIND_VERIFIED_TICKET {
            let person = u64::from_be_bytes(r.take());
            let draw = u64::from_be_bytes(r.take());
            ticket.verified = Some(Verified {
                person,
                draw: (draw != NONE).then_some(draw),
            });
        }
        if ticket.queue != queue {
            return Err(TokenError::WrongQueue);
        }
        Ok(ticket)
    }

    /// Verifies a pass presented for `queue` by `session` at `now_ms` (server clock; nothing the
    /// client says about time is read).
    pub fn verify_pass(
        &self,
        token: &str,
        queue: QueueId,
        session: &SessionId,
        now_ms: u64,
    ) -> Result<Pass, TokenError> {
        let (body, _) = self.open(token, KIND_PASS, PASS_BODY_LEN)?;
        let mut r = Reader(&body, 0);
        let pass = Pass {
            queue: QueueId(u32::from_be_bytes(r.take())),
            session: SessionId(r.take()),
            rank: Rank(u64::from_be_bytes(r.take())),
            expires_at_ms: u64::from_be_bytes(r.take()),
            person: Some(u64::from_be_bytes(r.take())).filter(|&p| p != NONE),
        };
        if pass.queue != queue {
            return Err(TokenError::WrongQueue);
        }
        if pass.session != *session {
            return Err(TokenError::WrongSession);
        }
        if now_ms >= pass.expires_at_ms {
            return Err(TokenError::Expired);
        }
        Ok(pass)
    }
}

struct Writer<'a>(&'a mut [u8], usize);

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.1 + bytes.len();
        if let Some(dst) = self.0.get_mut(self.1..end) {
            dst.copy_from_slice(bytes);
        }
        self.1 = end;
    }
}

/// Reads fixed-size fields; callers have already checked the body length.
struct Reader<'a>(&'a [u8], usize);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.0.get(self.1..self.1 + N) {
            out.copy_from_slice(src);
        }
        self.1 += N;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(id: u16, byte: u8) -> Keyring {
        Keyring::new(KeyId(id), &KeyMaterial([byte; 32]))
    }

    fn ticket() -> Ticket {
        Ticket {
            queue: QueueId(7),
            class: Class::Pre,
            seq: 123_456,
            session: SessionId([9; 16]),
            issued_at_ms: 1_626_692_399_999,
            verified: None,
        }
    }

    fn pass() -> Pass {
        Pass {
            queue: QueueId(7),
            session: SessionId([9; 16]),
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
        let token = k.sign_ticket(&t);
        assert_eq!(token.len(), 76);
        assert_eq!(k.verify_ticket(&token, QueueId(7)), Ok(t));
        let t2 = Ticket {
            class: Class::Fifo,
            seq: u64::MAX,
            ..t
        };
        assert_eq!(k.verify_ticket(&k.sign_ticket(&t2), QueueId(7)), Ok(t2));
        for draw in [Some(0), Some(u64::MAX - 1), None] {
            let v = Ticket {
                verified: Some(Verified { person: 3, draw }),
                ..t
            };
            let token = k.sign_ticket(&v);
            assert_eq!(token.len(), 98);
            assert_eq!(k.verify_ticket(&token, QueueId(7)), Ok(v));
            assert_eq!(
                k.verify_pass(&token, QueueId(7), &v.session, 0),
                Err(TokenError::WrongKind),
                "a verified ticket is not a pass either"
            );
        }
    }

    #[test]
    fn pass_round_trip_and_size() {
        let k = ring(1, 0xAB);
        let p = pass();
        let token = k.sign_pass(&p);
        assert_eq!(token.len(), 86);
        assert_eq!(
            k.verify_pass(&token, QueueId(7), &p.session, 999_999),
            Ok(p)
        );
        let unbound = Pass { person: None, ..p };
        assert_eq!(
            k.verify_pass(&k.sign_pass(&unbound), QueueId(7), &p.session, 0),
            Ok(unbound)
        );
    }

    #[test]
    fn every_single_bit_flip_of_a_ticket_is_rejected() {
        let k = ring(1, 0xAB);
        let token = k.sign_ticket(&ticket());
        for bit in 0..57 * 8 {
            let bad = flip(&token, bit);
            let err = k.verify_ticket(&bad, QueueId(7));
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
        let token = k.sign_pass(&p);
        for bit in 0..64 * 8 {
            let bad = flip(&token, bit);
            assert!(
                k.verify_pass(&bad, QueueId(7), &p.session, 0).is_err(),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn changed_fields_with_the_old_tag_are_rejected() {
        let k = ring(1, 0xAB);
        let t = ticket();
        let token = k.sign_ticket(&t);
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
                session: SessionId([1; 16]),
                ..t
            },
            Ticket {
                issued_at_ms: 0,
                ..t
            },
        ];
        for v in variants {
            // Re-sign with another key, then graft the genuine tag: the forged body must fail.
            let other = ring(1, 0xCD).sign_ticket(&v);
            let mut bytes = URL_SAFE_NO_PAD.decode(&other).unwrap_or_default();
            bytes[57 - 16..].copy_from_slice(tag);
            let forged = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                k.verify_ticket(&forged, QueueId(7)),
                Err(TokenError::BadSignature)
            );
            assert_eq!(
                k.verify_ticket(&other, QueueId(7)),
                Err(TokenError::BadSignature)
            );
        }
    }

    #[test]
    fn ticket_as_pass_and_pass_as_ticket_are_rejected() {
        let k = ring(1, 0xAB);
        let t = k.sign_ticket(&ticket());
        assert_eq!(
            k.verify_pass(&t, QueueId(7), &SessionId([9; 16]), 0),
            Err(TokenError::WrongKind)
        );
        let p = k.sign_pass(&pass());
        assert_eq!(k.verify_ticket(&p, QueueId(7)), Err(TokenError::WrongKind));
    }

    #[test]
    fn other_queue_other_session_expired() {
        let k = ring(1, 0xAB);
        let p = pass();
        let token = k.sign_pass(&p);
        assert_eq!(
            k.verify_pass(&token, QueueId(8), &p.session, 0),
            Err(TokenError::WrongQueue)
        );
        assert_eq!(
            k.verify_pass(&token, QueueId(7), &SessionId([1; 16]), 0),
            Err(TokenError::WrongSession)
        );
        assert_eq!(
            k.verify_pass(&token, QueueId(7), &p.session, p.expires_at_ms),
            Err(TokenError::Expired)
        );
        assert_eq!(
            k.verify_pass(&token, QueueId(7), &p.session, p.expires_at_ms - 1),
            Ok(p)
        );
        let t = k.sign_ticket(&ticket());
        assert_eq!(k.verify_ticket(&t, QueueId(8)), Err(TokenError::WrongQueue));
    }

    #[test]
    fn unknown_key_and_forged_key_are_rejected() {
        let token = ring(2, 0xAB).sign_ticket(&ticket());
        assert_eq!(
            ring(1, 0xAB).verify_ticket(&token, QueueId(7)),
            Err(TokenError::UnknownKey)
        );
        // Same id, other material: a forgery.
        assert_eq!(
            ring(2, 0xAC).verify_ticket(&token, QueueId(7)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
        let old_material = KeyMaterial([1; 32]);
        let new_material = KeyMaterial([2; 32]);
        let before = Keyring::new(KeyId(1), &old_material);
        let old_token = before.sign_ticket(&ticket());

        let after = Keyring::with_older((KeyId(2), &new_material), [(KeyId(1), &old_material)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.verify_ticket(&old_token, QueueId(7)), Ok(ticket()));
        let new_token = after.sign_ticket(&ticket());
        assert_ne!(new_token, old_token);
        assert_eq!(after.current_id(), KeyId(2));
        // The new token carries key id 2 and the old ring does not know it.
        assert_eq!(
            before.verify_ticket(&new_token, QueueId(7)),
            Err(TokenError::UnknownKey)
        );
        // Once the old key is retired, its tokens are refused.
        let retired = Keyring::new(KeyId(2), &new_material);
        assert_eq!(
            retired.verify_ticket(&old_token, QueueId(7)),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn keyring_rejects_duplicates_and_too_many_keys() {
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
            let e = k.verify_ticket(junk, QueueId(7));
            assert!(
                matches!(
                    e,
                    Err(TokenError::Malformed | TokenError::UnknownKey | TokenError::BadSignature)
                ),
                "{junk:?}: {e:?}"
            );
        }
        // A genuine token with padding or with its last character changed (non-canonical bits).
        let token = k.sign_ticket(&ticket());
        assert_eq!(
            k.verify_ticket(&format!("{token}="), QueueId(7)),
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
                    session: SessionId(s),
                    issued_at_ms: at,
                    verified: None,
                })
        }

        proptest! {
            #[test]
            fn tickets_round_trip(t in any_ticket(), key in any::<[u8; 32]>(), id in any::<u16>()) {
                let k = Keyring::new(KeyId(id), &KeyMaterial(key));
                prop_assert_eq!(k.verify_ticket(&k.sign_ticket(&t), t.queue), Ok(t));
            }

            #[test]
            fn any_byte_change_is_rejected(t in any_ticket(), pos in 0usize..57, x in 1u8..=255) {
                let k = Keyring::new(KeyId(5), &KeyMaterial([7; 32]));
                let mut bytes = URL_SAFE_NO_PAD.decode(k.sign_ticket(&t)).unwrap_or_default();
                bytes[pos] ^= x;
                let bad = URL_SAFE_NO_PAD.encode(&bytes);
                prop_assert!(k.verify_ticket(&bad, t.queue).is_err());
            }

            #[test]
            fn passes_round_trip(q in any::<u32>(), s in any::<[u8; 16]>(), seq in any::<u64>(),
                                 exp in 1u64.., now in any::<u64>()) {
                let k = Keyring::new(KeyId(0), &KeyMaterial([1; 32]));
                let p = Pass { queue: QueueId(q), session: SessionId(s), rank: Rank(seq), expires_at_ms: exp, person: (seq % 2 == 0).then_some(seq / 2) };
                let got = k.verify_pass(&k.sign_pass(&p), QueueId(q), &SessionId(s), now);
                if now < exp {
                    prop_assert_eq!(got, Ok(p));
                } else {
                    prop_assert_eq!(got, Err(TokenError::Expired));
                }
            }
        }
    }
}
