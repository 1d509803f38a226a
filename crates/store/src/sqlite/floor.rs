//! The floor `yeyak bench` holds the writer against: the very rows a run wrote, inserted again
//! into a fresh database of the same schema (same pragmas, same clinics, the same capacity guard:
//! its triggers note each booking's places, and the transaction settles them into the capacity
//! counts before it commits, as the database requires) with plain prepared statements, all in
//! one transaction and one fsync. No ledger, no idempotency look-ups, no batching, no notification building: what storing the rows
//! costs at the least on this disk and this SQLite.

use super::{Result, connect};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use std::path::Path;
use std::time::{Duration, Instant};

/// The tables a booking writes (the capacity tables follow from the schema's triggers), each with
/// the order the writer inserted its rows in (`idempotency` has no rowid; a record is written
/// with its booking, whose ids the writer hands out in order).
const TABLES: [(&str, &str); 3] = [
    ("booking", "rowid"),
    ("idempotency", "booking"),
    ("outbox", "rowid"),
];

/// What the floor inserted, and how long it took from `BEGIN` to the end of `COMMIT`.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    pub rows: u64,
    pub elapsed: Duration,
}

/// Reads every row of the booking tables from `source` (not timed), then inserts them into
/// `fresh`, a database [`super::open`] created and given the same clinics, in one transaction.
pub fn reinsert(source: &Path, fresh: &Path) -> Result<Floor> {
    let source = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, order) in TABLES {
        tables.push((table, rows_of(&source, table, order)?));
    }
    let mut fresh = connect(fresh)?;
    let started = Instant::now();
    let tx = fresh.transaction()?;
    let mut inserted = 0;
    for (table, (columns, rows)) in &tables {
        let marks = (1..=columns.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({marks})",
            columns.join(", ")
        );
        let mut insert = tx.prepare(&sql)?;
        for row in rows {
            insert.execute(params_from_iter(row.iter()))?;
            inserted += 1;
        }
    }
    // The database refuses to commit bookings whose places are not counted (schema v8).
    super::settle_places(&tx)?;
    tx.commit()?;
    Ok(Floor {
        rows: inserted,
        elapsed: started.elapsed(),
    })
}

/// A table's column names and all its rows, in insertion order.
fn rows_of(conn: &Connection, table: &str, order: &str) -> Result<(Vec<String>, Vec<Vec<Value>>)> {
    let mut select = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
    let columns: Vec<String> = select.column_names().map(str::to_string).collect();
    let rows = select
        .query_map([], |row| {
            (0..columns.len())
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<Value>>>()
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((columns, rows))
}
