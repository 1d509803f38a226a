//! What a citizen reads: the waiting room, eligibility, search, booking and their bookings.

#[allow(unused_imports)]
use super::{Text, text};
