//! The notification texts (SMS and the like) a booking, a change or a leftover offer sends.

#[allow(unused_imports)]
use super::{Text, text};
