//! Priority-list membership, looked up by the keyed hash of a registration number.

use super::{SqliteReader, rows};
use crate::{PriorityStore, Result};
use rusqlite::params;

impl PriorityStore for SqliteReader {
    fn add_priority_members(&self, list_id: u32, rrn_hashes: &[[u8; 32]]) -> Result<u64> {
        self.with(|conn| {
            let tx = conn.unchecked_transaction()?;
            let mut added = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO priority_member (rrn_hash, list_id) VALUES (?1, ?2)",
                )?;
                for hash in rrn_hashes {
                    added += insert.execute(params![&hash[..], list_id])? as u64;
                }
            }
            tx.commit()?;
            Ok(added)
        })
    }

    fn priority_lists_of(&self, rrn_hash: &[u8; 32]) -> Result<Vec<u32>> {
        self.with(|conn| rows::priority_lists_of(conn, rrn_hash))
    }
}
