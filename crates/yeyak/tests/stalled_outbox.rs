//! The notification file on a disk that stops answering: the front door keeps answering.
//!
//! Without a gateway (`--notify-webhook`), identity codes and booking notices are appended to
//! `DATA_DIR/outbox.jsonl`, the SMS gateway's stand-in. Here that file is a FIFO nobody reads,
//! so opening it for writing never returns: what a write to a stalled disk looks like to the
//! thread that makes it. The delivery tasks run on the HTTP runtime, which on two cores is one
//! thread; a write made on it would stop every arrival and status poll with it.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod common;

use std::process::Child;
use std::time::Duration;

/// The server, killed when the test ends, passed or failed (a failed test must not leave it
/// running, holding the test's output open).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_notification_file_does_not_stop_the_front_door() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(data.join("outbox.jsonl"))
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let port = common::free_port();
    let _server = Server(common::start_with(&data, port, &["--worker-threads", "1"]));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    common::wait_healthy(&http, &base).await;

    // An identity check: its code's text goes to the file, whose opening never returns.
    let person = common::login(&http, &base, 1).await;
    assert!(!person.token.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;

    for _ in 0..20 {
        let (session, ticket) = common::arrive(&http, &base).await;
        let status = common::number(&http, &base, &session, &ticket).await;
        assert!(status["state"].is_string(), "{status}");
    }
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(health.status().is_success());
    // A second person's check is started and finished too: a code waiting for the file does
    // not hold up the next one's check.
    let second = common::login(&http, &base, 2).await;
    assert!(!second.token.is_empty());
}
