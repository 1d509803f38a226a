//! One signed-token format for every credential yeyak issues and checks itself: waiting-room
//! tickets and passes, identity sessions, family consents, and the operator and staff sign-in
//! cookies. Pure: no I/O, no clock (expiry is checked against a time the caller passes in).
//!
//! A crate of its own because both `queue` (tickets, passes) and `server` (everything else) sign
//! with it, and neither should depend on the other's internals for that.
//!
//! # Wire format (version 1)
//!
//! A token is base64url without padding of these bytes (integers big-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | version, `1` |
//! | 1 | 1 | purpose ([`Purpose`]) |
//! | 2 | 2 | key id ([`KeyId`]) |
//! | 4 | 0–64 | claims, laid out by their type ([`Claims`]) |
//! | end − 16 | 16 | HMAC-SHA256 over every byte before it, truncated to its first 16 bytes |
//!
//! The purpose byte is covered by the MAC, so a token made for one purpose can never be accepted
//! for another, even under the same key: it authenticates, then fails with
//! [`TokenError::WrongPurpose`]. There is no algorithm field: version 1 means HMAC-SHA256, so
//! there is nothing to confuse. The tag is compared in constant time (`hmac`'s
//! `verify_truncated_left`). Tokens are signed, not encrypted: claims must not be secret.
//!
//! This is the waiting room's ticket format of 2026 unchanged (tickets and passes already issued
//! stay valid); the other purposes joined it. Purpose bytes never take the values `b's'` and
//! `b'c'`, which the identity sessions and consents of the earlier format had in that place, so
//! the server can tell those apart while it still accepts them (one release).
//!
//! # Keys and rotation
//!
//! A [`Keyring`] holds one current key, which signs, and up to [`MAX_KEYS`]` - 1` older ones,
//! which still verify. Rotating is building the next ring with a new current key and the old one
//! among the older; retiring is leaving a key out, after which its tokens fail with
//! [`TokenError::UnknownKey`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use std::fmt;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The format's version byte.
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 4;
/// Bytes of the truncated HMAC-SHA256 tag.
pub const TAG_LEN: usize = 16;
/// Longest claims body any purpose may carry.
pub const MAX_CLAIMS_LEN: usize = 64;
/// Longest token text accepted before any decoding work is done (the longest token's text).
pub const MAX_TOKEN_CHARS: usize = (HEADER_LEN + MAX_CLAIMS_LEN + TAG_LEN).div_ceil(3) * 4;
/// At most this many keys in a ring (one current plus older ones still accepted).
pub const MAX_KEYS: usize = 16;

/// What a token is for. Inside the MAC: a token is accepted only for the purposes its claims type
/// lists ([`Claims::PURPOSES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A place in the waiting room (`queue::Ticket`).
    Ticket,
    /// A ticket whose holder proved who they are while waiting (`queue::Ticket` with a person).
    VerifiedTicket,
    /// Admission to the booking side (`queue::Pass`).
    Pass,
    /// A person who passed the identity check (`server::session::IdentitySession`).
    IdentitySession,
    /// A family member's consent to be booked by someone else (`server::session::Consent`).
    FamilyConsent,
    /// An operator signed in on the operator pages (the operator cookie).
    OperatorSignIn,
    /// Clinic staff or an agent signed in on their desk (the staff cookie).
    StaffSignIn,
}

impl Purpose {
    /// Every purpose, for tests and documentation.
    pub const ALL: [Purpose; 7] = [
        Purpose::Ticket,
        Purpose::VerifiedTicket,
        Purpose::Pass,
        Purpose::IdentitySession,
        Purpose::FamilyConsent,
        Purpose::OperatorSignIn,
        Purpose::StaffSignIn,
    ];

    /// The byte on the wire. Tickets and passes keep the numbers they had before the other
    /// purposes joined; none is `b's'` or `b'c'` (see the crate docs).
    pub const fn byte(self) -> u8 {
        match self {
            Purpose::Ticket => 1,
            Purpose::Pass => 2,
            Purpose::VerifiedTicket => 3,
            Purpose::IdentitySession => 4,
            Purpose::FamilyConsent => 5,
            Purpose::OperatorSignIn => 6,
            Purpose::StaffSignIn => 7,
        }
    }

    pub fn from_byte(byte: u8) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.byte() == byte)
    }
}

/// Which signing key made a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u16);

/// Secret key material for one key id. Supplied by the caller (it must persist across restarts so
/// issued tokens stay valid); never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial(pub [u8; 32]);

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

/// Why a token was refused. Each use maps these to the words its people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token was signed with a key this server does not know (or no longer accepts)")]
    UnknownKey,
    #[error("the token was made for another purpose")]
    WrongPurpose,
    #[error("the token has expired")]
    Expired,
}

/// Why a keyring could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("key id {0:?} appears twice")]
    DuplicateKeyId(KeyId),
    #[error("at most {MAX_KEYS} keys may be held")]
    TooManyKeys,
}

/// A typed claims payload: what one purpose's token says, and how it is laid out.
pub trait Claims: Sized {
    /// The purposes a token of this type may carry; any other authentic token is refused with
    /// [`TokenError::WrongPurpose`].
    const PURPOSES: &'static [Purpose];

    /// The purpose this value is signed for (one of [`Claims::PURPOSES`]).
    fn purpose(&self) -> Purpose;

    /// Writes the claims' fields.
    fn write(&self, out: &mut ClaimsWriter);

    /// Reads the fields written for `purpose`; `None` when they make no sense (a value out of
    /// range). A body longer or shorter than what is read is refused as malformed.
    fn read(purpose: Purpose, body: &mut ClaimsReader<'_>) -> Option<Self>;

    /// When the token stops being accepted (ms since the Unix epoch), or `None` when it never
    /// expires by itself.
    fn expires_at_ms(&self) -> Option<u64>;
}

/// Builds a claims body (at most [`MAX_CLAIMS_LEN`] bytes).
pub struct ClaimsWriter {
    bytes: [u8; MAX_CLAIMS_LEN],
    len: usize,
}

impl ClaimsWriter {
    pub fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        let dst = self.bytes.get_mut(self.len..end);
        debug_assert!(dst.is_some(), "claims over {MAX_CLAIMS_LEN} bytes");
        if let Some(dst) = dst {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }

    pub fn u8(&mut self, value: u8) {
        self.put(&[value]);
    }

    pub fn u32(&mut self, value: u32) {
        self.put(&value.to_be_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.put(&value.to_be_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.put(&value.to_be_bytes());
    }
}

/// Reads a claims body field by field; every read past its end gives `None`.
pub struct ClaimsReader<'a> {
    body: &'a [u8],
    at: usize,
}

impl ClaimsReader<'_> {
    pub fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.body.get(self.at..self.at + N)?;
        self.at += N;
        bytes.try_into().ok()
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }

    pub fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }

    fn finished(&self) -> bool {
        self.at == self.body.len()
    }
}

#[derive(Clone)]
struct Key {
    id: KeyId,
    /// HMAC state with the key already absorbed: cloned per token, so the key is hashed once.
    mac: HmacSha256,
}

fn make_key(id: KeyId, material: &KeyMaterial) -> Key {
    Key {
        id,
        mac: <HmacSha256 as KeyInit>::new_from_slice(&material.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
    }
}

/// Signing keys by id: the current one signs, older ones are still accepted so keys can rotate
/// across restarts without invalidating tokens already issued.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    older: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("older", &self.older_ids().collect::<Vec<_>>())
            .finish()
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

    /// The ids still accepted besides the current one.
    pub fn older_ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.older.iter().map(|k| k.id)
    }

    /// Whether tokens signed with `id` are accepted.
    pub fn accepts(&self, id: KeyId) -> bool {
        self.find(id).is_some()
    }

    fn find(&self, id: KeyId) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(self.older.iter())
            .find(|k| k.id == id)
    }

    /// Signs `claims` with the current key.
    pub fn sign<C: Claims>(&self, claims: &C) -> String {
        let purpose = claims.purpose();
        debug_assert!(C::PURPOSES.contains(&purpose));
        let mut body = ClaimsWriter {
            bytes: [0; MAX_CLAIMS_LEN],
            len: 0,
        };
        claims.write(&mut body);
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len + TAG_LEN);
        bytes.push(VERSION);
        bytes.push(purpose.byte());
        bytes.extend_from_slice(&self.current.id.0.to_be_bytes());
        bytes.extend_from_slice(body.bytes.get(..body.len).unwrap_or_default());
        let tag = self.current.mac.clone().chain_update(&bytes).finalize();
        bytes.extend_from_slice(&tag.into_bytes()[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(&bytes)
    }

    /// Checks a token of type `C` and its expiry at `now_ms` (the server's clock, passed in).
    pub fn verify<C: Claims>(&self, token: &str, now_ms: u64) -> Result<C, TokenError> {
        let claims = self.open::<C>(token)?;
        match claims.expires_at_ms() {
            Some(expires_at_ms) if now_ms >= expires_at_ms => Err(TokenError::Expired),
            _ => Ok(claims),
        }
    }

    /// Checks a token of type `C` whose claims never expire by themselves (a waiting-room ticket
    /// lives as long as its queue): version, key, MAC, purpose and layout; no expiry.
    pub fn verify_lasting<C: Claims>(&self, token: &str) -> Result<C, TokenError> {
        let claims = self.open::<C>(token)?;
        debug_assert!(claims.expires_at_ms().is_none(), "use `verify`");
        Ok(claims)
    }

    /// Decodes and authenticates a token, then reads its claims (no allocation).
    fn open<C: Claims>(&self, token: &str) -> Result<C, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let mut buf = [0u8; MAX_TOKEN_CHARS * 3 / 4];
        let len = URL_SAFE_NO_PAD
            .decode_slice(token, &mut buf)
            .map_err(|_| TokenError::Malformed)?;
        let bytes = buf.get(..len).ok_or(TokenError::Malformed)?;
        let signed_len = bytes
            .len()
            .checked_sub(TAG_LEN)
            .filter(|&n| n >= HEADER_LEN)
            .ok_or(TokenError::Malformed)?;
        let (signed, tag) = bytes.split_at(signed_len);
        let (header, body) = signed.split_at(HEADER_LEN);
        let [version, purpose, id_hi, id_lo] = [header[0], header[1], header[2], header[3]];
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
        // Authentic from here on: what is left is whether it is the right kind of token.
        let purpose = Purpose::from_byte(purpose).ok_or(TokenError::Malformed)?;
        if !C::PURPOSES.contains(&purpose) {
            return Err(TokenError::WrongPurpose);
        }
        let mut reader = ClaimsReader { body, at: 0 };
        let claims = C::read(purpose, &mut reader).ok_or(TokenError::Malformed)?;
        if !reader.finished() {
            return Err(TokenError::Malformed);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests;
