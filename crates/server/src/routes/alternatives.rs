//! When a band fills between showing it and booking it (most attempts on an opening night), the
//! 409 `slot_full` refusal names the nearest free bands, so the person is one tap from another:
//! first the same clinic, the asked day then the days after, then the nearest clinics that give
//! the same vaccine. Read from the writer's in-memory `Availability` like clinic search: no
//! database read, and a bounded amount of work (at most `NEARBY_CLINICS + 1` clinics ×
//! `DAYS` days × the day's bands, a few thousand atomic loads).
//!
//! An offer is what was free a moment ago, not a reservation: it can fill in its turn (or have
//! no dose-2 place), and booking it is an ordinary request that may be refused the same way.

use crate::error::ApiError;
use crate::state::AppState;
use domain::booking::{Appointment, END_HOUR, FIRST_HOUR};
use domain::clinic::{Clinic, ClinicId};
use domain::ledger::{Places, is_open};
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::{Value, json};

/// Offers at the asked clinic.
pub const SAME_CLINIC: usize = 4;
/// Of those, bands on the asked day (the days after offer one band each).
pub const SAME_DAY: usize = 2;
/// Offers at other clinics, one per clinic, nearest first.
pub const OTHER_CLINICS: usize = 4;
/// Days looked at: the asked day and the six after it.
pub const DAYS: i64 = 7;
/// Other clinics looked at, and how far away they may be.
pub const NEARBY_CLINICS: usize = 30;
pub const NEARBY_KM: f64 = 10.0;

/// A band that had places when the refusal was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offer {
    pub clinic: ClinicId,
    pub day: Date,
    pub hour: u8,
    pub left: u32,
    pub distance_km: f64,
}

/// The refusal as the API sends it: a `slot_full` refusal gains `detail.alternatives`; any
/// other error is returned as it was.
pub fn with_alternatives(
    state: &AppState,
    error: ApiError,
    asked: &Appointment,
    today: Date,
) -> ApiError {
    if error.code != "slot_full" {
        return error;
    }
    let tomorrow = today.tomorrow().unwrap_or(today);
    let offers = nearest_free(state, asked, tomorrow);
    let alternatives: Vec<Value> = offers.iter().map(|o| offer_json(state, o)).collect();
    error.with_detail(json!({ "alternatives": alternatives }))
}

fn offer_json(state: &AppState, offer: &Offer) -> Value {
    let name = state
        .world
        .clinics
        .get(offer.clinic.index())
        .map(|c| c.name.as_str());
    json!({
        "clinic_id": offer.clinic.0,
        "clinic_name": name,
        "date": offer.day.to_string(),
        "hour": offer.hour,
        "label": format!("{:02}:00–{:02}:00", offer.hour, offer.hour + 1),
        "remaining": offer.left,
        "distance_km": (offer.distance_km * 100.0).round() / 100.0,
    })
}

/// The nearest free bands for the asked vaccine, same clinic first (at most [`SAME_CLINIC`]),
/// then other clinics within [`NEARBY_KM`] (at most [`OTHER_CLINICS`]). Never the asked band,
/// never a day before `tomorrow`.
pub fn nearest_free(state: &AppState, asked: &Appointment, tomorrow: Date) -> Vec<Offer> {
    let availability = state.writer.availability();
    let Some(clinic) = state.world.clinics.get(asked.clinic.index()) else {
        return Vec::new();
    };
    let days: Vec<Date> = (0..DAYS)
        .filter_map(|d| asked.day.max(tomorrow).checked_add(d.days()).ok())
        .collect();
    let mut offers = same_clinic(&availability, clinic, asked, &days);
    let nearby = state
        .world
        .index
        .nearest(clinic.location, NEARBY_KM, NEARBY_CLINICS + 1)
        .unwrap_or_default();
    offers.extend(
        nearby
            .into_iter()
            .filter(|(id, _)| *id != clinic.id)
            .filter_map(|(id, km)| {
                let other = state.world.clinics.get(id.index())?;
                let (day, hour, left) = free_bands(&availability, other, asked, &days).next()?;
                Some(Offer {
                    clinic: id,
                    day,
                    hour,
                    left,
                    distance_km: km,
                })
            })
            .take(OTHER_CLINICS),
    );
    offers
}

fn same_clinic(
    availability: &Places,
    clinic: &Clinic,
    asked: &Appointment,
    days: &[Date],
) -> Vec<Offer> {
    let mut offers: Vec<Offer> = Vec::with_capacity(SAME_CLINIC);
    for (day, hour, left) in free_bands(availability, clinic, asked, days) {
        let on_day = offers.iter().filter(|o| o.day == day).count();
        let room = if day == asked.day { SAME_DAY } else { 1 };
        if on_day < room {
            offers.push(Offer {
                clinic: clinic.id,
                day,
                hour,
                left,
                distance_km: 0.0,
            });
        }
        if offers.len() == SAME_CLINIC {
            break;
        }
    }
    offers
}

/// A clinic's free bands for the asked vaccine, day by day, each day's bands nearest the asked
/// hour first (ties: the earlier); the asked band itself is left out.
fn free_bands<'a>(
    availability: &'a Places,
    clinic: &'a Clinic,
    asked: &'a Appointment,
    days: &'a [Date],
) -> impl Iterator<Item = (Date, u8, u32)> + 'a {
    let offers_product = clinic.offers(asked.product);
    days.iter()
        .filter(move |_| offers_product)
        .flat_map(move |&day| {
            let mut hours: Vec<u8> = (FIRST_HOUR..END_HOUR)
                .filter(|&h| is_open(&clinic.hours, day, h))
                .collect();
            hours.sort_by_key(|&h| (h.abs_diff(asked.hour), h));
            hours.into_iter().map(move |hour| (day, hour))
        })
        .filter(move |&(day, hour)| {
            !(clinic.id == asked.clinic && day == asked.day && hour == asked.hour)
        })
        .filter_map(move |(day, hour)| {
            let left = availability.bookable(clinic.id, day, hour, asked.product);
            (left > 0).then_some((day, hour, left))
        })
}
