//! Supply (S1–S2): planned deliveries per clinic, day and product, and supply changes — a
//! delivery cut, delayed or cancelled, a product switch, a new dose interval — previewed as a
//! rescheduling plan and applied atomically with one message per person.
//!
//! Operators only. Planning runs on the booking writer's thread (it needs the ledger as it is),
//! so a preview of a national change holds booking for as long as it takes: seconds for the
//! 1.75 million moves of August 2021 (see `bench/reschedule.md`).

use super::views::{AppointmentView, ClinicRef};
use crate::error::ApiError;
use crate::http::{ApiJson, ApiQuery};
use crate::routes::clinics::parse_date;
use crate::staff::Operator;
use crate::state::AppState;
use crate::state::read;
use crate::text::{errors, notices};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::booking::Appointment;
use domain::clinic::{Clinic, ClinicId, MunicipalityCode, ProvinceCode};
use domain::ledger::reschedule::{Delivery, Neighbours, Plan, SupplyChange, Unplaced};
use domain::product::Product;
use domain::time::seoul_date;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use store::writer::{
    ApplySupply, Expect, MessageText, Notice, PlanSupply, SupplyNotify, SupplyOutcome,
    SupplyRefusal,
};

/// Lines in one delivery upload at most.
const MAX_DELIVERIES: usize = 200_000;
/// Moves and unplaced doses listed in a plan's answer; the counts cover all of them.
const SAMPLE: usize = 100;
/// Nearby clinics tried for a displaced dose.
const NEIGHBOURS: usize = 8;
const NEIGHBOUR_RADIUS_KM: f64 = 10.0;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeliveryJson {
    clinic: u32,
    day: String,
    product: String,
    doses: u32,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "deliveries": [{ "clinic": 1, "day": "2021-08-02", "product": "moderna", "doses": 120 }] }))]
pub struct DeliveriesRequest {
    deliveries: Vec<DeliveryJson>,
}

/// A supply change as an operator describes it.
#[derive(Deserialize, serde::Serialize, Clone, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schema(as = SupplyChangeRequest)]
#[schema(example = json!({ "kind": "interval", "product": "moderna", "interval_days": 42, "from_day": "2021-08-18" }))]
pub enum ChangeRequest {
    Deliveries {
        deliveries: Vec<DeliveryLine>,
        #[serde(default)]
        switch_to: Vec<String>,
    },
    ProductSwitch {
        from: String,
        to: String,
        province: Option<u8>,
        municipality: Option<u32>,
        first_day: String,
        last_day: String,
    },
    Interval {
        product: String,
        interval_days: u16,
        from_day: String,
    },
}

#[derive(Deserialize, serde::Serialize, Clone, utoipa::ToSchema)]
pub struct DeliveryLine {
    clinic: u32,
    day: String,
    product: String,
    doses: u32,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "kind": "interval", "product": "moderna", "interval_days": 42, "from_day": "2021-08-18", "plan_id": "3f9a1c2b7d4e5f60" }))]
pub struct ApplyRequest {
    #[serde(flatten)]
    change: ChangeRequest,
    plan_id: String,
}

#[derive(Deserialize)]
pub struct SupplyQuery {
    clinic: u32,
    from: Option<String>,
    days: Option<u16>,
}

fn parse_product(code: &str) -> Result<Product, ApiError> {
    Product::parse(code).ok_or_else(|| ApiError::bad_request(errors::INVALID_PRODUCT))
}

fn delivery(clinic: u32, day: &str, product: &str, doses: u32) -> Result<Delivery, ApiError> {
    Ok(Delivery {
        clinic: ClinicId(clinic),
        day: parse_date(day)?,
        product: parse_product(product)?,
        doses,
    })
}

fn too_many() -> ApiError {
    ApiError::bad_request(errors::TOO_MANY_DELIVERIES)
}

/// Turns the operator's description into the domain's change, resolving a region to clinics.
fn supply_change(state: &AppState, request: &ChangeRequest) -> Result<SupplyChange, ApiError> {
    Ok(match request {
        ChangeRequest::Deliveries {
            deliveries,
            switch_to,
        } => {
            if deliveries.len() > MAX_DELIVERIES {
                return Err(too_many());
            }
            SupplyChange::Deliveries {
                deliveries: deliveries
                    .iter()
                    .map(|d| delivery(d.clinic, &d.day, &d.product, d.doses))
                    .collect::<Result<_, _>>()?,
                switch_to: switch_to
                    .iter()
                    .map(|p| parse_product(p))
                    .collect::<Result<_, _>>()?,
            }
        }
        ChangeRequest::ProductSwitch {
            from,
            to,
            province,
            municipality,
            first_day,
            last_day,
        } => {
            let index = &state.world.index;
            let clinics = match (province, municipality) {
                (None, Some(m)) => index.in_municipality(MunicipalityCode(*m)).to_vec(),
                (Some(p), None) => index.in_province(ProvinceCode(*p)).to_vec(),
                _ => {
                    return Err(ApiError::bad_request(errors::INVALID_REGION));
                }
            };
            if clinics.is_empty() {
                return Err(ApiError::bad_request(errors::NO_CLINICS_IN_REGION));
            }
            SupplyChange::ProductSwitch {
                from: parse_product(from)?,
                to: parse_product(to)?,
                clinics,
                first_day: parse_date(first_day)?,
                last_day: parse_date(last_day)?,
            }
        }
        ChangeRequest::Interval {
            product,
            interval_days,
            from_day,
        } => SupplyChange::Interval {
            product: parse_product(product)?,
            interval_days: *interval_days,
            from_day: parse_date(from_day)?,
        },
    })
}

/// Nearby clinics, nearest first, for every clinic a change touches.
fn neighbours(state: &AppState, change: &SupplyChange) -> Neighbours {
    let touched: Vec<ClinicId> = match change {
        SupplyChange::Deliveries { deliveries, .. } => {
            deliveries.iter().map(|d| d.clinic).collect()
        }
        SupplyChange::ProductSwitch { clinics, .. } => clinics.clone(),
        SupplyChange::Interval { .. } => Vec::new(),
    };
    let mut map = Neighbours::new();
    for clinic in touched {
        if map.contains_key(&clinic) {
            continue;
        }
        let Some(c) = state.world.clinics.get(clinic.index()) else {
            continue;
        };
        let near = state
            .world
            .index
            .nearest(c.location, NEIGHBOUR_RADIUS_KM, NEIGHBOURS + 1)
            .unwrap_or_default()
            .into_iter()
            .map(|(id, _)| id)
            .filter(|&id| id != clinic)
            .collect();
        map.insert(clinic, near);
    }
    map
}

/// A dose a change could not place, for the operator to call. Fields in alphabetical order, as
/// the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnplacedView {
    pub booking: u64,
    pub dose: u8,
    pub from: AppointmentView,
    pub person: u64,
}

impl UnplacedView {
    fn of(state: &AppState, u: &Unplaced) -> UnplacedView {
        UnplacedView {
            booking: u.booking.0,
            dose: u.dose,
            from: AppointmentView::of(state, &u.from),
            person: u.person.0,
        }
    }
}

/// A dose a change moves.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedMove {
    pub booking: u64,
    pub dose: u8,
    pub from: AppointmentView,
    pub to: AppointmentView,
}

/// What an apply's catch-up did (see [`PlanView::caught_up`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaughtUpView {
    pub informed: usize,
    pub moves: usize,
    pub people_moved: usize,
    pub unplaced: usize,
}

impl CaughtUpView {
    fn of(plan: &Plan) -> CaughtUpView {
        CaughtUpView {
            informed: plan.informed.len(),
            moves: plan.moves.len(),
            people_moved: plan.people_moved(),
            unplaced: plan.unplaced.len(),
        }
    }
}

/// The new dose schedule of an interval change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    pub interval_days: u16,
    #[schema(value_type = String)]
    pub product: &'static str,
}

/// The answer of a preview, an apply or a delivery change: the plan (documented once for all
/// three).
#[derive(utoipa::ToResponse)]
#[response(
    description = "The plan: {plan_id, reason, applied, caught_up, change_id, people_moved, moves, moved_to_other_clinics, unplaced, informed, notified, supply_edits, skipped_clinics, schedule, by_shift_days, over_capacity_after, moves_sample, unplaced_list}"
)]
#[allow(dead_code)]
pub struct PlanAnswer(#[to_schema] PlanView);

/// The plan as an operator reads it: what moves, by how much, and who could not be placed.
/// Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    pub applied: bool,
    /// Doses moved, by how many days they moved (negative: earlier).
    pub by_shift_days: BTreeMap<String, u64>,
    /// An applied change: who was booked or changed while its plan was made and was moved,
    /// unplaced or told too (the plan's own figures are the rest of this view).
    pub caught_up: Option<CaughtUpView>,
    pub change_id: Option<u64>,
    /// People told that their appointment stays.
    pub informed: usize,
    pub moved_to_other_clinics: usize,
    /// Doses moved (`moves_sample` lists the first 100).
    pub moves: usize,
    pub moves_sample: Vec<PlannedMove>,
    /// Messages written (applied changes).
    pub notified: u64,
    pub over_capacity_after: u32,
    pub people_moved: usize,
    /// Apply exactly this plan with `POST /api/v1/admin/supply-changes/apply`.
    pub plan_id: String,
    #[schema(value_type = String)]
    pub reason: &'static str,
    pub schedule: Option<ScheduleView>,
    pub skipped_clinics: Vec<u32>,
    pub supply_edits: usize,
    /// Doses that could not be placed (`unplaced_list` lists the first 100).
    pub unplaced: usize,
    pub unplaced_list: Vec<UnplacedView>,
}

impl PlanView {
    fn of(state: &AppState, outcome: &SupplyOutcome) -> PlanView {
        let plan: &Plan = &outcome.plan;
        PlanView {
            applied: outcome.change_id.is_some(),
            by_shift_days: plan
                .shift_histogram()
                .into_iter()
                .map(|(days, n)| (days.to_string(), n))
                .collect(),
            caught_up: outcome.caught_up.as_deref().map(CaughtUpView::of),
            change_id: outcome.change_id,
            informed: plan.informed.len(),
            moved_to_other_clinics: plan.moved_to_other_clinics(),
            moves: plan.moves.len(),
            moves_sample: plan
                .moves
                .iter()
                .take(SAMPLE)
                .map(|m| PlannedMove {
                    booking: m.booking.0,
                    dose: m.dose,
                    from: AppointmentView::of(state, &m.from),
                    to: AppointmentView::of(state, &m.to),
                })
                .collect(),
            notified: outcome.messages,
            over_capacity_after: plan.over_capacity_after,
            people_moved: plan.people_moved(),
            plan_id: plan.id(),
            reason: plan.reason.code(),
            schedule: plan.schedule.map(|(p, s)| ScheduleView {
                interval_days: s.interval_days,
                product: p.code(),
            }),
            skipped_clinics: plan.skipped_clinics.iter().map(|c| c.0).collect(),
            supply_edits: plan.supply.len(),
            unplaced: plan.unplaced.len(),
            unplaced_list: plan
                .unplaced
                .iter()
                .take(SAMPLE)
                .map(|u| UnplacedView::of(state, u))
                .collect(),
        }
    }
}

/// When to ask again while another change is planned: a national plan takes seconds.
const PLANNER_BUSY_RETRY_S: u32 = 5;

fn refusal_response(state: &AppState, refusal: SupplyRefusal) -> Result<Response, ApiError> {
    let (entry, plan) = match refusal {
        SupplyRefusal::Invalid(e) => {
            return Err(ApiError::bad_request(e));
        }
        SupplyRefusal::PlanRequired(plan) => (errors::PLAN_REQUIRED, plan),
        SupplyRefusal::PlanChanged(plan) => (errors::PLAN_CHANGED, plan),
        SupplyRefusal::Busy => {
            return Err(ApiError {
                retry_after_s: Some(PLANNER_BUSY_RETRY_S),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, errors::PLANNER_BUSY)
            });
        }
        SupplyRefusal::AcrossParts => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                errors::SUPPLY_ACROSS_PARTS,
            ));
        }
    };
    let preview = SupplyOutcome {
        change_id: None,
        plan,
        caught_up: None,
        messages: 0,
    };
    let plan = serde_json::to_value(PlanView::of(state, &preview)).unwrap_or(Value::Null);
    Err(ApiError::new(StatusCode::CONFLICT, entry).with_detail(plan))
}

/// A supply change's answer: the plan (applied or previewed) or the refusal with the new plan.
/// `audited`: an applied change whose line the writer wrote, with a refusal's code too (the
/// HTTP layer adds its status).
fn supply_response(
    state: &AppState,
    outcome: Result<SupplyOutcome, SupplyRefusal>,
    audited: bool,
) -> Result<Response, ApiError> {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(refusal) => return refusal_response(state, refusal),
    };
    if let Some(id) = outcome.change_id {
        tracing::info!(
            change = id,
            moves = outcome.plan.moves.len(),
            unplaced = outcome.plan.unplaced.len(),
            "supply change applied"
        );
    }
    let response = Json(PlanView::of(state, &outcome)).into_response();
    Ok(if audited {
        super::staff::audited_response(response)
    } else {
        response
    })
}

/// Applies a change (or enters deliveries): the change, its messages and the operator's audit
/// line commit in one transaction.
async fn apply_change(
    state: &Arc<AppState>,
    action: &str,
    request: &ChangeRequest,
    expect: Expect,
) -> Result<Response, ApiError> {
    let change = supply_change(state, request)?;
    let detail = serde_json::to_string(request).unwrap_or_default();
    let apply = ApplySupply {
        today: seoul_date(state.clock.now()),
        neighbours: neighbours(state, &change),
        change,
        expect,
        detail: detail.clone(),
        notify: notice_text(state),
    };
    let path = action
        .split_once(' ')
        .map_or(action, |(_, p)| p)
        .to_string();
    let detail = serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null);
    let audit = super::staff::operator_audited(action, path, detail);
    let now_ms = state.clock.now().as_millisecond();
    let outcome = state
        .writer
        .apply_supply(apply, Some(audit), now_ms)
        .await?;
    supply_response(state, outcome, true)
}

/// `POST /api/v1/admin/supply-changes/plan`: what the change would do. Changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/admin/supply-changes/plan",
    tags = ["operators", "supply"],
    summary = "Operators: what a supply change (delivery cut/delay/cancellation, product switch by region, dose interval change) would do: who moves where, by how many days, who cannot be placed. Changes nothing.",
    security(("operator" = [])),
    request_body = crate::routes::supply::ChangeRequest,
    responses(
        (status = 200, response = PlanAnswer),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 413, response = crate::routes::doc::Refused),
    )
)]
pub async fn plan(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(request): ApiJson<ChangeRequest>,
) -> Result<Response, ApiError> {
    let change = supply_change(&state, &request)?;
    let plan = PlanSupply {
        today: seoul_date(state.clock.now()),
        neighbours: neighbours(&state, &change),
        change,
    };
    let now_ms = state.clock.now().as_millisecond();
    let outcome = state.writer.plan_supply(plan, now_ms).await?;
    supply_response(&state, outcome, false)
}

/// `POST /api/v1/admin/supply-changes/apply`: applies the previewed plan, if it still is the plan.
#[utoipa::path(
    post,
    path = "/api/v1/admin/supply-changes/apply",
    tags = ["operators", "supply"],
    summary = "Operators: apply a previewed plan atomically, with one message per person in the same transaction. 409 plan_changed (with the new plan) if bookings changed since the preview.",
    security(("operator" = [])),
    request_body = crate::routes::supply::ApplyRequest,
    responses(
        (status = 200, response = PlanAnswer),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 409, response = crate::routes::doc::Refused),
        (status = 413, response = crate::routes::doc::Refused),
    )
)]
pub async fn apply(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(request): ApiJson<ApplyRequest>,
) -> Result<Response, ApiError> {
    apply_change(
        &state,
        "POST /api/v1/admin/supply-changes/apply",
        &request.change,
        Expect::Plan(request.plan_id),
    )
    .await
}

/// `PUT /api/v1/admin/deliveries`: enters planned deliveries. A line that would push bookings out
/// needs a previewed plan instead (409 `plan_required`, with that plan).
#[utoipa::path(
    put,
    path = "/api/v1/admin/deliveries",
    tags = ["operators", "supply"],
    summary = "Operators: set planned doses per clinic, day and product. A change that would push booked people out is refused with 409 plan_required and its plan: preview and apply it as a supply change instead.",
    security(("operator" = [])),
    request_body = crate::routes::supply::DeliveriesRequest,
    responses(
        (status = 200, response = PlanAnswer),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 409, response = crate::routes::doc::Refused),
        (status = 413, response = crate::routes::doc::Refused),
    )
)]
pub async fn put_deliveries(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(body): ApiJson<DeliveriesRequest>,
) -> Result<Response, ApiError> {
    let request = ChangeRequest::Deliveries {
        deliveries: body
            .deliveries
            .into_iter()
            .map(|d| DeliveryLine {
                clinic: d.clinic,
                day: d.day,
                product: d.product,
                doses: d.doses,
            })
            .collect(),
        switch_to: Vec::new(),
    };
    apply_change(
        &state,
        "PUT /api/v1/admin/deliveries",
        &request,
        Expect::NoMoves,
    )
    .await
}

/// `POST /api/v1/admin/deliveries/import`: the same from CSV lines `clinic,day,product,doses`
/// (a header line is allowed). One bad line refuses the upload, naming the line.
#[utoipa::path(
    post,
    path = "/api/v1/admin/deliveries/import",
    tags = ["operators", "supply"],
    summary = "Operators: the same from CSV lines clinic,day,product,doses (a header line is allowed). A bad line refuses the upload and names the line (detail.line).",
    security(("operator" = [])),
    request_body(content = String, content_type = "text/csv", description = "At most 16 MiB (up to 200,000 lines); a larger body is refused with 413 body_too_large."),
    responses(
        (status = 200, response = PlanAnswer),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 409, response = crate::routes::doc::Refused),
        (status = 413, response = crate::routes::doc::Refused),
    )
)]
pub async fn import_deliveries(
    State(state): State<Arc<AppState>>,
    _: Operator,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let deliveries = parse_csv(&body)?;
    let request = ChangeRequest::Deliveries {
        deliveries,
        switch_to: Vec::new(),
    };
    apply_change(
        &state,
        "POST /api/v1/admin/deliveries/import",
        &request,
        Expect::NoMoves,
    )
    .await
}

/// Reads an upload's bytes; text that is not UTF-8 is refused in the API's error shape (taking
/// the body as a `String` answered it in axum's plain text). Public for the fuzz target
/// `delivery_csv` (through [`crate::parsers`]).
pub fn parse_csv(body: &[u8]) -> Result<Vec<DeliveryLine>, ApiError> {
    let body =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request(errors::CSV_NOT_UTF8))?;
    let mut lines = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (n == 0 && line.starts_with("clinic")) {
            continue;
        }
        if lines.len() == MAX_DELIVERIES {
            return Err(too_many());
        }
        let bad = || {
            ApiError::bad_request(errors::INVALID_CSV_LINE.fill("line", n + 1))
                .with_detail(json!({ "line": n + 1 }))
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [clinic, day, product, doses] = fields[..] else {
            return Err(bad());
        };
        let parsed = DeliveryLine {
            clinic: clinic.parse().map_err(|_| bad())?,
            day: day.to_string(),
            product: product.to_string(),
            doses: doses.parse().map_err(|_| bad())?,
        };
        delivery(parsed.clinic, &parsed.day, &parsed.product, parsed.doses).map_err(|_| bad())?;
        lines.push(parsed);
    }
    if lines.is_empty() {
        return Err(ApiError::bad_request(errors::EMPTY_CSV));
    }
    Ok(lines)
}

/// `GET /api/v1/admin/supply?clinic&from&days`: planned doses, doses promised to appointments,
/// doses given and doses left, per day and product.
#[utoipa::path(
    get,
    path = "/api/v1/admin/supply",
    tags = ["operators", "supply"],
    summary = "Operators: planned doses, doses promised to appointments, doses given, doses left and stock on hand per day and product at one clinic.",
    security(("operator" = [])),
    params(
        ("clinic" = i64, Query),
        ("from" = Option<String>, Query),
        ("days" = Option<i64>, Query),
    ),
    responses(
        (status = 200, description = "{clinic, days: [{date, products: [{product, planned, promised, given, left, stock_on_hand}]}]}", body = SupplyView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 404, response = crate::routes::doc::Refused),
    )
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiQuery(query): ApiQuery<SupplyQuery>,
) -> Result<Json<SupplyView>, ApiError> {
    let clinic = state
        .world
        .clinics
        .get(query.clinic as usize)
        .ok_or_else(ApiError::not_found)?
        .clone();
    let first = match &query.from {
        Some(text) => parse_date(text)?,
        None => seoul_date(state.clock.now()),
    };
    let days = query.days.unwrap_or(14).clamp(1, 62);
    Ok(Json(supply_of(&state, clinic, first, days).await?))
}

/// One product's doses on one day at a clinic. Fields in alphabetical order, as the JSON object
/// it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductSupply {
    pub given: u32,
    /// Doses neither promised to an appointment nor given.
    pub left: i32,
    pub planned: i32,
    #[schema(value_type = String)]
    pub product: &'static str,
    /// Doses promised to appointments.
    pub promised: i32,
    /// Planned doses not yet given (the stock the clinic should hold).
    pub stock_on_hand: i64,
}

/// A clinic's day of supply.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DaySupply {
    #[schema(value_type = String, format = Date)]
    pub date: String,
    pub products: Vec<ProductSupply>,
}

/// A clinic's supply over some days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SupplyView {
    pub clinic: ClinicRef,
    pub days: Vec<DaySupply>,
}

/// Planned doses, doses promised, given and left at `clinic`, per day from `first` and product.
async fn supply_of(
    state: &Arc<AppState>,
    clinic: Clinic,
    first: Date,
    days: u16,
) -> Result<SupplyView, ApiError> {
    let now_ms = state.clock.now().as_millisecond();
    let planned = state
        .writer
        .planned_supply(clinic.id, first, days, now_ms)
        .await?;
    let last = add_days(first, i32::from(days) - 1);
    let id = clinic.id;
    let given = read(state, move |r| r.doses_given(id, first, last)).await?;
    let availability = state.writer.availability();
    let days = planned
        .iter()
        .enumerate()
        .map(|(d, planned)| {
            let day = add_days(first, d as i32);
            let products = clinic
                .products
                .iter()
                .map(|&p| {
                    let planned = planned[p.index()];
                    let left = availability.supply_left(id, day, p);
                    let given = given
                        .iter()
                        .find(|(gd, gp, _)| *gd == day && *gp == p)
                        .map_or(0, |g| g.2);
                    ProductSupply {
                        given,
                        left,
                        planned,
                        product: p.code(),
                        promised: planned - left,
                        stock_on_hand: i64::from(planned) - i64::from(given),
                    }
                })
                .collect();
            DaySupply {
                date: day.to_string(),
                products,
            }
        })
        .collect();
    Ok(SupplyView {
        clinic: ClinicRef {
            id: id.0,
            name: Some(clinic.name),
        },
        days,
    })
}

fn add_days(day: Date, days: i32) -> Date {
    day.checked_add(jiff::Span::new().days(days)).unwrap_or(day)
}

/// `GET /api/v1/admin/supply-changes`: the applied changes, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/supply-changes",
    tags = ["operators", "supply"],
    summary = "Operators: applied supply changes, newest first.",
    security(("operator" = [])),
    responses(
        (status = 200, description = "{changes: [...]}", body = SupplyChanges),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn list_changes(
    State(state): State<Arc<AppState>>,
    _: Operator,
) -> Result<Json<SupplyChanges>, ApiError> {
    Ok(Json(applied_changes(&state).await?))
}

/// An applied supply change. Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SupplyChangeView {
    #[schema(value_type = Option<String>, format = DateTime)]
    pub applied_at: Option<String>,
    /// The change as the operator asked for it.
    #[schema(value_type = Object)]
    pub change: Value,
    pub id: u64,
    pub informed: u64,
    /// Doses moved.
    pub moves: u64,
    /// Fewer pieces done than planned: the apply was interrupted; plan again for the rest.
    pub partial: bool,
    pub people_moved: u64,
    /// The transactions the apply was cut into, and how many committed.
    pub pieces: u32,
    pub pieces_done: u32,
    pub plan_id: String,
    #[schema(value_type = String)]
    pub reason: &'static str,
    pub unplaced: u64,
}

/// The applied supply changes, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SupplyChanges {
    pub changes: Vec<SupplyChangeView>,
}

/// The last 100 applied changes, newest first.
async fn applied_changes(state: &Arc<AppState>) -> Result<SupplyChanges, ApiError> {
    let changes = read(state, |r| r.supply_changes(100)).await?;
    let changes = changes
        .into_iter()
        .map(|c| SupplyChangeView {
            applied_at: jiff::Timestamp::from_millisecond(c.applied_ms)
                .ok()
                .map(|t| t.to_string()),
            change: serde_json::from_str::<Value>(&c.detail).unwrap_or(Value::Null),
            id: c.id,
            informed: c.informed,
            moves: c.doses_moved,
            partial: c.partial(),
            people_moved: c.people_moved,
            pieces: c.pieces,
            pieces_done: c.pieces_done,
            plan_id: c.plan_id,
            reason: c.reason.code(),
            unplaced: c.unplaced,
        })
        .collect();
    Ok(SupplyChanges { changes })
}

/// `GET /api/v1/admin/supply-changes/{id}/unplaced`: everyone a change could not place, for the
/// operator to call.
#[utoipa::path(
    get,
    path = "/api/v1/admin/supply-changes/{id}/unplaced",
    tags = ["operators", "supply"],
    summary = "Operators: everyone a change could not place (their dose was cancelled and they were told), to call them.",
    security(("operator" = [])),
    params(
        ("id" = i64, Path),
    ),
    responses(
        (status = 200, description = "{change_id, unplaced: [{booking, person, dose, from}]}", body = ChangeUnplaced),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn unplaced(
    State(state): State<Arc<AppState>>,
    _: Operator,
    Path(id): Path<u64>,
) -> Result<Json<ChangeUnplaced>, ApiError> {
    Ok(Json(unplaced_by(&state, id).await?))
}

/// Everyone a change could not place.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeUnplaced {
    pub change_id: u64,
    pub unplaced: Vec<UnplacedView>,
}

/// Everyone change `id` could not place.
async fn unplaced_by(state: &Arc<AppState>, id: u64) -> Result<ChangeUnplaced, ApiError> {
    let records = read(state, move |r| r.unplaced(id)).await?;
    let unplaced = records
        .iter()
        .map(|r| {
            let unplaced = Unplaced {
                booking: r.booking,
                person: r.person,
                dose: r.dose,
                from: r.from,
            };
            UnplacedView::of(state, &unplaced)
        })
        .collect();
    Ok(ChangeUnplaced {
        change_id: id,
        unplaced,
    })
}

fn when(state: &AppState, a: &Appointment, korean: bool) -> String {
    let clinic = state
        .world
        .clinics
        .get(a.clinic.index())
        .map_or("", |c| c.name.as_str());
    let product = if korean {
        a.product.name_ko()
    } else {
        a.product.name_en()
    };
    notices::supply_when(a.day, a.hour, clinic, product)
}

/// One message per person: what moved and where to, what could not be placed, or (interval
/// change) that their own appointment stays. Called from the plan, beside the writer.
pub fn notice_text(state: &Arc<AppState>) -> SupplyNotify {
    let state = Arc::clone(state);
    Box::new(move |notice: &Notice| {
        let why = notices::supply_reason(notice.reason);
        let text = if let Some(lost) = notice.unplaced.first() {
            let (ko, en) = (
                when(&state, &lost.from, true),
                when(&state, &lost.from, false),
            );
            notices::supply_unplaced(why, lost.dose, (&ko, &en))
        } else if notice.moves.is_empty() {
            let list = |korean: bool| {
                notice
                    .booking
                    .booked_appointments()
                    .map(|a| when(&state, &a, korean))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            notices::supply_informed(why, (&list(true), &list(false)))
        } else {
            let moves = |korean: bool| {
                notice
                    .moves
                    .iter()
                    .map(|m| {
                        let (from, to) =
                            (when(&state, &m.from, korean), when(&state, &m.to, korean));
                        notices::supply_move(korean, m.dose, &from, &to)
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            notices::supply_moved(why, (&moves(true), &moves(false)))
        };
        MessageText::from(text)
    })
}

/// `POST /api/v1/bookings/{id}/accept-move`: the person saw why their appointment moved.
#[utoipa::path(
    post,
    path = "/api/v1/bookings/{id}/accept-move",
    tags = ["bookings"],
    summary = "The person has seen why their appointment moved (the booking's `moved` list) and accepts it. To pick another day or clinic, use change instead.",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        ("id" = i64, Path),
    ),
    responses(
        (status = 204, description = "Accepted."),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 404, response = crate::routes::doc::Refused),
    )
)]
pub async fn accept_move(
    State(state): State<Arc<AppState>>,
    crate::state::Authenticated(session): crate::state::Authenticated,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let booking = domain::booking::BookingId(id);
    let now_ms = state.clock.now().as_millisecond();
    match state
        .writer
        .accept_moves(session.person, booking, now_ms)
        .await?
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        // Someone else's booking looks exactly like a missing one.
        Err(_) => Err(ApiError::not_found()),
    }
}

/// One dose a supply change moved (or could not keep), as its person reads it. Fields in
/// alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MoveView {
    pub dose: u8,
    pub from: AppointmentView,
    /// `delivery_changed`, `product_switched` or `interval_changed`.
    #[schema(value_type = String)]
    pub reason: &'static str,
    /// None: the dose could not be kept and is cancelled.
    pub to: Option<AppointmentView>,
}

/// What supply changes did to a booking and the person has not yet accepted, for their view.
pub fn moves(state: &AppState, records: &[store::RescheduleRecord]) -> Vec<MoveView> {
    records
        .iter()
        .filter(|r| r.accepted_ms.is_none())
        .map(|r| MoveView {
            dose: r.dose,
            from: AppointmentView::of(state, &r.from),
            reason: r.reason.code(),
            to: r.to.map(|a| AppointmentView::of(state, &a)),
        })
        .collect()
}
