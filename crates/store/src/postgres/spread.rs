//! The ledger's parts spread over the nodes. Every node runs a writer for every part, but holds
//! the lease of no more than its fair share of them, `ceil(parts / live nodes)`: it takes a free
//! part only while it holds fewer, and gives up its highest parts (home, 0, last) when it holds
//! more, as when a node joins. A node that dies lets its parts lapse, and the others, now fewer
//! and so with a larger share, take them. Requests for a part held elsewhere are forwarded to its
//! holder by the server.
//!
//! A node counts the live nodes from `ledger_node`, where each says it is alive every half second
//! or so, on the database's clock. The count only decides who should hold what; it is never a
//! fence: two nodes that briefly disagree may both try for a free part, and the lease row lets
//! one of them have it (and the fence in every batch keeps a part to one writer at a time).

use super::conn::{Conn, Driver};
use super::rows::get;
use super::{LeaseView, Result, StoreError, give_up, keep_lease, migrate};
use domain::partition::Part;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often a node says it is alive and counts the others (at most; a third of the lease time
/// if that is shorter), so a joining node is counted within about this.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(500);

/// This node's share of the parts: its lease views (one per part, shared with each part's
/// writer, renewed here on one connection for all) and how many nodes were alive when it last
/// looked.
pub struct Spread {
    node: String,
    ttl: Duration,
    views: Vec<LeaseView>,
    live_nodes: AtomicU32,
    /// The connection this node says it is alive on (`None` while the database is unreachable).
    conn: Mutex<Option<Conn>>,
    driver: Arc<Driver>,
    config: tokio_postgres::Config,
}

impl std::fmt::Debug for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spread")
            .field("node", &self.node)
            .field("parts", &self.views.len())
            .field("live_nodes", &self.live_nodes.load(Ordering::Relaxed))
            .finish()
    }
}

impl Spread {
    /// Says this node is alive, counts the live nodes, and keeps doing so on a thread of its own
    /// until the last handle is dropped (which says it is gone, so the others need not wait for
    /// its row to lapse). `parts`: how many parts every node cuts the ledger into.
    pub fn start(url: &str, node: &str, parts: u16, ttl: Duration) -> Result<Arc<Spread>> {
        let config = super::conn::config(url)?;
        let driver = Driver::start()?;
        let mut conn = Conn::open(&driver, &config)?;
        migrate(&mut conn)?;
        let spread = Arc::new(Spread {
            node: node.to_string(),
            ttl,
            views: (0..parts).map(|_| LeaseView::default()).collect(),
            live_nodes: AtomicU32::new(1),
            conn: Mutex::new(Some(conn)),
            driver,
            config,
        });
        spread.announce()?;
        let weak = Arc::downgrade(&spread);
        let pause = ANNOUNCE_EVERY.min(ttl / 3);
        std::thread::Builder::new()
            .name("yeyak-nodes".into())
            .spawn(move || keep_up_forever(&weak, pause))
            .map_err(|e| StoreError::Database(format!("cannot start the nodes thread: {e}")))?;
        Ok(spread)
    }

    /// This node's view of `part`'s lease (the one its writer holds and renews).
    pub fn view(&self, part: Part) -> LeaseView {
        self.views[usize::from(part.index())].clone()
    }

    /// How many nodes were alive when this node last looked (itself included).
    pub fn live_nodes(&self) -> u32 {
        self.live_nodes.load(Ordering::Relaxed)
    }

    /// The parts this node holds, in order.
    fn held(&self) -> Vec<u16> {
        (0u16..)
            .zip(&self.views)
            .filter(|(_, view)| view.held().is_some())
            .map(|(index, _)| index)
            .collect()
    }

    fn share(&self) -> usize {
        fair_share(self.views.len(), self.live_nodes())
    }

    /// Whether this node may take (or keep taking) `part`'s lease now.
    pub fn may_take(&self, part: Part) -> bool {
        may_take(&self.held(), self.share(), part.index())
    }

    /// Says this node is alive, then renews each part it holds, or gives it up when it holds
    /// more than its share (its highest parts first, the share counted anew after each).
    fn keep_up(&self) {
        let Ok(mut conn) = self.conn.lock() else {
            return;
        };
        if !conn.as_ref().is_some_and(Conn::is_open) {
            *conn = Conn::open(&self.driver, &self.config).ok();
        }
        let announced = match conn.as_mut() {
            Some(conn) => self.announce_on(conn),
            None => Err(StoreError::Database("cannot reach the database".into())),
        };
        if let Err(error) = announced {
            tracing::warn!(%error, "cannot say this node is alive; keeping the last count of nodes");
        }
        for (index, view) in (0u16..).zip(&self.views) {
            let Some(lease) = view.held() else {
                continue;
            };
            match conn.as_mut() {
                Some(conn) if sheds(&self.held(), self.share(), index) => {
                    give_up(conn, view, &lease);
                }
                conn => keep_lease(conn, view, &lease),
            }
        }
    }

    fn announce(&self) -> Result<()> {
        let mut conn = self.conn.lock().map_err(|_| poisoned())?;
        let conn = conn
            .as_mut()
            .ok_or_else(|| StoreError::Database("cannot reach the database".into()))?;
        self.announce_on(conn)
    }

    /// Renews this node's row, forgets rows long gone, and counts the live ones. The count is
    /// kept when the database cannot be reached (a node that cannot reach it cannot write
    /// anyway, and must not start giving parts up over a cut).
    fn announce_on(&self, conn: &mut Conn) -> Result<()> {
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        conn.execute(
            "INSERT INTO ledger_node (node, expires_at)
             VALUES ($1, now() + $2::bigint * interval '1 millisecond')
             ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at",
            &[&self.node, &ttl_ms],
        )?;
        conn.execute(
            "DELETE FROM ledger_node WHERE expires_at < now() - interval '1 hour'",
            &[],
        )?;
        let live: i64 = get(
            &conn.one(
                "SELECT count(*) FROM ledger_node WHERE expires_at > now()",
                &[],
            )?,
            0,
        )?;
        self.live_nodes.store(
            u32::try_from(live.max(1)).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
        Ok(())
    }
}

impl Drop for Spread {
    fn drop(&mut self) {
        if let Ok(mut conn) = self.conn.lock()
            && let Some(conn) = conn.as_mut().filter(|c| c.is_open())
        {
            let _ = conn.execute("DELETE FROM ledger_node WHERE node = $1", &[&self.node]);
        }
    }
}

/// Keeps this node's row and leases up until the last handle to its share is dropped.
fn keep_up_forever(spread: &Weak<Spread>, pause: Duration) {
    loop {
        std::thread::sleep(pause);
        let Some(spread) = spread.upgrade() else {
            return;
        };
        spread.keep_up();
    }
}

fn poisoned() -> StoreError {
    StoreError::Database("the nodes thread panicked".into())
}

/// The most parts one node should hold: the parts over the live nodes, rounded up (so the live
/// nodes together can hold them all).
pub fn fair_share(parts: usize, live_nodes: u32) -> usize {
    let nodes = usize::try_from(live_nodes.max(1)).unwrap_or(usize::MAX);
    parts.div_ceil(nodes)
}

/// Whether a node holding `held` may take `part`: it holds it already (a rebuild takes it
/// again), or it holds fewer than its share.
pub fn may_take(held: &[u16], share: usize, part: u16) -> bool {
    held.contains(&part) || held.len() < share
}

/// Whether `part` is among the parts a node holding `held` (ascending) gives up to come down
/// to its share: its highest ones, so home (0), which a node's people and messages go through,
/// is given up last.
pub fn sheds(held: &[u16], share: usize, part: u16) -> bool {
    let over = held.len().saturating_sub(share);
    held[held.len() - over..].contains(&part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_nodes_together_hold_every_part() {
        for parts in 1..=16 {
            for nodes in 1..=8u32 {
                let share = fair_share(parts, nodes);
                assert!(
                    share * nodes as usize >= parts,
                    "{parts} parts, {nodes} nodes"
                );
                assert!(share >= 1);
                // And no node holds more than one part above an even split.
                assert!(share <= parts / nodes as usize + 1);
            }
        }
        assert_eq!(fair_share(6, 3), 2);
        assert_eq!(fair_share(4, 3), 2);
        assert_eq!(
            fair_share(6, 0),
            6,
            "a node that counted nobody counts itself"
        );
    }

    #[test]
    fn a_node_takes_free_parts_only_below_its_share() {
        assert!(may_take(&[], 2, 5));
        assert!(may_take(&[0], 2, 5));
        assert!(!may_take(&[0, 3], 2, 5));
        // Its own part, taken again after a rebuild, even at its share.
        assert!(may_take(&[0, 3], 2, 3));
    }

    #[test]
    fn a_node_over_its_share_gives_up_its_highest_parts() {
        let held = [0, 1, 2, 3, 4, 5];
        let given_up: Vec<u16> = (0..6).filter(|&p| sheds(&held, 2, p)).collect();
        assert_eq!(given_up, vec![2, 3, 4, 5]);
        // At or below its share it keeps everything; home is the last to go.
        assert!((0..6).all(|p| !sheds(&[0, 4], 2, p)));
        assert!((0..6).all(|p| !sheds(&[3], 2, p)));
        assert_eq!(
            (0..6).filter(|&p| sheds(&[0, 4], 1, p)).collect::<Vec<_>>(),
            vec![4]
        );
    }
}
