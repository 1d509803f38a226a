//! The waiting room's record. Written on its own short transactions, not through the booking
//! writer: the front door must keep working when the booking side is saturated.

use super::SqliteReader;
use crate::{QueueStore, Result};
use rusqlite::{OptionalExtension, params};

impl QueueStore for SqliteReader {
    fn current_queue(&self) -> Result<Option<(u32, String)>> {
        self.with(|conn| {
            Ok(conn
                .prepare_cached("SELECT id, record FROM queue ORDER BY id DESC LIMIT 1")?
                .query_row([], |r| Ok((r.get::<_, i64>(0)? as u32, r.get(1)?)))
                .optional()?)
        })
    }

    fn save_queue(&self, id: u32, revision: u64, record: &str, now_ms: i64) -> Result<bool> {
        self.with(|conn| {
            // A record only replaces an older revision of itself: a stale writer changes nothing.
            let changed = conn
                .prepare_cached(
                    "INSERT INTO queue (id, record, revision, updated_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET record = excluded.record,
                         revision = excluded.revision, updated_ms = excluded.updated_ms
                     WHERE excluded.revision > queue.revision",
                )?
                .execute(params![id, record, revision as i64, now_ms])?;
            Ok(changed == 1)
        })
    }
}
