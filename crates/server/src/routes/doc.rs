//! Pieces of the OpenAPI document that many operations name: the refusal response and the
//! waiting room's credentials as headers. A leaf: the route modules' annotations name these,
//! and `routes::openapi`, which names every route module, assembles the document.

/// A refusal, in the error shape every refusal has.
#[derive(utoipa::ToResponse)]
#[response(description = "An error")]
#[allow(dead_code)]
pub struct Refused(#[to_schema] crate::error::ErrorBody<'static>);

/// A booking or a change refused for a conflict, and what it offers instead.
#[derive(utoipa::ToResponse)]
#[response(
    description = "A conflict: the band is full (slot_full), no dose-2 place (second_dose_unavailable), already booked (already_booked, detail.booking_id), … With slot_full, detail.alternatives names the nearest bands that still had places when the refusal was written, read from memory (no database read): first the asked clinic (up to 2 other bands on the asked day, then 1 a day on the next 6 days, 4 in all, each day's bands nearest the asked hour first), then up to 4 other clinics within 10 km that give the same vaccine (the 30 nearest looked at; one band each, the earliest day, nearest the asked hour). An offer is not a reservation: booking it is a new request (a new Idempotency-Key) that can be refused the same way."
)]
#[allow(dead_code)]
pub struct BookingConflict(#[to_schema] crate::error::ErrorBody<'static>);

// The credentials the waiting room hands out, as headers. Each is documented once here and named
// by the operations that take it; the structs exist only for the document.

/// The waiting room's pass.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct PassHeader {
    /// Waiting-room pass (or the yeyak_pass cookie); required with X-Yeyak-Session on every
    /// booking-side call
    #[param(rename = "X-Yeyak-Pass")]
    pass: Option<String>,
}

/// The waiting-room session a ticket and a pass belong to.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct WaitingSessionHeader {
    /// Waiting-room session id (or the yeyak_waiting cookie; the earlier X-Yeyak-Session header
    /// and yeyak_sid cookie are accepted for one release)
    #[param(rename = "X-Yeyak-Waiting-Session")]
    session: Option<String>,
}

/// A queue ticket.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct TicketHeader {
    /// Queue ticket (or the yeyak_ticket cookie)
    #[param(rename = "X-Yeyak-Ticket")]
    ticket: Option<String>,
}

/// The key that makes a write safe to retry.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKey {
    /// Retrying with the same key returns the first answer instead of acting twice
    #[param(rename = "Idempotency-Key", max_length = 128)]
    key: Option<String>,
}
