//! One HTTP client for every simulated person: a single `reqwest::Client` (connection reuse),
//! an optional bound on requests in flight (waiting for a slot is latency too, and is counted
//! apart so a report shows when the generator, not the server, shaped the load; 0 means none, a
//! browser population where every request goes out when its person sends it), and every
//! answer's latency measured from the request's *intended* send time.

use crate::stats::{Endpoint, Stats};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub struct Http {
    pub client: reqwest::Client,
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
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The error code of an error answer.
    pub fn error_code(&self) -> String {
        #[derive(serde::Deserialize)]
        struct E {
            error: String,
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
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(if max_in_flight == 0 {
                usize::MAX
            } else {
                max_in_flight
            })
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Http {
            client,
            base,
            permits: (max_in_flight > 0).then(|| Semaphore::new(max_in_flight)),
            stats,
            zero,
        })
    }

    pub fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
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
        method: reqwest::Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
        intended: Instant,
    ) -> Reply {
        // Boxed so that a waiting person's future stays small.
        Box::pin(self.call_inner(endpoint, method, path, headers, body, intended)).await
    }

    async fn call_inner(
        &self,
        endpoint: Endpoint,
        method: reqwest::Method,
        path: &str,
        mut headers: HeaderMap,
        body: Option<Vec<u8>>,
        intended: Instant,
    ) -> Reply {
        let Ok(_permit) = self.slot().await else {
            return Reply {
                status: 0,
                body: Vec::new(),
                retry_after: None,
            };
        };
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            request = request.body(body);
        }
        let reply = match request.headers(headers).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match response.bytes().await {
                    Ok(bytes) => Reply {
                        status,
                        body: bytes.to_vec(),
                        retry_after,
                    },
                    Err(_) => Reply {
                        status: 0,
                        body: Vec::new(),
                        retry_after: None,
                    },
                }
            }
            Err(_) => Reply {
                status: 0,
                body: Vec::new(),
                retry_after: None,
            },
        };
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        let now = Instant::now();
        let latency_us = now.saturating_duration_since(intended).as_micros() as u64;
        let second = now.saturating_duration_since(self.zero).as_secs() as usize;
        self.stats
            .record(endpoint, reply.status, latency_us, second);
        reply
    }
}
