//! yeyak's HTTP shell: the JSON API, the background workers, and the wiring that turns a
//! [`Config`] into a running service. Only this crate knows HTTP and JSON.

pub mod app;
pub mod background;
pub mod clock;
pub mod credentials;
pub mod dashboard;
pub mod error;
pub mod forward;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod notify;
pub mod operator;
pub mod pages;
pub mod rate;
pub mod routes;
pub mod secrets;
pub mod security;
pub mod session;
pub mod shell;
pub mod staff;
pub mod startup;
pub mod state;
pub mod text;
pub mod waiting;
pub mod world;

/// The parsers of outside input that live inside route modules, reachable for the fuzz targets
/// in `fuzz/` (not an interface for anything else).
#[doc(hidden)]
pub mod parsers {
    pub use crate::routes::supply::{DeliveryLine, parse_csv};
    pub use crate::shell::plain_poll_length;
}

pub use app::{build, cores, serve};
pub use startup::StartError;
pub use state::{AppState, Config};
