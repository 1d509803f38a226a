//! The world the service books against: clinics, regions, the search index and the
//! eligibility rules, loaded once at start-up and kept in memory so a search touches no database.

use crate::startup::StartError;
use domain::clinic::{Clinic, ClinicId};
use domain::demo::{demo_clinics, demo_supply};
use domain::eligibility::{Rules, demo_rules};
use domain::ledger::{Calendar, Ledger, standing_supply};
use domain::partition::Part;
use domain::region::Regions;
use domain::search::ClinicIndex;
use domain::time::seoul_date;
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use store::{AdminStore, ClinicRecord, ReadStore};

pub const RULES_SETTING: &str = "eligibility_rules";
const DEMO_SEED: u64 = 20210719;

pub struct World {
    pub clinics: Vec<Clinic>,
    pub regions: Regions,
    pub index: ClinicIndex,
    /// Replaced whole when an operator uploads a priority list; readers keep the one they took.
    rules: RwLock<Arc<Rules>>,
}

impl World {
    pub fn rules(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Changes the rules and stores them; the change is visible once stored.
    pub fn update_rules(
        &self,
        store: &(impl AdminStore + ?Sized),
        change: impl FnOnce(&mut Rules),
    ) -> Result<Arc<Rules>, StartError> {
        let mut current = self.rules.write().unwrap_or_else(|p| p.into_inner());
        let mut rules = Rules::clone(&current);
        change(&mut rules);
        let json =
            serde_json::to_string(&rules).map_err(|e| StartError::Settings(e.to_string()))?;
        store.put_setting(RULES_SETTING, &json)?;
        *current = Arc::new(rules);
        Ok(Arc::clone(&current))
    }
}

/// The demo people (`domain::demo::DEMO_PEOPLE`) as their carriers know them, so that they can
/// pass the identity check in `--demo` mode.
pub fn seed_demo_subscribers(registry: &crate::identity::MemoryRegistry) {
    for person in domain::demo::DEMO_PEOPLE {
        let (Ok(name), Ok(rrn)) = (
            domain::name::PersonName::parse(person.name),
            domain::rrn::Rrn::parse(person.rrn),
        ) else {
            continue;
        };
        registry.register(person.phone, &name, &rrn, crate::identity::Carrier::Skt);
    }
}

/// On first start with `--demo`: Korea's 13,280 clinics and cohorts placed around `now`.
pub fn seed_demo(
    store: &(impl ReadStore + AdminStore + ?Sized),
    now: Timestamp,
) -> Result<(), StartError> {
    if !store.clinics()?.is_empty() {
        return Ok(());
    }
    let regions = Regions::korea();
    // A Monday: the standing daily supply is what a clinic gets on a full weekday.
    let weekday = jiff::civil::date(2021, 7, 19);
    debug_assert_eq!(weekday.weekday(), Weekday::Monday);
    let records: Vec<ClinicRecord> = demo_clinics(&regions, DEMO_SEED)
        .into_iter()
        .map(|clinic| ClinicRecord {
            daily_doses: demo_supply(&clinic, weekday).collect(),
            clinic,
        })
        .collect();
    store.insert_clinics(&records)?;
    let rules =
        serde_json::to_string(&demo_rules(now)).map_err(|e| StartError::Settings(e.to_string()))?;
    store.put_setting(RULES_SETTING, &rules)?;
    tracing::info!(clinics = records.len(), "demo world created");
    Ok(())
}

/// Reads the world and builds the ledger whose calendar starts today in Seoul, one for each of
/// `parts` (`Ledger::for_part`).
pub fn load(
    store: &(impl ReadStore + ?Sized),
    now: Timestamp,
    calendar_days: u16,
    parts: &[Part],
) -> Result<(World, Vec<Ledger>), StartError> {
    let records = store.clinics()?;
    let rules = match store.setting(RULES_SETTING)? {
        Some(json) => {
            serde_json::from_str(&json).map_err(|e| StartError::Settings(e.to_string()))?
        }
        None => Rules::default(),
    };
    let clinics: Vec<Clinic> = records.iter().map(|r| r.clinic.clone()).collect();
    let supply: Vec<[u32; 4]> = records.iter().map(ClinicRecord::daily_supply).collect();
    let schedules =
        store::stored_schedules(store.setting(store::SCHEDULES_SETTING)?)?.unwrap_or_default();
    let calendar = Calendar {
        first: seoul_date(now),
        days: calendar_days,
    };
    // Planned deliveries that differ from the standing plan, by (clinic, day).
    let mut deliveries: HashMap<(ClinicId, Date), [Option<u32>; 4]> = HashMap::new();
    for d in store.deliveries(calendar.first)? {
        deliveries.entry((d.clinic, d.day)).or_default()[d.product.index()] = Some(d.doses);
    }
    // Days that come into the calendar while the server runs get the standing plan, as they
    // would at a restart (no delivery can be entered for a day beyond the calendar).
    let planned = |clinic: &Clinic, day| {
        let standing = standing_supply(&clinic.hours, day, supply[clinic.id.index()]);
        match deliveries.get(&(clinic.id, day)) {
            Some(planned) => std::array::from_fn(|i| planned[i].unwrap_or(standing[i])),
            None => standing,
        }
    };
    let whole = Ledger::with_standing(calendar, &clinics, schedules, &supply, planned);
    let ledgers = match parts {
        [only] => vec![whole.for_part(*only)],
        parts => parts
            .iter()
            .map(|&part| whole.copy_for_part(part))
            .collect(),
    };
    let world = World {
        index: ClinicIndex::new(&clinics),
        regions: Regions::korea(),
        clinics,
        rules: RwLock::new(Arc::new(rules)),
    };
    Ok((world, ledgers))
}
