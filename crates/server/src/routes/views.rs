//! Pieces of the answers several resources share, as typed views: what a handler's typed core
//! returns and its JSON adapter serialises, and what the pages read by field.
//!
//! Views whose JSON existed before them list their fields in alphabetical order: serde_json
//! keeps an object's keys sorted, so the bytes of the answer stay the same.

use crate::AppState;
use domain::booking::Appointment;
use domain::clinic::ClinicId;
use domain::product::Product;
use jiff::civil::Date;
use serde::{Serialize, Serializer};

/// A product as the API spells it (`astrazeneca`), not as its records do (`astra_zeneca`).
pub fn product_code<S: Serializer>(product: &Product, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(product.code())
}

/// A clinic as the answers name it: its id and (when known) its name.
#[derive(Debug, Clone, Serialize)]
pub struct ClinicRef {
    pub id: u32,
    pub name: Option<String>,
}

impl ClinicRef {
    pub fn of(state: &AppState, id: ClinicId) -> ClinicRef {
        ClinicRef {
            id: id.0,
            name: state.world.clinics.get(id.index()).map(|c| c.name.clone()),
        }
    }

    /// The name, or nothing for a clinic no longer known.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// An appointment as the answers show it.
#[derive(Debug, Clone, Serialize)]
pub struct AppointmentView {
    pub clinic: ClinicRef,
    pub date: Date,
    pub hour: u8,
    #[serde(serialize_with = "product_code")]
    pub product: Product,
}

impl AppointmentView {
    pub fn of(state: &AppState, a: &Appointment) -> AppointmentView {
        AppointmentView {
            clinic: ClinicRef::of(state, a.clinic),
            date: a.day,
            hour: a.hour,
            product: a.product,
        }
    }
}
