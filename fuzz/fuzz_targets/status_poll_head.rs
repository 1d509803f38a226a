//! The request heads a connection sends, as the shell reads them before hyper
//! (`shell::plain_poll`): any bytes a client may send.
//!
//! Checks beyond "no panic": a head is taken as a plain status poll only if it is one — a
//! `GET` of the status path, HTTP/1.1, whole (it ends with its blank line), without a header
//! that would give it a body or change the connection — and what follows a head never changes
//! how it is read (bytes pipelined behind a poll are the next request's, never this one's).
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::parsers::plain_poll_length;

fuzz_target!(|data: &[u8]| {
    let Some(length) = plain_poll_length(data) else {
        return;
    };
    assert!(length <= data.len());
    let head = &data[..length];
    // Empty lines before a request line are skipped, by hyper as here (RFC 9112, 2.2).
    let start = head
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(length);
    let request_line = &head[start..];
    assert!(
        request_line.starts_with(b"GET /api/v1/queue/status HTTP/1.1\r\n")
            || request_line.starts_with(b"GET /api/v1/queue/status HTTP/1.1\n"),
        "not a status poll's request line"
    );
    assert!(
        head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n"),
        "not a whole head"
    );
    let text = String::from_utf8_lossy(request_line).to_ascii_lowercase();
    for line in text.lines().skip(1) {
        let name = line.split(':').next().unwrap_or("").trim();
        assert!(
            !matches!(
                name,
                "content-length" | "transfer-encoding" | "expect" | "upgrade"
            ),
            "a poll with {name}"
        );
    }
    // The same head with anything behind it is the same poll.
    let mut longer = data.to_vec();
    longer.extend_from_slice(b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc");
    assert_eq!(plain_poll_length(&longer), Some(length));
    assert_eq!(plain_poll_length(head), Some(length));
});
