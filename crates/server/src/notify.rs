//! Delivers the notification outbox. Messages are written by the writer in the same
//! transaction as the change they announce, so only committed changes are ever announced; this
//! worker sends them and marks them delivered.
//!
//! Identity codes are the exception: they go to the gateway from memory ([`codes`]), as the
//! checks they belong to live in memory.
//!
//! Delivery is at-least-once from here: a crash between sending and marking resends. "Never
//! twice for one event" is kept by the gateway, which gets the outbox id as an
//! `Idempotency-Key` (`yeyak-outbox-ID`) and drops a key it has seen, as SMS gateways do. A
//! failed send is retried with exponential backoff (1 s, 2 s, 4 s, … capped at 15 minutes);
//! a message the gateway rejects outright (4xx) or that failed [`MAX_ATTEMPTS`] times is parked
//! (`failed_ms`) for an operator instead of retried forever.
//!
//! The SMS gateway cannot exist here. The default sender appends each message to
//! `outbox.jsonl` in the data directory with the phone number masked; `--notify-webhook URL`
//! posts each one as JSON to a gateway (plain HTTP; put a TLS-terminating proxy in front for an
//! HTTPS gateway).

use crate::identity::mask_phone;
use crate::secrets::Secrets;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::OutboxRecord;
use store::writer::OutboxMark;

pub mod codes;

/// Attempts before a message is parked for an operator (about 1.5 hours of retries).
pub const MAX_ATTEMPTS: u32 = 12;
const BACKOFF_BASE_MS: i64 = 1_000;
const BACKOFF_CAP_MS: i64 = 15 * 60 * 1_000;
/// Messages sent at once; a gateway answers each in tens of milliseconds.
pub const IN_FLIGHT: usize = 32;

/// How long the delivery worker may show no sign of life before readiness calls it stalled. It
/// beats after every outbox read (every 500 ms when idle) and every delivery attempt (a gateway
/// call gives up after 10 s).
pub const STALLED_AFTER: Duration = Duration::from_secs(30);

/// What the delivery worker last did, for readiness.
#[derive(Debug, Default)]
pub struct WorkerHealth {
    last_beat: Mutex<Option<Instant>>,
    /// The last read of the outbox failed.
    pub(crate) outbox_unreadable: AtomicBool,
}

/// Whether the delivery worker does its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Delivery is off (`Config::deliver_notifications`): nothing to check.
    Disabled,
    /// Started, not yet run once.
    Starting,
    Running,
    /// No sign of life for longer than [`STALLED_AFTER`] (stuck, or the task died).
    Stalled,
    /// It runs but cannot read the outbox.
    OutboxUnreadable,
}

impl WorkerState {
    pub fn code(self) -> &'static str {
        match self {
            WorkerState::Disabled => "disabled",
            WorkerState::Starting => "starting",
            WorkerState::Running => "running",
            WorkerState::Stalled => "stalled",
            WorkerState::OutboxUnreadable => "outbox_unreadable",
        }
    }

    pub fn ok(self) -> bool {
        matches!(self, WorkerState::Disabled | WorkerState::Running)
    }
}

impl WorkerHealth {
    pub(crate) fn beat(&self) {
        *self.last_beat.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Time since the last sign of life, if there was one.
    pub fn silent_for(&self) -> Option<Duration> {
        self.silent_at(Instant::now())
    }

    fn silent_at(&self, now: Instant) -> Option<Duration> {
        let last = *self.last_beat.lock().unwrap_or_else(|p| p.into_inner());
        last.map(|at| now.saturating_duration_since(at))
    }

    pub fn state(&self, enabled: bool) -> WorkerState {
        self.state_at(enabled, Instant::now())
    }

    fn state_at(&self, enabled: bool, now: Instant) -> WorkerState {
        if !enabled {
            return WorkerState::Disabled;
        }
        match self.silent_at(now) {
            None => WorkerState::Starting,
            Some(silent) if silent > STALLED_AFTER => WorkerState::Stalled,
            Some(_) if self.outbox_unreadable.load(Ordering::Relaxed) => {
                WorkerState::OutboxUnreadable
            }
            Some(_) => WorkerState::Running,
        }
    }
}

/// When to try again after `attempts` failed attempts.
pub fn next_attempt_ms(now_ms: i64, attempts: u32) -> i64 {
    let delay = BACKOFF_BASE_MS
        .saturating_mul(1_i64 << attempts.saturating_sub(1).min(20))
        .min(BACKOFF_CAP_MS);
    now_ms.saturating_add(delay)
}

/// Where messages go.
#[derive(Clone)]
pub enum Sender {
    /// Appends to a JSON-lines file, phone numbers masked (the default; no gateway here).
    File(Arc<OutboxFile>),
    /// Posts to an SMS or messaging gateway.
    Webhook {
        url: String,
        client: reqwest::Client,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the gateway is down, slow or busy.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The gateway refused the message itself; retrying will not help.
    #[error("rejected by the gateway: {0}")]
    Rejected(String),
}

/// Texts appended to the file in one write at most (about 300 bytes each).
const FILE_BATCH_MAX: usize = 256;

/// A text as the file holds it: one JSON line, the phone number masked.
fn file_line(message: &Outgoing<'_>) -> String {
    serde_json::json!({
        "id": message.key,
        "to": message.phone.as_deref().map(mask_phone).unwrap_or_else(|| "unknown".into()),
        "template": message.template,
        "ko": message.ko,
        "en": message.en,
    })
    .to_string()
}

/// Appends `lines` to the file off the async worker: a write to a disk that stalls would stall
/// the thread, and the delivery tasks run on the runtime that answers the front door (one
/// thread by default on two cores).
async fn append_off_the_worker(file: &Arc<OutboxFile>, lines: String) -> Result<(), SendError> {
    let file = Arc::clone(file);
    match tokio::task::spawn_blocking(move || file.append(&lines)).await {
        Ok(appended) => appended.map_err(|e| SendError::Temporary(e.to_string())),
        Err(stopped) => Err(SendError::Temporary(stopped.to_string())),
    }
}

impl Sender {
    pub fn from_config(state_dir: &std::path::Path, webhook: Option<&str>) -> Sender {
        match webhook {
            Some(url) => Sender::Webhook {
                url: url.to_string(),
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
            },
            None => Sender::File(Arc::new(OutboxFile::new(state_dir.join("outbox.jsonl")))),
        }
    }

    /// How many texts [`Sender::send_all`] takes at once: the file appends a whole batch in one
    /// write; a gateway gets one request per text.
    pub fn batch_max(&self) -> usize {
        match self {
            Sender::File(_) => FILE_BATCH_MAX,
            Sender::Webhook { .. } => 1,
        }
    }

    /// Sends several texts: to the file in one append (all or none), to a gateway one after
    /// another, stopping at the first failure.
    pub async fn send_all(&self, messages: &[Outgoing<'_>]) -> Result<(), SendError> {
        if messages.is_empty() {
            // Nothing to send: an empty append would leave an empty line in the file.
            return Ok(());
        }
        match self {
            Sender::File(file) => {
                let lines: Vec<String> = messages.iter().map(file_line).collect();
                append_off_the_worker(file, lines.join("\n")).await
            }
            Sender::Webhook { .. } => {
                for message in messages {
                    self.send(message).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends one text. The gateway gets `message.key` as its `Idempotency-Key` and drops a
    /// key it has seen, so a resend after a lost answer is not a second text.
    pub async fn send(&self, message: &Outgoing<'_>) -> Result<(), SendError> {
        match self {
            Sender::File(file) => append_off_the_worker(file, file_line(message)).await,
            Sender::Webhook { url, client } => {
                let Some(phone) = &message.phone else {
                    return Err(SendError::Rejected("no recipient on record".into()));
                };
                let body = serde_json::json!({
                    "id": message.key,
                    "to": phone,
                    "template": message.template,
                    "text_ko": message.ko,
                    "text_en": message.en,
                });
                let response = client
                    .post(url)
                    .header("idempotency-key", &message.key)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| SendError::Temporary(e.without_url().to_string()))?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else if status.is_client_error() && status.as_u16() != 429 {
                    Err(SendError::Rejected(status.to_string()))
                } else {
                    Err(SendError::Temporary(status.to_string()))
                }
            }
        }
    }
}

/// One text as the gateway gets it. Not `Debug`: it holds the number in clear.
pub struct Outgoing<'a> {
    /// The gateway's idempotency key, one per event: `yeyak-outbox-ID` for a message from the
    /// outbox, `yeyak-code-…` for an identity code ([`codes`]).
    pub key: String,
    /// The number in clear; `None` when a stored recipient cannot be opened.
    pub phone: Option<String>,
    pub template: &'a str,
    pub ko: &'a str,
    pub en: &'a str,
}

impl<'a> Outgoing<'a> {
    /// A message from the outbox, its recipient unsealed.
    pub fn from_outbox(secrets: &Secrets, record: &'a OutboxRecord) -> Outgoing<'a> {
        Outgoing {
            key: format!("yeyak-outbox-{}", record.id),
            phone: recipient_phone(secrets, &record.message.recipient),
            template: &record.message.template,
            ko: &record.message.body_ko,
            en: &record.message.body_en,
        }
    }
}

/// Opens the outbox file for appending, created only its owner can read (0600): masked, the
/// lines still say whom we wrote to and when.
fn open_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// A JSON-lines file that whole lines are appended to. Up to [`IN_FLIGHT`] senders append at
/// once; each line, newline included, goes down in one `write` under a lock, and a write that
/// fails part-way is cut back off, so lines are never glued together or left half-written.
pub struct OutboxFile {
    path: PathBuf,
    file: std::sync::Mutex<Option<std::fs::File>>,
}

impl OutboxFile {
    pub fn new(path: PathBuf) -> OutboxFile {
        OutboxFile {
            path,
            file: std::sync::Mutex::new(None),
        }
    }

    /// Appends `line` and a newline, all or nothing.
    pub fn append(&self, line: &str) -> std::io::Result<()> {
        let mut record = Vec::with_capacity(line.len() + 1);
        record.extend_from_slice(line.as_bytes());
        record.push(b'\n');
        let mut open = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let file = match open.as_mut() {
            Some(file) => file,
            None => open.insert(open_private(&self.path)?),
        };
        let before = file.metadata()?.len();
        let written = file.write(&record);
        match written {
            Ok(n) if n == record.len() => Ok(()),
            failed => {
                // A short write (a full disk) would leave half a line for the next to glue onto.
                let _ = file.set_len(before);
                *open = None;
                Err(match failed {
                    Err(error) => error,
                    Ok(_) => std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"),
                })
            }
        }
    }
}

/// Unseals a recipient: "name\nphone".
pub fn recipient_phone(secrets: &Secrets, sealed: &[u8]) -> Option<String> {
    let plain = secrets.unseal(sealed)?;
    let text = String::from_utf8(plain).ok()?;
    text.split_once('\n').map(|(_, phone)| phone.to_string())
}

/// What to record after one attempt.
pub fn after_attempt(
    record: &OutboxRecord,
    sent: &Result<(), SendError>,
    now_ms: i64,
) -> OutboxMark {
    let outbox_id = record.id;
    match sent {
        Ok(()) => OutboxMark::Delivered,
        Err(SendError::Rejected(reason)) => {
            tracing::warn!(id = outbox_id, %reason, "notification rejected; parked");
            OutboxMark::Failed
        }
        Err(SendError::Temporary(_)) if record.attempts + 1 >= MAX_ATTEMPTS => {
            tracing::warn!(id = outbox_id, "notification failed too often; parked");
            OutboxMark::Failed
        }
        Err(SendError::Temporary(reason)) => {
            tracing::info!(id = outbox_id, %reason, "notification not delivered; will retry");
            OutboxMark::Attempted {
                next_attempt_ms: next_attempt_ms(now_ms, record.attempts + 1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 senders (as many as deliver at once, and more lines than a pipe buffer) appending long
    /// lines to the same file: every line comes out whole.
    #[test]
    fn concurrent_appends_never_glue_lines() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = Arc::new(OutboxFile::new(dir.path().join("outbox.jsonl")));
        let senders = 32;
        let lines_each = 200;
        let threads: Vec<_> = (0..senders)
            .map(|sender| {
                let file = Arc::clone(&file);
                std::thread::spawn(move || {
                    for n in 0..lines_each {
                        let text = "예약".repeat(200 + sender * 7);
                        let line = serde_json::json!({"sender": sender, "n": n, "text": text});
                        file.append(&line.to_string())
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread
                .join()
                .unwrap_or_else(|_| panic!("a sender panicked"));
        }
        let text = std::fs::read_to_string(dir.path().join("outbox.jsonl"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("glued or torn line: {e}"));
            assert!(seen.insert((value["sender"].as_u64(), value["n"].as_u64())));
        }
        assert_eq!(seen.len(), senders * lines_each);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_worker_is_ready_only_while_it_beats_and_reads_the_outbox() {
        let health = WorkerHealth::default();
        let now = Instant::now();
        assert_eq!(health.state_at(false, now), WorkerState::Disabled);
        assert_eq!(health.state_at(true, now), WorkerState::Starting);
        health.beat();
        let now = Instant::now();
        assert_eq!(health.state_at(true, now), WorkerState::Running);
        let later = now + STALLED_AFTER + Duration::from_secs(1);
        assert_eq!(health.state_at(true, later), WorkerState::Stalled);
        assert!(!WorkerState::Stalled.ok());
        health.outbox_unreadable.store(true, Ordering::Relaxed);
        assert_eq!(health.state_at(true, now), WorkerState::OutboxUnreadable);
        assert!(!WorkerState::OutboxUnreadable.ok());
        assert!(WorkerState::Running.ok() && WorkerState::Disabled.ok());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(next_attempt_ms(0, 1), 1_000);
        assert_eq!(next_attempt_ms(0, 2), 2_000);
        assert_eq!(next_attempt_ms(0, 5), 16_000);
        assert_eq!(next_attempt_ms(0, 11), BACKOFF_CAP_MS);
        assert_eq!(next_attempt_ms(0, 100), BACKOFF_CAP_MS);
        assert_eq!(next_attempt_ms(i64::MAX, 3), i64::MAX);
    }
}
