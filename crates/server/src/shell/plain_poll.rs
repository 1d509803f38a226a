//! A connection's plain status polls, read and answered on the socket before hyper sees it.
//!
//! A surge is mostly status polls (every waiting person polls until their turn), and a poll is
//! answered from memory in well under a microsecond of yeyak's own work; through hyper it cost
//! about 2.2 µs of user time a request against nginx's 0.9 for the same bytes
//! (`bench/status.md`): the request parsed into `http` types, the dispatcher, the encoder, a
//! timer armed and cleared per request. So a connection starts here: its requests are parsed
//! with `httparse` (the parser hyper itself uses), and while each is a plain status poll it is
//! answered by [`FrontDoor::poll`] — the same function, the same headers, the same metrics as a
//! poll that reaches hyper, reading the poll's headers where its head holds them ([`Fields`],
//! through the same `http::Headers` functions as the router) — and written in the form hyper
//! writes (status line, the answer's headers, `content-length`, `date`).
//!
//! The first request that is anything else hands the connection to hyper, with every byte read
//! and not yet answered, so hyper sees exactly what the client sent from that request on. This
//! module answers only what it fully understands and never reads a body: a request is a plain
//! poll only if it is `GET` of the status path with no query, HTTP/1.1, without
//! `content-length`, `transfer-encoding`, `expect` or `upgrade`, and without a `connection`
//! header other than `keep-alive`; a head that does not parse, has more than [`MAX_HEADERS`]
//! headers or is longer than [`MAX_HEAD`] bytes goes to hyper too, which refuses it as it
//! refuses any other. Connections of the overflow tier (one request each, then closed) go to
//! hyper at once.
//!
//! The limits are hyper's: a head must arrive within the header timeout, counted from when the
//! connection starts waiting for it (so an idle keep-alive connection is closed after as long,
//! without an answer, as hyper does); an answer the client does not take within as long closes
//! the connection; when the server stops, a connection waiting for a head is closed. Pipelined
//! polls are answered in order, in one write.
//!
//! Why by hand: no crate answers one request type below an HTTP server and hands the rest to it;
//! the parsing is `httparse`'s, and what is written here is a status line and header lines.

use super::front_door::{FrontDoor, PollAnswer};
use crate::http::Headers;
use crate::routes::queue::STATUS_PATH;
use crate::state::AppState;
use axum::body::Body;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap};
use axum::response::Response;
use http_body::Body as _;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A head longer than this without its end is not a plain poll's (one is a few hundred bytes):
/// hyper takes the connection and applies its own limit.
pub const MAX_HEAD: usize = 16 * 1024;
/// Headers a plain poll may carry; a head with more goes to hyper.
pub const MAX_HEADERS: usize = 32;

/// How a connection's plain polls ended.
pub enum Ended {
    /// The connection is over: the client closed it, a limit closed it, or the server stops.
    Closed,
    /// A request that is not a plain poll: hyper serves the connection from here on.
    HandedOff(Rewound),
}

/// Answers the connection's plain status polls until it ends or sends something else; `stop`
/// resolves when the server stops.
pub async fn answer_polls(
    mut stream: TcpStream,
    state: &AppState,
    front_door: &FrontDoor,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) -> Ended {
    let mut read = Vec::with_capacity(4096);
    let mut answers = Vec::with_capacity(1024);
    let mut date = HttpDate::default();
    // Made at the first poll: a connection that starts with anything else never needs it.
    let mut placed_head = None;
    let deadline = tokio::time::sleep(header_timeout);
    let mut deadline = pin!(deadline);
    // One wait for the server to stop for the connection's life, not one per request: each
    // new wait would take the stop channel's lock, shared by every connection.
    let mut stop = pin!(stop);
    loop {
        // Every complete request already read, in order.
        let handed_off = loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match next_request(&read, &mut fields) {
                Request::Incomplete => break false,
                Request::Other => break true,
                Request::PlainPoll { length, headers } => {
                    match front_door.poll(state, &headers) {
                        PollAnswer::Placed(body) => {
                            answers.extend_from_slice(placed_head.get_or_insert_with(|| {
                                head(StatusCode::OK, front_door.placed_headers())
                            }));
                            write_length_date_and_body(&mut answers, &body, date.now());
                        }
                        PollAnswer::Refused(answer) => {
                            if write_answer(&mut answers, answer, date.now()).is_err() {
                                tracing::error!(
                                    "a refusal's body was not ready; connection closed"
                                );
                                return Ended::Closed;
                            }
                        }
                    }
                    read.drain(..length);
                }
            }
        };
        if !answers.is_empty() {
            if send(&mut stream, &answers, header_timeout).await.is_err() {
                return Ended::Closed;
            }
            answers.clear();
        }
        if handed_off || read.len() > MAX_HEAD {
            return Ended::HandedOff(Rewound::new(read, stream));
        }
        // Wait for the next head (or the rest of this one), at most the header timeout from now
        // when a new head starts. Moving a timer's deadline later does not touch tokio's wheel.
        if read.is_empty() {
            deadline.as_mut().reset(Instant::now() + header_timeout);
        }
        if read.capacity() - read.len() < 1024 {
            read.reserve(4096);
        }
        tokio::select! {
            got = stream.read_buf(&mut read) => match got {
                Ok(0) | Err(_) => return Ended::Closed,
                Ok(_) => {}
            },
            () = deadline.as_mut() => return Ended::Closed,
            // Stopping closes a connection between requests, as hyper's graceful shutdown does.
            () = stop.as_mut(), if read.is_empty() => return Ended::Closed,
        }
    }
}

/// Writes `bytes` whole, closing the connection (an error) if the client does not take them
/// within `limit`. The usual case, a socket with room, needs no timer.
async fn send(stream: &mut TcpStream, bytes: &[u8], limit: Duration) -> io::Result<()> {
    let written = match stream.try_write(bytes) {
        Ok(n) => n,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => 0,
        Err(error) => return Err(error),
    };
    if written == bytes.len() {
        return Ok(());
    }
    tokio::time::timeout(limit, stream.write_all(&bytes[written..]))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// What the start of the bytes read holds.
#[derive(Debug)]
enum Request<'h> {
    /// Not a whole head yet.
    Incomplete,
    /// A plain status poll, `length` bytes long (it has no body), with its headers.
    PlainPoll { length: usize, headers: Fields<'h> },
    /// Anything else: for hyper.
    Other,
}

/// A plain poll's headers as its head holds them, read where they lie: the poll's answer needs
/// one or two of them (the ticket, the scheme behind a proxy), and putting every header a
/// client sends into a `HeaderMap` first cost more than the rest of yeyak's own work on a poll
/// (`bench/status-2026-12-06-fields/`). Names and values are what hyper would have put in its
/// map: hyper parses heads with the same `httparse`, whose header names are the tokens and
/// values the bytes `http` accepts (no control character but tab).
#[derive(Debug)]
struct Fields<'h>(&'h [httparse::Header<'h>]);

impl Headers for Fields<'_> {
    fn values_of<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.0
            .iter()
            .filter(move |field| field.name.eq_ignore_ascii_case(name))
            .map(|field| field.value)
    }
}

/// The length of the plain status poll's head at the start of `read`, if that is what it holds
/// whole: what this module answers without hyper. For the fuzz target (`server::parsers`).
pub fn plain_poll_length(read: &[u8]) -> Option<usize> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match next_request(read, &mut fields) {
        Request::PlainPoll { length, .. } => Some(length),
        Request::Incomplete | Request::Other => None,
    }
}

/// The request at the start of `read`, its headers parsed into `fields`.
fn next_request<'h>(read: &'h [u8], fields: &'h mut [httparse::Header<'h>]) -> Request<'h> {
    if read.is_empty() {
        return Request::Incomplete;
    }
    let mut head = httparse::Request::new(fields);
    let length = match head.parse(read) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Request::Incomplete,
        Err(_) => return Request::Other,
    };
    if head.method != Some("GET") || head.path != Some(STATUS_PATH) || head.version != Some(1) {
        return Request::Other;
    }
    let fields = head.headers;
    if fields.iter().all(is_plain) {
        Request::PlainPoll {
            length,
            headers: Fields(fields),
        }
    } else {
        Request::Other
    }
}

/// Whether a header leaves a `GET` a plain poll: not one that gives it a body or changes what
/// becomes of the connection.
fn is_plain(field: &httparse::Header<'_>) -> bool {
    let named = |name: &str| field.name.eq_ignore_ascii_case(name);
    if named("content-length") || named("transfer-encoding") || named("expect") || named("upgrade")
    {
        false
    } else if named("connection") {
        field.value.eq_ignore_ascii_case(b"keep-alive")
    } else {
        true
    }
}

/// Appends `answer` as hyper writes an answer to an HTTP/1.1 request on a kept-alive
/// connection. Its body must be ready (an answer made in memory); `Err` if it is not.
fn write_answer(out: &mut Vec<u8>, answer: Response, date: &[u8]) -> Result<(), ()> {
    let (parts, body) = answer.into_parts();
    let body = ready_body(body)?;
    let mut headers = parts.headers;
    // The length written is the body's, whatever a header said.
    headers.remove(header::CONTENT_LENGTH);
    out.extend_from_slice(&head(parts.status, &headers));
    write_length_date_and_body(out, &body, date);
    Ok(())
}

/// The status line and header lines of an answer, without `content-length` and `date`.
fn head(status: StatusCode, headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name != header::DATE {
            header_line(&mut out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out
}

/// The end of an answer after [`head`]: its length, the date, the blank line and the body.
fn write_length_date_and_body(out: &mut Vec<u8>, body: &[u8], date: &[u8]) {
    let mut length = itoa::Buffer::new();
    header_line(out, b"content-length", length.format(body.len()).as_bytes());
    header_line(out, b"date", date);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The whole body of an answer made in memory, without waiting: `Err` if it would wait.
fn ready_body(body: Body) -> Result<Vec<u8>, ()> {
    let mut body = pin!(body);
    let mut context = Context::from_waker(Waker::noop());
    let mut whole = Vec::new();
    loop {
        match body.as_mut().poll_frame(&mut context) {
            Poll::Ready(None) => return Ok(whole),
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    whole.extend_from_slice(&data);
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Pending => return Err(()),
        }
    }
}

/// The `date` header's value (RFC 9110's IMF-fixdate), made once a second as hyper does.
#[derive(Default)]
struct HttpDate {
    second: u64,
    text: Vec<u8>,
}

impl HttpDate {
    fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now).into_bytes();
        }
        &self.text
    }
}

/// The connection as hyper reads it: the bytes read here and not answered, then the socket.
pub struct Rewound {
    read: Vec<u8>,
    at: usize,
    stream: TcpStream,
}

impl Rewound {
    pub fn new(read: Vec<u8>, stream: TcpStream) -> Rewound {
        Rewound {
            read,
            at: 0,
            stream,
        }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.read.len() {
            let n = buf.remaining().min(this.read.len() - this.at);
            buf.put_slice(&this.read[this.at..this.at + n]);
            this.at += n;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_head(extra: &str) -> String {
        format!("GET {STATUS_PATH} HTTP/1.1\r\nhost: yeyak\r\n{extra}\r\n")
    }

    #[test]
    fn a_plain_poll_is_taken_with_its_length_and_headers() {
        let head = poll_head("x-yeyak-ticket: v1.abc\r\nconnection: Keep-Alive\r\n");
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(b"GET /next");
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match next_request(&bytes, &mut fields) {
            Request::PlainPoll { length, headers } => {
                assert_eq!(length, head.len());
                assert_eq!(headers.text("x-yeyak-ticket"), Some("v1.abc"));
                assert_eq!(headers.text("Connection"), Some("Keep-Alive"));
                assert_eq!(headers.0.len(), 3);
            }
            other => panic!("{other:?}"),
        }
    }

    /// The map hyper would have made of the same head.
    fn header_map(fields: &[httparse::Header<'_>]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for field in fields {
            map.append(
                axum::http::HeaderName::from_bytes(field.name.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_bytes(field.value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn a_polls_headers_read_where_they_lie_say_what_hyper_s_map_says() {
        use crate::credentials::{TICKET, WAITING_SESSION, presented};
        use crate::http::cookie;
        let heads = [
            "x-yeyak-ticket: v1.a\r\n",
            "X-Yeyak-Ticket: v1.first\r\nx-yeyak-ticket: v1.second\r\n",
            "cookie: a=1; yeyak_ticket=v1.c\r\nCookie: yeyak_waiting=w\r\n",
            "x-yeyak-ticket: caf\u{e9}\r\ncookie: yeyak_ticket=v1.d\r\n",
            "x-yeyak-ticket: a\tb\r\nx-yeyak-session: old\r\nX-Forwarded-Proto:  HTTPS \r\n",
            "cookie: yeyak_sid=old; yeyak_ticket\r\nx-other: 1\r\n",
            "",
        ];
        for extra in heads {
            let head = poll_head(extra);
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let Request::PlainPoll { headers, .. } = next_request(head.as_bytes(), &mut fields)
            else {
                panic!("{head:?} is a plain poll");
            };
            let map = header_map(headers.0);
            for name in [
                "x-yeyak-ticket",
                "x-forwarded-proto",
                "cookie",
                "host",
                "absent",
            ] {
                assert_eq!(
                    headers.text(name),
                    map.get(name).and_then(|v| v.to_str().ok()),
                    "{head:?} {name}"
                );
                assert!(
                    headers.values_of(name).eq(map.values_of(name)),
                    "{head:?} {name}"
                );
            }
            for names in [TICKET, WAITING_SESSION] {
                assert_eq!(
                    presented(&headers, &names),
                    presented(&map, &names),
                    "{head:?}"
                );
            }
            for name in ["yeyak_ticket", "yeyak_waiting", "yeyak_sid", "a"] {
                assert_eq!(
                    cookie(&headers, name),
                    cookie(&map, name),
                    "{head:?} {name}"
                );
            }
        }
    }

    #[test]
    fn a_head_not_yet_whole_waits_for_more() {
        let head = poll_head("");
        for cut in [0, 1, 10, head.len() - 1] {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            assert!(
                matches!(
                    next_request(&head.as_bytes()[..cut], &mut fields),
                    Request::Incomplete
                ),
                "{cut}"
            );
        }
    }

    #[test]
    fn anything_but_a_plain_poll_goes_to_hyper() {
        let other = [
            format!("HEAD {STATUS_PATH} HTTP/1.1\r\n\r\n"),
            format!("POST {STATUS_PATH} HTTP/1.1\r\ncontent-length: 0\r\n\r\n"),
            format!("GET {STATUS_PATH}?province=11 HTTP/1.1\r\n\r\n"),
            format!("GET {STATUS_PATH}/ HTTP/1.1\r\n\r\n"),
            format!("GET http://yeyak{STATUS_PATH} HTTP/1.1\r\n\r\n"),
            format!("GET {STATUS_PATH} HTTP/1.0\r\n\r\n"),
            "GET /api/v1/QUEUE/status HTTP/1.1\r\n\r\n".to_string(),
            "GET / HTTP/1.1\r\n\r\n".to_string(),
            poll_head("content-length: 0\r\n"),
            poll_head("transfer-encoding: chunked\r\n"),
            poll_head("expect: 100-continue\r\n"),
            poll_head("upgrade: websocket\r\nconnection: upgrade\r\n"),
            poll_head("connection: close\r\n"),
            poll_head("x-bad: a\u{7f}b\r\n"),
            poll_head(&"x-many: 1\r\n".repeat(MAX_HEADERS)),
            "GET\u{0} / HTTP/1.1\r\n\r\n".to_string(),
        ];
        for head in other {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            assert!(
                matches!(next_request(head.as_bytes(), &mut fields), Request::Other),
                "{head:?}"
            );
        }
    }

    #[test]
    fn an_answer_is_written_as_hyper_writes_it() {
        let answer = Response::builder()
            .status(401)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"error\":\"ticket_required\"}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        assert!(write_answer(&mut out, answer, b"Sun, 06 Dec 2026 18:00:00 GMT").is_ok());
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
             content-length: 27\r\ndate: Sun, 06 Dec 2026 18:00:00 GMT\r\n\r\n\
             {\"error\":\"ticket_required\"}"
        );
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let mut date = HttpDate::default();
        let text = String::from_utf8(date.now().to_vec()).unwrap_or_default();
        assert!(httpdate::parse_http_date(&text).is_ok(), "{text}");
        assert!(text.ends_with(" GMT"), "{text}");
    }
}
