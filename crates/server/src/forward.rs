//! Several nodes on PostgreSQL: a node that does not hold the ledger's lease (a standby) still
//! takes bookings, by forwarding each write to the node that holds it, at the address the holder
//! recorded in the lease row (`serve --advertise`). The client's answer is the holder's, so the
//! guarantees are the writer's: acknowledged only after commit, and a retry with the same
//! `Idempotency-Key` learns the outcome of a request whose answer was lost.
//!
//! What is forwarded, and how:
//! - the booking side's writes (book, cancel, change, accept a move, leftover subscription and
//!   claim) go to `PREFIX` + their path on the holder, after this node checked the pass (its
//!   waiting room counts the session, not the holder's). The holder takes them only with this
//!   node's signature ([`relay::require_forwarded`]): an HMAC, keyed from the shared session key, over the
//!   method, path, time and idempotency key;
//! - an identity check is started and finished here (the one-time code lives in this node's
//!   memory, and this node texts it) and only its write, finding or creating the person, goes
//!   to the holder, as plain data ([`PlainWrite`], [`WRITES_PATH`]; [`relay::ensure_person`]);
//! - agent, clinic-staff and operator writes go to the same path on the holder, which checks
//!   their tokens itself (audit lines are written there, with the effect); the audit line of
//!   such a request answered here without the writer goes to home's holder as plain data
//!   ([`relay::audit`]).
//!
//! With the ledger in parts spread over the nodes, a node runs each write itself and forwards
//! it only when the writer of its part here stands by (`WriteError::Elsewhere`, which the
//! answer carries as [`crate::error::WrittenElsewhere`]: nothing was done), to that part's
//! holder ([`Forwarding::holder_of`]).
//!
//! Bounded: one try, [`TIMEOUT`], no retry here (the client retries). When the holder is unknown
//! (none advertised, its lease lapsed) or cannot be reached, the request is answered here, as
//! before: 503 `storage_unavailable` + `Retry-After`, nothing done. When it was sent but no answer
//! came back, the outcome is unknown: 503 `timeout`, retry with the same key. A forwarded request
//! is never forwarded again, so two nodes that disagree for a moment about who holds the ledger
//! do not bounce it between them.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::partition::Part;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use store::AuditEntry;
use store::writer::{EnsurePerson, EnsuredPerson, Fault, Health, WriteError, Writer};

pub mod relay;

/// Where a holder takes the booking side's forwarded writes (followed by the original path).
pub const PREFIX: &str = "/api/internal/v1/forwarded";
/// Where a holder takes the writes of plain data other nodes make ([`PlainWrite`]).
pub const WRITES_PATH: &str = "/api/internal/v1/writes";
/// How long a forwarded write may take, answer included: a group commit is milliseconds; a
/// holder slower than this is in trouble, and the client is better off told to retry.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How far apart two nodes' clocks and a forwarded request's trip may be.
const SIGNED_WITHIN_MS: i64 = 60_000;

const SIGNATURE: &str = "x-yeyak-forwarded";
const SIGNED_AT: &str = "x-yeyak-forwarded-at";

/// What a node needs to forward writes, and what it counts.
pub struct Forwarding {
    /// Each part's lease as this node sees it, home first; none on SQLite.
    leases: Vec<store::postgres::LeaseView>,
    client: reqwest::Client,
    key: [u8; 32],
    /// Writes answered by the holder.
    pub answered: AtomicU64,
    /// Writes the holder could not be reached for (answered here, 503).
    pub unreachable: AtomicU64,
    /// Writes sent whose answer did not come back (503 `timeout`).
    pub lost: AtomicU64,
}

/// Where to send a write, and the holder's epoch when it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub owner: String,
    pub epoch: i64,
    pub address: String,
}

impl Forwarding {
    /// `leases`: on PostgreSQL, this node's view of each part's lease, home first (one for the
    /// whole ledger); none on SQLite (one node: nothing to forward). `token_key`: the session
    /// key every node shares.
    pub fn new(leases: Vec<store::postgres::LeaseView>, token_key: &[u8; 32]) -> Forwarding {
        let mut mac = hmac(token_key);
        mac.update(b"yeyak: writes forwarded between nodes, v1");
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(1))
            // Below the holder's keep-alive limit (`--header-timeout`, 10 s by default), so a
            // connection it is closing is not picked for a write (whose outcome would be lost).
            .pool_idle_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Forwarding {
            leases,
            client,
            key: mac.finalize().into_bytes().into(),
            answered: AtomicU64::new(0),
            unreachable: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    /// The home part's lease (the whole ledger's when it is not cut).
    pub fn lease(&self) -> Option<&store::postgres::LeaseView> {
        self.leases.first()
    }

    /// Each part's lease, in part order.
    pub fn leases(&self) -> &[store::postgres::LeaseView] {
        &self.leases
    }

    /// For a ledger not cut in parts, the holder to send a write to before running it here:
    /// only while this node stands by (its writer says so, or its lease renewal found the
    /// lease gone before a batch did) and last saw another node holding a live lease with an
    /// address (it looks every ~100 ms). A ledger in parts forwards a request once its part's
    /// writer here said it stands by ([`crate::error::WrittenElsewhere`]).
    pub fn target(&self, writer: &Writer) -> Option<Target> {
        let [lease] = &self.leases[..] else {
            return None;
        };
        if writer.health() != Health::Failing(Fault::Standby) && lease.held().is_some() {
            return None;
        }
        self.holder_of(Part::WHOLE)
    }

    /// The node to send a write for `part` to: the live holder this node last saw (it looks
    /// every ~100 ms), with an address, while this node does not hold the part itself.
    pub fn holder_of(&self, part: Part) -> Option<Target> {
        let lease = self.leases.get(usize::from(part.index()))?;
        if lease.held().is_some() {
            return None;
        }
        let holder = lease.holder()?;
        let address = holder.address.filter(|a| !a.is_empty() && holder.live)?;
        Some(Target {
            owner: holder.owner,
            epoch: holder.epoch,
            address: address.trim_end_matches('/').to_string(),
        })
    }

    /// Whether every part is written here or by a live holder this node can forward to: the
    /// node takes every write it is sent (readiness).
    pub fn writes_every_part(&self, writer: &Writer) -> bool {
        writer
            .parts()
            .all(|(part, stats)| stats.health() == Health::Ready || self.holder_of(part).is_some())
    }

    /// Whether some part is written by another node, to which this one forwards.
    pub fn forwards_some_part(&self, writer: &Writer) -> bool {
        writer
            .parts()
            .any(|(part, stats)| stats.health() != Health::Ready && self.holder_of(part).is_some())
    }

    /// The MAC over what a forwarded request's signature covers.
    fn mac(&self, method: &Method, path: &str, at_ms: i64, key: &str) -> Hmac<Sha256> {
        let mut mac = hmac(&self.key);
        mac.update(format!("{method}\n{path}\n{at_ms}\n{key}").as_bytes());
        mac
    }

    fn sign(&self, method: &Method, path: &str, at_ms: i64, key: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(method, path, at_ms, key).finalize().into_bytes())
    }

    fn signed(&self, method: &Method, path: &str, headers: &HeaderMap, now_ms: i64) -> bool {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(at)) = (text(SIGNATURE), text(SIGNED_AT)) else {
            return false;
        };
        let Ok(at_ms) = at.parse::<i64>() else {
            return false;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        (now_ms - at_ms).abs() <= SIGNED_WITHIN_MS
            && self
                .mac(method, path, at_ms, text("idempotency-key").unwrap_or(""))
                .verify_slice(&signature)
                .is_ok()
    }

    /// Sends a request to the holder and returns its answer as this node's.
    async fn send(
        &self,
        target: &Target,
        prefix: &str,
        parts: &Parts,
        body: Bytes,
        now_ms: i64,
    ) -> Result<Response, Failed> {
        let path = parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |p| p.as_str());
        let idempotency_key = parts
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let signature = self.sign(&parts.method, path, now_ms, idempotency_key);
        let mut request = self
            .client
            .request(
                parts.method.clone(),
                format!("{}{prefix}{path}", target.address),
            )
            .body(body);
        for (name, value) in &parts.headers {
            if !hop_by_hop(name) {
                request = request.header(name, value);
            }
        }
        let sent = request
            .header(SIGNATURE, signature)
            .header(SIGNED_AT, now_ms.to_string())
            .send()
            .await;
        let response = sent.map_err(|e| Failed::of(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|_| Failed::Lost)?;
        let mut answer = Response::new(Body::from(bytes));
        *answer.status_mut() = status;
        for (name, value) in &headers {
            if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
                answer.headers_mut().append(name.clone(), value.clone());
            }
        }
        Ok(answer)
    }

    /// Sends a write made of plain data to the holder of `part` (see [`PlainWrite`]). `None`
    /// when there is no holder to send it to.
    async fn plain(
        &self,
        part: Part,
        write: &PlainWrite,
        now_ms: i64,
    ) -> Option<Result<PlainAnswer, Failed>> {
        let target = self.holder_of(part)?;
        let signature = self.sign(&Method::POST, WRITES_PATH, now_ms, "");
        let sent = self
            .client
            .post(format!("{}{WRITES_PATH}", target.address))
            .header(SIGNATURE, signature)
            .header(SIGNED_AT, now_ms.to_string())
            .json(write)
            .send()
            .await;
        let answer = async {
            let response = sent.map_err(|e| Failed::of(&e))?;
            if !response.status().is_success() {
                return Err(Failed::Refused(response.status()));
            }
            response.json().await.map_err(|_| Failed::Lost)
        }
        .await;
        Some(self.count(answer, &target))
    }

    fn count<T>(&self, result: Result<T, Failed>, target: &Target) -> Result<T, Failed> {
        let counter = match &result {
            Ok(_) | Err(Failed::Refused(_)) => &self.answered,
            Err(Failed::Unreachable) => &self.unreachable,
            Err(Failed::Lost) => &self.lost,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Err(failed) = &result {
            tracing::warn!(?failed, holder = %target.owner, address = %target.address,
                "a write forwarded to the ledger's holder got no answer");
        }
        result
    }
}

/// Why a forwarded write got no answer from the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// Nothing reached it (no connection): nothing was done.
    Unreachable,
    /// Sent, but the answer did not come back in time: the outcome is unknown.
    Lost,
    /// The holder refused the internal call itself (a signature it does not accept, …).
    Refused(StatusCode),
}

impl Failed {
    fn of(error: &reqwest::Error) -> Failed {
        tracing::debug!(%error, "forwarding failed");
        if error.is_connect() {
            Failed::Unreachable
        } else {
            Failed::Lost
        }
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length")
}

/// Headers about one connection, not the request: never passed on.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    ) || name == SIGNATURE
        || name == SIGNED_AT
}

/// A write whose command is plain data, made on a node that does not hold the ledger (the
/// person an identity check found or created), as it travels to the holder. Byte fields are
/// base64url: a registration number's keyed hash (never the number), sealed contacts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlainWrite {
    EnsurePerson {
        rrn_hash: String,
        birth_date: jiff::civil::Date,
        sealed: String,
    },
    /// An audit line of a staff, agent or operator request answered on this node (a read, or
    /// a write that needs no writer): written by the home part's holder.
    Audit(AuditEntry),
}

/// A [`PlainWrite`] as the writer takes it.
enum Decoded {
    EnsurePerson(EnsurePerson),
    Audit(AuditEntry),
}

/// The holder's answer to a [`PlainWrite`]: the person's id for `ensure_person`.
#[derive(Debug, Serialize, Deserialize)]
struct PlainAnswer {
    person: Option<u64>,
    created: bool,
}

impl PlainWrite {
    pub fn ensure_person(person: &EnsurePerson) -> PlainWrite {
        PlainWrite::EnsurePerson {
            rrn_hash: URL_SAFE_NO_PAD.encode(person.rrn_hash),
            birth_date: person.birth_date,
            sealed: URL_SAFE_NO_PAD.encode(&person.sealed),
        }
    }

    /// The write as the writer takes it; `None` when a field does not decode.
    fn decode(self) -> Option<Decoded> {
        let bytes = |text: &str| URL_SAFE_NO_PAD.decode(text).ok();
        Some(match self {
            PlainWrite::EnsurePerson {
                rrn_hash,
                birth_date,
                sealed,
            } => Decoded::EnsurePerson(EnsurePerson {
                rrn_hash: <[u8; 32]>::try_from(bytes(&rrn_hash)?).ok()?,
                birth_date,
                sealed: bytes(&sealed)?,
            }),
            PlainWrite::Audit(entry) => Decoded::Audit(entry),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(signature: &str, at_ms: i64, key: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
        headers.insert(SIGNATURE, value(signature));
        headers.insert(SIGNED_AT, value(&at_ms.to_string()));
        if let Some(key) = key {
            headers.insert("idempotency-key", value(key));
        }
        headers
    }

    #[test]
    fn only_a_node_with_the_shared_key_signs_a_forwarded_write() {
        let node = Forwarding::new(Vec::new(), &[7; 32]);
        let path = "/api/v1/bookings";
        let at = 1_000_000;
        let signature = node.sign(&Method::POST, path, at, "k1");
        let ok = headers(&signature, at, Some("k1"));
        assert!(node.signed(&Method::POST, path, &ok, at + 1_000));
        // Another method, path or idempotency key, a stale time, or another key: refused.
        assert!(!node.signed(&Method::PUT, path, &ok, at));
        assert!(!node.signed(&Method::POST, "/api/v1/bookings/1/cancel", &ok, at));
        assert!(!node.signed(
            &Method::POST,
            path,
            &headers(&signature, at, Some("k2")),
            at
        ));
        assert!(!node.signed(&Method::POST, path, &ok, at + SIGNED_WITHIN_MS + 1));
        let stranger = Forwarding::new(Vec::new(), &[8; 32]);
        assert!(!stranger.signed(&Method::POST, path, &ok, at));
        assert!(!node.signed(&Method::POST, path, &HeaderMap::new(), at));
    }
}
