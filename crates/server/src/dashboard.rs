//! The operators' live dashboard: a bounded in-memory history of the waiting room and booking,
//! sampled by a background tick on the server clock, and what is left to book per province.
//!
//! Two rings: one sample a second for the last five minutes, one every ten seconds for the last
//! hour. Memory is fixed (a few hundred small samples) whatever the traffic; nothing is stored.

use crate::world::World;
use domain::time::seoul_date;
use jiff::ToSpan;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Per-second samples kept: five minutes.
pub const FINE_SAMPLES: usize = 300;
/// Per-ten-second samples kept: one hour.
pub const COARSE_SAMPLES: usize = 360;
pub const COARSE_EVERY_MS: u64 = 10_000;
/// Days ahead counted in "remaining capacity", from tomorrow.
pub const CAPACITY_DAYS: i64 = 7;

/// One point of every chart, at one instant of the server clock.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Sample {
    /// Milliseconds since the Unix epoch, on the server clock.
    pub at_ms: u64,
    /// Tickets issued per second since the previous sample.
    pub arrivals_per_s: f64,
    /// People waiting.
    pub queued: u64,
    /// The controller's admission rate.
    pub admission_rate_per_s: f64,
    /// Admitted sessions active on the booking side.
    pub active: u64,
    /// Confirmed bookings per minute since the previous sample.
    pub bookings_per_min: f64,
    #[serde(skip)]
    arrivals_total: u64,
    #[serde(skip)]
    bookings_total: u64,
}

/// What is left to book in one province over the next [`CAPACITY_DAYS`] days.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ProvinceCapacity {
    pub code: u8,
    pub name_ko: String,
    pub name_en: String,
    pub remaining: u64,
    /// The province's share of the country's residents (KOSTAT): how the waiting room estimates
    /// how many of the people ahead of someone will book there.
    #[serde(skip)]
    pub population_share: f64,
}

#[derive(Default)]
struct Rings {
    fine: VecDeque<Sample>,
    coarse: VecDeque<Sample>,
    provinces: Vec<ProvinceCapacity>,
}

/// The dashboard's history. Cheap to read; written once a second by
/// [`crate::background::sample_forever`].
#[derive(Default)]
pub struct Series {
    rings: Mutex<Rings>,
}

/// What `GET /api/v1/admin/dashboard` answers.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub fine: Vec<Sample>,
    pub coarse: Vec<Sample>,
    pub provinces: Vec<ProvinceCapacity>,
}

fn push_bounded(ring: &mut VecDeque<Sample>, sample: Sample, cap: usize) {
    // Two ticks inside one clock second (a stopped or slow test clock) make one point.
    if let Some(last) = ring.back_mut()
        && last.at_ms / 1000 == sample.at_ms / 1000
    {
        *last = sample;
        return;
    }
    if ring.len() == cap {
        ring.pop_front();
    }
    ring.push_back(sample);
}

impl Series {
    /// Adds a sample from running totals; rates are taken against the previous sample.
    pub fn record(
        &self,
        at_ms: u64,
        arrivals_total: u64,
        queued: u64,
        admission_rate_per_s: f64,
        active: u64,
        bookings_total: u64,
    ) {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let (arrivals_per_s, bookings_per_min) = match rings.fine.back() {
            Some(prev) if at_ms > prev.at_ms => {
                let seconds = (at_ms - prev.at_ms) as f64 / 1000.0;
                (
                    arrivals_total.saturating_sub(prev.arrivals_total) as f64 / seconds,
                    bookings_total.saturating_sub(prev.bookings_total) as f64 * 60.0 / seconds,
                )
            }
            Some(prev) => (prev.arrivals_per_s, prev.bookings_per_min),
            None => (0.0, 0.0),
        };
        let sample = Sample {
            at_ms,
            arrivals_per_s,
            queued,
            admission_rate_per_s,
            active,
            bookings_per_min,
            arrivals_total,
            bookings_total,
        };
        push_bounded(&mut rings.fine, sample, FINE_SAMPLES);
        let due = rings
            .coarse
            .back()
            .is_none_or(|last| at_ms >= last.at_ms + COARSE_EVERY_MS);
        if due {
            push_bounded(&mut rings.coarse, sample, COARSE_SAMPLES);
        }
    }

    pub fn set_provinces(&self, provinces: Vec<ProvinceCapacity>) {
        self.rings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .provinces = provinces;
    }

    /// What is left to book in one province (by its KOSTAT code) over the next
    /// [`CAPACITY_DAYS`] days, and its share of the residents, as last sampled: `None` before
    /// the first sample or for an unknown code.
    pub fn province(&self, code: u8) -> Option<(u64, f64)> {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        rings
            .provinces
            .iter()
            .find(|p| p.code == code)
            .map(|p| (p.remaining, p.population_share))
    }

    pub fn view(&self) -> View {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        View {
            fine: rings.fine.iter().copied().collect(),
            coarse: rings.coarse.iter().copied().collect(),
            provinces: rings.provinces.clone(),
        }
    }
}

/// People who can still be booked per province over the next days: per clinic and day, the
/// lesser of the staff places left and the doses left.
pub fn capacity_by_province(
    availability: &domain::ledger::Places,
    world: &World,
    now: jiff::Timestamp,
) -> Vec<ProvinceCapacity> {
    let Ok(first) = seoul_date(now).tomorrow() else {
        return Vec::new();
    };
    let days: Vec<jiff::civil::Date> = (0..CAPACITY_DAYS)
        .filter_map(|d| first.checked_add(d.days()).ok())
        .collect();
    let provinces = world.regions.provinces();
    let total_population = world.regions.total_population().max(1) as f64;
    let mut remaining = vec![0u64; provinces.len()];
    for clinic in &world.clinics {
        let Some(slot) = provinces.iter().position(|p| p.code == clinic.province()) else {
            continue;
        };
        for &day in &days {
            let staff: i32 = (domain::booking::FIRST_HOUR..domain::booking::END_HOUR)
                .map(|h| availability.band_left(clinic.id, day, h).max(0))
                .sum();
            let doses: i32 = clinic
                .products
                .iter()
                .map(|p| availability.supply_left(clinic.id, day, *p).max(0))
                .sum();
            remaining[slot] += staff.min(doses).max(0) as u64;
        }
    }
    provinces
        .iter()
        .zip(remaining)
        .map(|(p, remaining)| ProvinceCapacity {
            code: p.code.0,
            name_ko: p.name_ko.clone(),
            name_en: p.name_en.clone(),
            remaining,
            population_share: f64::from(p.population) / total_population,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_totals_and_the_rings_stay_bounded() {
        let series = Series::default();
        series.record(1_000, 10, 5, 2.0, 1, 0);
        series.record(2_000, 40, 6, 3.0, 2, 2);
        let view = series.view();
        assert_eq!(view.fine.len(), 2);
        assert_eq!(view.fine[1].arrivals_per_s, 30.0);
        assert_eq!(view.fine[1].bookings_per_min, 120.0);
        // A second tick in the same clock second replaces the point.
        series.record(2_500, 50, 7, 3.0, 2, 2);
        assert_eq!(series.view().fine.len(), 2);
        for s in 3..(FINE_SAMPLES as u64 + 100) {
            series.record(s * 1_000, 50 + s, 0, 0.0, 0, 2);
        }
        let view = series.view();
        assert_eq!(view.fine.len(), FINE_SAMPLES);
        assert!(view.coarse.len() <= COARSE_SAMPLES);
        assert!(
            view.coarse
                .windows(2)
                .all(|w| w[1].at_ms - w[0].at_ms >= COARSE_EVERY_MS)
        );
    }
}
