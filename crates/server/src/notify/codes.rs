//! Identity codes go to the gateway from memory, not through the outbox.
//!
//! A code is only good while its check lives, and checks live in this node's memory
//! (`identity`): after a crash the check is gone, so a durable copy of its text would only be
//! resent for nothing. Written to the outbox, each code cost the writer two commands (the
//! message, then marking it sent), a third of what a booked person costs it, and the person
//! waited for a commit before seeing "code sent" (bench/cpu-per-person.md). Here the text waits
//! in a bounded queue in memory and one task sends it, retrying with the outbox's backoff
//! while the code is valid and dropping it once the code has expired.
//!
//! Each node texts its own codes, so a standby on PostgreSQL needs no holder for them.
//! Delivery is at-least-once as for the outbox: the gateway gets a key of its own per text
//! (`yeyak-code-…`, random: it does not reveal the check's id) and drops a key it has seen.

use super::{IN_FLIGHT, Outgoing, SendError, Sender, next_attempt_ms};
use crate::clock::Clock;
use crate::text::notices::Notification;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Texts waiting for the gateway at most. At the 1,500 checks a second of an opening's peak this
/// is several seconds of a stalled gateway; beyond it a check is refused at once (503
/// `identity_service_busy`, `Retry-After: 5`) instead of queueing texts that arrive after their
/// code has expired.
pub const QUEUE_MAX: usize = 10_000;

/// How often texts waiting to be retried are looked at.
const RETRY_TICK: Duration = Duration::from_millis(200);

/// One code's text. Not `Debug`: it holds a phone number and a live code, which must never
/// reach a log.
#[derive(Clone)]
pub struct CodeText {
    /// The gateway's idempotency key.
    pub key: String,
    /// The number, digits only: it never leaves memory except to the gateway.
    pub phone: String,
    pub text: Notification,
    /// When the code stops verifying (the server's clock): a text later than this is useless.
    pub expires_at_ms: i64,
}

impl CodeText {
    /// A text with a fresh random key.
    pub fn new(phone: String, text: Notification, expires_at_ms: i64) -> CodeText {
        CodeText {
            key: format!("yeyak-code-{:016x}", rand::random::<u64>()),
            phone,
            text,
            expires_at_ms,
        }
    }

    fn outgoing(&self) -> Outgoing<'_> {
        Outgoing {
            key: self.key.clone(),
            phone: Some(self.phone.clone()),
            template: self.text.template,
            ko: &self.text.ko,
            en: &self.text.en,
        }
    }
}

/// What happened to the texts, for `/metrics` (`yeyak_identity_code_texts_total`).
#[derive(Debug, Default)]
pub struct CodeCounts {
    /// Taken for sending (with delivery off: taken and dropped).
    pub handed: AtomicU64,
    pub sent: AtomicU64,
    /// The gateway refused the text itself (a 4xx other than 429).
    pub rejected: AtomicU64,
    /// Still failing when the code expired.
    pub expired: AtomicU64,
    /// Refused at the door: the queue was full.
    pub refused: AtomicU64,
}

impl CodeCounts {
    /// Each count with its label.
    pub fn by_outcome(&self) -> [(&'static str, u64); 5] {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("handed", load(&self.handed)),
            ("sent", load(&self.sent)),
            ("rejected", load(&self.rejected)),
            ("expired", load(&self.expired)),
            ("refused", load(&self.refused)),
        ]
    }
}

/// The queue was full: the gateway is behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the identity codes' queue is full")]
pub struct QueueFull;

/// Where handlers leave codes to text.
pub struct CodeTexts {
    /// `None` when delivery is off (`Config::deliver_notifications`): texts are dropped.
    queue: Option<mpsc::Sender<CodeText>>,
    receiver: std::sync::Mutex<Option<mpsc::Receiver<CodeText>>>,
    pub counts: Arc<CodeCounts>,
}

impl CodeTexts {
    /// A queue of `capacity` texts for [`deliver_forever`] to drain; `deliver: false` drops every
    /// text (counted as handed), as the outbox is then left undelivered.
    pub fn new(deliver: bool, capacity: usize) -> CodeTexts {
        let (queue, receiver) = if deliver {
            let (queue, receiver) = mpsc::channel(capacity.max(1));
            (Some(queue), Some(receiver))
        } else {
            (None, None)
        };
        CodeTexts {
            queue,
            receiver: std::sync::Mutex::new(receiver),
            counts: Arc::default(),
        }
    }

    /// Queues a text without waiting (handlers reserve first: [`CodeTexts::reserve`]).
    #[cfg(test)]
    fn hand_over(&self, text: CodeText) -> Result<(), QueueFull> {
        self.reserve()?.hand_over(text);
        Ok(())
    }

    /// A place in the queue, taken before the identity check is counted against anyone's
    /// limits: a check the gateway has no room to text is refused before it costs the person
    /// one of their tries. Dropped unused (no code to send), the place is given back.
    pub fn reserve(&self) -> Result<CodeSlot<'_>, QueueFull> {
        let permit = match &self.queue {
            None => None,
            Some(queue) => match queue.try_reserve() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.counts.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(QueueFull);
                }
            },
        };
        Ok(CodeSlot {
            permit,
            counts: &self.counts,
        })
    }

    /// The queue's other end, once (for the task that delivers).
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<CodeText>> {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// A reserved place in the codes' queue ([`CodeTexts::reserve`]).
pub struct CodeSlot<'a> {
    /// `None` when delivery is off: the text is dropped.
    permit: Option<mpsc::Permit<'a, CodeText>>,
    counts: &'a CodeCounts,
}

impl CodeSlot<'_> {
    /// Queues the text in the reserved place: cannot fail.
    pub fn hand_over(self, text: CodeText) {
        if let Some(permit) = self.permit {
            permit.send(text);
        }
        self.counts.handed.fetch_add(1, Ordering::Relaxed);
    }
}

/// What to do with a text after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Sent,
    Rejected,
    /// Try again at this time (the server's clock, ms).
    RetryAt(i64),
    /// The code expires before the next try would run: drop it.
    Expired,
}

/// The outcome of attempt number `attempts` (1 for the first) made at `now_ms`.
pub fn after_attempt(
    text: &CodeText,
    attempts: u32,
    sent: &Result<(), SendError>,
    now_ms: i64,
) -> Next {
    match sent {
        Ok(()) => Next::Sent,
        Err(SendError::Rejected(_)) => Next::Rejected,
        Err(SendError::Temporary(_)) => {
            let at = next_attempt_ms(now_ms, attempts);
            if at >= text.expires_at_ms {
                Next::Expired
            } else {
                Next::RetryAt(at)
            }
        }
    }
}

/// A text to try again.
struct Retry {
    text: CodeText,
    attempts: u32,
    at_ms: i64,
}

/// Sends the queued texts, [`IN_FLIGHT`] sends at a time, each of as many texts as the sender
/// takes at once ([`Sender::batch_max`]: a batch per append to the file, one text per request to
/// a gateway), until every [`CodeTexts`] holding the queue is gone. Retries run on the server's
/// clock, like the outbox's.
///
/// Why batches: this task runs on the runtime that answers the front door, and at an opening's
/// peak that runtime is saturated, so each send waits its turn behind thousands of requests.
/// One text per turn drained the queue slower than people asked for codes at full scale
/// (2026-12-05: 1.6 M answers 503 `identity_service_busy`).
pub async fn deliver_forever(
    mut queue: mpsc::Receiver<CodeText>,
    sender: Sender,
    clock: Arc<dyn Clock>,
    counts: Arc<CodeCounts>,
) {
    let mut sending: JoinSet<Attempted> = JoinSet::new();
    let mut retries: Vec<Retry> = Vec::new();
    let mut tick = tokio::time::interval(RETRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let batch_max = sender.batch_max().max(1);
    let mut taken = Vec::with_capacity(batch_max);
    let send = |sending: &mut JoinSet<_>, texts: Vec<(CodeText, u32)>| {
        let sender = sender.clone();
        sending.spawn(async move {
            let outgoing: Vec<_> = texts.iter().map(|(text, _)| text.outgoing()).collect();
            let sent = sender.send_all(&outgoing).await;
            drop(outgoing);
            Attempted { texts, sent }
        });
    };
    loop {
        tokio::select! {
            n = queue.recv_many(&mut taken, batch_max), if sending.len() < IN_FLIGHT => {
                if n == 0 {
                    break;
                }
                send(&mut sending, taken.drain(..).map(|text| (text, 1)).collect());
            }
            Some(done) = sending.join_next() => {
                retries.extend(settle(done, clock.as_ref(), &counts));
            }
            _ = tick.tick(), if !retries.is_empty() => {
                let now_ms = clock.now().as_millisecond();
                let mut waiting = Vec::with_capacity(retries.len());
                for retry in retries.drain(..) {
                    if retry.at_ms <= now_ms && sending.len() < IN_FLIGHT {
                        send(&mut sending, vec![(retry.text, retry.attempts + 1)]);
                    } else {
                        waiting.push(retry);
                    }
                }
                retries = waiting;
            }
        }
    }
    // The server is stopping: let the texts already with the gateway finish (a stopped node's
    // checks are gone, so nothing is retried).
    while let Some(done) = sending.join_next().await {
        settle(done, clock.as_ref(), &counts);
    }
}

/// Texts sent together, each with its number of attempts, and how the send went.
struct Attempted {
    texts: Vec<(CodeText, u32)>,
    sent: Result<(), SendError>,
}

/// Counts each text's outcome; the texts to retry.
fn settle(
    done: Result<Attempted, tokio::task::JoinError>,
    clock: &dyn Clock,
    counts: &CodeCounts,
) -> Vec<Retry> {
    let Ok(Attempted { texts, sent }) = done else {
        return Vec::new();
    };
    let now_ms = clock.now().as_millisecond();
    let mut retries = Vec::new();
    for (text, attempts) in texts {
        let count = match after_attempt(&text, attempts, &sent, now_ms) {
            Next::Sent => &counts.sent,
            Next::Rejected => &counts.rejected,
            Next::Expired => &counts.expired,
            Next::RetryAt(at_ms) => {
                retries.push(Retry {
                    text,
                    attempts,
                    at_ms,
                });
                continue;
            }
        };
        count.fetch_add(1, Ordering::Relaxed);
    }
    retries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::notices::identity_code;

    fn text(expires_at_ms: i64) -> CodeText {
        CodeText::new("01012345678".into(), identity_code("123456"), expires_at_ms)
    }

    #[test]
    fn a_full_queue_refuses_and_counts() {
        let texts = CodeTexts::new(true, 2);
        assert_eq!(texts.hand_over(text(0)), Ok(()));
        assert_eq!(texts.hand_over(text(0)), Ok(()));
        assert_eq!(texts.hand_over(text(0)), Err(QueueFull));
        let counts = texts.counts.by_outcome();
        assert_eq!(counts[0], ("handed", 2));
        assert_eq!(counts[4], ("refused", 1));
        // Draining makes room again.
        let mut receiver = texts.take_receiver().unwrap_or_else(|| panic!("receiver"));
        assert!(texts.take_receiver().is_none(), "handed out once");
        assert!(receiver.try_recv().is_ok());
        assert_eq!(texts.hand_over(text(0)), Ok(()));
    }

    #[test]
    fn a_reserved_place_is_kept_until_used_and_given_back_unused() {
        let texts = CodeTexts::new(true, 1);
        let slot = texts.reserve().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            texts.reserve().err(),
            Some(QueueFull),
            "the one place is taken"
        );
        assert_eq!(texts.hand_over(text(0)), Err(QueueFull));
        drop(slot);
        let slot = texts.reserve().unwrap_or_else(|e| panic!("{e}"));
        slot.hand_over(text(7));
        let mut receiver = texts.take_receiver().unwrap_or_else(|| panic!("receiver"));
        assert_eq!(receiver.try_recv().map(|t| t.expires_at_ms), Ok(7));
        let counts = texts.counts.by_outcome();
        assert_eq!(counts[0], ("handed", 1));
        assert_eq!(counts[4], ("refused", 2));
    }

    #[test]
    fn with_delivery_off_texts_are_dropped_not_refused() {
        let texts = CodeTexts::new(false, 1);
        for _ in 0..3 {
            assert_eq!(texts.hand_over(text(0)), Ok(()));
        }
        assert!(texts.take_receiver().is_none());
        assert_eq!(texts.counts.by_outcome()[0], ("handed", 3));
    }

    #[test]
    fn retries_back_off_until_the_code_expires() {
        let code = text(10_000);
        let temporary = Err(SendError::Temporary("503".into()));
        assert_eq!(after_attempt(&code, 1, &temporary, 0), Next::RetryAt(1_000));
        assert_eq!(
            after_attempt(&code, 2, &temporary, 1_000),
            Next::RetryAt(3_000)
        );
        assert_eq!(
            after_attempt(&code, 3, &temporary, 3_000),
            Next::RetryAt(7_000)
        );
        assert_eq!(after_attempt(&code, 4, &temporary, 7_000), Next::Expired);
        assert_eq!(after_attempt(&code, 4, &Ok(()), 7_000), Next::Sent);
        let rejected = Err(SendError::Rejected("400".into()));
        assert_eq!(after_attempt(&code, 1, &rejected, 0), Next::Rejected);
    }

    #[test]
    fn keys_are_fresh_and_do_not_carry_the_code() {
        let (a, b) = (text(0), text(0));
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with("yeyak-code-") && !a.key.contains("123456"));
    }

    /// The task sends what is queued, retries a failing gateway on the server's clock, and
    /// stops when the queue's holders are gone.
    #[tokio::test]
    async fn a_burst_of_texts_reaches_the_file_in_batches_one_line_each() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("outbox.jsonl");
        let burst = 3 * super::super::FILE_BATCH_MAX + 7;
        let texts = CodeTexts::new(true, burst);
        let receiver = texts.take_receiver().unwrap_or_else(|| panic!("receiver"));
        let sender = Sender::File(Arc::new(super::super::OutboxFile::new(path.clone())));
        let far = jiff::Timestamp::now().as_millisecond() + 180_000;
        // All queued before the task starts, so that it takes them in whole batches.
        let mut keys = std::collections::HashSet::new();
        for _ in 0..burst {
            let one = text(far);
            keys.insert(one.key.clone());
            texts.hand_over(one).unwrap_or_else(|e| panic!("{e}"));
        }
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let counts = Arc::clone(&texts.counts);
        let task = tokio::spawn(deliver_forever(
            receiver,
            sender,
            clock,
            Arc::clone(&counts),
        ));
        drop(texts);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap_or_else(|e| panic!("the task did not stop: {e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counts.by_outcome()[1], ("sent", burst as u64));
        let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = file.lines().collect();
        assert_eq!(lines.len(), burst, "one line per text");
        for line in lines {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(keys.remove(value["id"].as_str().unwrap_or("")), "{line}");
        }
        assert!(keys.is_empty(), "every text once");
    }

    #[tokio::test]
    async fn texts_reach_the_file_gateway_and_the_task_stops_with_the_server() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("outbox.jsonl");
        let texts = CodeTexts::new(true, 8);
        let receiver = texts.take_receiver().unwrap_or_else(|| panic!("receiver"));
        let sender = Sender::File(Arc::new(super::super::OutboxFile::new(path.clone())));
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let task = tokio::spawn(deliver_forever(
            receiver,
            sender,
            clock,
            Arc::clone(&texts.counts),
        ));
        let far = jiff::Timestamp::now().as_millisecond() + 180_000;
        texts.hand_over(text(far)).unwrap_or_else(|e| panic!("{e}"));
        let counts = Arc::clone(&texts.counts);
        drop(texts);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap_or_else(|e| panic!("the task did not stop: {e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(counts.by_outcome()[1], ("sent", 1));
        let line = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let value: serde_json::Value =
            serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["template"], "identity_code");
        assert_eq!(value["to"], "010-****-5678", "masked in the file");
        assert!(value["ko"].as_str().unwrap_or("").contains("123456"));
    }
}
