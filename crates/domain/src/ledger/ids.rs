//! The ledger's maps, keyed by ids the server assigns (bookings, people, cells): hashed with
//! foldhash, not the standard library's SipHash, which cost a national plan a quarter of its
//! time (`bench/reschedule.md`). No one outside chooses these keys, so resistance to chosen
//! collisions is not needed; the seed is fixed so that the core reads no ambient randomness.
//! A module of its own so that the ledger's parts use them without using the ledger.
//!
//! The maps that grow with the night (every active booking, every person with one) are
//! [`ShardedIdMap`]s, which grow a shard at a time (see [`crate::sharded`]).

use crate::sharded::ShardedMap;
use std::collections::{HashMap, HashSet};

pub(crate) type IdMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
pub(crate) type IdSet<K> = HashSet<K, foldhash::fast::FixedState>;
pub(crate) type ShardedIdMap<K, V> = ShardedMap<K, V, foldhash::fast::FixedState>;
