//! The waiting room on PostgreSQL, shared by every node: the record (compare-and-swap on its
//! revision), the draw of verified people, the nodes' reports to the controller, and the key
//! lists every node must hold alike. On a pool of its own, so the front door's background work
//! (reserving numbers ahead, the controller's ticks) never waits behind booking reads.

use super::conn::{Conn, Pool};
use super::rows::get;
use crate::{QueueReport, QueueStore, Result, SharedKeys};

pub struct PgQueue {
    pool: Pool,
}

impl PgQueue {
    pub(super) fn new(pool: Pool) -> PgQueue {
        PgQueue { pool }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.pool.with(f)
    }
}

impl QueueStore for PgQueue {
    fn current_queue(&self) -> Result<Option<(u32, String)>> {
        self.with(|conn| {
            let row = conn.opt("SELECT id, record FROM queue ORDER BY id DESC LIMIT 1", &[])?;
            row.map(|r| Ok((get::<i64>(&r, 0)? as u32, get(&r, 1)?)))
                .transpose()
        })
    }

    fn save_queue(
        &self,
        id: u32,
        base: Option<u64>,
        revision: u64,
        record: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let (id, revision) = (i64::from(id), revision as i64);
        self.with(|conn| {
            let changed = match base {
                None => conn.execute(
                    "INSERT INTO queue (id, record, revision, updated_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO NOTHING",
                    &[&id, &record, &revision, &now_ms],
                )?,
                Some(base) => conn.execute(
                    "UPDATE queue SET record = $2, revision = $3, updated_ms = $4
                     WHERE id = $1 AND revision = $5",
                    &[&id, &record, &revision, &now_ms, &(base as i64)],
                )?,
            };
            Ok(changed == 1)
        })
    }

    /// Each person's number if they have one; else the next, counted under the queue's counter
    /// row lock, so numbers stay dense and unique however many nodes draw at once. One
    /// transaction and one take of the lock for the whole list.
    fn draw_numbers(&self, id: u32, persons: &[u64]) -> Result<Vec<u64>> {
        let id = i64::from(id);
        self.with(|conn| {
            conn.transaction(|tx| {
                // Taking the counter's row lock first serialises the draws of this queue.
                let mut drawn: i64 = get(
                    &tx.one(
                        "INSERT INTO queue_draw_count (queue, drawn) VALUES ($1, 0)
                         ON CONFLICT (queue) DO UPDATE SET drawn = queue_draw_count.drawn
                         RETURNING drawn",
                        &[&id],
                    )?,
                    0,
                )?;
                let before = drawn;
                let mut numbers = Vec::with_capacity(persons.len());
                for &person in persons {
                    let person = person as i64;
                    if let Some(row) = tx.opt(
                        "SELECT draw FROM queue_draw WHERE queue = $1 AND person = $2",
                        &[&id, &person],
                    )? {
                        numbers.push(get::<i64>(&row, 0)? as u64);
                        continue;
                    }
                    tx.execute(
                        "INSERT INTO queue_draw (queue, person, draw) VALUES ($1, $2, $3)",
                        &[&id, &person, &drawn],
                    )?;
                    numbers.push(drawn as u64);
                    drawn += 1;
                }
                if drawn > before {
                    tx.execute(
                        "UPDATE queue_draw_count SET drawn = $2 WHERE queue = $1",
                        &[&id, &drawn],
                    )?;
                }
                Ok(numbers)
            })
        })
    }

    fn people_drawn(&self, id: u32) -> Result<u64> {
        self.with(|conn| {
            let row = conn.opt(
                "SELECT drawn FROM queue_draw_count WHERE queue = $1",
                &[&i64::from(id)],
            )?;
            row.map_or(Ok(0), |r| Ok(get::<i64>(&r, 0)? as u64))
        })
    }

    fn report(&self, id: u32, report: &QueueReport) -> Result<()> {
        let ranks = |ranks: &[u64]| ranks.iter().map(|&r| r as i64).collect::<Vec<i64>>();
        let (active, started) = (ranks(&report.active), ranks(&report.started));
        let empty = ranks(&report.empty);
        let latency = report.latency_p99_ms.map(|l| l.min(i32::MAX as u32) as i32);
        self.with(|conn| {
            conn.execute(
                "INSERT INTO queue_report
                     (queue, node, at_ms, active, latency_p99_ms, saturated, started, empty)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &i64::from(id),
                    &report.node,
                    &report.at_ms,
                    &active,
                    &latency,
                    &report.saturated,
                    &started,
                    &empty,
                ],
            )
            .map(|_| ())
        })
    }

    fn take_reports(&self, id: u32) -> Result<Vec<QueueReport>> {
        self.with(|conn| {
            // Reports for an earlier queue (left just before a new opening) are never taken:
            // dropped here, so the table holds about one tick of reports.
            conn.execute(
                "DELETE FROM queue_report WHERE queue < $1",
                &[&i64::from(id)],
            )?;
            let rows = conn.query(
                "DELETE FROM queue_report WHERE queue = $1
                 RETURNING seq, node, at_ms, active, latency_p99_ms, saturated, started, empty",
                &[&i64::from(id)],
            )?;
            let mut reports = rows
                .iter()
                .map(|r| {
                    let seq: i64 = get(r, 0)?;
                    let latency: Option<i32> = get(r, 4)?;
                    let ranks = |i| -> Result<Vec<u64>> {
                        let ranks: Vec<i64> = get(r, i)?;
                        Ok(ranks.into_iter().map(|s| s.max(0) as u64).collect())
                    };
                    let report = QueueReport {
                        node: get(r, 1)?,
                        at_ms: get(r, 2)?,
                        active: ranks(3)?,
                        latency_p99_ms: latency.map(|l| l.max(0) as u32),
                        saturated: get(r, 5)?,
                        started: ranks(6)?,
                        empty: ranks(7)?,
                    };
                    Ok((seq, report))
                })
                .collect::<Result<Vec<_>>>()?;
            reports.sort_by_key(|(seq, _)| *seq);
            Ok(reports.into_iter().map(|(_, r)| r).collect())
        })
    }
}

impl SharedKeys for PgQueue {
    fn shared_keys(&self, name: &str) -> Result<Option<(String, u64)>> {
        self.with(|conn| {
            let row = conn.opt(
                "SELECT lines, revision FROM shared_keys WHERE name = $1",
                &[&name],
            )?;
            row.map(|r| Ok((get(&r, 0)?, get::<i64>(&r, 1)? as u64)))
                .transpose()
        })
    }

    fn put_shared_keys(&self, name: &str, base: Option<u64>, lines: &str) -> Result<bool> {
        self.with(|conn| {
            let changed = match base {
                None => conn.execute(
                    "INSERT INTO shared_keys (name, lines, revision) VALUES ($1, $2, 1)
                     ON CONFLICT (name) DO NOTHING",
                    &[&name, &lines],
                )?,
                Some(base) => conn.execute(
                    "UPDATE shared_keys SET lines = $2, revision = revision + 1
                     WHERE name = $1 AND revision = $3",
                    &[&name, &lines, &(base as i64)],
                )?,
            };
            Ok(changed == 1)
        })
    }
}
