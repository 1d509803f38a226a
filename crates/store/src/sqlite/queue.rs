//! The waiting room's record. Written on its own short transactions, never through the booking
//! writer, and by default in a file of its own ([`QueueFile`]): the front door must keep working
//! when the booking side is saturated, and a booking transaction holding the main database's
//! write lock must not hold up a queue number.

use super::{SqliteReader, connect};
use crate::{QueueStore, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;

const QUEUE_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS queue (
    id         INTEGER PRIMARY KEY,
    record     TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_people (
    queue  INTEGER NOT NULL,
    person INTEGER NOT NULL,
    draw   INTEGER NOT NULL,
    PRIMARY KEY (queue, person),
    UNIQUE (queue, draw)
);";

fn current_queue(conn: &Connection) -> Result<Option<(u32, String, u64)>> {
    Ok(conn
        .prepare_cached("SELECT id, record, revision FROM queue ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| {
            Ok((
                r.get::<_, i64>(0)? as u32,
                r.get(1)?,
                r.get::<_, i64>(2)? as u64,
            ))
        })
        .optional()?)
}

/// Compare-and-swap (see [`QueueStore::save_queue`]): a record made from a copy someone else
/// has changed since changes nothing.
fn save_queue(conn: &Connection, id: u32, save: QueueSave<'_>) -> Result<bool> {
    let changed = match save.base {
        None => conn
            .prepare_cached(
                "INSERT INTO queue (id, record, revision, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![id, save.record, save.revision as i64, save.now_ms])?,
        Some(base) => conn
            .prepare_cached(
                "UPDATE queue SET record = ?2, revision = ?3, updated_ms = ?4
                 WHERE id = ?1 AND revision = ?5",
            )?
            .execute(params![
                id,
                save.record,
                save.revision as i64,
                save.now_ms,
                base as i64
            ])?,
    };
    Ok(changed == 1)
}

/// One [`QueueStore::save_queue`] call's record.
struct QueueSave<'a> {
    base: Option<u64>,
    revision: u64,
    record: &'a str,
    now_ms: i64,
}

impl QueueStore for SqliteReader {
    fn current_queue(&self) -> Result<Option<(u32, String)>> {
        self.with(|conn| Ok(current_queue(conn)?.map(|(id, record, _)| (id, record))))
    }

    fn save_queue(
        &self,
        id: u32,
        base: Option<u64>,
        revision: u64,
        record: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let save = QueueSave {
            base,
            revision,
            record,
            now_ms,
        };
        self.with(|conn| save_queue(conn, id, save))
    }
}

/// The waiting room's record in its own SQLite file (WAL, `synchronous=FULL`: a saved record
/// survives `kill -9` and power loss, which is what makes a leased block of numbers safe to hand
/// out). One connection: the record is written a few times a second at most.
pub struct QueueFile {
    conn: Mutex<Connection>,
}

impl QueueFile {
    /// Opens (creating if needed) the file. A new file takes over the newest record from
    /// `earlier` (the main database, where the record lived before it had a file of its own),
    /// so an upgrade mid-opening keeps every ticket's place.
    pub fn open(path: &Path, earlier: Option<&SqliteReader>) -> Result<QueueFile> {
        let conn = connect(path)?;
        conn.execute_batch(QUEUE_SCHEMA)?;
        if current_queue(&conn)?.is_none()
            && let Some(reader) = earlier
            && let Some((id, record, revision)) = reader.with(current_queue)?
        {
            let save = QueueSave {
                base: None,
                revision,
                record: &record,
                now_ms: 0,
            };
            save_queue(&conn, id, save)?;
        }
        Ok(QueueFile {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&self.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl QueueStore for QueueFile {
    fn current_queue(&self) -> Result<Option<(u32, String)>> {
        self.with(|conn| Ok(current_queue(conn)?.map(|(id, record, _)| (id, record))))
    }

    fn save_queue(
        &self,
        id: u32,
        base: Option<u64>,
        revision: u64,
        record: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let save = QueueSave {
            base,
            revision,
            record,
            now_ms,
        };
        self.with(|conn| save_queue(conn, id, save))
    }

    fn draw_numbers(&self, id: u32, persons: &[u64]) -> Result<Vec<u64>> {
        self.with(|conn| draw_numbers(conn, id, persons))
    }

    fn people_drawn(&self, id: u32) -> Result<u64> {
        self.with(|conn| {
            let count: i64 = conn
                .prepare_cached(&format!(
                    "SELECT {DRAWN} FROM queue_people WHERE queue = ?1"
                ))?
                .query_row([id], |r| r.get(0))?;
            Ok(count as u64)
        })
    }
}

/// How many people a queue has drawn: its numbers are dense from 0 and never taken back, so
/// one more than the largest. Read from the end of the `(queue, draw)` index in O(log n);
/// `COUNT(*)` read the whole range instead, which at 200,000 drawn people took 10 ms against
/// 11 µs (Python's sqlite3 on SQLite 3.40.1, the same table and index, 2026-12-04), on every
/// verification of the pre-queue while the file's one connection was held (arrivals' number
/// blocks wait for it too).
const DRAWN: &str = "COALESCE(MAX(draw) + 1, 0)";

/// Each person's draw number: theirs if they have one, else the next one, all in one
/// transaction, so one sync covers the lot (the file has one connection, so numbers are dense
/// and never handed out twice).
fn draw_numbers(conn: &Connection, id: u32, persons: &[u64]) -> Result<Vec<u64>> {
    let tx = conn.unchecked_transaction()?;
    let mut draws = Vec::with_capacity(persons.len());
    for &person in persons {
        let person = person as i64;
        tx.prepare_cached(&format!(
            "INSERT INTO queue_people (queue, person, draw)
             SELECT ?1, ?2, {DRAWN} FROM queue_people WHERE queue = ?1
             ON CONFLICT (queue, person) DO NOTHING"
        ))?
        .execute(params![id, person])?;
        let draw: i64 = tx
            .prepare_cached("SELECT draw FROM queue_people WHERE queue = ?1 AND person = ?2")?
            .query_row(params![id, person], |r| r.get(0))?;
        draws.push(draw as u64);
    }
    tx.commit()?;
    Ok(draws)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Draw numbers are dense from 0 per queue, one per person however often they verify, and
    /// the count of drawn people is the next number.
    #[test]
    fn draw_numbers_are_dense_per_queue_and_one_per_person() {
        let dir = tempfile::tempdir().unwrap();
        let file = QueueFile::open(&dir.path().join("queue.db"), None).unwrap();
        assert_eq!(file.people_drawn(7).unwrap(), 0);
        let drawn: Vec<u64> = [10, 20, 10, 30, 20]
            .into_iter()
            .map(|person| file.draw_number(7, person).unwrap())
            .collect();
        assert_eq!(drawn, [0, 1, 0, 2, 1]);
        assert_eq!(file.people_drawn(7).unwrap(), 3);
        // Another queue draws from 0 again, and leaves the first one's count alone.
        assert_eq!(file.draw_number(8, 10).unwrap(), 0);
        assert_eq!(file.people_drawn(8).unwrap(), 1);
        assert_eq!(file.draw_number(7, 40).unwrap(), 3);
        assert_eq!(file.people_drawn(7).unwrap(), 4);
        assert_eq!(file.people_drawn(9).unwrap(), 0);
    }

    /// Drawn together, numbers are what one draw after another would give: dense, in the
    /// order asked, one per person (twice in one batch, or already drawn, the same number).
    #[test]
    fn draws_together_are_draws_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let file = QueueFile::open(&dir.path().join("queue.db"), None).unwrap();
        assert_eq!(file.draw_number(7, 99).unwrap(), 0);
        assert_eq!(
            file.draw_numbers(7, &[10, 20, 10, 99, 30]).unwrap(),
            [1, 2, 1, 0, 3]
        );
        assert_eq!(file.people_drawn(7).unwrap(), 4);
        assert_eq!(file.draw_numbers(7, &[]).unwrap(), Vec::<u64>::new());
        // Durable: a new connection to the file reads them.
        drop(file);
        let file = QueueFile::open(&dir.path().join("queue.db"), None).unwrap();
        assert_eq!(file.draw_numbers(7, &[30, 40]).unwrap(), [3, 4]);
    }
}
