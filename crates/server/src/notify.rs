//! Delivers the notification outbox. Messages are written by the writer in the same
//! transaction as the change they announce, so only committed changes are ever announced; this
//! worker sends them and marks them delivered. Delivery is at-least-once: a crash between
//! sending and marking resends, so the outbox id goes with each message for the gateway to
//! drop duplicates.
//!
//! The SMS gateway cannot exist here: the default sender appends each message to
//! `outbox.jsonl` in the data directory, with the phone number masked.

use crate::AppState;
use crate::identity::mask_phone;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use store::writer::Command;
use store::{OutboxRecord, ReadStore};

/// Unseals a recipient: "name\nphone".
pub fn recipient_phone(state: &AppState, sealed: &[u8]) -> Option<String> {
    let plain = state.secrets.unseal(sealed)?;
    let text = String::from_utf8(plain).ok()?;
    text.split_once('\n').map(|(_, phone)| phone.to_string())
}

fn send_to_file(state: &AppState, record: &OutboxRecord) -> std::io::Result<()> {
    let phone = recipient_phone(state, &record.message.recipient)
        .map(|p| mask_phone(&p))
        .unwrap_or_else(|| "unknown".into());
    let line = serde_json::json!({
        "id": record.id,
        "to": phone,
        "template": record.message.template,
        "ko": record.message.body_ko,
        "en": record.message.body_en,
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.config.data_dir.join("outbox.jsonl"))?;
    writeln!(file, "{line}")
}

pub async fn deliver_forever(state: Arc<AppState>) {
    loop {
        let reader = Arc::clone(&state.reader);
        let pending = tokio::task::spawn_blocking(move || reader.pending_outbox(500)).await;
        let batch = match pending {
            Ok(Ok(batch)) => batch,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the outbox");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let idle = batch.is_empty();
        for record in batch {
            let sent = send_to_file(&state, &record);
            let now_ms = state.clock.now().as_millisecond();
            let command = match sent {
                Ok(()) => Command::MarkDelivered {
                    outbox_id: record.id,
                },
                Err(error) => {
                    tracing::warn!(%error, id = record.id, "notification not delivered; will retry");
                    Command::MarkAttempted {
                        outbox_id: record.id,
                    }
                }
            };
            if let Err(error) = state.writer.execute(command, now_ms).await {
                tracing::warn!(%error, "cannot mark a notification");
            }
        }
        if idle {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
