//! The versioned JSON API, one module per resource. The router that wires them is
//! `app::router`; what they share about HTTP is in `http`, about the state in `state`.

pub(crate) mod admin;
pub(crate) mod agent;
pub(crate) mod alternatives;
pub(crate) mod bookings;
pub use bookings::BookingNotice;
pub(crate) mod clinic;
pub(crate) mod clinics;
pub(crate) mod doc;
pub(crate) mod eligibility;
pub(crate) mod identity;
pub(crate) mod leftovers;
pub(crate) mod openapi;
pub(crate) mod pass;
pub(crate) mod queue;
pub(crate) mod staff;
pub(crate) mod supply;
pub(crate) mod system;
pub(crate) mod views;
