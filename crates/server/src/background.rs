//! The tasks `serve` starts beside the requests: each wakes on its own interval, works on the
//! app state, and holds it weakly, so a stopped server (its writer, its database) is not kept
//! alive by them.

use crate::metrics::OutcomeLabels;
use crate::notify::{self, IN_FLIGHT, Sender};
use crate::state::AppState;
use crate::waiting::{DueText, return_link};
use domain::time::seoul_date;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use store::writer::{Fault, Health};
use tokio::task::JoinSet;

/// Samples once a second for as long as the server runs; capacity every ten seconds (it walks
/// every clinic, so it runs off the async workers). Holds the state weakly: a server that has
/// stopped is not kept alive (with its writer and database) by its dashboard.
pub async fn sample_forever(state: Weak<AppState>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_capacity_ms: Option<u64> = None;
    loop {
        interval.tick().await;
        let Some(state) = state.upgrade() else {
            return;
        };
        let now_ms = state.clock.now().as_millisecond().max(0) as u64;
        sample_once(&state, now_ms);
        let due = last_capacity_ms
            .is_none_or(|at| now_ms >= at + crate::dashboard::COARSE_EVERY_MS || now_ms < at);
        if due {
            last_capacity_ms = Some(now_ms);
            let worker = Arc::clone(&state);
            if let Ok(provinces) = tokio::task::spawn_blocking(move || {
                crate::dashboard::capacity_by_province(
                    &worker.writer.availability(),
                    &worker.world,
                    worker.clock.now(),
                )
            })
            .await
            {
                state.series.set_provinces(provinces);
            }
        }
    }
}

/// Takes one sample of the waiting room and the booking counter now.
pub fn sample_once(state: &AppState, now_ms: u64) {
    let snapshot = state.gate.snapshot(now_ms);
    let booked = state
        .metrics
        .bookings
        .get_or_create(&OutcomeLabels {
            outcome: "booked".into(),
        })
        .get();
    state.series.record(
        now_ms,
        state.gate.tickets_issued(),
        snapshot.queued,
        snapshot.admission_rate_per_s,
        snapshot.active.unwrap_or(0),
        booked,
    );
}

/// Keeps the booking calendar's first day on today in Seoul by the server clock, so what can be
/// booked reaches `calendar_days` ahead however long the server runs. Checks once a second;
/// holds the state weakly, so a stopped server is not kept alive by it.
pub async fn follow_the_clock(state: Weak<AppState>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let Some(state) = state.upgrade() else {
            return;
        };
        let today = seoul_date(state.clock.now());
        state.writer.availability().advance_to(today);
    }
}

/// Delivers until the server is gone. Holds the state weakly between rounds, so a stopped
/// server (its writer, its database) is not kept alive by this task.
pub async fn deliver_forever(state: Weak<AppState>, sender: Sender) {
    while let Some(state) = state.upgrade() {
        // Several nodes on PostgreSQL: only the ledger's holder delivers, so a message is not
        // sent by every node (a standby could not mark it sent anyway).
        if state.writer.health() == Health::Failing(Fault::Standby) {
            state.notify_health.beat();
            drop(state);
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let reader = Arc::clone(&state.reader);
        let now_ms = state.clock.now().as_millisecond();
        let pending = tokio::task::spawn_blocking(move || reader.pending_outbox(now_ms, 500)).await;
        let batch = match pending {
            Ok(Ok(batch)) => Some(batch),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read the outbox");
                None
            }
            Err(_) => None,
        };
        let health = &state.notify_health;
        health
            .outbox_unreadable
            .store(batch.is_none(), Ordering::Relaxed);
        health.beat();
        let batch = batch.unwrap_or_default();
        let idle = batch.is_empty();
        let mut sending = JoinSet::new();
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            let records: Vec<_> = batch.by_ref().take(sender.batch_max().max(1)).collect();
            while sending.len() >= IN_FLIGHT {
                sending.join_next().await;
            }
            let (state, sender) = (Arc::clone(&state), sender.clone());
            sending.spawn(async move { deliver(&state, &sender, &records).await });
        }
        while sending.join_next().await.is_some() {}
        drop(state);
        if idle {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Sends `records` as the sender takes them together (to the file in one append) and records
/// how that ended for each in one writer command.
async fn deliver(state: &AppState, sender: &Sender, records: &[store::OutboxRecord]) {
    let outgoing: Vec<_> = records
        .iter()
        .map(|record| notify::Outgoing::from_outbox(&state.secrets, record))
        .collect();
    let sent = sender.send_all(&outgoing).await;
    drop(outgoing);
    let now_ms = state.clock.now().as_millisecond();
    let marks = records
        .iter()
        .map(|record| (record.id, notify::after_attempt(record, &sent, now_ms)))
        .collect();
    if let Err(error) = state.writer.mark_outbox(marks, now_ms).await {
        tracing::warn!(%error, "cannot mark notifications");
    }
    state.notify_health.beat();
}

/// Sends the texts due ([`Gate::due_texts`]) through the outbox, once a second: each is one
/// writer command, committed before it counts as sent (the notifier delivers only committed
/// messages). A failed one is tried again the next second.
pub async fn text_forever(state: Weak<AppState>) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let Some(state) = state.upgrade() else { return };
        let now = state.clock.now();
        for due in state.gate.due_texts(now.as_millisecond().max(0) as u64) {
            match send_turn_text(&state, &due, now).await {
                Ok(()) => state.gate.mark_texted(&due.session),
                Err(error) => tracing::warn!(?error, "a queue turn text could not be queued"),
            }
        }
    }
}

async fn send_turn_text(
    state: &Arc<AppState>,
    due: &DueText,
    now: jiff::Timestamp,
) -> Result<(), crate::error::ApiError> {
    let person = domain::booking::PersonId(due.person);
    let record = crate::routes::eligibility::person_record(state, person).await?;
    let link = return_link(&state.config.public_url(), &due.session, &due.ticket);
    let until = jiff::Timestamp::from_millisecond(due.until_ms as i64)
        .map(|t| domain::time::in_seoul(t).strftime("%H:%M").to_string())
        .unwrap_or_default();
    let message = crate::text::notices::queue_turn(&until, &link).to(Some(person), record.sealed);
    state.writer.enqueue(message, now.as_millisecond()).await?;
    Ok(())
}
