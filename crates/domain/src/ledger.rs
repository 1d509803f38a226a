//! The capacity ledger: how many places are left per clinic, day, hour band and product, and
//! which bookings hold them.
//!
//! The ledger is owned by the single booking writer, which is the only code that changes it, so
//! every check-then-reserve is atomic without locks. Readers (clinic search) see the remaining
//! counts through [`Availability`], whose cells are atomics the writer updates after each change.
//! Remaining counts are signed: a supply cut can leave a clinic-day over-committed (negative),
//! which rescheduling must then resolve; booking never drives a count below zero.

use crate::booking::{
    Appointment, BANDS_PER_DAY, Booking, BookingError, BookingId, Dose, DoseStatus, END_HOUR,
    FIRST_HOUR, PersonId,
};
use crate::clinic::{Clinic, ClinicId, Hours};
use crate::partition::Part;
use crate::product::{Product, Schedules};
use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use std::sync::Arc;
use std::sync::atomic::{AtomicI16, AtomicI32, Ordering};

pub(crate) use ids::{IdMap, IdSet, ShardedIdMap};

/// How many days after the product's interval a second dose may be placed when that day is full.
pub const SECOND_DOSE_MAX_DELAY_DAYS: i32 = 14;

/// The days the ledger tracks: `first` and the `days - 1` days after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    pub first: Date,
    pub days: u16,
}

impl Calendar {
    pub fn index(&self, day: Date) -> Option<usize> {
        // Plain day arithmetic: this runs several times per booking on the writer's hot path,
        // where `Date::until` (a general span computation) was a visible cost.
        let offset = epoch_day(day) - epoch_day(self.first);
        (0..i32::from(self.days))
            .contains(&offset)
            .then_some(offset as usize)
    }

    pub fn day(&self, index: usize) -> Date {
        self.first
            .checked_add((index as i64).days())
            .expect("calendar index within range")
    }

    pub fn last(&self) -> Date {
        self.day(usize::from(self.days) - 1)
    }
}

/// Days from 1970-01-01 to `day`; the calendar's dates all fit an `i32`.
pub(crate) fn epoch_day(day: Date) -> i32 {
    crate::time::day_number(day) as i32
}

/// For each first-dose band, every band of the day ordered nearest first (ties: the earlier),
/// so the dose-2 search does not build and sort this list on every booking.
const NEAREST_BANDS: [[u8; BANDS_PER_DAY]; BANDS_PER_DAY] = {
    let mut table = [[0; BANDS_PER_DAY]; BANDS_PER_DAY];
    let mut from = 0;
    while from < BANDS_PER_DAY {
        // Distance 0, then 1 before, 1 after, 2 before, 2 after, …
        let mut n = 0;
        let mut distance = 0;
        while n < BANDS_PER_DAY {
            if distance == 0 {
                table[from][n] = FIRST_HOUR + from as u8;
                n += 1;
            } else {
                if from >= distance {
                    table[from][n] = FIRST_HOUR + (from - distance) as u8;
                    n += 1;
                }
                if from + distance < BANDS_PER_DAY {
                    table[from][n] = FIRST_HOUR + (from + distance) as u8;
                    n += 1;
                }
            }
            distance += 1;
        }
        from += 1;
    }
    table
};

/// Whether a clinic with these hours vaccinates on `day` in the band starting at `hour`.
pub fn is_open(hours: &Hours, day: Date, hour: u8) -> bool {
    let open_day = match day.weekday() {
        Weekday::Sunday => false,
        Weekday::Saturday => hours.saturdays,
        _ => true,
    };
    open_day && (hours.open_hour..hours.close_hour).contains(&hour)
}

fn band_index(hour: u8) -> Option<usize> {
    (FIRST_HOUR..END_HOUR)
        .contains(&hour)
        .then(|| usize::from(hour - FIRST_HOUR))
}

/// Remaining places, readable from any thread while the writer changes them.
///
/// The calendar is a ring of `days` slots, one per day of the horizon (today and the days
/// after it), a day's slot being its day number modulo `days`. The horizon moves with the server
/// clock ([`Availability::advance_to`]): a day that comes into it reads as the clinic's standing
/// plan (its staffing and its standing daily doses) until the writer first touches it and fills
/// its slot, recycling the slot of a day that has passed. So what can be booked always reaches
/// `days - 1` days past today, however long the server runs.
#[derive(Debug)]
pub struct Availability {
    /// The horizon's first day (today in Seoul, as last told), as a day number; never goes back.
    first: AtomicI32,
    /// The horizon the writer has filled its slots for (only the writer moves it).
    filled: AtomicI32,
    days: u16,
    clinics: usize,
    /// The day (number) whose counts each slot holds.
    slot_day: Box<[AtomicI32]>,
    /// What a day starts with before anything is booked on it, per clinic.
    standing: Box<[Standing]>,
    /// People the clinic can still see, per (clinic, slot, band).
    band_left: Box<[AtomicI16]>,
    /// Doses not yet promised, per (clinic, slot, product).
    supply_left: Box<[AtomicI32]>,
}

/// What is left to book across a ledger cut in parts (`partition`): each clinic's places as its
/// part's writer last committed them. One part: that writer's [`Availability`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Places {
    parts: Arc<[Arc<Availability>]>,
}

impl Places {
    /// The places of a ledger in `parts.len()` parts, `parts[i]` of part `i`.
    pub fn of_parts(parts: Vec<Arc<Availability>>) -> Places {
        assert!(!parts.is_empty(), "a ledger has at least one part");
        Places {
            parts: parts.into(),
        }
    }

    /// The availability that holds `clinic`'s places.
    pub fn of(&self, clinic: ClinicId) -> &Availability {
        match &self.parts[..] {
            [whole] => whole,
            parts => &parts[usize::from(Part::of_clinic(clinic, parts.len() as u16).index())],
        }
    }

    /// The horizon (the same in every part: each follows the server's clock).
    pub fn calendar(&self) -> Calendar {
        self.parts[0].calendar()
    }

    /// See [`Availability::advance_to`]; every part's.
    pub fn advance_to(&self, today: Date) {
        for part in self.parts.iter() {
            part.advance_to(today);
        }
    }

    pub fn band_left(&self, clinic: ClinicId, day: Date, hour: u8) -> i32 {
        self.of(clinic).band_left(clinic, day, hour)
    }

    pub fn supply_left(&self, clinic: ClinicId, day: Date, product: Product) -> i32 {
        self.of(clinic).supply_left(clinic, day, product)
    }

    pub fn bookable(&self, clinic: ClinicId, day: Date, hour: u8, product: Product) -> u32 {
        self.of(clinic).bookable(clinic, day, hour, product)
    }

    pub fn bookable_day(&self, clinic: ClinicId, day: Date, product: Product) -> u32 {
        self.of(clinic).bookable_day(clinic, day, product)
    }

    pub fn day_left(&self, clinic: ClinicId, day: Date) -> DayLeft {
        self.of(clinic).day_left(clinic, day)
    }
}

/// A clinic's standing plan: its hours (and people per band) and its daily doses per product
/// on a day it is open (zero for a product it does not offer).
#[derive(Debug, Clone, Copy)]
struct Standing {
    hours: Hours,
    supply: [i32; 4],
}

impl Standing {
    fn band(&self, day: Date, hour: u8) -> i16 {
        if is_open(&self.hours, day, hour) {
            i16::try_from(self.hours.per_band).unwrap_or(i16::MAX)
        } else {
            0
        }
    }

    fn supply(&self, day: Date, product: Product) -> i32 {
        if is_open_day(&self.hours, day) {
            self.supply[product.index()]
        } else {
            0
        }
    }

    /// A day nothing has been booked on: its bands' people and its doses, as `band` and
    /// `supply` give them band by band and product by product.
    fn day_left(&self, day: Date) -> DayLeft {
        // A day with no band open has nothing bookable whatever its doses, and one with a band
        // open is an open day, whose doses are the plan's: no need to ask `supply` per product.
        DayLeft {
            bands: (FIRST_HOUR..END_HOUR)
                .map(|h| i32::from(self.band(day, h)).max(0))
                .sum(),
            supply: self.supply,
        }
    }
}

/// Whether a clinic vaccinates at all on `day`: its standing doses are planned only for those.
pub fn is_open_day(hours: &Hours, day: Date) -> bool {
    (0..24).any(|hour| is_open(hours, day, hour))
}

/// What is left of a clinic's day ([`Availability::day_left`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayLeft {
    /// Places left in the day's bands, a band over-committed by a cut counting as none.
    bands: i32,
    /// Doses not yet promised, by [`Product::index`].
    supply: [i32; 4],
}

impl DayLeft {
    const NOTHING: DayLeft = DayLeft {
        bands: 0,
        supply: [0; 4],
    };

    /// How many more people can book `product` on the day: the fewer of places and doses.
    pub fn bookable(&self, product: Product) -> u32 {
        self.bands.min(self.supply[product.index()]).max(0) as u32
    }
}

/// Where a day's counts are, as a reader sees them.
enum Held {
    /// In this slot.
    Slot(usize),
    /// In the horizon, but nobody has touched it yet: the standing plan.
    Standing,
    Outside,
}

/// The count cells of an [`Availability`], kept from one planner's snapshot for the next: on
/// this machine writing fresh pages costs far more than copying into touched ones (a page
/// fault each: about 0.4 s for the national bench's 110 MiB of counts, against tens of ms).
#[derive(Debug)]
struct CountCells {
    band_left: Box<[AtomicI16]>,
    supply_left: Box<[AtomicI32]>,
    slot_day: Box<[AtomicI32]>,
}

impl CountCells {
    fn like(availability: &Availability) -> CountCells {
        CountCells {
            band_left: availability
                .band_left
                .iter()
                .map(|_| AtomicI16::new(0))
                .collect(),
            supply_left: availability
                .supply_left
                .iter()
                .map(|_| AtomicI32::new(0))
                .collect(),
            slot_day: availability
                .slot_day
                .iter()
                .map(|_| AtomicI32::new(0))
                .collect(),
        }
    }

    fn fits(&self, availability: &Availability) -> bool {
        self.band_left.len() == availability.band_left.len()
            && self.supply_left.len() == availability.supply_left.len()
            && self.slot_day.len() == availability.slot_day.len()
    }
}

/// What a planner's snapshot was copied into, back from it (see [`CountCells`]).
#[derive(Debug, Default)]
struct SnapshotSpare {
    cells: Option<CountCells>,
    band_capacity: Vec<i16>,
    supply_capacity: Vec<i32>,
}

impl Availability {
    /// A copy of the counts as they are now, for a planner's own ledger: nothing the writer
    /// does after reaches it. Copied into `spare` when it has the same shape.
    fn copy_into(&self, spare: Option<CountCells>) -> Availability {
        let relaxed = Ordering::Relaxed;
        let cells = match spare {
            Some(cells) if cells.fits(self) => cells,
            _ => CountCells::like(self),
        };
        for (to, from) in cells.band_left.iter().zip(&self.band_left) {
            to.store(from.load(relaxed), relaxed);
        }
        for (to, from) in cells.supply_left.iter().zip(&self.supply_left) {
            to.store(from.load(relaxed), relaxed);
        }
        for (to, from) in cells.slot_day.iter().zip(&self.slot_day) {
            to.store(from.load(Ordering::Acquire), relaxed);
        }
        Availability {
            first: AtomicI32::new(self.first.load(Ordering::Acquire)),
            filled: AtomicI32::new(self.filled.load(relaxed)),
            days: self.days,
            clinics: self.clinics,
            slot_day: cells.slot_day,
            standing: self.standing.clone(),
            band_left: cells.band_left,
            supply_left: cells.supply_left,
        }
    }

    fn slot_of(&self, day_number: i32) -> usize {
        day_number.rem_euclid(i32::from(self.days)) as usize
    }

    fn in_horizon(&self, day_number: i32, first: i32) -> bool {
        (first..first + i32::from(self.days)).contains(&day_number)
    }

    /// Where a reader finds `day`.
    fn held(&self, day: Date) -> Held {
        let n = epoch_day(day);
        if !self.in_horizon(n, self.first.load(Ordering::Acquire)) {
            return Held::Outside;
        }
        let slot = self.slot_of(n);
        match self.slot_day[slot].load(Ordering::Acquire) {
            held if held == n => Held::Slot(slot),
            held if held < n => Held::Standing,
            _ => Held::Outside,
        }
    }

    /// The writer's slot for `day`: within the horizon it has filled, else `None`.
    fn slot(&self, day: Date) -> Option<usize> {
        self.filled_slot(epoch_day(day))
    }

    /// The writer's slot for day number `n`.
    fn filled_slot(&self, n: i32) -> Option<usize> {
        let slot = self.slot_of(n);
        (self.in_horizon(n, self.filled.load(Ordering::Relaxed))
            && self.slot_day[slot].load(Ordering::Relaxed) == n)
            .then_some(slot)
    }

    fn band_cell(&self, clinic: ClinicId, day: Date, hour: u8) -> Option<usize> {
        self.band_cell_at(clinic, self.slot(day)?, hour)
    }

    /// The band cell for a slot of the ring.
    fn band_cell_at(&self, clinic: ClinicId, slot: usize, hour: u8) -> Option<usize> {
        let (c, b) = (clinic.index(), band_index(hour)?);
        (c < self.clinics).then_some((c * usize::from(self.days) + slot) * BANDS_PER_DAY + b)
    }

    fn supply_cell(&self, clinic: ClinicId, day: Date, product: Product) -> Option<usize> {
        self.supply_cell_at(clinic, self.slot(day)?, product)
    }

    fn supply_cell_at(&self, clinic: ClinicId, slot: usize, product: Product) -> Option<usize> {
        let c = clinic.index();
        (c < self.clinics)
            .then_some((c * usize::from(self.days) + slot) * Product::ALL.len() + product.index())
    }

    /// The horizon: today (as last told) and the days after it.
    pub fn calendar(&self) -> Calendar {
        let first = self.first.load(Ordering::Acquire);
        Calendar {
            first: crate::time::date_from_day_number(i64::from(first))
                .expect("the horizon starts on a real day"),
            days: self.days,
        }
    }

    /// Moves the horizon so that it starts on `today` (never back). Any thread may call this
    /// with the server's date; only the writer fills the days it brings in, and until then
    /// they read as the standing plan.
    pub fn advance_to(&self, today: Date) {
        let today = epoch_day(today);
        // A plain read first: the writer calls this on every booking, and the day rarely moves.
        if today > self.first.load(Ordering::Acquire) {
            self.first.fetch_max(today, Ordering::AcqRel);
        }
    }

    /// Places left in one band (negative when over-committed by a capacity cut).
    pub fn band_left(&self, clinic: ClinicId, day: Date, hour: u8) -> i32 {
        let value = match self.held(day) {
            Held::Slot(slot) => self
                .band_cell_at(clinic, slot, hour)
                .map(|i| self.band_left[i].load(Ordering::Relaxed)),
            Held::Standing => self
                .standing
                .get(clinic.index())
                .filter(|_| band_index(hour).is_some())
                .map(|s| s.band(day, hour)),
            Held::Outside => None,
        };
        value.map_or(0, i32::from)
    }

    /// Doses of `product` not yet promised at a clinic on a day.
    pub fn supply_left(&self, clinic: ClinicId, day: Date, product: Product) -> i32 {
        let value = match self.held(day) {
            Held::Slot(slot) => self
                .supply_cell_at(clinic, slot, product)
                .map(|i| self.supply_left[i].load(Ordering::Relaxed)),
            Held::Standing => self
                .standing
                .get(clinic.index())
                .map(|s| s.supply(day, product)),
            Held::Outside => None,
        };
        value.unwrap_or(0)
    }

    /// How many more people can book this band with this product.
    pub fn bookable(&self, clinic: ClinicId, day: Date, hour: u8, product: Product) -> u32 {
        let left = self
            .band_left(clinic, day, hour)
            .min(self.supply_left(clinic, day, product));
        left.max(0) as u32
    }

    /// How many more people can book this product on this day, over all bands.
    pub fn bookable_day(&self, clinic: ClinicId, day: Date, product: Product) -> u32 {
        self.day_left(clinic, day).bookable(product)
    }

    /// What is left of a clinic's day for every product at once: the day is found in the
    /// horizon and its bands summed once, where [`Availability::bookable_day`] for each product
    /// would do both again (a search shows 7 days of every product for 20 clinics).
    pub fn day_left(&self, clinic: ClinicId, day: Date) -> DayLeft {
        match self.held(day) {
            Held::Slot(slot) => DayLeft {
                bands: (FIRST_HOUR..END_HOUR)
                    .filter_map(|h| self.band_cell_at(clinic, slot, h))
                    .map(|cell| self.band_at(cell).max(0))
                    .sum(),
                supply: Product::ALL.map(|p| {
                    self.supply_cell_at(clinic, slot, p)
                        .map_or(0, |cell| self.supply_at(cell))
                }),
            },
            Held::Standing => self
                .standing
                .get(clinic.index())
                .map_or(DayLeft::NOTHING, |standing| standing.day_left(day)),
            Held::Outside => DayLeft::NOTHING,
        }
    }

    /// What the writer reads: the live count of a filled cell.
    fn band_at(&self, cell: usize) -> i32 {
        i32::from(self.band_left[cell].load(Ordering::Relaxed))
    }

    fn supply_at(&self, cell: usize) -> i32 {
        self.supply_left[cell].load(Ordering::Relaxed)
    }

    fn add_band(&self, cell: usize, delta: i16) {
        self.band_left[cell].fetch_add(delta, Ordering::Relaxed);
    }

    fn add_supply(&self, cell: usize, delta: i32) {
        self.supply_left[cell].fetch_add(delta, Ordering::Relaxed);
    }
}

/// What a clinic is planned to get of `product` from `planned` doses: nothing of a product it
/// does not offer.
fn offered(clinic: &Clinic, product: Product, planned: [u32; 4]) -> i32 {
    if clinic.offers(product) {
        i32::try_from(planned[product.index()]).unwrap_or(i32::MAX)
    } else {
        0
    }
}

/// A clinic's planned doses on `day` under its standing plan of `daily` doses per product:
/// those on a day it is open, none on a day it is closed.
pub fn standing_supply(hours: &Hours, day: Date, daily: [u32; 4]) -> [u32; 4] {
    if is_open_day(hours, day) {
        daily
    } else {
        [0; 4]
    }
}

/// What the writer needs to know about a clinic to validate a request.
#[derive(Debug, Clone)]
struct ClinicRules {
    hours: Hours,
    products: Vec<Product>,
}

/// A request to book dose 1 (and dose 2 with it) for `person`, made by `booked_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookRequest {
    pub person: PersonId,
    pub booked_by: PersonId,
    pub first: Appointment,
    /// Today in Seoul: bookings start tomorrow at the earliest.
    pub today: Date,
}

/// The writer's authoritative view of capacity and active bookings.
#[derive(Debug)]
pub struct Ledger {
    availability: Arc<Availability>,
    /// Capacity before any booking, per band cell and per supply cell.
    band_capacity: Vec<i16>,
    supply_capacity: Vec<i32>,
    clinics: Vec<ClinicRules>,
    schedules: Schedules,
    bookings: Bookings,
    active_by_person: ShardedIdMap<PersonId, BookingId>,
    next_booking_id: u64,
    /// The clinics this ledger writes for (`partition`): the whole ledger but on several nodes.
    part: Part,
    /// Buffers to copy the next planner's snapshot into.
    spare: SnapshotSpare,
}

impl Ledger {
    /// A ledger with every clinic's staffing capacity from its hours and the planned supply
    /// `supply(clinic, day)` (doses per product, indexed by [`Product::index`]). Days that come
    /// into the horizon later get staffing from the hours and no doses; see
    /// [`Ledger::with_standing`].
    pub fn new(
        calendar: Calendar,
        clinics: &[Clinic],
        schedules: Schedules,
        supply: impl FnMut(&Clinic, Date) -> [u32; 4],
    ) -> Ledger {
        let standing = vec![[0; 4]; clinics.len()];
        Ledger::with_standing(calendar, clinics, schedules, &standing, supply)
    }

    /// [`Ledger::new`], with each clinic's standing daily doses per product (by clinic id):
    /// what a day that comes into the horizon later is planned to get on a day the clinic is
    /// open (see [`standing_supply`]).
    pub fn with_standing(
        calendar: Calendar,
        clinics: &[Clinic],
        schedules: Schedules,
        standing: &[[u32; 4]],
        mut supply: impl FnMut(&Clinic, Date) -> [u32; 4],
    ) -> Ledger {
        let days = usize::from(calendar.days);
        let mut band_left = vec![0; clinics.len() * days * BANDS_PER_DAY];
        let mut supply_left = vec![0; clinics.len() * days * Product::ALL.len()];
        let first = epoch_day(calendar.first);
        let slot_of = |d: usize| (first + d as i32).rem_euclid(i32::from(calendar.days)) as usize;
        for (i, clinic) in clinics.iter().enumerate() {
            assert_eq!(
                clinic.id.index(),
                i,
                "clinic ids must be dense and in order"
            );
            for d in 0..days {
                let day = calendar.day(d);
                let band_at = (i * days + slot_of(d)) * BANDS_PER_DAY;
                for hour in FIRST_HOUR..END_HOUR {
                    let cap = if is_open(&clinic.hours, day, hour) {
                        i16::try_from(clinic.hours.per_band).unwrap_or(i16::MAX)
                    } else {
                        0
                    };
                    band_left[band_at + usize::from(hour - FIRST_HOUR)] = cap;
                }
                let planned = supply(clinic, day);
                let supply_at = (i * days + slot_of(d)) * Product::ALL.len();
                for product in Product::ALL {
                    supply_left[supply_at + product.index()] = offered(clinic, product, planned);
                }
            }
        }
        let mut slot_day = vec![0; days];
        for d in 0..days {
            slot_day[slot_of(d)] = first + d as i32;
        }
        let standing = clinics
            .iter()
            .map(|clinic| Standing {
                hours: clinic.hours,
                supply: Product::ALL.map(|p| {
                    let daily = standing.get(clinic.id.index()).copied().unwrap_or([0; 4]);
                    offered(clinic, p, daily)
                }),
            })
            .collect();
        Ledger {
            availability: Arc::new(Availability {
                first: AtomicI32::new(first),
                filled: AtomicI32::new(first),
                days: calendar.days,
                clinics: clinics.len(),
                slot_day: slot_day.into_iter().map(AtomicI32::new).collect(),
                standing,
                band_left: band_left.iter().copied().map(AtomicI16::new).collect(),
                supply_left: supply_left.iter().copied().map(AtomicI32::new).collect(),
            }),
            band_capacity: band_left,
            supply_capacity: supply_left,
            clinics: clinics
                .iter()
                .map(|c| ClinicRules {
                    hours: c.hours,
                    products: c.products.clone(),
                })
                .collect(),
            schedules,
            bookings: Bookings::default(),
            active_by_person: ShardedIdMap::default(),
            next_booking_id: 1,
            part: Part::WHOLE,
            spare: SnapshotSpare::default(),
        }
    }

    /// Moves the horizon to start on `today` (if later) and fills the days it brings in.
    fn advance(&mut self, today: Date) {
        self.availability.advance_to(today);
        self.catch_up();
    }

    /// Fills the slots of the days the horizon has brought in since the writer last looked
    /// (the clock may have moved it from another thread), each from the standing plan,
    /// recycling the slots of days that have passed. Bookings on those past days hold nothing
    /// any more, as at a restart.
    fn catch_up(&mut self) {
        let first = self.availability.first.load(Ordering::Acquire);
        let filled = self.availability.filled.load(Ordering::Relaxed);
        if first == filled {
            return;
        }
        let availability = Arc::clone(&self.availability);
        let days = i32::from(availability.days);
        for n in (filled + days).max(first)..first + days {
            self.fill(&availability, n);
        }
        availability.filled.store(first, Ordering::Relaxed);
    }

    /// Gives day `n`'s slot the standing plan for that day, then hands it to readers.
    fn fill(&mut self, availability: &Availability, n: i32) {
        let Some(day) = crate::time::date_from_day_number(i64::from(n)) else {
            return;
        };
        let slot = availability.slot_of(n);
        for (c, standing) in availability.standing.iter().enumerate() {
            let clinic = ClinicId(c as u32);
            for hour in FIRST_HOUR..END_HOUR {
                if let Some(cell) = availability.band_cell_at(clinic, slot, hour) {
                    let cap = standing.band(day, hour);
                    self.band_capacity[cell] = cap;
                    availability.band_left[cell].store(cap, Ordering::Relaxed);
                }
            }
            for product in Product::ALL {
                if let Some(cell) = availability.supply_cell_at(clinic, slot, product) {
                    let doses = standing.supply(day, product);
                    self.supply_capacity[cell] = doses;
                    availability.supply_left[cell].store(doses, Ordering::Relaxed);
                }
            }
        }
        availability.slot_day[slot].store(n, Ordering::Release);
    }

    pub fn availability(&self) -> Arc<Availability> {
        Arc::clone(&self.availability)
    }

    pub fn schedules(&self) -> Schedules {
        self.schedules
    }

    pub fn booking(&self, id: BookingId) -> Option<&Booking> {
        self.bookings.get(&id)
    }

    pub fn active_booking_of(&self, person: PersonId) -> Option<&Booking> {
        self.active_by_person
            .get(&person)
            .and_then(|id| self.bookings.get(id))
    }

    pub fn active_bookings(&self) -> impl Iterator<Item = &Booking> {
        self.bookings.values()
    }

    /// Forgets every booking and gives all capacity back, keeping the same [`Availability`]
    /// (readers hold it). Used to rebuild from storage after a failed write.
    pub fn reset(&mut self) {
        self.catch_up();
        let availability = &self.availability;
        let days = usize::from(availability.days);
        let (bands, products) = (days * BANDS_PER_DAY, days * Product::ALL.len());
        // A part's ledger resets only its own clinics: the others' cells stay at zero (see
        // `for_part`), and a node with many parts elsewhere resets their views every second.
        let part = self.part;
        let held = (0..availability.standing.len()).filter(|&c| part.holds(ClinicId(c as u32)));
        for c in held {
            let (band_cells, supply_cells) =
                (c * bands..(c + 1) * bands, c * products..(c + 1) * products);
            for (cell, cap) in availability.band_left[band_cells.clone()]
                .iter()
                .zip(&self.band_capacity[band_cells])
            {
                cell.store(*cap, Ordering::Relaxed);
            }
            for (cell, cap) in availability.supply_left[supply_cells.clone()]
                .iter()
                .zip(&self.supply_capacity[supply_cells])
            {
                cell.store(*cap, Ordering::Relaxed);
            }
        }
        self.bookings.clear();
        self.active_by_person.clear();
    }

    /// Shows no place anywhere, until [`Ledger::reset`] and [`Ledger::restore`] rebuild it: while
    /// the ledger may disagree with storage (a rebuild failed), readers must not be shown places
    /// that may not exist.
    pub fn hide_availability(&mut self) {
        for cell in self.availability.band_left.iter() {
            cell.store(0, Ordering::Relaxed);
        }
        for cell in self.availability.supply_left.iter() {
            cell.store(0, Ordering::Relaxed);
        }
    }

    /// Numbers new bookings after `last`, the largest id storage has ever used (cancelled
    /// bookings keep their ids, so active bookings alone do not tell).
    pub fn number_after(&mut self, last: BookingId) {
        self.next_booking_id = self.part.first_id_from(last.0 + 1);
    }

    /// Takes back a booking read from storage at start-up. Its places are taken even if that
    /// over-commits a band (capacity may have been cut since); nothing is refused here. A ledger
    /// of one part takes the places at its own clinics only, and keeps the booking (to change,
    /// cancel, or refuse a second one for the same person) only if its first dose is there.
    pub fn restore(&mut self, booking: Booking) {
        self.catch_up();
        self.next_booking_id = self
            .next_booking_id
            .max(self.part.first_id_from(booking.id.0 + 1));
        if !booking.is_active() {
            return;
        }
        for appointment in booking.booked_appointments() {
            if self.part.holds(appointment.clinic) {
                self.take(&appointment);
            }
        }
        if self.part.holds(booking.first.appointment.clinic) {
            self.active_by_person.insert(booking.person, booking.id);
            self.bookings.insert(booking.id, booking);
        }
    }

    /// Takes a booking's committed state as a node that does not write this ledger reads it
    /// back (a standby's view kept up with the bookings written since it last looked): the
    /// places the booking's last known state held are given back and its new state's taken,
    /// so reading the same state twice, or a booking's states out of order with others',
    /// leaves what [`Ledger::restore`] of every booking's last state would.
    pub fn refresh(&mut self, booking: Booking) {
        self.catch_up();
        if let Some(before) = self.bookings.get(&booking.id).copied() {
            for appointment in before.booked_appointments() {
                if self.part.holds(appointment.clinic) {
                    self.release(&appointment);
                }
            }
            self.bookings.remove(&before.id);
            // The person's new booking may have been read first.
            if self.active_by_person.get(&before.person) == Some(&before.id) {
                self.active_by_person.remove(&before.person);
            }
        }
        self.restore(booking);
    }

    /// This ledger writes for `part` only: the other parts' clinics have no place and get none
    /// (their bands and doses read zero, and so do days that come into the horizon), so nothing
    /// is booked, changed or moved there, and its new bookings are numbered in `part`'s ids.
    /// Call it on a new ledger, before anyone reads its [`Availability`].
    pub fn for_part(mut self, part: Part) -> Ledger {
        let Some(availability) = Arc::get_mut(&mut self.availability) else {
            panic!("a ledger is given its part before anyone reads it");
        };
        let days = usize::from(availability.days);
        let bands = days * BANDS_PER_DAY;
        let products = days * Product::ALL.len();
        for (c, standing) in availability.standing.iter_mut().enumerate() {
            if part.holds(ClinicId(c as u32)) {
                continue;
            }
            standing.hours.per_band = 0;
            standing.supply = [0; 4];
            for cell in c * bands..(c + 1) * bands {
                self.band_capacity[cell] = 0;
                *availability.band_left[cell].get_mut() = 0;
            }
            for cell in c * products..(c + 1) * products {
                self.supply_capacity[cell] = 0;
                *availability.supply_left[cell].get_mut() = 0;
            }
        }
        self.part = part;
        self.next_booking_id = part.first_id_from(self.next_booking_id);
        self
    }

    /// A new ledger for `part` like this one, which must have no bookings yet: what a node
    /// makes for each part at start, building one ledger from every clinic's plan and copying
    /// its counts rather than building each part's again.
    pub fn copy_for_part(&self, part: Part) -> Ledger {
        debug_assert!(self.bookings.values().next().is_none(), "a new ledger");
        Ledger {
            availability: Arc::new(self.availability.copy_into(None)),
            band_capacity: self.band_capacity.clone(),
            supply_capacity: self.supply_capacity.clone(),
            clinics: self.clinics.clone(),
            schedules: self.schedules,
            bookings: Bookings::default(),
            active_by_person: ShardedIdMap::default(),
            next_booking_id: self.next_booking_id,
            part: Part::WHOLE,
            spare: SnapshotSpare::default(),
        }
        .for_part(part)
    }

    /// The clinics this ledger writes for.
    pub fn part(&self) -> Part {
        self.part
    }

    /// Books dose 1 where asked and dose 2 at the same clinic and product after the product's
    /// interval (the first day from then with room, up to [`SECOND_DOSE_MAX_DELAY_DAYS`] later).
    pub fn book(&mut self, request: BookRequest) -> Result<Booking, BookingError> {
        self.advance(request.today);
        if let Some(existing) = self.active_by_person.get(&request.person) {
            return Err(BookingError::AlreadyBooked(*existing));
        }
        let (first, second) = self.reserve_pair(request.first, request.today)?;
        Ok(self.insert_new(request.person, request.booked_by, first, second))
    }

    /// Numbers and records a new booking whose places are already taken.
    fn insert_new(
        &mut self,
        person: PersonId,
        booked_by: PersonId,
        first: Appointment,
        second: Option<Appointment>,
    ) -> Booking {
        let booked = |appointment| Dose {
            appointment,
            status: DoseStatus::Booked,
        };
        let booking = Booking {
            id: BookingId(self.next_booking_id),
            person,
            booked_by,
            first: booked(first),
            second: second.map(booked),
        };
        self.next_booking_id = self.part.next_id(self.next_booking_id);
        self.active_by_person.insert(person, booking.id);
        self.bookings.insert(booking.id, booking);
        booking
    }

    /// Cancels every dose still to be given and frees its places.
    pub fn cancel(&mut self, actor: PersonId, id: BookingId) -> Result<Booking, BookingError> {
        self.catch_up();
        let mut booking = *self.owned_booking(actor, id)?;
        for appointment in booking.booked_appointments().collect::<Vec<_>>() {
            self.release(&appointment);
        }
        for dose in [Some(&mut booking.first), booking.second.as_mut()]
            .into_iter()
            .flatten()
        {
            if dose.status == DoseStatus::Booked {
                dose.status = DoseStatus::Cancelled;
            }
        }
        self.bookings.remove(&id);
        self.active_by_person.remove(&booking.person);
        Ok(booking)
    }

    /// Moves dose 1 (and dose 2 with it) to another day, band or clinic. Either the whole move
    /// happens or the booking stays exactly as it was.
    pub fn change(
        &mut self,
        actor: PersonId,
        id: BookingId,
        first: Appointment,
        today: Date,
    ) -> Result<Booking, BookingError> {
        self.advance(today);
        let old = *self.owned_booking(actor, id)?;
        if old.first.status != DoseStatus::Booked {
            return Err(BookingError::FirstDoseGiven);
        }
        let held: Vec<Appointment> = old.booked_appointments().collect();
        for appointment in &held {
            self.release(appointment);
        }
        match self.reserve_pair(first, today) {
            Ok((first, second)) => {
                let mut moved = old;
                moved.first.appointment = first;
                moved.second = second.map(|appointment| Dose {
                    appointment,
                    status: DoseStatus::Booked,
                });
                self.bookings.insert(id, moved);
                Ok(moved)
            }
            Err(error) => {
                // We released these places an instant ago and nobody else writes: they fit.
                for appointment in &held {
                    self.take(appointment);
                }
                Err(error)
            }
        }
    }

    /// Records that `clinic` gave dose `dose` (1 or 2) of a booking today. The dose's place stays
    /// taken (it was used); a booking with nothing left to give stops holding anything and leaves
    /// the ledger (the person is then fully vaccinated).
    pub fn mark_given(
        &mut self,
        clinic: ClinicId,
        id: BookingId,
        dose: u8,
        today: Date,
    ) -> Result<Booking, BookingError> {
        self.catch_up();
        let mut booking = *self.bookings.get(&id).ok_or(BookingError::NoSuchBooking)?;
        let first_given = booking.first.status == DoseStatus::Given;
        let target = match dose {
            1 => &mut booking.first,
            2 => booking.second.as_mut().ok_or(BookingError::NoSuchBooking)?,
            _ => return Err(BookingError::NoSuchBooking),
        };
        if target.appointment.clinic != clinic {
            return Err(BookingError::OtherClinic);
        }
        if target.status != DoseStatus::Booked {
            return Err(BookingError::DoseNotBooked);
        }
        if target.appointment.day != today {
            return Err(BookingError::NotDueToday);
        }
        if dose == 2 && !first_given {
            return Err(BookingError::FirstDoseNotGiven);
        }
        target.status = DoseStatus::Given;
        if booking.is_active() {
            self.bookings.insert(id, booking);
        } else {
            self.bookings.remove(&id);
            self.active_by_person.remove(&booking.person);
        }
        Ok(booking)
    }

    /// Books a same-day leftover dose as dose 1 today (the dose comes from the clinic's spare
    /// doses, not its planned supply, so no place is taken for it) with dose 2 at the product's
    /// interval as usual. A booking the person already holds whose dose 1 is still to come is
    /// cancelled in the same step: the leftover dose replaces it. Returns the new booking and the
    /// replaced one. A person holds at most one leftover dose a day: a booking due today is
    /// never replaced.
    pub fn book_leftover(
        &mut self,
        person: PersonId,
        first: Appointment,
    ) -> Result<(Booking, Option<Booking>), BookingError> {
        // A leftover dose is given today.
        self.advance(first.day);
        let replaced = match self.active_booking_of(person).copied() {
            // Dose 1 given, or due today (an earlier leftover claim): nothing to replace.
            Some(existing)
                if existing.first.status != DoseStatus::Booked
                    || existing.first.appointment.day <= first.day =>
            {
                return Err(BookingError::AlreadyBooked(existing.id));
            }
            Some(existing) => Some(self.cancel(existing.booked_by, existing.id)?),
            None => None,
        };
        let schedule = self.schedules.get(first.product);
        let second = if schedule.has_second_dose() {
            match self.find_second_dose(&first, schedule.interval_days) {
                Some(second) => Some(second),
                None => {
                    if let Some(old) = replaced {
                        // Nothing else changed since the cancel: its places are still free.
                        self.restore(Booking {
                            first: Dose {
                                status: DoseStatus::Booked,
                                ..old.first
                            },
                            second: old.second.map(|d| Dose {
                                status: DoseStatus::Booked,
                                ..d
                            }),
                            ..old
                        });
                    }
                    return Err(BookingError::SecondDoseUnavailable);
                }
            }
        } else {
            None
        };
        if let Some(second) = &second {
            self.take(second);
        }
        Ok((self.insert_new(person, person, first, second), replaced))
    }

    fn owned_booking(&self, actor: PersonId, id: BookingId) -> Result<&Booking, BookingError> {
        let booking = self.bookings.get(&id).ok_or(BookingError::NoSuchBooking)?;
        if booking.person != actor && booking.booked_by != actor {
            return Err(BookingError::NotYourBooking);
        }
        Ok(booking)
    }

    fn reserve_pair(
        &mut self,
        first: Appointment,
        today: Date,
    ) -> Result<(Appointment, Option<Appointment>), BookingError> {
        self.check_bookable(&first, today)?;
        self.try_take(&first)?;
        let schedule = self.schedules.get(first.product);
        if !schedule.has_second_dose() {
            return Ok((first, None));
        }
        match self.find_second_dose(&first, schedule.interval_days) {
            Some(second) => {
                self.take(&second);
                Ok((first, Some(second)))
            }
            None => {
                self.release(&first);
                Err(BookingError::SecondDoseUnavailable)
            }
        }
    }

    fn check_bookable(&self, appointment: &Appointment, today: Date) -> Result<(), BookingError> {
        let clinic = self
            .clinics
            .get(appointment.clinic.index())
            .ok_or(BookingError::NoSuchClinic)?;
        if !clinic.products.contains(&appointment.product) {
            return Err(BookingError::ProductNotOffered);
        }
        if appointment.day <= today || self.availability.slot(appointment.day).is_none() {
            return Err(BookingError::DayNotBookable);
        }
        if !is_open(&clinic.hours, appointment.day, appointment.hour) {
            return Err(BookingError::HourNotOpen);
        }
        Ok(())
    }

    /// The earliest dose-2 place at or after the interval: the same band first, then the
    /// nearest other band that day, then the next days.
    fn find_second_dose(&self, first: &Appointment, interval_days: u16) -> Option<Appointment> {
        let earliest = first
            .day
            .checked_add(i32::from(interval_days).days())
            .ok()?;
        let hours = &NEAREST_BANDS[band_index(first.hour)?];
        let availability = &*self.availability;
        let (delay, hour) = (0..=SECOND_DOSE_MAX_DELAY_DAYS).find_map(|delay| {
            // Day numbers rather than dates: no date arithmetic per candidate day.
            let slot = availability.filled_slot(epoch_day(earliest) + delay)?;
            // A day without a dose of the product left has no place in any band.
            let supply = availability.supply_cell_at(first.clinic, slot, first.product)?;
            if availability.supply_at(supply) <= 0 {
                return None;
            }
            let hour = hours.iter().copied().find(|&hour| {
                availability
                    .band_cell_at(first.clinic, slot, hour)
                    .is_some_and(|cell| availability.band_at(cell) > 0)
            })?;
            Some((delay, hour))
        })?;
        Some(Appointment {
            day: earliest.checked_add(delay.days()).ok()?,
            hour,
            ..*first
        })
    }

    fn try_take(&mut self, appointment: &Appointment) -> Result<(), BookingError> {
        let a = appointment;
        if self
            .availability
            .bookable(a.clinic, a.day, a.hour, a.product)
            == 0
        {
            return Err(BookingError::SlotFull);
        }
        self.take(appointment);
        Ok(())
    }

    /// A read-only copy to plan a supply change from on another thread, and the freeze's
    /// serial: the capacity as it is now (copied, tens of MiB at national scale) and the
    /// bookings (shared, not copied: see `bookings`). From now on the ledger notes every booking
    /// it changes, for [`Ledger::catch_up_plan`]. Fails while the last snapshot is still read.
    pub fn snapshot_for_planning(&mut self) -> Result<(Ledger, u64), PlannerBusy> {
        self.catch_up();
        let (bookings, serial) = self.bookings.freeze()?;
        let spare = std::mem::take(&mut self.spare);
        let mut band_capacity = spare.band_capacity;
        band_capacity.clone_from(&self.band_capacity);
        let mut supply_capacity = spare.supply_capacity;
        supply_capacity.clone_from(&self.supply_capacity);
        let snapshot = Ledger {
            availability: Arc::new(self.availability.copy_into(spare.cells)),
            band_capacity,
            supply_capacity,
            clinics: self.clinics.clone(),
            schedules: self.schedules,
            bookings: Bookings::frozen(bookings),
            // A plan looks bookings up by id, never by person.
            active_by_person: ShardedIdMap::default(),
            next_booking_id: self.next_booking_id,
            part: self.part,
            spare: SnapshotSpare::default(),
        };
        Ok((snapshot, serial))
    }

    /// Takes back a snapshot its planner is done with: its bookings are let go (so the next
    /// change folds what changed meanwhile), its count buffers kept for the next snapshot.
    pub fn recycle_snapshot(&mut self, snapshot: Ledger) {
        let Ledger {
            availability,
            band_capacity,
            supply_capacity,
            ..
        } = snapshot;
        self.spare = SnapshotSpare {
            cells: Arc::into_inner(availability).map(|a| CountCells {
                band_left: a.band_left,
                supply_left: a.supply_left,
                slot_day: a.slot_day,
            }),
            band_capacity,
            supply_capacity,
        };
        self.bookings.fold();
    }

    /// Makes the buffers the first snapshot is copied into now (at start-up), so that taking
    /// it holds the writer for a copy, not for the page faults of fresh memory. Costs the size
    /// of the counts (about 110 MiB for 13,000 clinics over 120 days).
    pub fn prepare_snapshot_buffers(&mut self) {
        let (snapshot, _) = match self.snapshot_for_planning() {
            Ok(taken) => taken,
            Err(PlannerBusy) => return,
        };
        self.recycle_snapshot(snapshot);
        self.bookings.end_journal();
    }

    /// The bookings changed since snapshot `serial` (sorted), while it is the last one taken
    /// and its journal was kept (`None` after a rebuild, a later snapshot, or more than
    /// [`JOURNAL_LIMIT`] changes): what a plan made from it did not see.
    pub fn changed_since_snapshot(&self, serial: u64) -> Option<Vec<BookingId>> {
        let mut ids: Vec<BookingId> = self
            .bookings
            .changed_since(serial)?
            .iter()
            .copied()
            .collect();
        ids.sort_unstable();
        Some(ids)
    }

    /// Whether snapshot `serial` is the last one taken and its changes are still noted.
    pub fn snapshot_is_current(&self, serial: u64) -> bool {
        self.bookings.changed_since(serial).is_some()
    }

    /// Stops noting changes for the last snapshot (its plan is held, or given up).
    pub fn end_snapshot_journal(&mut self) {
        self.bookings.end_journal();
    }

    fn take(&self, appointment: &Appointment) {
        self.adjust(appointment, -1);
    }

    fn release(&self, appointment: &Appointment) {
        self.adjust(appointment, 1);
    }

    fn adjust(&self, a: &Appointment, delta: i16) {
        let availability = &self.availability;
        // Appointments outside the calendar (past days at a restart) hold nothing we track.
        if let Some(cell) = availability.band_cell(a.clinic, a.day, a.hour) {
            availability.add_band(cell, delta);
        }
        if let Some(cell) = availability.supply_cell(a.clinic, a.day, a.product) {
            availability.add_supply(cell, i32::from(delta));
        }
    }
}

mod bookings;
mod ids;
#[cfg(test)]
mod tests;

use bookings::Bookings;
pub use bookings::{JOURNAL_LIMIT, PlannerBusy};

pub mod reschedule;
