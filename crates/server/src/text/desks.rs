//! What the desks read: clinic staff, agents on the phone line and operators.

#[allow(unused_imports)]
use super::{Text, text};
