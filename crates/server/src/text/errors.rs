//! What the JSON API and the error pages say when a request is refused.

#[allow(unused_imports)]
use super::{Text, text};
