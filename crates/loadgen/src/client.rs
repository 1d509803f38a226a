//! The generator's own HTTP/1.1 client for the simulated people's requests: kept-alive
//! connections to one address, one request at a time on each, as a browser's connections are.
//!
//! Written on hyper's connection API rather than used through `reqwest`, because the generator
//! must cost far less than the server it measures (issue 12: ≤ 15 µs of CPU per request), and
//! per request `reqwest` parses a URL, looks its pool up by scheme and host behind a lock and
//! wraps the body and headers in its own types. Here a request is a path, its headers and a
//! body; the address is parsed once. Plain `http://` only: the generator talks to yeyak or to
//! the load balancer in front of it, on the same network.
//!
//! An idle connection is used again only within [`IDLE_MAX`] (the server closes keep-alive
//! connections idle for its header timeout, 10 s by default), and a request that a reused
//! connection could not take (it was closing) goes out once more on a new one; a request that
//! was sent and got no answer is the caller's to retry, as a person's browser would.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long an idle connection is kept for the next request.
pub const IDLE_MAX: Duration = Duration::from_secs(4);
/// Connecting, and a whole request with its answer, may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer: its status, `Retry-After` in seconds, and body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failed {
    Connect(std::io::Error),
    Http(hyper::Error),
    TimedOut,
}

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

pub struct Client {
    /// `host:port`, as connected to.
    address: String,
    host: HeaderValue,
    idle: Mutex<Vec<Idle>>,
    /// Connections opened so far (each is a TCP and HTTP handshake).
    pub connections: AtomicU64,
}

impl Client {
    /// A client for `base`, an `http://host:port` address (a trailing `/` is ignored).
    pub fn new(base: &str) -> anyhow::Result<Client> {
        let address = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("the target must be an http:// address: {base}"))?
            .trim_end_matches('/');
        anyhow::ensure!(
            !address.is_empty() && !address.contains('/'),
            "the target must be http://host:port, without a path: {base}"
        );
        Ok(Client {
            address: address.to_string(),
            host: HeaderValue::from_str(address)?,
            idle: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
        })
    }

    /// Sends one request to `path` (a path and query) with the caller's `headers` and a JSON
    /// `body`, and reads its whole answer.
    pub async fn send(
        &self,
        method: Method,
        path: Uri,
        headers: &HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Answer, Failed> {
        let json_body = body.is_some();
        let mut request = Request::new(Full::new(body.unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = path;
        *request.headers_mut() = self.request_headers(headers, json_body);
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request))
            .await
            .unwrap_or(Err(Failed::TimedOut))
    }

    /// The caller's headers with `Host` and, for a body, its type: built at their final size
    /// (a clone grown by two would be allocated twice).
    fn request_headers(&self, headers: &HeaderMap, json_body: bool) -> HeaderMap {
        let mut all = HeaderMap::with_capacity(headers.len() + 2);
        all.insert(HOST, self.host.clone());
        if json_body {
            all.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (name, value) in headers {
            all.append(name.clone(), value.clone());
        }
        all
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<Answer, Failed> {
        let (mut sender, reused) = match self.reuse().await {
            Some(sender) => (sender, true),
            None => (self.connect().await?, false),
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            Err(mut error) => match error.take_message() {
                // Never written: the reused connection was closing. Once more on a new one.
                Some(request) if reused => {
                    sender = self.connect().await?;
                    sender.send_request(request).await.map_err(Failed::Http)?
                }
                _ => return Err(Failed::Http(error.into_error())),
            },
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let read = response.into_body().collect().await.map_err(Failed::Http)?;
        // A copy of its own: the answer hyper hands over is a slice of the connection's read
        // buffer, and a person holds their last answer while they wait, which kept a whole
        // buffer (8 KiB or more) alive per waiting person: a full night's generator held
        // 9.7 GiB for 600,000 of them. The slice is dropped here, with `read`.
        let body = Bytes::copy_from_slice(&read.to_bytes());
        self.put_back(sender);
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// An idle connection that is still open, was idle for less than [`IDLE_MAX`], and is
    /// ready for the next request.
    async fn reuse(&self) -> Option<SendRequest<Full<Bytes>>> {
        loop {
            let connection = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            if connection.since.elapsed() >= IDLE_MAX || connection.sender.is_closed() {
                continue;
            }
            let mut sender = connection.sender;
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    fn put_back(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The most recently used last: `reuse` takes it first, and the stale ones age out at
        // the bottom, dropped when they come up.
        idle.push(Idle {
            sender,
            since: Instant::now(),
        });
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failed> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
            .await
            .map_err(|_| Failed::TimedOut)?
            .map_err(Failed::Connect)?;
        stream.set_nodelay(true).map_err(Failed::Connect)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Failed::Http)?;
        tokio::spawn(connection);
        self.connections.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }
}

/// Lets this process hold as many connections as the system allows it: the soft limit on open
/// files raised to the hard one. A browser population (`client.max_in_flight = 0`) opens a
/// connection for every request in flight, and a slow server means many in flight; the soft
/// limit (often 1,024) would otherwise turn a slow server into the generator's own `EMFILE`
/// errors. A spawned server inherits the raised limit. Returns the limit now in force.
pub fn raise_open_files_limit() -> std::io::Result<Option<u64>> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(getrlimit(Resource::Nofile).current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_http_address_without_a_path_is_taken() {
        assert!(Client::new("http://127.0.0.1:8080").is_ok());
        assert!(Client::new("http://127.0.0.1:8080/").is_ok());
        assert!(Client::new("https://127.0.0.1:8080").is_err());
        assert!(Client::new("http://127.0.0.1:8080/api").is_err());
        assert!(Client::new("http://").is_err());
    }

    /// Answers every request on every connection it accepts with `answer`, keeping the
    /// connection open; returns its `http://` address.
    async fn server_answering(answer: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local address: {e}"));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    // One read per request: the test's requests are small and have no body.
                    while matches!(stream.read(&mut request).await, Ok(n) if n > 0) {
                        if stream.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn an_answer_keeps_no_connection_buffer_alive() {
        let base = server_answering(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"state\":\"ready\"}",
        )
        .await;
        let client = Client::new(&base).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..2 {
            let answer = client
                .send(
                    Method::GET,
                    Uri::from_static("/api/v1/queue/status"),
                    &HeaderMap::new(),
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(answer.status, 200);
            assert_eq!(&answer.body[..], br#"{"state":"ready"}"#);
            // A simulated person holds their last answer while they wait: it must hold its own
            // bytes, not the kept-alive connection's read buffer (8 KiB or more) that hyper
            // sliced it from. A unique `Bytes` becomes a `Vec` over the allocation it holds.
            let held: Vec<u8> = answer.body.into();
            assert!(
                held.capacity() < 1024,
                "a 17-byte answer holds an allocation of {} bytes",
                held.capacity()
            );
        }
        assert_eq!(
            client.connections.load(Ordering::Relaxed),
            1,
            "the second request reused the kept-alive connection"
        );
    }
}
