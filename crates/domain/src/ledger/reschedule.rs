//! Rescheduling after a supply change (S2): a delivery cut, delayed or cancelled, a product
//! switched for some clinics, or a new dose interval.
//!
//! [`Ledger::plan`] works out, without changing anything, which booked doses no longer fit and
//! where each one goes with the least disruption:
//!
//! 1. the same clinic and product, the nearest day first (later before earlier at equal
//!    distance, since deliveries slip later), within [`MAX_SHIFT_DAYS`];
//! 2. then nearby clinics (nearest first) with the same product, within [`NEARBY_SHIFT_DAYS`];
//! 3. then, for a first dose only and only where the change allows it, another product at the
//!    same clinic. A dose 2 never changes product or clinic (B4).
//!
//! Who moves when a clinic-day is over-committed: the last booked, first moved, so people who
//! booked earlier keep their places. A dose that fits nowhere is *unplaced*: it is cancelled and
//! listed, and its person told — never left over capacity, never dropped silently.
//!
//! The plan is computed on a scratch overlay of the remaining counts, so readers of
//! [`Availability`](super::Availability) never see a half-made plan. [`Ledger::apply_plan`] then
//! makes exactly that plan real; the writer calls both in one turn, so nothing changes between.

use super::{IdMap, IdSet, Ledger, NEAREST_BANDS, band_index, epoch_day, is_open};
use crate::booking::{Appointment, Booking, BookingId, DoseStatus, PersonId};
use crate::clinic::ClinicId;
use crate::product::{DoseSchedule, Product, Schedules};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::Ordering;

/// How far (in days, either way) a dose may move at its own clinic.
pub const MAX_SHIFT_DAYS: i32 = 14;
/// How far a dose may move when it goes to a nearby clinic or switches product.
pub const NEARBY_SHIFT_DAYS: i32 = 2;
/// A dose 2 may sit this many days beyond the product's interval (as at booking).
const SECOND_DOSE_WINDOW_DAYS: i32 = super::SECOND_DOSE_MAX_DELAY_DAYS;

/// Doses of a product planned for a clinic on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Delivery {
    pub clinic: ClinicId,
    pub day: Date,
    pub product: Product,
    pub doses: u32,
}

/// A change to supply that may displace bookings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupplyChange {
    /// New planned doses for some (clinic, day, product): a delivery cut, delayed (cut on one day,
    /// added on a later one) or cancelled (zero). `switch_to` lists products a displaced first
    /// dose may be switched to at the same clinic.
    Deliveries {
        deliveries: Vec<Delivery>,
        switch_to: Vec<Product>,
    },
    /// First doses of `from` at these clinics on these days become `to` (their dose 2 with
    /// them); the clinics' planned `from` doses for those days become `to`, except what dose-2
    /// appointments of people who had dose 1 of `from` still need.
    ProductSwitch {
        from: Product,
        to: Product,
        clinics: Vec<ClinicId>,
        first_day: Date,
        last_day: Date,
    },
    /// A new interval for `product`; booked second doses on or after `from_day` that are now too
    /// early move to the new interval (exactly, where there is room). Everyone holding a booking
    /// of the product is told.
    Interval {
        product: Product,
        interval_days: u16,
        from_day: Date,
    },
}

/// Why a plan moves people; it goes into each person's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    DeliveryChanged,
    ProductSwitched,
    IntervalChanged,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::DeliveryChanged => "delivery_changed",
            Reason::ProductSwitched => "product_switched",
            Reason::IntervalChanged => "interval_changed",
        }
    }

    pub fn parse(code: &str) -> Option<Reason> {
        [
            Reason::DeliveryChanged,
            Reason::ProductSwitched,
            Reason::IntervalChanged,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// One dose moved from one appointment to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Move {
    pub booking: BookingId,
    pub person: PersonId,
    /// 1 or 2.
    pub dose: u8,
    pub from: Appointment,
    pub to: Appointment,
}

/// A dose that fits nowhere: cancelled by the plan, listed for the operator, its person told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Unplaced {
    pub booking: BookingId,
    pub person: PersonId,
    pub dose: u8,
    pub from: Appointment,
}

/// One planned-supply cell changed by the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SupplyEdit {
    pub clinic: ClinicId,
    pub day: Date,
    pub product: Product,
    pub before: i32,
    pub after: i32,
}

/// What a supply change does to bookings. Computing it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub reason: Reason,
    pub supply: Vec<SupplyEdit>,
    /// The product's new schedule, for an interval change.
    pub schedule: Option<(Product, DoseSchedule)>,
    pub moves: Vec<Move>,
    pub unplaced: Vec<Unplaced>,
    /// Every booking the plan changes, in its new state, by id.
    pub changed: Vec<Booking>,
    /// Each booking of `changed` as the plan found it (in the same order): a booking that is
    /// no longer so when the plan is held was changed meanwhile, and the plan leaves it be.
    pub changed_from: Vec<Booking>,
    /// Bookings in scope that stay as they are but whose people are told (interval change).
    /// Each as it is when planned, by id: their message is written from it, off the writer.
    pub informed: Vec<Booking>,
    /// Clinics in a product switch that do not offer the new product: left as they were.
    pub skipped_clinics: Vec<ClinicId>,
    /// Cells the plan touches that would still be over capacity after it (must be zero).
    pub over_capacity_after: u32,
}

impl Plan {
    /// A plan that changes nothing yet, for `reason`.
    fn empty(reason: Reason) -> Plan {
        Plan {
            reason,
            supply: Vec::new(),
            schedule: None,
            moves: Vec::new(),
            unplaced: Vec::new(),
            changed: Vec::new(),
            changed_from: Vec::new(),
            informed: Vec::new(),
            skipped_clinics: Vec::new(),
            over_capacity_after: 0,
        }
    }

    /// A short identifier of exactly this plan: an operator applies the plan they previewed,
    /// and if bookings changed in between the identifiers differ.
    pub fn id(&self) -> String {
        let mut h = DefaultHasher::new();
        self.reason.hash(&mut h);
        self.supply.hash(&mut h);
        self.schedule
            .map(|(p, s)| (p, s.doses, s.interval_days))
            .hash(&mut h);
        self.moves.hash(&mut h);
        self.unplaced.hash(&mut h);
        self.informed.len().hash(&mut h);
        for booking in &self.informed {
            (booking.id, booking.person).hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }

    /// Whether this plan, held as `held` ([`Ledger::hold_plan`]), already takes care of
    /// `booking` as it is now: it moves it, or tells its person of it.
    fn handles(&self, booking: &Booking, held: &[Option<Booking>]) -> bool {
        let by_id = |b: &Booking| b.id;
        if let Ok(i) = self.changed.binary_search_by_key(&booking.id, by_id) {
            return held.get(i).copied().flatten().as_ref() == Some(booking);
        }
        self.informed
            .binary_search_by_key(&booking.id, by_id)
            .is_ok_and(|i| self.informed[i] == *booking)
    }

    /// People whose appointments move (one count per booking).
    pub fn people_moved(&self) -> usize {
        let mut ids: Vec<BookingId> = self.moves.iter().map(|m| m.booking).collect();
        ids.dedup();
        ids.len()
    }

    /// How many moved doses shift by how many days (negative: earlier).
    pub fn shift_histogram(&self) -> BTreeMap<i32, u64> {
        let mut histogram = BTreeMap::new();
        for m in &self.moves {
            let shift = epoch_day(m.to.day) - epoch_day(m.from.day);
            *histogram.entry(shift).or_insert(0) += 1;
        }
        histogram
    }

    /// Moved doses that went to another clinic.
    pub fn moved_to_other_clinics(&self) -> usize {
        self.moves
            .iter()
            .filter(|m| m.from.clinic != m.to.clinic)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.unplaced.is_empty()
    }
}

/// Why a change cannot be planned. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no such clinic {0:?}")]
    NoSuchClinic(ClinicId),
    #[error("{0} is not a day that can be changed (tomorrow up to the end of the calendar)")]
    DayNotChangeable(Date),
    #[error("the clinic {0:?} does not offer {1:?}")]
    ProductNotOffered(ClinicId, Product),
    #[error("the products must differ and need the same number of doses")]
    IncompatibleProducts,
    #[error("the interval must be 1 to 180 days for a two-dose product")]
    InvalidInterval,
    #[error("the change is empty")]
    EmptyChange,
}

impl PlanError {
    pub fn code(self) -> &'static str {
        match self {
            PlanError::NoSuchClinic(_) => "no_such_clinic",
            PlanError::DayNotChangeable(_) => "day_not_changeable",
            PlanError::ProductNotOffered(..) => "product_not_offered",
            PlanError::IncompatibleProducts => "incompatible_products",
            PlanError::InvalidInterval => "invalid_interval",
            PlanError::EmptyChange => "empty_change",
        }
    }

    pub fn message_ko(self) -> String {
        match self {
            PlanError::NoSuchClinic(c) => format!("의료기관 {}을(를) 찾을 수 없습니다.", c.0),
            PlanError::DayNotChangeable(d) => {
                format!("{d}은(는) 변경할 수 없는 날짜입니다 (내일부터 달력 끝까지).")
            }
            PlanError::ProductNotOffered(c, p) => format!(
                "의료기관 {}에서는 {} 백신을 접종하지 않습니다.",
                c.0,
                p.name_ko()
            ),
            PlanError::IncompatibleProducts => {
                "서로 다르고 접종 횟수가 같은 백신으로만 바꿀 수 있습니다.".into()
            }
            PlanError::InvalidInterval => {
                "접종 간격은 2회 접종 백신에 대해 1~180일이어야 합니다.".into()
            }
            PlanError::EmptyChange => "변경 내용이 없습니다.".into(),
        }
    }

    pub fn message_en(self) -> String {
        match self {
            PlanError::NoSuchClinic(c) => format!("No clinic {}.", c.0),
            PlanError::DayNotChangeable(d) => format!(
                "{d} cannot be changed (only days from tomorrow to the end of the calendar)."
            ),
            PlanError::ProductNotOffered(c, p) => {
                format!("Clinic {} does not offer {}.", c.0, p.name_en())
            }
            PlanError::IncompatibleProducts => {
                "A product can only be switched to a different one with the same number of doses."
                    .into()
            }
            PlanError::InvalidInterval => {
                "The interval must be 1 to 180 days, for a two-dose product.".into()
            }
            PlanError::EmptyChange => "The change is empty.".into(),
        }
    }
}

/// What the writer needs to undo a plan's capacity and schedule edits if its transaction fails
/// (bookings are rebuilt from storage then).
#[derive(Debug, Clone)]
pub struct PlanUndo {
    supply: Vec<(usize, i32)>,
    schedules: Schedules,
}

/// Neighbouring clinics, nearest first, for the clinics a change touches.
pub type Neighbours = HashMap<ClinicId, Vec<ClinicId>>;

/// Remaining counts as the plan would leave them: the live counts plus this plan's deltas.
struct Scratch<'l> {
    ledger: &'l Ledger,
    band: IdMap<usize, i32>,
    supply: IdMap<usize, i32>,
}

impl<'l> Scratch<'l> {
    fn new(ledger: &'l Ledger) -> Self {
        Scratch {
            ledger,
            band: IdMap::default(),
            supply: IdMap::default(),
        }
    }

    fn band_left(&self, cell: usize) -> i32 {
        let live = i32::from(self.ledger.availability.band_left[cell].load(Ordering::Relaxed));
        live + self.band.get(&cell).copied().unwrap_or(0)
    }

    fn supply_left(&self, cell: usize) -> i32 {
        let live = self.ledger.availability.supply_left[cell].load(Ordering::Relaxed);
        live + self.supply.get(&cell).copied().unwrap_or(0)
    }

    fn adjust(&mut self, a: &Appointment, delta: i32) {
        let availability = &self.ledger.availability;
        if let Some(cell) = availability.band_cell(a.clinic, a.day, a.hour) {
            *self.band.entry(cell).or_insert(0) += delta;
        }
        if let Some(cell) = availability.supply_cell(a.clinic, a.day, a.product) {
            *self.supply.entry(cell).or_insert(0) += delta;
        }
    }

    fn take(&mut self, a: &Appointment) {
        self.adjust(a, -1);
    }

    /// Whether the band or the doses `a` holds are over capacity.
    fn over(&self, a: &Appointment) -> bool {
        let availability = &self.ledger.availability;
        availability
            .band_cell(a.clinic, a.day, a.hour)
            .is_some_and(|cell| self.band_left(cell) < 0)
            || availability
                .supply_cell(a.clinic, a.day, a.product)
                .is_some_and(|cell| self.supply_left(cell) < 0)
    }

    fn release(&mut self, a: &Appointment) {
        self.adjust(a, 1);
    }

    /// Whether `a` is a real, open, future appointment with a place and a dose left.
    fn fits(&self, a: &Appointment, today: Date) -> bool {
        let ledger = self.ledger;
        let Some(clinic) = ledger.clinics.get(a.clinic.index()) else {
            return false;
        };
        let availability = &ledger.availability;
        a.day > today
            && clinic.products.contains(&a.product)
            && is_open(&clinic.hours, a.day, a.hour)
            && availability
                .band_cell(a.clinic, a.day, a.hour)
                .is_some_and(|cell| self.band_left(cell) > 0)
            && availability
                .supply_cell(a.clinic, a.day, a.product)
                .is_some_and(|cell| self.supply_left(cell) > 0)
    }

    /// The first appointment that fits at `clinic` with `product`, on the days given (in order),
    /// in the band nearest `hour`.
    fn first_fit(
        &self,
        clinic: ClinicId,
        product: Product,
        hour: u8,
        days: impl Iterator<Item = Date>,
        today: Date,
    ) -> Option<Appointment> {
        let bands = &NEAREST_BANDS[band_index(hour)?];
        for day in days {
            for &hour in bands {
                let candidate = Appointment {
                    clinic,
                    day,
                    hour,
                    product,
                };
                if self.fits(&candidate, today) {
                    return Some(candidate);
                }
            }
        }
        None
    }
}

/// `day` and the days around it within `max` days, nearest first, later before earlier.
fn days_around(day: Date, max: i32) -> impl Iterator<Item = Date> {
    std::iter::once(0)
        .chain((1..=max).flat_map(|d| [d, -d]))
        .filter_map(move |offset| day.checked_add(offset.days()).ok())
}

/// The days of `[first, last]`, nearest `target` first, later before earlier.
fn days_within(first: Date, last: Date, target: Date) -> impl Iterator<Item = Date> {
    let target = target.clamp(first, last);
    let span = (epoch_day(last) - epoch_day(first)).max(0);
    days_around(target, span).filter(move |d| (first..=last).contains(d))
}

fn add_days(day: Date, days: i32) -> Option<Date> {
    day.checked_add(days.days()).ok()
}

/// Which doses of a booking the change displaces.
#[derive(Debug, Clone, Copy, Default)]
struct Displaced {
    first: bool,
    second: bool,
}

impl Ledger {
    /// Planned doses of `product` at `clinic` on `day` (zero outside the calendar).
    pub fn planned(&self, clinic: ClinicId, day: Date, product: Product) -> i32 {
        self.availability
            .supply_cell(clinic, day, product)
            .map_or(0, |cell| self.supply_capacity[cell])
    }

    /// Works out what `change` would do, changing nothing. `neighbours` lists nearby clinics for
    /// the clinics the change touches (missing entries: no nearby clinic is tried).
    pub fn plan(
        &self,
        change: &SupplyChange,
        today: Date,
        neighbours: &Neighbours,
    ) -> Result<Plan, PlanError> {
        let mut scratch = Scratch::new(self);
        let mut schedules = self.schedules;
        let mut plan = Plan::empty(Reason::DeliveryChanged);
        let mut switch_to: Vec<Product> = Vec::new();
        let displaced = match change {
            SupplyChange::Deliveries {
                deliveries,
                switch_to: allowed,
            } => {
                switch_to.clone_from(allowed);
                self.plan_deliveries(deliveries, today, &mut scratch, &mut plan)?
            }
            SupplyChange::ProductSwitch {
                from,
                to,
                clinics,
                first_day,
                last_day,
            } => {
                plan.reason = Reason::ProductSwitched;
                switch_to.push(*to);
                let scope = SwitchScope {
                    from: *from,
                    to: *to,
                    first_day: *first_day,
                    last_day: *last_day,
                };
                self.plan_switch(&scope, clinics, today, &mut scratch, &mut plan)?
            }
            SupplyChange::Interval {
                product,
                interval_days,
                from_day,
            } => {
                plan.reason = Reason::IntervalChanged;
                let current = schedules.get(*product);
                if !current.has_second_dose() || !(1..=180).contains(interval_days) {
                    return Err(PlanError::InvalidInterval);
                }
                let schedule = DoseSchedule::two_doses(*interval_days);
                schedules.set(*product, schedule);
                plan.schedule = Some((*product, schedule));
                self.plan_interval(*product, *interval_days, *from_day, today, &mut plan)
            }
        };
        // Free every displaced place first, so displaced people can use each other's places.
        release_displaced(&mut scratch, &displaced);
        let context = PlaceContext {
            today,
            schedules: &schedules,
            neighbours,
            switch_to: &switch_to,
            forced_product: match change {
                SupplyChange::ProductSwitch { to, .. } => Some(*to),
                _ => None,
            },
        };
        for (booking, which) in displaced {
            let after = place(&mut scratch, &booking, which, &context, &mut plan);
            plan.changed.push(after);
            plan.changed_from.push(booking);
        }
        plan.over_capacity_after = count_over_capacity(&scratch);
        Ok(plan)
    }

    fn plan_deliveries(
        &self,
        deliveries: &[Delivery],
        today: Date,
        scratch: &mut Scratch,
        plan: &mut Plan,
    ) -> Result<Vec<(Booking, Displaced)>, PlanError> {
        if deliveries.is_empty() {
            return Err(PlanError::EmptyChange);
        }
        let mut excess: IdMap<usize, i32> = IdMap::default();
        let mut seen = IdSet::default();
        for delivery in deliveries {
            let cell =
                self.changeable_cell(delivery.clinic, delivery.day, delivery.product, today)?;
            if !seen.insert(cell) {
                continue; // The first line for a cell wins; a repeat is not a second change.
            }
            let before = self.supply_capacity[cell];
            let after = i32::try_from(delivery.doses).unwrap_or(i32::MAX);
            if before != after {
                plan.supply.push(SupplyEdit {
                    clinic: delivery.clinic,
                    day: delivery.day,
                    product: delivery.product,
                    before,
                    after,
                });
                *scratch.supply.entry(cell).or_insert(0) += after - before;
            }
            let left = scratch.supply_left(cell);
            if left < 0 {
                excess.insert(cell, -left);
            }
        }
        // The appointments holding each over-committed cell, last booked first.
        let mut holders: IdMap<usize, Vec<(BookingId, u8)>> = IdMap::default();
        for booking in self.bookings.values() {
            for (dose, d) in booking.doses().enumerate() {
                if d.status != DoseStatus::Booked {
                    continue;
                }
                let a = d.appointment;
                if let Some(cell) = self.availability.supply_cell(a.clinic, a.day, a.product)
                    && excess.contains_key(&cell)
                {
                    holders
                        .entry(cell)
                        .or_default()
                        .push((booking.id, dose as u8 + 1));
                }
            }
        }
        let mut displaced: BTreeMap<BookingId, Displaced> = BTreeMap::new();
        for (cell, mut list) in holders {
            list.sort_unstable_by(|a, b| b.cmp(a));
            for (id, dose) in list.into_iter().take(excess[&cell] as usize) {
                let entry = displaced.entry(id).or_default();
                match dose {
                    1 => entry.first = true,
                    _ => entry.second = true,
                }
            }
        }
        Ok(displaced
            .into_iter()
            .map(|(id, which)| (self.bookings[&id], which))
            .collect())
    }

    fn plan_switch(
        &self,
        scope: &SwitchScope,
        clinics: &[ClinicId],
        today: Date,
        scratch: &mut Scratch,
        plan: &mut Plan,
    ) -> Result<Vec<(Booking, Displaced)>, PlanError> {
        let (from, to) = (scope.from, scope.to);
        if from == to
            || self.schedules.get(from).doses != self.schedules.get(to).doses
            || clinics.is_empty()
        {
            return Err(PlanError::IncompatibleProducts);
        }
        let availability = &self.availability;
        if scope.first_day <= today || availability.slot(scope.first_day).is_none() {
            return Err(PlanError::DayNotChangeable(scope.first_day));
        }
        if scope.last_day < scope.first_day || availability.slot(scope.last_day).is_none() {
            return Err(PlanError::DayNotChangeable(scope.last_day));
        }
        let (in_scope, skipped) = self.switched_clinics(scope, clinics)?;
        plan.skipped_clinics = skipped;
        let switching = |b: &Booking| scope.switches(&in_scope, today, b);
        // Doses of `from` that stay needed in each switched cell: the dose 2s of people not
        // switching (their dose 1 was `from`, so their dose 2 must be too).
        let mut staying: IdMap<usize, i32> = IdMap::default();
        let mut displaced = Vec::new();
        for booking in self.bookings.values() {
            if switching(booking) {
                displaced.push((
                    *booking,
                    Displaced {
                        first: true,
                        second: booking
                            .second
                            .is_some_and(|d| d.status == DoseStatus::Booked),
                    },
                ));
            } else if let Some(second) = booking.second
                && second.status == DoseStatus::Booked
                && second.appointment.product == from
                && let Some(cell) = self.availability.supply_cell(
                    second.appointment.clinic,
                    second.appointment.day,
                    from,
                )
            {
                *staying.entry(cell).or_insert(0) += 1;
            }
        }
        displaced.sort_unstable_by_key(|(booking, _)| booking.id);
        let mut switched_clinics: Vec<ClinicId> = in_scope.into_iter().collect();
        switched_clinics.sort_unstable();
        let mut day = scope.first_day;
        while day <= scope.last_day {
            for &clinic in &switched_clinics {
                let (Some(from_cell), Some(to_cell)) = (
                    self.availability.supply_cell(clinic, day, from),
                    self.availability.supply_cell(clinic, day, to),
                ) else {
                    continue;
                };
                let before_from = self.supply_capacity[from_cell];
                let keep = staying
                    .get(&from_cell)
                    .copied()
                    .unwrap_or(0)
                    .min(before_from);
                let shifted = before_from - keep;
                if shifted == 0 {
                    continue;
                }
                let before_to = self.supply_capacity[to_cell];
                plan.supply.push(SupplyEdit {
                    clinic,
                    day,
                    product: from,
                    before: before_from,
                    after: keep,
                });
                plan.supply.push(SupplyEdit {
                    clinic,
                    day,
                    product: to,
                    before: before_to,
                    after: before_to + shifted,
                });
                *scratch.supply.entry(from_cell).or_insert(0) -= shifted;
                *scratch.supply.entry(to_cell).or_insert(0) += shifted;
            }
            match add_days(day, 1) {
                Some(next) => day = next,
                None => break,
            }
        }
        Ok(displaced)
    }

    /// The clinics of a product switch that offer both products, and those skipped.
    fn switched_clinics(
        &self,
        scope: &SwitchScope,
        clinics: &[ClinicId],
    ) -> Result<(IdSet<ClinicId>, Vec<ClinicId>), PlanError> {
        let mut in_scope = IdSet::default();
        let mut skipped = Vec::new();
        for &clinic in clinics {
            let rules = self
                .clinics
                .get(clinic.index())
                .ok_or(PlanError::NoSuchClinic(clinic))?;
            if rules.products.contains(&scope.from) && rules.products.contains(&scope.to) {
                in_scope.insert(clinic);
            } else {
                skipped.push(clinic);
            }
        }
        Ok((in_scope, skipped))
    }

    fn plan_interval(
        &self,
        product: Product,
        interval_days: u16,
        from_day: Date,
        today: Date,
        plan: &mut Plan,
    ) -> Vec<(Booking, Displaced)> {
        let rule = IntervalRule {
            product,
            interval_days,
            from_day,
            today,
        };
        let mut displaced = Vec::new();
        for booking in self.bookings.values() {
            match rule.concerns(booking) {
                Some(true) => displaced.push((
                    *booking,
                    Displaced {
                        first: false,
                        second: true,
                    },
                )),
                Some(false) => plan.informed.push(*booking),
                None => {}
            }
        }
        displaced.sort_unstable_by_key(|(booking, _)| booking.id);
        plan.informed.sort_unstable_by_key(|b| b.id);
        displaced
    }

    /// The supply cell of a (clinic, day, product) an operator may change: a real clinic that
    /// offers the product, a day from tomorrow to the end of the calendar.
    fn changeable_cell(
        &self,
        clinic: ClinicId,
        day: Date,
        product: Product,
        today: Date,
    ) -> Result<usize, PlanError> {
        let rules = self
            .clinics
            .get(clinic.index())
            .ok_or(PlanError::NoSuchClinic(clinic))?;
        if !rules.products.contains(&product) {
            return Err(PlanError::ProductNotOffered(clinic, product));
        }
        if day <= today {
            return Err(PlanError::DayNotChangeable(day));
        }
        self.availability
            .supply_cell(clinic, day, product)
            .ok_or(PlanError::DayNotChangeable(day))
    }

    /// Takes up the planned supply and schedules as stored, which another node may have
    /// changed while this ledger was not the one deciding: each stored delivery replaces its
    /// cell's planned doses (none for a product the clinic does not offer, as at start), and
    /// stored `schedules` replace the schedules. A cell without a stored delivery keeps its
    /// plan: a supply change stores every cell it edits. Sets capacity, not what is left: call
    /// [`Ledger::reset`] and restore the bookings after it.
    pub fn take_up_plan(&mut self, deliveries: &[Delivery], schedules: Option<Schedules>) {
        self.catch_up();
        for &Delivery {
            clinic,
            day,
            product,
            doses,
        } in deliveries
        {
            if !self.part.holds(clinic) {
                continue;
            }
            let Some(cell) = self.availability.supply_cell(clinic, day, product) else {
                continue;
            };
            let offers = self
                .clinics
                .get(clinic.index())
                .is_some_and(|c| c.products.contains(&product));
            self.supply_capacity[cell] = if offers {
                i32::try_from(doses).unwrap_or(i32::MAX)
            } else {
                0
            };
        }
        if let Some(schedules) = schedules {
            self.schedules = schedules;
        }
    }

    /// Makes `plan` real: its supply and schedule edits and every changed booking. Call it in
    /// the same writer turn as [`Ledger::plan`] made the plan. Returns what undoes the capacity
    /// and schedule edits if the transaction that stores them fails.
    pub fn apply_plan(&mut self, plan: &Plan) -> PlanUndo {
        let undo = self.edit_supply(plan);
        for after in &plan.changed {
            if let Some(before) = self.bookings.get(&after.id).copied() {
                for appointment in before.booked_appointments() {
                    self.release(&appointment);
                }
            }
            for appointment in after.booked_appointments() {
                self.take(&appointment);
            }
            self.put(after);
        }
        undo
    }

    /// Starts applying `plan` in pieces: makes its supply and schedule edits and holds every
    /// new place of its changed bookings while they still hold their old ones, so no booking
    /// made between pieces takes a place storage still counts as used or a move still needs.
    /// The plan may have been made from a snapshot ([`Ledger::snapshot_for_planning`]): a
    /// booking that is no longer as the plan found it is left be (`None`; see
    /// [`Ledger::catch_up_plan`]). Then [`Ledger::settle`] each held booking as its piece is
    /// written. Returns the undo of the edits and each changed booking as it was held (in the
    /// order of `plan.changed`).
    pub fn hold_plan(&mut self, plan: &Plan) -> (PlanUndo, Vec<Option<Booking>>) {
        let undo = self.edit_supply(plan);
        let mut held = Vec::with_capacity(plan.changed.len());
        for (after, found) in plan.changed.iter().zip(&plan.changed_from) {
            if self.bookings.get(&after.id) != Some(found) {
                held.push(None);
                continue;
            }
            for appointment in places_added(found, after) {
                self.take(&appointment);
            }
            held.push(Some(*found));
        }
        (undo, held)
    }

    /// What a plan made from a snapshot missed, planned on the live ledger just after
    /// [`Ledger::hold_plan`] held `main`: the bookings `changed` since the snapshot (made,
    /// moved, cancelled) that the change now displaces or must tell. A booking is displaced
    /// when it is in the change's scope (a product switch's, an interval's) or when it holds a
    /// band or dose that will be over capacity once every held move is written (a delivery
    /// cut, or a place a move goes into taken meanwhile): the last booked first, as in
    /// [`Ledger::plan`]. Each goes where there is room now, so its move can be written at once,
    /// before any piece of `main`. The result has no supply or schedule edits (the main plan
    /// made them); apply it whole with [`Ledger::apply_plan`].
    pub fn catch_up_plan(
        &self,
        change: &SupplyChange,
        today: Date,
        neighbours: &Neighbours,
        main: &Plan,
        held: &[Option<Booking>],
        changed: impl IntoIterator<Item = BookingId>,
    ) -> Plan {
        let mut plan = Plan::empty(main.reason);
        let mut candidates: Vec<Booking> = changed
            .into_iter()
            .filter_map(|id| self.bookings.get(&id).copied())
            .filter(|b| !main.handles(b, held))
            .collect();
        // The last booked is the first moved.
        candidates.sort_unstable_by_key(|b| std::cmp::Reverse(b.id));
        let mut end = self.counts_once_written(main, held, &candidates);
        let scope = CatchUpScope::of(self, change, today);
        let mut displaced = Vec::new();
        for booking in candidates {
            let mut which = scope.displaces(&booking);
            for (dose, d) in booking.doses().enumerate() {
                let out = if dose == 0 { which.first } else { which.second };
                if d.status == DoseStatus::Booked && (out || end.over(&d.appointment)) {
                    end.release(&d.appointment);
                    match dose {
                        0 => which.first = true,
                        _ => which.second = true,
                    }
                }
            }
            if which.first || which.second {
                displaced.push((booking, which));
            } else if scope.tells(&booking) {
                plan.informed.push(booking);
            }
        }
        displaced.sort_unstable_by_key(|(booking, _)| booking.id);
        plan.informed.sort_unstable_by_key(|b| b.id);
        let mut now = Scratch::new(self);
        release_displaced(&mut now, &displaced);
        let context = PlaceContext {
            today,
            schedules: &self.schedules,
            neighbours,
            switch_to: &scope.switch_to,
            forced_product: scope.forced_product,
        };
        for (booking, which) in displaced {
            let after = place(&mut now, &booking, which, &context, &mut plan);
            plan.changed.push(after);
            plan.changed_from.push(booking);
        }
        // Once everything is written: the catch-up's places taken, the main plan's left.
        for m in &plan.moves {
            end.take(&m.to);
        }
        plan.over_capacity_after = count_over_capacity(&end);
        plan
    }

    /// The counts once every held booking of `main` has left its old places, for the cells
    /// the `candidates` hold (the only ones a catch-up asks about).
    fn counts_once_written(
        &self,
        main: &Plan,
        held: &[Option<Booking>],
        candidates: &[Booking],
    ) -> Scratch<'_> {
        let availability = &self.availability;
        let mut cells = IdSet::default();
        for appointment in candidates.iter().flat_map(Booking::booked_appointments) {
            cells.extend(
                availability
                    .band_cell(appointment.clinic, appointment.day, appointment.hour)
                    .map(|c| (c, false)),
            );
            cells.extend(
                availability
                    .supply_cell(appointment.clinic, appointment.day, appointment.product)
                    .map(|c| (c, true)),
            );
        }
        let mut end = Scratch::new(self);
        if cells.is_empty() {
            return end;
        }
        for (after, found) in main.changed.iter().zip(held) {
            let Some(found) = found else { continue };
            for a in places_added(after, found) {
                if let Some(cell) = availability.band_cell(a.clinic, a.day, a.hour)
                    && cells.contains(&(cell, false))
                {
                    *end.band.entry(cell).or_insert(0) += 1;
                }
                if let Some(cell) = availability.supply_cell(a.clinic, a.day, a.product)
                    && cells.contains(&(cell, true))
                {
                    *end.supply.entry(cell).or_insert(0) += 1;
                }
            }
        }
        end
    }

    /// Settles one booking held by [`Ledger::hold_plan`], in the transaction that writes it:
    /// when the booking is still `before`, it becomes `after` and gives up the places it
    /// leaves (true); when it changed meanwhile (cancelled, moved by its person), it stays as
    /// it is and the places held for the plan are given back (false: write and tell nothing).
    pub fn settle(&mut self, before: &Booking, after: &Booking) -> bool {
        if self.bookings.get(&before.id) != Some(before) {
            for appointment in places_added(before, after) {
                self.release(&appointment);
            }
            return false;
        }
        for appointment in places_added(after, before) {
            self.release(&appointment);
        }
        self.put(after);
        true
    }

    /// Stores a booking's new state (or forgets it, no longer active).
    fn put(&mut self, after: &Booking) {
        if after.is_active() {
            self.bookings.insert(after.id, *after);
        } else {
            self.bookings.remove(&after.id);
            self.active_by_person.remove(&after.person);
        }
    }

    /// Writes a plan's planned-supply and schedule edits into the ledger.
    fn edit_supply(&mut self, plan: &Plan) -> PlanUndo {
        let undo_schedules = self.schedules;
        let mut undo = Vec::with_capacity(plan.supply.len());
        for edit in &plan.supply {
            if let Some(cell) = self
                .availability
                .supply_cell(edit.clinic, edit.day, edit.product)
            {
                undo.push((cell, self.supply_capacity[cell]));
                let delta = edit.after - self.supply_capacity[cell];
                self.supply_capacity[cell] = edit.after;
                self.availability.add_supply(cell, delta);
            }
        }
        if let Some((product, schedule)) = plan.schedule {
            self.schedules.set(product, schedule);
        }
        PlanUndo {
            supply: undo,
            schedules: undo_schedules,
        }
    }

    /// Puts planned supply and schedules back as they were before [`Ledger::apply_plan`]. The
    /// bookings must then be rebuilt from storage ([`Ledger::reset`] and [`Ledger::restore`]).
    pub fn undo_plan(&mut self, undo: PlanUndo) {
        for (cell, before) in undo.supply.into_iter().rev() {
            self.supply_capacity[cell] = before;
        }
        self.schedules = undo.schedules;
    }
}

struct SwitchScope {
    from: Product,
    to: Product,
    first_day: Date,
    last_day: Date,
}

impl SwitchScope {
    /// Whether the switch moves this booking's dose 1 to the new product.
    fn switches(&self, in_scope: &IdSet<ClinicId>, today: Date, b: &Booking) -> bool {
        let a = b.first.appointment;
        b.first.status == DoseStatus::Booked
            && a.product == self.from
            && a.day > today
            && (self.first_day..=self.last_day).contains(&a.day)
            && in_scope.contains(&a.clinic)
    }
}

/// Who a new interval concerns.
struct IntervalRule {
    product: Product,
    interval_days: u16,
    from_day: Date,
    today: Date,
}

impl IntervalRule {
    /// `Some(true)`: its dose 2 is now too early and moves; `Some(false)`: it stays and its
    /// person is told; `None`: not of the product, or no dose 2 booked.
    fn concerns(&self, booking: &Booking) -> Option<bool> {
        if booking.first.appointment.product != self.product {
            return None;
        }
        let second = booking.second.filter(|d| d.status == DoseStatus::Booked)?;
        let due = second.appointment.day;
        let too_early = epoch_day(due) - epoch_day(booking.first.appointment.day)
            < i32::from(self.interval_days);
        Some(due >= self.from_day && due > self.today && too_early)
    }
}

/// What a change's own rules say of a booking made or changed after its plan's snapshot.
struct CatchUpScope {
    switch: Option<(SwitchScope, IdSet<ClinicId>)>,
    interval: Option<IntervalRule>,
    today: Date,
    switch_to: Vec<Product>,
    forced_product: Option<Product>,
}

impl CatchUpScope {
    fn of(ledger: &Ledger, change: &SupplyChange, today: Date) -> CatchUpScope {
        let mut scope = CatchUpScope {
            switch: None,
            interval: None,
            today,
            switch_to: Vec::new(),
            forced_product: None,
        };
        match change {
            SupplyChange::Deliveries { switch_to, .. } => scope.switch_to.clone_from(switch_to),
            SupplyChange::ProductSwitch {
                from,
                to,
                clinics,
                first_day,
                last_day,
            } => {
                let switch = SwitchScope {
                    from: *from,
                    to: *to,
                    first_day: *first_day,
                    last_day: *last_day,
                };
                // The main plan checked the clinics: an error cannot come back here.
                let in_scope = ledger
                    .switched_clinics(&switch, clinics)
                    .map(|(in_scope, _)| in_scope)
                    .unwrap_or_default();
                scope.switch_to.push(*to);
                scope.forced_product = Some(*to);
                scope.switch = Some((switch, in_scope));
            }
            SupplyChange::Interval {
                product,
                interval_days,
                from_day,
            } => {
                scope.interval = Some(IntervalRule {
                    product: *product,
                    interval_days: *interval_days,
                    from_day: *from_day,
                    today,
                });
            }
        }
        scope
    }

    /// The doses the change's own rules move (a delivery change moves by capacity only).
    fn displaces(&self, booking: &Booking) -> Displaced {
        if let Some((switch, in_scope)) = &self.switch
            && switch.switches(in_scope, self.today, booking)
        {
            return Displaced {
                first: true,
                second: booking
                    .second
                    .is_some_and(|d| d.status == DoseStatus::Booked),
            };
        }
        let second = self
            .interval
            .as_ref()
            .is_some_and(|rule| rule.concerns(booking) == Some(true));
        Displaced {
            first: false,
            second,
        }
    }

    /// Whether its person is told though nothing moves (an interval change).
    fn tells(&self, booking: &Booking) -> bool {
        self.interval
            .as_ref()
            .is_some_and(|rule| rule.concerns(booking).is_some())
    }
}

struct PlaceContext<'a> {
    today: Date,
    schedules: &'a Schedules,
    neighbours: &'a Neighbours,
    switch_to: &'a [Product],
    /// A product switch: the first dose must take this product.
    forced_product: Option<Product>,
}

/// Finds new places for a booking's displaced doses, records the moves or the unplaced doses
/// in `plan`, and returns the booking as it will be.
fn place(
    scratch: &mut Scratch,
    booking: &Booking,
    which: Displaced,
    context: &PlaceContext,
    plan: &mut Plan,
) -> Booking {
    let mut after = *booking;
    if which.first {
        match place_first(scratch, booking, which.second, context) {
            Some((first, second)) => {
                record_move(plan, booking, 1, booking.first.appointment, first);
                after.first.appointment = first;
                if let (Some(old), Some(new)) = (booking.second, second) {
                    if old.appointment != new {
                        record_move(plan, booking, 2, old.appointment, new);
                    }
                    if let Some(d) = after.second.as_mut() {
                        d.appointment = new;
                    }
                }
            }
            None => {
                // Dose 1 fits nowhere: the booking is cancelled whole, its dose 2 with it.
                plan.unplaced.push(Unplaced {
                    booking: booking.id,
                    person: booking.person,
                    dose: 1,
                    from: booking.first.appointment,
                });
                if let Some(second) = booking.second.filter(|d| d.status == DoseStatus::Booked)
                    && !which.second
                {
                    scratch.release(&second.appointment);
                }
                after.first.status = DoseStatus::Cancelled;
                if let Some(d) = after.second.as_mut()
                    && d.status == DoseStatus::Booked
                {
                    d.status = DoseStatus::Cancelled;
                }
            }
        }
        return after;
    }
    // Only dose 2 moves; dose 1 (booked or given) stays where it is.
    let Some(old) = booking.second else {
        return after;
    };
    let interval = context
        .schedules
        .get(booking.first.appointment.product)
        .interval_days;
    match find_second(
        scratch,
        &booking.first.appointment,
        interval,
        old.appointment,
        context.today,
    ) {
        Some(new) => {
            scratch.take(&new);
            record_move(plan, booking, 2, old.appointment, new);
            if let Some(d) = after.second.as_mut() {
                d.appointment = new;
            }
        }
        None => {
            plan.unplaced.push(Unplaced {
                booking: booking.id,
                person: booking.person,
                dose: 2,
                from: old.appointment,
            });
            if let Some(d) = after.second.as_mut() {
                d.status = DoseStatus::Cancelled;
            }
        }
    }
    after
}

/// Frees the displaced doses' places in `scratch`, before any is placed again.
fn release_displaced(scratch: &mut Scratch, displaced: &[(Booking, Displaced)]) {
    for (booking, which) in displaced {
        if which.first {
            scratch.release(&booking.first.appointment);
        }
        if let (true, Some(second)) = (which.second, booking.second) {
            scratch.release(&second.appointment);
        }
    }
}

/// The places `to` holds that `from` does not. A booking holds two places at most, on different
/// days, so neither holds a place twice: a difference of sets, worked out without allocating (it
/// runs for every move of a national change, in the writer's turn that holds them).
fn places_added<'a>(from: &'a Booking, to: &'a Booking) -> impl Iterator<Item = Appointment> + 'a {
    to.booked_appointments()
        .filter(move |a| !from.booked_appointments().any(|b| b == *a))
}

fn record_move(plan: &mut Plan, booking: &Booking, dose: u8, from: Appointment, to: Appointment) {
    plan.moves.push(Move {
        booking: booking.id,
        person: booking.person,
        dose,
        from,
        to,
    });
}

/// A new dose 1 (and where needed a new dose 2) for a booking whose dose 1 is displaced.
/// Takes the places it returns in `scratch`.
fn place_first(
    scratch: &mut Scratch,
    booking: &Booking,
    second_released: bool,
    context: &PlaceContext,
) -> Option<(Appointment, Option<Appointment>)> {
    let old = booking.first.appointment;
    let old_second = booking.second.filter(|d| d.status == DoseStatus::Booked);
    // Released here only while trying candidates: given back if none works.
    let mut released_here = false;
    for (clinic, product, day) in first_slots(&old, context) {
        let Some(candidate) = scratch.first_fit(
            clinic,
            product,
            old.hour,
            std::iter::once(day),
            context.today,
        ) else {
            continue;
        };
        let schedule = context.schedules.get(candidate.product);
        let Some(old_second) = old_second else {
            scratch.take(&candidate);
            return Some((candidate, None));
        };
        if !schedule.has_second_dose() {
            continue;
        }
        scratch.take(&candidate);
        let a = old_second.appointment;
        let gap = epoch_day(a.day) - epoch_day(candidate.day);
        let interval = i32::from(schedule.interval_days);
        let still_valid = a.clinic == candidate.clinic
            && a.product == candidate.product
            && (interval..=interval + SECOND_DOSE_WINDOW_DAYS).contains(&gap);
        if still_valid && !second_released {
            return Some((candidate, Some(a)));
        }
        if !second_released && !released_here {
            scratch.release(&a);
            released_here = true;
        }
        // Same product: keep dose 2 near its old day. Another product: at its own interval.
        let target = if a.product == candidate.product {
            Appointment {
                clinic: candidate.clinic,
                ..a
            }
        } else {
            Appointment {
                day: add_days(candidate.day, interval).unwrap_or(a.day),
                ..candidate
            }
        };
        if let Some(second) = find_second(
            scratch,
            &candidate,
            schedule.interval_days,
            target,
            context.today,
        ) {
            scratch.take(&second);
            return Some((candidate, Some(second)));
        }
        scratch.release(&candidate);
    }
    if let (true, Some(old_second)) = (released_here, old_second) {
        scratch.take(&old_second.appointment);
    }
    None
}

/// The (clinic, product, day) to try for a displaced first dose, in order of least disruption
/// (see the module docs); on each, the band nearest the old one that fits is taken.
fn first_slots(old: &Appointment, context: &PlaceContext) -> Vec<(ClinicId, Product, Date)> {
    let own_product = context.forced_product.unwrap_or(old.product);
    let max_own = if context.forced_product.is_some() {
        NEARBY_SHIFT_DAYS
    } else {
        MAX_SHIFT_DAYS
    };
    let mut slots: Vec<_> = days_around(old.day, max_own)
        .map(|day| (old.clinic, own_product, day))
        .collect();
    let nearby = context.neighbours.get(&old.clinic).into_iter().flatten();
    for &clinic in nearby.filter(|&&c| c != old.clinic) {
        slots.extend(days_around(old.day, NEARBY_SHIFT_DAYS).map(|day| (clinic, own_product, day)));
    }
    if context.forced_product.is_none() {
        let doses = context.schedules.get(old.product).doses;
        let switchable = context
            .switch_to
            .iter()
            .filter(|&&p| p != own_product && context.schedules.get(p).doses == doses);
        for &product in switchable {
            slots.extend(
                days_around(old.day, NEARBY_SHIFT_DAYS).map(|day| (old.clinic, product, day)),
            );
        }
    }
    slots
}

/// The dose-2 place for a dose 1 at `first`: the same clinic and product, between the interval
/// and the window's end, the day nearest `target` first and the band nearest its hour.
fn find_second(
    scratch: &Scratch,
    first: &Appointment,
    interval_days: u16,
    target: Appointment,
    today: Date,
) -> Option<Appointment> {
    let earliest = add_days(first.day, i32::from(interval_days))?;
    let latest = add_days(earliest, SECOND_DOSE_WINDOW_DAYS)?;
    scratch.first_fit(
        first.clinic,
        first.product,
        target.hour,
        days_within(earliest, latest, target.day),
        today,
    )
}

fn count_over_capacity(scratch: &Scratch) -> u32 {
    let bands = scratch
        .band
        .keys()
        .filter(|&&cell| scratch.band_left(cell) < 0)
        .count();
    let supply = scratch
        .supply
        .keys()
        .filter(|&&cell| scratch.supply_left(cell) < 0)
        .count();
    (bands + supply) as u32
}

pub mod pieces;

#[cfg(test)]
mod tests;
