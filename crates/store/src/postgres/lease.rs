//! The writer's lease on the ledger, held through a row on the database's clock and fenced by
//! its epoch (the pattern of Temporal's shard `range_id`): a node writes a batch only if, inside
//! that batch's transaction, the row still names it with the epoch it took. Advisory locks are not
//! used: they vanish on failover and under transaction pooling.
//!
//! Without parts one partition, 0, covers the whole ledger, so one node writes at a time; the
//! others forward writes to the holder's advertised address ([`Holder::address`]) and take over
//! when the holder stops renewing. With the ledger in parts (`domain::partition`) each part has
//! its row, and the nodes spread them ([`super::Spread`]).

use super::conn::Conn;
use super::rows::get;
use crate::{Result, StoreError};
use std::time::Duration;

/// The partition that covers the whole ledger.
pub const WHOLE_LEDGER: i64 = 0;

/// How long a lease lasts without renewal: how long the ledger may go unwritten after its holder
/// died, and how long a paused holder may stay paused and still commit.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub partition: i64,
    pub owner: String,
    pub epoch: i64,
    pub ttl: Duration,
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// Who holds a partition, as a node that does not last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub owner: String,
    pub epoch: i64,
    /// Where the holder takes forwarded writes (`http://host:port`), if it said.
    pub address: Option<String>,
    /// Whether its lease had not run out when read (on the database's clock).
    pub live: bool,
}

/// Takes the partition if it is free, expired, or already ours (a restarted node with the same
/// name fences its former self too): the epoch grows each time, and the row records `address`,
/// where this node takes forwarded writes. `None` when another node holds it.
pub fn acquire(
    conn: &mut Conn,
    partition: i64,
    owner: &str,
    address: Option<&str>,
    ttl: Duration,
) -> Result<Option<Lease>> {
    let row = conn.opt(
        "INSERT INTO ledger_lease (partition, owner, epoch, expires_at, address, stamp)
         VALUES ($1, $2, 1, now() + $3::bigint * interval '1 millisecond', $4,
                 nextval('booking_stamp'))
         ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner,
             epoch = ledger_lease.epoch + 1, expires_at = excluded.expires_at,
             address = excluded.address, stamp = excluded.stamp
         WHERE ledger_lease.expires_at < now() OR ledger_lease.owner = excluded.owner
         RETURNING epoch",
        &[&partition, &owner, &ttl_ms(ttl), &address],
    )?;
    row.map(|r| {
        Ok(Lease {
            partition,
            owner: owner.to_string(),
            epoch: get(&r, 0)?,
            ttl,
        })
    })
    .transpose()
}

/// Who holds `partition` now, if anyone ever took it.
pub fn holder(conn: &mut Conn, partition: i64) -> Result<Option<Holder>> {
    let row = conn.opt(
        "SELECT owner, epoch, address, expires_at > now() FROM ledger_lease WHERE partition = $1",
        &[&partition],
    )?;
    row.map(|r| {
        Ok(Holder {
            owner: get(&r, 0)?,
            epoch: get(&r, 1)?,
            address: get(&r, 2)?,
            live: get(&r, 3)?,
        })
    })
    .transpose()
}

/// Checks the lease is still ours and extends it. Inside a batch's transaction this is the fence:
/// it locks the row until commit, so nobody takes the partition while the batch is in flight, and
/// a holder whose lease ran out (or was taken) gets an error instead of a commit. It stamps the
/// row as a booking is stamped (schema v8): every booking of the partition written after this
/// commits carries a larger stamp, so a standby's view may skip what is below it.
pub fn renew(conn: &mut Conn, lease: &Lease) -> Result<()> {
    let renewed = conn.execute(
        "UPDATE ledger_lease SET expires_at = now() + $4::bigint * interval '1 millisecond',
             stamp = nextval('booking_stamp')
         WHERE partition = $1 AND owner = $2 AND epoch = $3 AND expires_at > now()",
        &[
            &lease.partition,
            &lease.owner,
            &lease.epoch,
            &ttl_ms(lease.ttl),
        ],
    )?;
    if renewed != 1 {
        return Err(fenced(lease));
    }
    Ok(())
}

/// Gives the partition up at once (on a clean stop), so the next node need not wait it out.
pub fn release(conn: &mut Conn, lease: &Lease) -> Result<()> {
    conn.execute(
        "UPDATE ledger_lease SET expires_at = now() - interval '1 millisecond'
         WHERE partition = $1 AND owner = $2 AND epoch = $3",
        &[&lease.partition, &lease.owner, &lease.epoch],
    )?;
    Ok(())
}

pub fn fenced(lease: &Lease) -> StoreError {
    StoreError::Standby(format!(
        "fenced: the lease on ledger partition {} (epoch {}) is no longer this node's",
        lease.partition, lease.epoch
    ))
}
