//! Citizens and same-day leftover doses: asking to be told of them nearby, seeing today's offers
//! near that place, and claiming one. Behind the waiting room like booking (in 2021 bots
//! hammered the leftover map), and with booking's guarantees: never more claims than doses, one
//! dose a day per person.

use super::clinic::{OfferView, offer_view};
use super::eligibility::person_facts;
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::rate::{Limit, limit};
use crate::state::AppState;
use crate::state::{Authenticated, read};
use crate::text::errors;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::booking::PersonId;
use domain::booking::{END_HOUR, FIRST_HOUR};
use domain::clinic::GeoPoint;
use domain::leftover::{MAX_RADIUS_KM, OfferId, Subscription};
use domain::product::Product;
use domain::time::{in_seoul, seoul_date};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, PoisonError};
use store::writer::{ClaimOffer, ClaimRefusal};

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "lat": 37.57, "lon": 126.98, "radius_km": 5.0, "products": ["pfizer"] }))]
pub struct SubscriptionRequest {
    lat: f64,
    lon: f64,
    radius_km: f64,
    /// Products the person would take; empty or absent for any.
    #[serde(default)]
    products: Vec<String>,
}

impl SubscriptionRequest {
    /// Any product, within the largest radius of a place.
    pub fn anything_near(at: GeoPoint) -> SubscriptionRequest {
        SubscriptionRequest {
            lat: at.lat,
            lon: at.lon,
            radius_km: MAX_RADIUS_KM,
            products: Vec::new(),
        }
    }
}

/// A leftover subscription as the API answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub lat: f64,
    pub lon: f64,
    /// Product codes; empty for any.
    #[serde(serialize_with = "serialize_codes")]
    #[schema(value_type = Vec<String>)]
    pub products: Vec<Product>,
    pub radius_km: f64,
}

fn serialize_codes<S: serde::Serializer>(
    products: &[Product],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(products.iter().map(|p| p.code()))
}

impl SubscriptionView {
    fn of(s: &Subscription) -> SubscriptionView {
        SubscriptionView {
            lat: s.at.lat,
            lon: s.at.lon,
            products: s.products.clone(),
            radius_km: s.radius_km,
        }
    }
}

/// `PUT /api/v1/leftovers/subscription`'s answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscribedView {
    pub subscription: SubscriptionView,
}

/// The person's subscription (none: not asked) and today's open offers within it, nearest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NearMeView {
    pub offers: Vec<OfferView>,
    #[schema(required = true)]
    pub subscription: Option<SubscriptionView>,
}

fn parse_subscription(
    person: domain::booking::PersonId,
    body: &SubscriptionRequest,
) -> Result<Subscription, ApiError> {
    // Korea lies within these bounds (Marado to the DMZ, Baengnyeongdo to Dokdo).
    let in_korea = (33.0..=38.7).contains(&body.lat) && (124.5..=132.0).contains(&body.lon);
    let radius_ok = body.radius_km > 0.0 && body.radius_km <= MAX_RADIUS_KM;
    if !in_korea || !radius_ok {
        return Err(ApiError::bad_request(errors::INVALID_PLACE));
    }
    let products = body
        .products
        .iter()
        .map(|code| {
            Product::parse(code).ok_or_else(|| ApiError::bad_request(errors::INVALID_PRODUCT))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Subscription {
        person,
        at: GeoPoint {
            lat: body.lat,
            lon: body.lon,
        },
        radius_km: body.radius_km,
        products,
    })
}

/// `PUT /api/v1/leftovers/subscription` (and `/api/v1/queue/leftover-alerts`): tell me of
/// leftover doses within this radius.
#[utoipa::path(
    put,
    path = "/api/v1/leftovers/subscription",
    tags = ["leftovers"],
    summary = "Ask to be told of leftover doses within radius_km (at most 10) of a place; products empty for any. Needs a pass and a session. Setting or stopping the alert counts at most 10 times an hour per person (429 alerts_rate_limited with Retry-After).",
    security(("session" = []), ("sessionCookie" = [])),
    request_body = crate::routes::leftovers::SubscriptionRequest,
    responses(
        (status = 200, description = "Subscribed", body = SubscribedView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
    )
)]
pub async fn subscribe(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
    ApiJson(body): ApiJson<SubscriptionRequest>,
) -> Result<Json<SubscribedView>, ApiError> {
    let view = subscribe_person(&state, session.person, &body).await?;
    Ok(Json(SubscribedView { subscription: view }))
}

/// How often one person may set or stop their leftover alert: each change is a write, and a
/// script holding a session could otherwise write in a loop. A person sets a place and a
/// radius once or twice; ten an hour leaves room to correct them. Per node, in memory.
pub const ALERT_CHANGES: Limit = limit(10, 60);

/// Counts a change of `person`'s alert, or refuses it (429 with Retry-After) past
/// [`ALERT_CHANGES`].
fn count_alert_change(state: &AppState, person: PersonId, now_ms: i64) -> Result<(), ApiError> {
    let mut changes = state
        .alert_changes
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    changes.try_hit(person, now_ms).map_err(|retry_after_s| {
        let words = errors::ALERTS_RATE_LIMITED.fill("minutes", retry_after_s.div_ceil(60));
        ApiError::rate_limited(words, retry_after_s)
            .with_detail(serde_json::json!({ "retry_after_s": retry_after_s }))
    })
}

/// The typed core of a leftover subscription: the place and products checked, counted against
/// the person's changes, then stored.
pub async fn subscribe_person(
    state: &AppState,
    person: domain::booking::PersonId,
    body: &SubscriptionRequest,
) -> Result<SubscriptionView, ApiError> {
    let subscription = parse_subscription(person, body)?;
    let view = SubscriptionView::of(&subscription);
    let now_ms = state.clock.now().as_millisecond();
    count_alert_change(state, person, now_ms)?;
    state.writer.subscribe(subscription, now_ms).await?;
    Ok(view)
}

/// `DELETE /api/v1/leftovers/subscription`: stop telling me.
#[utoipa::path(
    delete,
    path = "/api/v1/leftovers/subscription",
    tags = ["leftovers"],
    summary = "Stop being told of leftover doses. Counts as a change of the alert (at most 10 an hour per person: 429 alerts_rate_limited).",
    security(("session" = []), ("sessionCookie" = [])),
    responses(
        (status = 204, description = "Done"),
        (status = 429, response = crate::routes::doc::Refused),
    )
)]
pub async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
) -> Result<StatusCode, ApiError> {
    let now_ms = state.clock.now().as_millisecond();
    count_alert_change(&state, session.person, now_ms)?;
    state.writer.unsubscribe(session.person, now_ms).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The typed core of `GET /api/v1/leftovers`.
pub async fn near(state: &Arc<AppState>, person: PersonId) -> Result<NearMeView, ApiError> {
    let now = state.clock.now();
    let today = seoul_date(now);
    let (subscription, offers) = read(state, move |r| {
        Ok((
            store::ReadStore::subscription(r, person)?,
            store::ReadStore::offers_on(r, today)?,
        ))
    })
    .await?;
    let Some(subscription) = subscription else {
        return Ok(NearMeView {
            offers: Vec::new(),
            subscription: None,
        });
    };
    let mut near: Vec<(f64, OfferView)> = offers
        .iter()
        .filter(|o| o.offer.left() > 0 && now.as_millisecond() < o.offer.until_ms)
        .filter_map(|o| {
            let clinic = state.world.clinics.get(o.offer.clinic.index())?;
            let distance = subscription.wants(clinic.location.unit(), o.offer.product)?;
            let mut view = offer_view(state, &o.offer, now.as_millisecond());
            view.distance_km = Some((distance * 10.0).round() / 10.0);
            Some((distance, view))
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(NearMeView {
        offers: near.into_iter().map(|(_, view)| view).collect(),
        subscription: Some(SubscriptionView::of(&subscription)),
    })
}

/// `GET /api/v1/leftovers`: my subscription and today's open offers within it, nearest first.
#[utoipa::path(
    get,
    path = "/api/v1/leftovers",
    tags = ["leftovers"],
    summary = "My subscription and today's open leftover offers within it, nearest first.",
    security(("session" = []), ("sessionCookie" = [])),
    responses(
        (status = 200, description = "OK", body = NearMeView),
    )
)]
pub async fn near_me(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
) -> Result<Json<NearMeView>, ApiError> {
    Ok(Json(near(&state, session.person).await?))
}

/// `POST /api/v1/leftovers/{id}/claim`: one of the offer's doses, as dose 1 today (dose 2 is
/// booked with it at the product's interval). A booking the person holds for a later day is
/// replaced, in the same transaction.
#[utoipa::path(
    post,
    path = "/api/v1/leftovers/{id}/claim",
    tags = ["leftovers"],
    summary = "Claim one leftover dose: dose 1 today, dose 2 at the product's interval. Never more claims than doses; one leftover dose a day per person; a booking for a later day is replaced in the same transaction.",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        ("id" = i64, Path),
    ),
    responses(
        (status = 201, description = "The booking", body = crate::routes::bookings::BookingView),
        (status = 404, description = "no_such_offer", body = crate::error::ErrorBody),
        (status = 409, description = "all_claimed, offer_expired, already_booked, already_vaccinated, second_dose_unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn claim(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let person = session.person;
    let (record, known) = person_facts(&state, person).await?;
    if known.already_vaccinated {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            errors::ALREADY_VACCINATED,
        ));
    }
    let now = state.clock.now();
    // The band that is running now (or the day's first or last, outside vaccination hours).
    let hour = (in_seoul(now).hour() as u8).clamp(FIRST_HOUR, END_HOUR - 1);
    // Its clinic says which part of the ledger takes the claim (`domain::partition`).
    let offer = OfferId(id);
    let Some(offered) = read(&state, move |r| store::ReadStore::offer(r, offer)).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            domain::leftover::ClaimError::NoSuchOffer,
        ));
    };
    let claim = ClaimOffer {
        offer,
        clinic: offered.offer.clinic,
        person,
        hour,
        today: seoul_date(now),
        notify: Some(super::bookings::notify(
            &state,
            record.sealed,
            "leftover_claimed",
        )),
    };
    match state
        .writer
        .claim_offer(claim, now.as_millisecond())
        .await?
    {
        Ok(booking) => {
            state.metrics.count_booking("leftover_claimed");
            Ok((
                StatusCode::CREATED,
                Json(super::bookings::booking_view(&state, &booking, person)),
            )
                .into_response())
        }
        Err(ClaimRefusal::Booking(e)) => Err(store::writer::Refusal::Booking(e).into()),
        Err(ClaimRefusal::Offer(e)) => {
            let status = match e {
                domain::leftover::ClaimError::NoSuchOffer => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            Err(ApiError::new(status, e))
        }
    }
}
