//! Regions and clinic search, served from memory: the search index and the writer's live
//! availability. No database query per search (the 2021 bottleneck).

use crate::error::ApiError;
use crate::http::ApiQuery;
use crate::state::AppState;
use crate::text::errors;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use domain::booking::{END_HOUR, FIRST_HOUR};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, MunicipalityCode, ProvinceCode};
use domain::ledger::Places;
use domain::product::Product;
use domain::time::seoul_date;
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
const MAX_DAYS: u16 = 14;

#[utoipa::path(
    get,
    path = "/api/v1/regions",
    tags = ["clinics"],
    summary = "Provinces and their municipalities (KOSTAT 2018 codes)",
    responses(
        (status = 200, description = "OK", body = RegionsView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
    )
)]
pub async fn regions(State(state): State<Arc<AppState>>) -> Response {
    let regions = &state.world.regions;
    let provinces = regions
        .provinces()
        .iter()
        .map(|p| ProvinceView {
            code: p.code.0,
            municipalities: regions
                .municipalities_of(p.code)
                .iter()
                .map(|m| MunicipalityView {
                    code: m.code.0,
                    name_en: &m.name_en,
                    name_ko: &m.name_ko,
                })
                .collect(),
            name_en: &p.name_en,
            name_ko: &p.name_ko,
        })
        .collect();
    // Written here, while the names it borrows from the world are at hand.
    Json(RegionsView { provinces }).into_response()
}

/// The provinces and their municipalities. Fields in alphabetical order, as the JSON object it
/// replaced.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegionsView<'a> {
    pub provinces: Vec<ProvinceView<'a>>,
}

/// A province (KOSTAT code, e.g. 11) and its municipalities.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProvinceView<'a> {
    pub code: u8,
    pub municipalities: Vec<MunicipalityView<'a>>,
    pub name_en: &'a str,
    pub name_ko: &'a str,
}

/// A municipality (KOSTAT code, e.g. 11010).
#[derive(Serialize, utoipa::ToSchema)]
pub struct MunicipalityView<'a> {
    pub code: u32,
    pub name_en: &'a str,
    pub name_ko: &'a str,
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    pub province: Option<u8>,
    pub municipality: Option<u32>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub radius_km: Option<f64>,
    pub product: Option<String>,
    pub from: Option<String>,
    pub days: Option<u16>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

fn parse_product(code: Option<&str>) -> Result<Option<Product>, ApiError> {
    code.map(|c| Product::parse(c).ok_or_else(|| ApiError::bad_request(errors::INVALID_PRODUCT)))
        .transpose()
}

pub fn parse_date(text: &str) -> Result<Date, ApiError> {
    text.parse()
        .map_err(|_| ApiError::bad_request(errors::INVALID_DATE))
}

/// A clinic as the search and clinic answers show it. Borrowed from the world: building an
/// answer copies nothing but the district's Korean display name.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClinicView<'a> {
    pub id: u32,
    pub name: &'a str,
    #[schema(value_type = super::views::ClinicKindSchema)]
    pub kind: ClinicKind,
    pub municipality: u32,
    /// Null for a municipality no longer known.
    #[schema(required = true)]
    pub municipality_name_ko: Option<String>,
    #[schema(required = true)]
    pub municipality_name_en: Option<&'a str>,
    pub province: u8,
    #[schema(value_type = super::views::GeoPointSchema)]
    pub location: GeoPoint,
    /// The vaccines it gives, as the records spell them (`astra_zeneca`).
    #[schema(value_type = Vec<String>)]
    pub products: &'a [Product],
    pub hours: HoursView,
}

/// The hours a clinic vaccinates: from `open` to `close` (hours of the day).
#[derive(Serialize, utoipa::ToSchema)]
pub struct HoursView {
    pub open: u8,
    pub close: u8,
    pub saturdays: bool,
}

impl<'a> ClinicView<'a> {
    fn of(state: &'a AppState, clinic: &'a Clinic) -> ClinicView<'a> {
        let municipality = state.world.regions.municipality(clinic.municipality);
        ClinicView {
            id: clinic.id.0,
            name: &clinic.name,
            kind: clinic.kind,
            municipality: clinic.municipality.0,
            municipality_name_ko: municipality.map(|m| m.display_name_ko()),
            municipality_name_en: municipality.map(|m| m.name_en.as_str()),
            province: clinic.province().0,
            location: clinic.location,
            products: &clinic.products,
            hours: HoursView {
                open: clinic.hours.open_hour,
                close: clinic.hours.close_hour,
                saturdays: clinic.hours.saturdays,
            },
        }
    }
}

/// Places left per product, written as an object keyed by product code (`{"pfizer": 3}`).
pub struct Remaining(pub Vec<(Product, u32)>);

impl Remaining {
    /// What is left of `product` (0 if the clinic does not give it or it was not asked for).
    pub fn of(&self, product: Product) -> u32 {
        self.0
            .iter()
            .find(|(p, _)| *p == product)
            .map_or(0, |(_, left)| *left)
    }

    /// The most left of any product.
    pub fn most(&self) -> u32 {
        self.0.iter().map(|(_, left)| *left).max().unwrap_or(0)
    }
}

impl Serialize for Remaining {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(p, left)| (p.code(), left)))
    }
}

/// Places left on one day.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DayPlaces {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// Places left by product code (`{"pfizer": 3}`).
    #[schema(value_type = HashMap<String, u32>)]
    pub remaining: Remaining,
}

/// One clinic found, with its distance (searches near a point) and places per day.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FoundClinic<'a> {
    #[serde(flatten)]
    pub clinic: ClinicView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    pub availability: Vec<DayPlaces>,
}

/// A page of search results and how many there are in all.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Found<'a> {
    pub total: usize,
    pub offset: usize,
    pub clinics: Vec<FoundClinic<'a>>,
}

/// Remaining places per product (of those asked for that the clinic gives) on a day.
fn remaining_by_product(
    availability: &Places,
    clinic: &Clinic,
    products: &[Product],
    day: Date,
) -> Remaining {
    let left = availability.day_left(clinic.id, day);
    Remaining(
        products
            .iter()
            .filter(|p| clinic.offers(**p))
            .map(|p| (*p, left.bookable(*p)))
            .collect(),
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/clinics",
    tags = ["clinics"],
    summary = "Search clinics by province, municipality or distance, with places left per day and product",
    params(
        ("province" = Option<i64>, Query, description = "Province code, e.g. 11"),
        ("municipality" = Option<i64>, Query, description = "Municipality code, e.g. 11010"),
        ("lat" = Option<f64>, Query, description = "Latitude (with lon)"),
        ("lon" = Option<f64>, Query, description = "Longitude (with lat)"),
        ("radius_km" = Option<f64>, Query, description = "Up to 50; default 5"),
        ("product" = Option<String>, Query, description = "Only clinics that give this product (near lat and lon: among the nearest 200 within the radius)"),
        ("from" = Option<String>, Query, description = "First day (default tomorrow, Seoul)"),
        ("days" = Option<i64>, Query, description = "Days to show, 1–14 (default 7)"),
        ("limit" = Option<i64>, Query, description = "1–100 (default 20)"),
        ("offset" = Option<i64>, Query, description = "Skip this many"),
    ),
    responses(
        (status = 200, description = "OK", body = Found),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
    )
)]
pub async fn search(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(find_clinics(&state, &q)?).into_response())
}

/// Clinic search, served from the index and the live availability: the core behind
/// `GET /api/v1/clinics` and the search pages.
pub fn find_clinics<'a>(state: &'a AppState, q: &SearchQuery) -> Result<Found<'a>, ApiError> {
    let world = &state.world;
    let tomorrow = seoul_date(state.clock.now())
        .tomorrow()
        .map_err(|_| ApiError::internal())?;
    let from = q
        .from
        .as_deref()
        .map(parse_date)
        .transpose()?
        .unwrap_or(tomorrow)
        .max(tomorrow);
    let days = q.days.unwrap_or(7).clamp(1, MAX_DAYS);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = q.offset.unwrap_or(0);
    let only = parse_product(q.product.as_deref())?;
    let products: Vec<Product> = only.map_or_else(|| Product::ALL.to_vec(), |p| vec![p]);

    let hits: Vec<(ClinicId, Option<f64>)> = match (q.province, q.municipality, q.lat, q.lon) {
        (_, Some(code), None, None) => world
            .index
            .in_municipality(MunicipalityCode(code))
            .iter()
            .map(|id| (*id, None))
            .collect(),
        (Some(code), None, None, None) => world
            .index
            .in_province(ProvinceCode(code))
            .iter()
            .map(|id| (*id, None))
            .collect(),
        // With a vaccine asked for, the nearest clinics are filtered after the index query: ask
        // for as many as the index gives, or the page and the total would count only those of
        // the first `offset + limit` that give it.
        (None, None, Some(lat), Some(lon)) => world
            .index
            .nearest(
                GeoPoint { lat, lon },
                q.radius_km.unwrap_or(5.0),
                if only.is_some() {
                    domain::search::NEAREST_LIMIT_MAX
                } else {
                    offset + limit
                },
            )
            .map_err(ApiError::bad_request)?
            .into_iter()
            .map(|(id, km)| (id, Some(km)))
            .collect(),
        _ => {
            return Err(ApiError::bad_request(errors::SEARCH_SCOPE_REQUIRED));
        }
    };
    let availability = state.writer.availability();
    let dates: Vec<Date> = (0..i64::from(days))
        .filter_map(|d| from.checked_add(d.days()).ok())
        .collect();
    let total = hits
        .iter()
        .filter(|(id, _)| offers_any(world, *id, &products))
        .count();
    let clinics = hits
        .into_iter()
        .filter(|(id, _)| offers_any(world, *id, &products))
        .skip(offset)
        .take(limit)
        .filter_map(|(id, km)| {
            let clinic = world.clinics.get(id.index())?;
            Some(FoundClinic {
                clinic: ClinicView::of(state, clinic),
                distance_km: km.map(|km| (km * 100.0).round() / 100.0),
                availability: dates
                    .iter()
                    .map(|day| DayPlaces {
                        date: *day,
                        remaining: remaining_by_product(&availability, clinic, &products, *day),
                    })
                    .collect(),
            })
        })
        .collect();
    Ok(Found {
        total,
        offset,
        clinics,
    })
}

fn offers_any(world: &crate::world::World, id: ClinicId, products: &[Product]) -> bool {
    world
        .clinics
        .get(id.index())
        .is_some_and(|c| products.iter().any(|p| c.offers(*p)))
}

#[derive(Deserialize, Default)]
pub struct ClinicQuery {
    pub date: Option<String>,
}

/// One hour band of a clinic's day and what is left in it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BandPlaces {
    pub hour: u8,
    /// `10:00–11:00`.
    pub label: String,
    /// Places left by product code (`{"pfizer": 3}`).
    #[schema(value_type = HashMap<String, u32>)]
    pub remaining: Remaining,
}

/// A clinic's day: the clinic, the day, and its bands.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClinicDay<'a> {
    #[serde(flatten)]
    pub clinic: ClinicView<'a>,
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub bands: Vec<BandPlaces>,
}

/// One clinic with its hour bands on a day and what is left in each.
#[utoipa::path(
    get,
    path = "/api/v1/clinics/{id}",
    tags = ["clinics"],
    summary = "One clinic's hour bands on a day, with places left per product",
    params(
        ("id" = i64, Path),
        ("date" = Option<String>, Query, description = "Default tomorrow (Seoul)"),
    ),
    responses(
        (status = 200, description = "OK", body = ClinicDay),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 404, response = crate::routes::doc::Refused),
    )
)]
pub async fn clinic(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u32>,
    ApiQuery(q): ApiQuery<ClinicQuery>,
) -> Result<Response, ApiError> {
    let clinic = state
        .world
        .clinics
        .get(id as usize)
        .ok_or_else(ApiError::not_found)?;
    let tomorrow = seoul_date(state.clock.now())
        .tomorrow()
        .map_err(|_| ApiError::internal())?;
    let day = q
        .date
        .as_deref()
        .map(parse_date)
        .transpose()?
        .unwrap_or(tomorrow);
    let availability = state.writer.availability();
    let bands = (FIRST_HOUR..END_HOUR)
        .filter(|h| domain::ledger::is_open(&clinic.hours, day, *h))
        .map(|hour| BandPlaces {
            hour,
            label: format!("{hour:02}:00–{:02}:00", hour + 1),
            remaining: Remaining(
                clinic
                    .products
                    .iter()
                    .map(|p| (*p, availability.bookable(clinic.id, day, hour, *p)))
                    .collect(),
            ),
        })
        .collect();
    Ok(Json(ClinicDay {
        clinic: ClinicView::of(&state, clinic),
        date: day,
        bands,
    })
    .into_response())
}
