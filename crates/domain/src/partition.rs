//! Parts of the capacity ledger, for several writers on one database (PostgreSQL, several
//! nodes): every clinic belongs to one part, by a hash of its id, and each part has one writer
//! at a time (its lease, in `store`). A booking belongs to the part of its first dose's clinic.
//! One part, [`Part::WHOLE`], is the whole ledger: one writer, as on SQLite.
//!
//! What belongs to no clinic (people, staff, messages, settings) is written by the writer of
//! the *home* part, index 0. Booking ids are numbered by part (`id ≡ index mod count`), so
//! writers of different parts never give two bookings one id and need not ask each other.

use crate::clinic::ClinicId;

/// The most parts a ledger may be cut into: each part is a writer thread with a ledger of its
/// own on every node that may take it, so thousands would cost memory for nothing.
pub const MAX_PARTS: u16 = 256;

/// One part of `count`: the clinics whose [`Part::of_clinic`] is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Part {
    index: u16,
    count: u16,
}

/// Why a part cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    #[error("a ledger is cut into 1 to {MAX_PARTS} parts, not {0}")]
    Count(u16),
    #[error("part {index} does not exist among {count}")]
    Index { index: u16, count: u16 },
}

impl Part {
    /// The whole ledger, one writer.
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    pub fn new(index: u16, count: u16) -> Result<Part, PartError> {
        if count == 0 || count > MAX_PARTS {
            return Err(PartError::Count(count));
        }
        if index >= count {
            return Err(PartError::Index { index, count });
        }
        Ok(Part { index, count })
    }

    /// Every part of a ledger cut into `count`.
    pub fn all(count: u16) -> Result<Vec<Part>, PartError> {
        (0..count).map(|index| Part::new(index, count)).collect()
    }

    pub fn index(self) -> u16 {
        self.index
    }

    pub fn count(self) -> u16 {
        self.count
    }

    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether this part writes what belongs to no clinic: people, staff, messages, settings.
    pub fn is_home(self) -> bool {
        self.index == 0
    }

    /// The part of `count` that `clinic` belongs to. A hash, not the id modulo `count`: clinic
    /// ids are given out region by region, and a part should hold clinics from everywhere so
    /// that one region's rush is spread over every writer.
    pub fn of_clinic(clinic: ClinicId, count: u16) -> Part {
        let count = count.clamp(1, MAX_PARTS);
        let index = (mix(u64::from(clinic.0)) % u64::from(count)) as u16;
        Part { index, count }
    }

    pub fn holds(self, clinic: ClinicId) -> bool {
        self.is_whole() || Part::of_clinic(clinic, self.count) == self
    }

    /// The first booking id of this part at or after `from` (ids start at 1).
    pub fn first_id_from(self, from: u64) -> u64 {
        let (index, count) = (u64::from(self.index), u64::from(self.count));
        let from = from.max(1);
        let offset = (index + count - from % count) % count;
        from + offset
    }

    /// The booking id after `id` in this part (`id` is one of its own).
    pub fn next_id(self, id: u64) -> u64 {
        id + u64::from(self.count)
    }

    /// Whether `id` was numbered by this part's writer.
    pub fn numbered(self, id: u64) -> bool {
        id % u64::from(self.count) == u64::from(self.index)
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// SplitMix64's finalizer: every bit of the id moves every bit of the hash.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_ledger_holds_every_clinic_and_numbers_every_id() {
        for c in [0, 1, 7, 1_000_000] {
            assert!(Part::WHOLE.holds(ClinicId(c)));
        }
        assert_eq!(Part::WHOLE.first_id_from(0), 1);
        assert_eq!(Part::WHOLE.first_id_from(41), 41);
        assert_eq!(Part::WHOLE.next_id(41), 42);
    }

    #[test]
    fn each_clinic_is_held_by_exactly_one_part() {
        let parts = Part::all(7).unwrap();
        for c in 0..5_000 {
            let holders = parts.iter().filter(|p| p.holds(ClinicId(c))).count();
            assert_eq!(holders, 1, "clinic {c}");
        }
    }

    #[test]
    fn clinics_numbered_in_order_spread_over_the_parts() {
        // 2,000 consecutive ids (one region's clinics) over 16 parts: 125 each on average.
        let mut held = [0u32; 16];
        for c in 0..2_000 {
            held[usize::from(Part::of_clinic(ClinicId(c), 16).index())] += 1;
        }
        for (index, n) in held.iter().enumerate() {
            assert!((90..=160).contains(n), "part {index} holds {n}");
        }
    }

    #[test]
    fn parts_number_bookings_apart() {
        let parts = Part::all(3).unwrap();
        let mut seen = std::collections::HashSet::new();
        for part in &parts {
            let mut id = part.first_id_from(10);
            assert!((10..13).contains(&id));
            for _ in 0..100 {
                assert!(part.numbered(id));
                assert!(seen.insert(id), "id {id} numbered twice");
                id = part.next_id(id);
            }
        }
        assert_eq!(Part::new(0, 3).unwrap().first_id_from(0), 3);
        assert_eq!(Part::new(1, 3).unwrap().first_id_from(0), 1);
    }

    #[test]
    fn parts_out_of_range_are_refused() {
        assert_eq!(Part::new(0, 0), Err(PartError::Count(0)));
        assert_eq!(
            Part::new(3, 3),
            Err(PartError::Index { index: 3, count: 3 })
        );
        assert_eq!(
            Part::new(0, MAX_PARTS + 1),
            Err(PartError::Count(MAX_PARTS + 1))
        );
        assert!(Part::new(MAX_PARTS - 1, MAX_PARTS).is_ok());
    }
}
