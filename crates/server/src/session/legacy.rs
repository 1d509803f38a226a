//! The earlier format, read (never written) for one release: `[1, kind, u64 words…, 16-byte
//! HMAC-SHA256 tag]` under `secrets.key`'s token key. Remove with the release after this one.

use crate::secrets::Secrets;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use sha2::Sha256;
use token::TokenError;

pub const KIND_SESSION: u8 = b's';
pub const KIND_CONSENT: u8 = b'c';
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// `None` when the token is not of the earlier format (so the current one applies); its
/// words when it is, authentic, and of `kind`.
pub fn open(token: &str, keys: &Secrets, kind: u8) -> Result<Option<Vec<u64>>, TokenError> {
    // The first four characters hold the first three bytes: enough to tell the formats
    // apart without decoding a current token twice.
    let head = token.get(..4).and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
    let Some([VERSION, found, ..]) = head.as_deref() else {
        return Ok(None);
    };
    let found = *found;
    if found != KIND_SESSION && found != KIND_CONSENT {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    let key = keys.legacy_session_key().ok_or(TokenError::UnknownKey)?;
    let body_len = bytes
        .len()
        .checked_sub(TAG_LEN)
        .filter(|n| n.checked_sub(2).is_some_and(|w| w % 8 == 0))
        .ok_or(TokenError::Malformed)?;
    let (body, tag) = bytes.split_at(body_len);
    <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
        .chain_update(body)
        .verify_truncated_left(tag)
        .map_err(|_| TokenError::BadSignature)?;
    if found != kind {
        return Err(TokenError::WrongPurpose);
    }
    let words: Vec<u64> = body[2..]
        .chunks_exact(8)
        .filter_map(|c| c.try_into().ok().map(u64::from_be_bytes))
        .collect();
    let expected = if kind == KIND_SESSION { 2 } else { 3 };
    if words.len() != expected {
        return Err(TokenError::Malformed);
    }
    Ok(Some(words))
}

/// The expiry word as a time, refused once it has passed.
pub fn unexpired(word: u64, now: Timestamp) -> Result<Timestamp, TokenError> {
    let expires_at = i64::try_from(word)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .ok_or(TokenError::Malformed)?;
    if expires_at <= now {
        return Err(TokenError::Expired);
    }
    Ok(expires_at)
}

/// An identity session or consent as the earlier format signed it, for tests.
#[cfg(test)]
pub fn sign(key: &[u8; 32], kind: u8, words: &[u64]) -> String {
    let mut bytes = vec![VERSION, kind];
    for word in words {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    let tag = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!())
        .chain_update(&bytes)
        .finalize()
        .into_bytes();
    bytes.extend_from_slice(&tag[..TAG_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}
