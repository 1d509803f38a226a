//! One HTTP client for every simulated person: the generator's own lean client
//! ([`crate::client`], kept-alive connections), an optional bound on requests in flight (waiting for a slot is latency too, and is counted
//! apart so a report shows when the generator, not the server, shaped the load; 0 means none, a
//! browser population where every request goes out when its person sends it), and every
//! answer's latency measured from the request's *intended* send time.

use crate::client::Client;
use crate::stats::{Endpoint, Latency, Stats};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName};
use http::{Method, Uri};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub struct Http {
    pub client: Client,
    pub base: String,
    /// `None`: no bound.
    permits: Option<Semaphore>,
    pub stats: Arc<Stats>,
    /// Timeline index 0.
    pub zero: Instant,
}

/// An answer: status (0 for a transport error or timeout), body and Retry-After.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub retry_after: Option<Duration>,
}

impl Reply {
    fn none() -> Reply {
        Reply {
            status: 0,
            body: Bytes::new(),
            retry_after: None,
        }
    }
}

impl Reply {
    /// The body read as `T`, which may borrow from it.
    pub fn json<'a, T: serde::Deserialize<'a>>(&'a self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The error code of an error answer.
    pub fn error_code(&self) -> Cow<'_, str> {
        #[derive(serde::Deserialize)]
        struct E<'a> {
            #[serde(borrow)]
            error: Cow<'a, str>,
        }
        self.json::<E>().map(|e| e.error).unwrap_or_default()
    }
}

pub const WAITING_SESSION: HeaderName = HeaderName::from_static("x-yeyak-waiting-session");
pub const TICKET: HeaderName = HeaderName::from_static("x-yeyak-ticket");
pub const PASS: HeaderName = HeaderName::from_static("x-yeyak-pass");
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

impl Http {
    pub fn new(
        base: String,
        max_in_flight: usize,
        stats: Arc<Stats>,
        zero: Instant,
    ) -> anyhow::Result<Http> {
        Ok(Http {
            client: Client::new(&base)?,
            base,
            permits: (max_in_flight > 0).then(|| Semaphore::new(max_in_flight)),
            stats,
            zero,
        })
    }

    /// One of the `max_in_flight` slots (none needed without a bound), counting a wait for it.
    async fn slot(&self) -> Result<Option<tokio::sync::SemaphorePermit<'_>>, ()> {
        let Some(permits) = &self.permits else {
            return Ok(None);
        };
        if let Ok(permit) = permits.try_acquire() {
            return Ok(Some(permit));
        }
        let waited = Instant::now();
        let permit = permits.acquire().await.map_err(|_| ())?;
        let us = waited.elapsed().as_micros() as u64;
        self.stats.client_waits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .client_wait_max_us
            .fetch_max(us, Ordering::Relaxed);
        Ok(Some(permit))
    }

    /// Sends a request meant to leave at `intended` and records how long after that the answer
    /// came (queueing in the client counts: the server cannot hide behind a slow generator).
    pub async fn call(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: Uri,
        headers: &HeaderMap,
        body: Option<Bytes>,
        intended: Instant,
    ) -> Reply {
        // Boxed so that a waiting person's future stays small.
        Box::pin(self.call_inner(endpoint, method, path, headers, body, intended)).await
    }

    async fn call_inner(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: Uri,
        headers: &HeaderMap,
        body: Option<Bytes>,
        intended: Instant,
    ) -> Reply {
        let Ok(_permit) = self.slot().await else {
            return Reply::none();
        };
        let slotted = Instant::now();
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let reply = match self.client.send(method, path, headers, body).await {
            Ok(answer) => Reply {
                status: answer.status,
                body: answer.body,
                retry_after: answer.retry_after,
            },
            Err(_) => Reply::none(),
        };
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        let now = Instant::now();
        let latency = Latency {
            from_intended_us: now.saturating_duration_since(intended).as_micros() as u64,
            from_slot_us: now.saturating_duration_since(slotted).as_micros() as u64,
        };
        let second = now.saturating_duration_since(self.zero).as_secs() as usize;
        self.stats.record(endpoint, reply.status, latency, second);
        if (400..500).contains(&reply.status) {
            self.stats
                .refusal(endpoint, reply.status, &reply.error_code());
        }
        reply
    }
}
