//! Server-rendered pages for citizens and operators. Each page is small HTML, readable without
//! scripts; where it acts (identity check, booking, cancelling, supply plans, the dashboard) a
//! small script from `/assets` calls the JSON API with the browser's cookies. Pages are written
//! in maud, which escapes every value unless told otherwise, and take their texts from the
//! catalogue (`crate::text`).
//!
//! - `layout`: the shared frame, the language of data that comes in both, dates;
//! - `citizen`: `/`, `/identity` (and `/wait/verify`), `/contact`, `/eligibility`, `/search`,
//!   `/book`, `/bookings`, `/leftovers`;
//! - `wait`: the waiting room, `/wait` and `/wait/text-me`;
//! - `widgets`: what several pages show alike (product and region choices, days and bands with
//!   the places left, a dose as text);
//! - `operator`: `/operator/login`, `/operator`, `/operator/supply`, `/operator/dashboard`;
//! - `clinic`: `/clinic/login`, `/clinic` (the day's list, doses given, leftover doses);
//! - `agent`: `/agent/login`, `/agent` (identify a person, then book, change or cancel for them);
//! - `desk`: the staff sign-in the clinic and agent desks share;
//! - `assets`: the stylesheet and scripts, embedded in the binary;
//! - `respond`: how a page becomes a response (language, `html`, the error page, `Detour`).
//!
//! This module only wires the pages into a router: the pages share what they need through
//! `respond`, `layout` and `widgets`, never through their parent.
//!
//! Pages read through the typed cores of the JSON API's handlers (`routes::*::*_of`, …), never
//! through its JSON, so a page never shows what the API would not say and a renamed field fails
//! to build. `routes` never depends on `pages`.
//!
//! The booking pages are behind the waiting room like the API: without a valid pass they send
//! the person to `/wait`, where their place (or a new one) is.

mod agent;
pub mod assets;
mod citizen;
mod clinic;
mod desk;
pub mod layout;
mod operator;
mod respond;
mod wait;
mod widgets;

use crate::state::AppState;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(citizen::home))
        .route(
            "/identity",
            get(citizen::identity).post(citizen::identity_post),
        )
        .route(
            "/wait/verify",
            get(citizen::wait_verify).post(citizen::wait_verify_post),
        )
        .route("/wait", get(wait::wait_page))
        .route("/wait/text-me", axum::routing::post(wait::wait_text_me))
        .route(
            "/wait/leftover-alerts",
            axum::routing::post(wait::wait_leftover_alerts),
        )
        .route("/contact", get(citizen::contact))
        .route("/eligibility", get(citizen::eligibility))
        .route("/search", get(citizen::search))
        .route("/book", get(citizen::book))
        .route("/bookings", get(citizen::bookings))
        .route("/leftovers", get(citizen::leftovers))
        .route("/clinic/login", get(clinic::login_form).post(clinic::login))
        .route("/clinic/logout", axum::routing::post(clinic::logout))
        .route("/clinic", get(clinic::day))
        .route("/agent/login", get(agent::login_form).post(agent::login))
        .route("/agent/logout", axum::routing::post(agent::logout))
        .route("/agent", get(agent::desk))
        .route(
            "/operator/login",
            get(operator::login_form).post(operator::login),
        )
        .route("/operator/logout", axum::routing::post(operator::logout))
        .route("/operator", get(operator::home))
        .route("/operator/supply", get(operator::supply))
        .route("/operator/dashboard", get(operator::dashboard))
        .route("/assets/{name}", get(assets::serve))
}
