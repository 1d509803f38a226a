//! The ledger's active bookings, which a supply change's planner can read on a thread of its own
//! while the writer goes on booking.
//!
//! A national plan reads every booking (millions) for seconds; copying them for it would stall
//! the writer for about as long as a copy of a gigabyte takes. Instead the map is shared
//! ([`Bookings::freeze`] hands the planner an `Arc` of it) and, while it is shared, the writer
//! keeps what it changes in a small map beside it (`since`), which reads look at first. Once the
//! planner lets go, the next change folds `since` back into the map.
//!
//! From a freeze on, every booking changed is also noted in a journal: what the plan, made from
//! the frozen map, did not see. The writer places those few again when it holds the plan
//! ([`Ledger::catch_up_plan`](super::Ledger::catch_up_plan)).

use super::ids::{IdMap, IdSet, ShardedIdMap};
use crate::booking::{Booking, BookingId};
use std::sync::Arc;

/// Most bookings a journal notes before it is given up (a preview never applied, a night of
/// bookings later): the plan it served is then made again at the apply. About 16 MiB.
pub const JOURNAL_LIMIT: usize = 1_000_000;

/// Active bookings by id, shareable with a planner (see the module docs).
#[derive(Debug, Default)]
pub(super) struct Bookings {
    base: Arc<ShardedIdMap<BookingId, Booking>>,
    /// Changes made while `base` is shared: a booking's new state, `None` if it left.
    since: IdMap<BookingId, Option<Booking>>,
    /// Bookings changed since the last freeze (`None`: no freeze, or given up).
    journal: Option<IdSet<BookingId>>,
    /// Counts freezes and rebuilds: a plan names the freeze it was made from.
    serial: u64,
}

/// A freeze that could not be made: the last one's planner still reads the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannerBusy;

impl Bookings {
    pub(super) fn get(&self, id: &BookingId) -> Option<&Booking> {
        if !self.since.is_empty()
            && let Some(changed) = self.since.get(id)
        {
            return changed.as_ref();
        }
        self.base.get(id)
    }

    pub(super) fn insert(&mut self, id: BookingId, booking: Booking) {
        self.write(id, Some(booking));
    }

    pub(super) fn remove(&mut self, id: &BookingId) {
        self.write(*id, None);
    }

    fn write(&mut self, id: BookingId, state: Option<Booking>) {
        if let Some(journal) = self.journal.as_mut() {
            journal.insert(id);
            if journal.len() > JOURNAL_LIMIT {
                self.journal = None;
            }
        }
        match self.owned() {
            Some(map) => {
                match state {
                    Some(booking) => map.insert(id, booking),
                    None => map.remove(&id),
                };
            }
            None => {
                self.since.insert(id, state);
            }
        }
    }

    /// The map itself when no planner shares it, with what changed meanwhile folded in.
    fn owned(&mut self) -> Option<&mut ShardedIdMap<BookingId, Booking>> {
        let map = Arc::get_mut(&mut self.base)?;
        for (id, state) in self.since.drain() {
            match state {
                Some(booking) => map.insert(id, booking),
                None => map.remove(&id),
            };
        }
        Some(map)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Booking> {
        let since = &self.since;
        let unchanged = self
            .base
            .values()
            .filter(move |b| since.is_empty() || !since.contains_key(&b.id));
        unchanged.chain(since.values().flatten())
    }

    /// Forgets every booking (a rebuild from storage): a plan made before cannot be held.
    pub(super) fn clear(&mut self) {
        match Arc::get_mut(&mut self.base) {
            Some(map) => map.clear(),
            None => self.base = Arc::default(),
        }
        self.since.clear();
        self.journal = None;
        self.serial += 1;
    }

    /// Shares the map with a planner and starts a journal of what changes from now on.
    pub(super) fn freeze(
        &mut self,
    ) -> Result<(Arc<ShardedIdMap<BookingId, Booking>>, u64), PlannerBusy> {
        if self.owned().is_none() {
            return Err(PlannerBusy);
        }
        self.serial += 1;
        self.journal = Some(IdSet::default());
        Ok((Arc::clone(&self.base), self.serial))
    }

    /// A map frozen by [`Bookings::freeze`], read-only, for the planner's own ledger.
    pub(super) fn frozen(base: Arc<ShardedIdMap<BookingId, Booking>>) -> Bookings {
        Bookings {
            base,
            ..Bookings::default()
        }
    }

    /// The bookings changed since freeze `serial`, if that is still the last freeze and its
    /// journal was kept.
    pub(super) fn changed_since(&self, serial: u64) -> Option<&IdSet<BookingId>> {
        self.journal.as_ref().filter(|_| self.serial == serial)
    }

    /// Ends the journal (its plan is held).
    pub(super) fn end_journal(&mut self) {
        self.journal = None;
    }

    /// Folds what changed while the map was shared back into it, if no planner shares it now.
    pub(super) fn fold(&mut self) {
        let _ = self.owned();
    }
}

impl std::ops::Index<&BookingId> for Bookings {
    type Output = Booking;

    fn index(&self, id: &BookingId) -> &Booking {
        self.get(id)
            .expect("a booking read by the id it was found under")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{Appointment, Dose, DoseStatus, PersonId};
    use crate::clinic::ClinicId;
    use crate::product::Product;

    fn booking(id: u64) -> Booking {
        let appointment = Appointment {
            clinic: ClinicId(0),
            day: jiff::civil::date(2021, 8, 1),
            hour: 9,
            product: Product::Pfizer,
        };
        Booking {
            id: BookingId(id),
            person: PersonId(id),
            booked_by: PersonId(id),
            first: Dose {
                appointment,
                status: DoseStatus::Booked,
            },
            second: None,
        }
    }

    fn ids(bookings: &Bookings) -> Vec<u64> {
        let mut ids: Vec<u64> = bookings.values().map(|b| b.id.0).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn a_frozen_map_does_not_see_what_the_writer_changes_after() {
        let mut bookings = Bookings::default();
        bookings.insert(BookingId(1), booking(1));
        bookings.insert(BookingId(2), booking(2));
        let (frozen, _) = bookings.freeze().unwrap();
        bookings.insert(BookingId(3), booking(3));
        bookings.remove(&BookingId(1));
        let mut moved = booking(2);
        moved.first.appointment.hour = 10;
        bookings.insert(BookingId(2), moved);

        let planner = Bookings::frozen(frozen);
        assert_eq!(ids(&planner), [1, 2]);
        assert_eq!(
            planner.get(&BookingId(2)).unwrap().first.appointment.hour,
            9
        );
        assert_eq!(ids(&bookings), [2, 3]);
        assert_eq!(bookings.get(&BookingId(1)), None);
        assert_eq!(bookings[&BookingId(2)].first.appointment.hour, 10);
    }

    #[test]
    fn changes_made_while_shared_fold_back_once_the_planner_lets_go() {
        let mut bookings = Bookings::default();
        bookings.insert(BookingId(1), booking(1));
        let (frozen, _) = bookings.freeze().unwrap();
        bookings.insert(BookingId(2), booking(2));
        bookings.remove(&BookingId(1));
        assert_eq!(bookings.since.len(), 2);
        drop(frozen);
        bookings.fold();
        assert!(bookings.since.is_empty());
        assert_eq!(ids(&bookings), [2]);
        assert_eq!(bookings.base.len(), 1);
    }

    #[test]
    fn a_second_freeze_waits_for_the_first_planner() {
        let mut bookings = Bookings::default();
        let (frozen, first) = bookings.freeze().unwrap();
        assert_eq!(bookings.freeze().unwrap_err(), PlannerBusy);
        drop(frozen);
        let (_, second) = bookings.freeze().unwrap();
        assert_ne!(first, second);
    }

    #[test]
    fn the_journal_names_what_changed_since_the_last_freeze_only() {
        let mut bookings = Bookings::default();
        bookings.insert(BookingId(1), booking(1));
        let (frozen, serial) = bookings.freeze().unwrap();
        drop(frozen);
        bookings.insert(BookingId(2), booking(2));
        bookings.remove(&BookingId(1));
        let changed = bookings.changed_since(serial).unwrap();
        assert!(changed.contains(&BookingId(1)) && changed.contains(&BookingId(2)));
        assert_eq!(changed.len(), 2);
        let (_, later) = bookings.freeze().unwrap();
        assert!(bookings.changed_since(serial).is_none());
        assert!(bookings.changed_since(later).unwrap().is_empty());
        bookings.clear();
        assert!(bookings.changed_since(later).is_none());
    }

    #[test]
    fn a_journal_past_its_limit_is_given_up() {
        let mut bookings = Bookings::default();
        let (_, serial) = bookings.freeze().unwrap();
        for id in 0..=JOURNAL_LIMIT as u64 {
            bookings.insert(BookingId(id), booking(id));
        }
        assert!(bookings.changed_since(serial).is_none());
    }
}
