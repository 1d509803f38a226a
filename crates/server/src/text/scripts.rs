//! The strings the page scripts show, handed to them by the page (scripts hold no texts of their own).

#[allow(unused_imports)]
use super::{Text, text};
