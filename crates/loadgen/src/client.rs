//! The generator's own HTTP/1.1 client for the simulated people's requests: kept-alive
//! connections to one address, one request at a time on each, as a browser's connections are.
//!
//! Written by hand on a `TcpStream`, with `httparse` reading the answers' heads, rather than used
//! through hyper or `reqwest`, because the generator must cost far less than the server it
//! measures (issue 12: ≤ 15 µs of CPU per request). `reqwest` parses a URL per request, looks its
//! pool up behind a lock and wraps body and headers in its own types; hyper's client runs each
//! connection as a task of its own that the requester reaches through a channel, so every
//! request woke two tasks and crossed two channels (the connection tasks were 46% of the
//! generator's samples on the full night of 2026-12-04). Here the person's own task writes the
//! request and reads the answer on the connection it took from the pool: one `write` and, for
//! an answer that fits, one `read`. What it writes is a request line, `Host`, the caller's
//! headers, and `Content-Length` with the body for every method but GET and HEAD; what it reads
//! is an HTTP/1.1 answer framed by `Content-Length`, by chunks, or by the connection's end.
//! Plain `http://` only: the generator talks to yeyak or to the load balancer in front of it,
//! on the same network.
//!
//! An idle connection is used again only within [`IDLE_MAX`] (the server closes keep-alive
//! connections idle for its header timeout, 10 s by default) and only if it is not closing (its
//! end already seen, or stray bytes waiting: checked without waiting before the request is
//! written). A request that was written and got no whole answer fails, and is the caller's to
//! retry, as a person's browser would; it is never sent twice here.

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Uri};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long an idle connection is kept for the next request.
pub const IDLE_MAX: Duration = Duration::from_secs(4);
/// Connecting, and a whole request with its answer, may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// An answer's head (status line and headers) longer than this is refused: yeyak's are a few
/// hundred bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Header lines read from an answer's head; more is refused.
const MAX_HEADERS: usize = 32;
/// An answer's body longer than this is refused rather than held: the largest yeyak answer a
/// person reads (a clinic search) is a few KiB.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How much room a connection's read buffer gets before each read.
const READ_ROOM: usize = 8 * 1024;

/// An answer: its status, `Retry-After` in seconds, and body.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// Its own allocation: a person holds their last answer while they wait.
    pub body: Bytes,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failed {
    Connect(std::io::Error),
    /// Writing the request or reading the answer failed.
    Io(std::io::Error),
    /// The connection ended before the whole answer came.
    Closed,
    /// What came back is not an HTTP/1.1 answer this client reads (the reason).
    Malformed(&'static str),
    TimedOut,
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    /// Neither length nor chunks: the body is what comes until the connection closes.
    UntilClose,
}

/// What an answer's head says, read by [`read_head`].
#[derive(Debug, PartialEq, Eq)]
struct Head {
    /// The head's length in bytes; the body starts there.
    len: usize,
    status: u16,
    retry_after: Option<Duration>,
    framing: Framing,
    /// The server will close the connection after this answer (`Connection: close`).
    closes: bool,
}

/// Reads an answer's head from the start of `bytes`: `None` while it is incomplete.
fn read_head(bytes: &[u8], method: &Method) -> Result<Option<Head>, Failed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() > MAX_HEAD_BYTES => {
            return Err(Failed::Malformed("the answer's head is too long"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Failed::Malformed("the answer has too many headers"));
        }
        Err(_) => return Err(Failed::Malformed("the answer's head is not HTTP/1.x")),
    };
    let status = response.code.unwrap_or_default();
    let mut length = None;
    let mut chunked = false;
    let mut retry_after = None;
    let mut closes = response.version == Some(0);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default().trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = value
                .parse::<usize>()
                .map_err(|_| Failed::Malformed("the answer's Content-Length is not a number"))?;
            if length.is_some_and(|known| known != parsed) {
                return Err(Failed::Malformed("the answer has two Content-Lengths"));
            }
            length = Some(parsed);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if !chunked {
                return Err(Failed::Malformed(
                    "the answer's Transfer-Encoding is not chunked",
                ));
            }
        } else if header.name.eq_ignore_ascii_case("retry-after") {
            retry_after = value.parse::<u64>().ok().map(Duration::from_secs);
        } else if header.name.eq_ignore_ascii_case("connection") {
            closes |= value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"));
        }
    }
    // RFC 9112 §6.3: no body after HEAD, 1xx, 204 and 304; chunked wins over a length.
    let framing = if *method == Method::HEAD || status < 200 || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(length) = length {
        if length > MAX_BODY_BYTES {
            return Err(Failed::Malformed("the answer's body is too long"));
        }
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head {
        len,
        status,
        retry_after,
        framing,
        closes: closes || framing == Framing::UntilClose,
    }))
}

/// Decodes a chunked body from the start of `bytes`: the body and how many bytes it took, or
/// `None` while it is incomplete. Trailers are read past and dropped.
fn read_chunked(bytes: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Failed> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (start, size) = match httparse::parse_chunk_size(&bytes[at..]) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Failed::Malformed("the answer's chunk size is not hex")),
        };
        let size = usize::try_from(size)
            .ok()
            .filter(|size| body.len() + size <= MAX_BODY_BYTES)
            .ok_or(Failed::Malformed("the answer's body is too long"))?;
        at += start;
        if size == 0 {
            return Ok(trailers_end(&bytes[at..]).map(|len| (body, at + len)));
        }
        let Some(chunk) = bytes.get(at..at + size + 2) else {
            return Ok(None);
        };
        if &chunk[size..] != b"\r\n" {
            return Err(Failed::Malformed("the answer's chunk does not end in CRLF"));
        }
        body.extend_from_slice(&chunk[..size]);
        at += size + 2;
    }
}

/// The length of the trailer section and its closing empty line, once all of it is in `bytes`.
fn trailers_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line = bytes[at..].windows(2).position(|w| w == b"\r\n")?;
        at += line + 2;
        if line == 0 {
            return Some(at);
        }
    }
}

/// Writes a request into `out`: the request line, `Host`, the caller's headers and the body.
fn write_request(
    out: &mut Vec<u8>,
    host: &str,
    method: &Method,
    path: &Uri,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) {
    out.clear();
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let target = path.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    if body.is_some() {
        out.extend_from_slice(b"content-type: application/json\r\n");
    }
    if body.is_some() || !matches!(*method, Method::GET | Method::HEAD) {
        // A POST without a body says so, as browsers do: a proxy may refuse one without.
        // Written into the buffer as digits: no string allocated per request.
        let _ = write!(out, "content-length: {}\r\n", body.map_or(0, <[u8]>::len));
    }
    for (name, value) in headers {
        // `HeaderValue` holds no CR or LF: a header cannot smuggle another.
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.unwrap_or_default());
}

/// One kept-alive connection and the buffers it reuses from request to request.
struct Connection {
    stream: TcpStream,
    /// The request being written.
    request: Vec<u8>,
    /// What has been read of the answer.
    read: Vec<u8>,
    /// When it was last put back idle.
    since: Instant,
}

impl Connection {
    /// Whether an idle connection can take a request: the server has not closed it (its end
    /// would be readable) nor sent anything unasked. Never waits.
    fn is_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(
            self.stream.try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }

    /// Reads more of the answer into `read`; the connection's end before the answer is whole is
    /// [`Failed::Closed`].
    async fn read_more(&mut self) -> Result<(), Failed> {
        self.read.reserve(READ_ROOM);
        match self.stream.read_buf(&mut self.read).await {
            Ok(0) => Err(Failed::Closed),
            Ok(_) => Ok(()),
            Err(e) => Err(Failed::Io(e)),
        }
    }

    /// Writes the request in `request` and reads its whole answer; also says whether the
    /// connection can take another request.
    async fn round_trip(&mut self, method: &Method) -> Result<(Answer, bool), Failed> {
        self.stream
            .write_all(&self.request)
            .await
            .map_err(Failed::Io)?;
        self.read.clear();
        let head = loop {
            match read_head(&self.read, method)? {
                // An informational answer (none is asked for) comes before the real one.
                Some(head) if head.status < 200 => {
                    self.read.drain(..head.len);
                }
                Some(head) => break head,
                None => self.read_more().await?,
            }
        };
        let (body, used) = match head.framing {
            Framing::Length(length) => {
                while self.read.len() < head.len + length {
                    self.read_more().await?;
                }
                (
                    Bytes::copy_from_slice(&self.read[head.len..head.len + length]),
                    head.len + length,
                )
            }
            Framing::Chunked => loop {
                if let Some((body, len)) = read_chunked(&self.read[head.len..])? {
                    break (Bytes::from(body), head.len + len);
                }
                self.read_more().await?;
            },
            Framing::UntilClose => loop {
                if self.read.len() - head.len > MAX_BODY_BYTES {
                    return Err(Failed::Malformed("the answer's body is too long"));
                }
                match self.read_more().await {
                    Ok(()) => {}
                    Err(Failed::Closed) => {
                        break (
                            Bytes::copy_from_slice(&self.read[head.len..]),
                            self.read.len(),
                        );
                    }
                    Err(e) => return Err(e),
                }
            },
        };
        // Bytes after the answer were not asked for: the connection is out of step.
        let reusable = !head.closes && used == self.read.len();
        Ok((
            Answer {
                status: head.status,
                retry_after: head.retry_after,
                body,
            },
            reusable,
        ))
    }
}

pub struct Client {
    /// `host:port`, as connected to and sent as `Host`.
    address: String,
    /// Where new connections come from, for a target on this machine's loopback.
    sources: Option<LoopbackSources>,
    idle: Mutex<Vec<Connection>>,
    /// Connections opened so far (each is a TCP handshake).
    pub connections: AtomicU64,
}

/// How many loopback addresses a client's connections to a loopback target come from.
///
/// Why: every connection to one address and port needs a local port of its own, and one source
/// address has 28,232 of them (`net.ipv4.ip_local_port_range`). A browser population on one
/// machine holds thousands of connections open and leaves as many in `TIME_WAIT`, so each
/// `connect` from one address scanned a nearly full range: 64% of the generator's CPU went to the
/// kernel's port search (`__inet_hash_connect`) and the 40% replay stalled at the opening
/// (`bench/generator.md`, 2026-12-04 evening). A real crowd comes from millions of addresses and
/// never meets that limit. Linux routes all of `127.0.0.0/8` to the loopback device, so a
/// connection bound first to one of these addresses reaches a server on `127.0.0.1` like any
/// other, with that address's own ports: 256 of them give about seven million.
pub const LOOPBACK_SOURCES: u32 = 256;
/// The first of the [`LOOPBACK_SOURCES`] addresses (127.1.0.1 onwards), away from 127.0.0.1,
/// which servers and other tools on the machine use.
const FIRST_LOOPBACK_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 1, 0, 1);

/// The loopback addresses a client's connections come from, taken in turn.
struct LoopbackSources {
    target: SocketAddr,
    next: AtomicU32,
    /// Set when binding to them failed (a system whose loopback holds only 127.0.0.1): the
    /// client connects from the address the system picks, as before.
    unavailable: AtomicBool,
}

impl LoopbackSources {
    /// For a target given as a literal IPv4 loopback address; `None` for any other (a target on
    /// another machine is reached from this one's own address, and a name is resolved by the
    /// system at each connect).
    fn for_target(address: &str) -> Option<LoopbackSources> {
        let target: SocketAddr = address.parse().ok()?;
        (target.is_ipv4() && target.ip().is_loopback()).then(|| LoopbackSources {
            target,
            next: AtomicU32::new(0),
            unavailable: AtomicBool::new(false),
        })
    }

    /// The address the next connection comes from.
    fn take(&self) -> Ipv4Addr {
        let n = self.next.fetch_add(1, Ordering::Relaxed) % LOOPBACK_SOURCES;
        Ipv4Addr::from(u32::from(FIRST_LOOPBACK_SOURCE) + n)
    }

    /// A connection to the target from the next source address, or `None` once binding to
    /// them has failed because the system does not have them.
    async fn connect(&self) -> Option<std::io::Result<TcpStream>> {
        if self.unavailable.load(Ordering::Relaxed) {
            return None;
        }
        let bound = tokio::net::TcpSocket::new_v4().and_then(|socket| {
            socket.bind(SocketAddr::from((self.take(), 0)))?;
            Ok(socket)
        });
        match bound {
            Ok(socket) => Some(socket.connect(self.target).await),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                self.unavailable.store(true, Ordering::Relaxed);
                None
            }
            Err(e) => Some(Err(e)),
        }
    }
}

impl Client {
    /// A client for `base`, an `http://host:port` address (a trailing `/` is ignored).
    pub fn new(base: &str) -> anyhow::Result<Client> {
        let address = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("the target must be an http:// address: {base}"))?
            .trim_end_matches('/');
        anyhow::ensure!(
            !address.is_empty()
                && !address.contains('/')
                && address.bytes().all(|b| b.is_ascii_graphic()),
            "the target must be http://host:port, without a path: {base}"
        );
        Ok(Client {
            address: address.to_string(),
            sources: LoopbackSources::for_target(address),
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
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.exchange(&method, &path, headers, body.as_deref()),
        )
        .await
        .unwrap_or(Err(Failed::TimedOut))
    }

    async fn exchange(
        &self,
        method: &Method,
        path: &Uri,
        headers: &HeaderMap,
        body: Option<&[u8]>,
    ) -> Result<Answer, Failed> {
        let mut connection = match self.reuse() {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        write_request(
            &mut connection.request,
            &self.address,
            method,
            path,
            headers,
            body,
        );
        let (answer, reusable) = connection.round_trip(method).await?;
        if reusable {
            self.put_back(connection);
        }
        Ok(answer)
    }

    /// The most recently used idle connection that is still open and was idle for less than
    /// [`IDLE_MAX`].
    fn reuse(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(connection) = idle.pop() {
            if connection.since.elapsed() < IDLE_MAX && connection.is_open() {
                return Some(connection);
            }
        }
        None
    }

    fn put_back(&self, mut connection: Connection) {
        connection.since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The most recently used last: `reuse` takes it first, and the stale ones age out at
        // the bottom, dropped when they come up.
        idle.push(connection);
    }

    /// A new TCP connection to the target: from the next loopback source address when the
    /// target is on loopback and the system has them, from the one it picks otherwise.
    async fn open(&self) -> std::io::Result<TcpStream> {
        if let Some(sources) = &self.sources
            && let Some(connected) = sources.connect().await
        {
            return connected;
        }
        TcpStream::connect(&self.address).await
    }

    async fn connect(&self) -> Result<Connection, Failed> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, self.open())
            .await
            .map_err(|_| Failed::TimedOut)?
            .map_err(Failed::Connect)?;
        stream.set_nodelay(true).map_err(Failed::Connect)?;
        self.connections.fetch_add(1, Ordering::Relaxed);
        Ok(Connection {
            stream,
            request: Vec::with_capacity(1024),
            read: Vec::with_capacity(READ_ROOM),
            since: Instant::now(),
        })
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
    use http::header::HeaderValue;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_a_plain_http_address_without_a_path_is_taken() {
        assert!(Client::new("http://127.0.0.1:8080").is_ok());
        assert!(Client::new("http://127.0.0.1:8080/").is_ok());
        assert!(Client::new("https://127.0.0.1:8080").is_err());
        assert!(Client::new("http://127.0.0.1:8080/api").is_err());
        assert!(Client::new("http://").is_err());
        assert!(Client::new("http://127.0.0.1:8080\r\nx: y").is_err());
    }

    fn head(bytes: &[u8]) -> Head {
        match read_head(bytes, &Method::GET) {
            Ok(Some(head)) => head,
            Ok(None) => panic!("incomplete: {}", String::from_utf8_lossy(bytes)),
            Err(e) => panic!("{e:?}: {}", String::from_utf8_lossy(bytes)),
        }
    }

    #[test]
    fn a_request_is_written_as_http_1_1_with_its_length_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-yeyak-ticket", HeaderValue::from_static("t.1"));
        let mut out = Vec::new();
        let body = br#"{"a":1}"#;
        let path = Uri::from_static("/api/v1/queue/arrive?x=1");
        write_request(&mut out, "h:1", &Method::POST, &path, &headers, Some(body));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "POST /api/v1/queue/arrive?x=1 HTTP/1.1\r\nhost: h:1\r\ncontent-type: application/json\r\n\
             content-length: 7\r\nx-yeyak-ticket: t.1\r\n\r\n{\"a\":1}"
        );
        // A POST without a body says its length is 0; a GET says nothing of one.
        write_request(
            &mut out,
            "h:1",
            &Method::POST,
            &path,
            &HeaderMap::new(),
            None,
        );
        assert!(out.ends_with(b"host: h:1\r\ncontent-length: 0\r\n\r\n"));
        write_request(
            &mut out,
            "h:1",
            &Method::GET,
            &path,
            &HeaderMap::new(),
            None,
        );
        assert_eq!(
            &out[..],
            b"GET /api/v1/queue/arrive?x=1 HTTP/1.1\r\nhost: h:1\r\n\r\n"
        );
    }

    #[test]
    fn an_answer_head_says_its_status_framing_and_retry_after() {
        let busy_bytes =
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\ncontent-length: 2\r\n\r\n{}";
        let busy = head(busy_bytes);
        assert_eq!(busy.status, 503);
        assert_eq!(busy.retry_after, Some(Duration::from_secs(5)));
        assert_eq!(busy.framing, Framing::Length(2));
        assert_eq!(
            busy.len,
            busy_bytes.len() - 2,
            "the body starts after the head"
        );
        assert!(!busy.closes);
        let chunked = head(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 9\r\n\r\n",
        );
        assert_eq!(chunked.framing, Framing::Chunked);
        assert!(
            head(b"HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 0\r\n\r\n")
                .closes
        );
        assert!(head(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").closes);
        let until_close = head(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(until_close.framing, Framing::UntilClose);
        assert!(until_close.closes);
        assert_eq!(
            head(b"HTTP/1.1 204 No Content\r\n\r\n").framing,
            Framing::Length(0)
        );
        assert_eq!(
            head(b"HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n").framing,
            Framing::Length(0)
        );
    }

    #[test]
    fn an_answer_head_that_cannot_be_trusted_is_refused() {
        let refused =
            |bytes: &[u8]| matches!(read_head(bytes, &Method::GET), Err(Failed::Malformed(_)));
        assert!(refused(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n"
        ));
        assert!(refused(b"HTTP/1.1 200 OK\r\ncontent-length: two\r\n\r\n"));
        assert!(refused(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"
        ));
        assert!(refused(
            b"HTTP/1.1 200 OK\r\ncontent-length: 4194305\r\n\r\n"
        ));
        assert!(refused(b"SMTP ready\r\n\r\n"));
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "x: y\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(refused(many.as_bytes()));
        let endless = format!("HTTP/1.1 200 OK\r\nx: {}", "y".repeat(MAX_HEAD_BYTES));
        assert!(refused(endless.as_bytes()));
        // Incomplete is not refused: more may come.
        assert!(matches!(
            read_head(b"HTTP/1.1 200 OK\r\ncontent-", &Method::GET),
            Ok(None)
        ));
    }

    #[test]
    fn a_chunked_body_is_decoded_once_all_of_it_is_in() {
        let whole = b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\nExpires: never\r\n\r\nNEXT";
        let decoded = read_chunked(whole).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(decoded, Some((b"Wikipedia".to_vec(), whole.len() - 4)));
        for cut in 0..whole.len() - 4 {
            assert!(
                matches!(read_chunked(&whole[..cut]), Ok(None)),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            read_chunked(b"4\r\nWikiXX0\r\n\r\n"),
            Err(Failed::Malformed(_))
        ));
        assert!(matches!(read_chunked(b"zz\r\n"), Err(Failed::Malformed(_))));
        assert!(matches!(
            read_chunked(b"ffffffff\r\n"),
            Err(Failed::Malformed(_))
        ));
    }

    /// Accepts connections and on each answers every request with the next of `answers` (in
    /// pieces of at most `piece` bytes), closing the connection after it when `close_after`;
    /// sends every request it read to `requests`. Returns its `http://` address.
    async fn server(
        answers: Vec<&'static [u8]>,
        piece: usize,
        close_after: bool,
    ) -> (String, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local address: {e}"));
        let (requests, received) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut answers = answers.into_iter().cycle();
            while let Ok((mut stream, _)) = listener.accept().await {
                let answer = answers.next().unwrap_or_default();
                let requests = requests.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    // One read per request: the tests' requests are small.
                    while let Ok(n @ 1..) = stream.read(&mut request).await {
                        let _ = requests.send(request[..n].to_vec());
                        for part in answer.chunks(piece) {
                            if stream.write_all(part).await.is_err() {
                                return;
                            }
                            tokio::task::yield_now().await;
                        }
                        if close_after {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{address}"), received)
    }

    /// A client of a [`server`] answering with `answers`, and the requests that server reads.
    async fn client_of(
        answers: Vec<&'static [u8]>,
        piece: usize,
        close_after: bool,
    ) -> (Client, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
        let (base, requests) = server(answers, piece, close_after).await;
        let client = Client::new(&base).unwrap_or_else(|e| panic!("{e}"));
        (client, requests)
    }

    fn keeps_no_idle_connection(client: &Client) -> bool {
        client
            .idle
            .lock()
            .map(|idle| idle.is_empty())
            .unwrap_or(false)
    }

    async fn get(client: &Client) -> Result<Answer, Failed> {
        client
            .send(
                Method::GET,
                Uri::from_static("/api/v1/queue/status"),
                &HeaderMap::new(),
                None,
            )
            .await
    }

    #[tokio::test]
    async fn an_answer_keeps_no_connection_buffer_alive() {
        let (client, _) = client_of(
            vec![b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"state\":\"ready\"}"],
            usize::MAX,
            false,
        ).await;
        for _ in 0..2 {
            let answer = get(&client).await.unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(answer.status, 200);
            assert_eq!(&answer.body[..], br#"{"state":"ready"}"#);
            // A simulated person holds their last answer while they wait: it must hold its own
            // bytes, not the kept-alive connection's read buffer (8 KiB). A unique `Bytes`
            // becomes a `Vec` over the allocation it holds.
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

    #[tokio::test]
    async fn an_answer_in_pieces_and_chunks_is_read_whole_and_the_request_as_sent() {
        let (base, mut requests) = server(
            vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n"],
            3,
            false,
        )
        .await;
        let client = Client::new(&base).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..2 {
            let answer = client
                .send(
                    Method::POST,
                    Uri::from_static("/api/v1/queue/arrive"),
                    &HeaderMap::new(),
                    Some(Bytes::from_static(b"{}")),
                )
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(&answer.body[..], br#"{"a":1}"#);
            let request = requests.recv().await.unwrap_or_default();
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Request::new(&mut headers);
            assert!(
                matches!(parsed.parse(&request), Ok(httparse::Status::Complete(n)) if &request[n..] == b"{}")
            );
            assert_eq!(parsed.method, Some("POST"));
            assert_eq!(parsed.path, Some("/api/v1/queue/arrive"));
        }
        assert_eq!(client.connections.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn connections_to_a_loopback_target_come_from_loopback_addresses_in_turn() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let target = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let client = Client::new(&format!("http://{target}")).unwrap_or_else(|e| panic!("{e}"));
        let mut held = Vec::new();
        let mut peers = Vec::new();
        for _ in 0..3 {
            held.push(client.connect().await.unwrap_or_else(|e| panic!("{e:?}")));
            let (_, peer) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
            peers.push(peer.ip());
        }
        // Each new connection from the next address, none from the server's own.
        let expected: Vec<std::net::IpAddr> = (1..=3)
            .map(|last| std::net::IpAddr::from([127, 1, 0, last]))
            .collect();
        assert_eq!(peers, expected);
        assert_eq!(client.connections.load(Ordering::Relaxed), 3);
        // After the last address comes the first again.
        let sources = client
            .sources
            .as_ref()
            .unwrap_or_else(|| panic!("no sources"));
        sources.next.store(LOOPBACK_SOURCES - 1, Ordering::Relaxed);
        assert_eq!(
            (sources.take(), sources.take()),
            (
                Ipv4Addr::from(u32::from(FIRST_LOOPBACK_SOURCE) + LOOPBACK_SOURCES - 1),
                FIRST_LOOPBACK_SOURCE
            )
        );
    }

    #[test]
    fn only_a_literal_ipv4_loopback_target_is_reached_from_other_loopback_addresses() {
        assert!(LoopbackSources::for_target("127.0.0.1:8080").is_some());
        assert!(LoopbackSources::for_target("127.3.4.5:80").is_some());
        // Another machine is reached from this one's own address; a name is the system's.
        assert!(LoopbackSources::for_target("10.0.0.7:8080").is_none());
        assert!(LoopbackSources::for_target("localhost:8080").is_none());
        assert!(LoopbackSources::for_target("[::1]:8080").is_none());
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_not_used_again() {
        // Closed after each answer without saying so: the next request must notice the
        // connection's end before writing, and go out on a new one.
        let (client, _) = client_of(
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
            usize::MAX,
            true,
        )
        .await;
        for _ in 0..3 {
            let answer = get(&client).await.unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(&answer.body[..], b"ok");
            // Time for the server's FIN to arrive and the runtime to see it.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(client.connections.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn an_answer_that_says_close_or_has_no_length_ends_its_connection() {
        let (client, _) = client_of(
            vec![
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
                b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
            ],
            usize::MAX,
            true,
        )
        .await;
        let said_close = get(&client).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(&said_close.body[..], b"ok");
        let no_length = get(&client).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(&no_length.body[..], b"until the end");
        assert_eq!(client.connections.load(Ordering::Relaxed), 2);
        assert!(keeps_no_idle_connection(&client));
    }

    #[tokio::test]
    async fn an_answer_cut_short_is_a_failure_not_a_shorter_answer() {
        let (client, _) = client_of(
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"],
            usize::MAX,
            true,
        )
        .await;
        assert!(matches!(get(&client).await, Err(Failed::Closed)));
        assert!(keeps_no_idle_connection(&client));
    }
}
