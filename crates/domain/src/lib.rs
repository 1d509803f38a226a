//! yeyak's pure rules: people, cohorts and eligibility, clinics, products, capacity and bookings.
//!
//! Nothing in this crate does I/O or reads a clock or a random source: the current time and any
//! randomness are always passed in, so a whole opening night can be replayed deterministically.

pub mod booking;
pub mod clinic;
pub mod demo;
pub mod eligibility;
pub mod ledger;
pub mod leftover;
pub mod name;
pub mod partition;
pub mod product;
pub mod region;
pub mod rrn;
pub mod search;
pub mod sharded;
pub mod time;
