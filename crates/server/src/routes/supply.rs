//! Supply (S1–S2): planned deliveries per clinic, day and product, and supply changes — a
//! delivery cut, delayed or cancelled, a product switch, a new dose interval — previewed as a
//! rescheduling plan and applied atomically with one message per person.
//!
//! Operators only. Planning runs on the booking writer's thread (it needs the ledger as it is),
//! so a preview of a national change holds booking for as long as it takes: seconds for the
//! 1.75 million moves of August 2021 (see `bench/reschedule.md`).

use super::views::AppointmentView;
use crate::error::ApiError;
use crate::http::{ApiJson, ApiQuery};
use crate::routes::clinics::parse_date;
use crate::staff::Operator;
use crate::state::AppState;
use crate::state::read;
use crate::text::notices;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::booking::Appointment;
use domain::clinic::{ClinicId, MunicipalityCode, ProvinceCode};
use domain::ledger::reschedule::{Delivery, Neighbours, Plan, SupplyChange, Unplaced};
use domain::product::Product;
use domain::time::seoul_date;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
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

#[derive(Deserialize)]
pub struct DeliveryJson {
    clinic: u32,
    day: String,
    product: String,
    doses: u32,
}

#[derive(Deserialize)]
pub struct DeliveriesRequest {
    deliveries: Vec<DeliveryJson>,
}

/// A supply change as an operator describes it.
#[derive(Deserialize, serde::Serialize, Clone)]
#[serde(tag = "kind", rename_all = "snake_case")]
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

#[derive(Deserialize, serde::Serialize, Clone)]
pub struct DeliveryLine {
    clinic: u32,
    day: String,
    product: String,
    doses: u32,
}

#[derive(Deserialize)]
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
    Product::parse(code).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_product",
            "백신 종류가 올바르지 않습니다.",
            "Unknown product (use pfizer, moderna, astrazeneca or janssen).",
        )
    })
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
    ApiError::bad_request(
        "too_many_deliveries",
        "한 번에 최대 200,000줄까지 올릴 수 있습니다.",
        "At most 200,000 deliveries per upload.",
    )
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
                    return Err(ApiError::bad_request(
                        "invalid_region",
                        "시·도(province) 또는 시·군·구(municipality) 중 하나를 지정해 주세요.",
                        "Give exactly one of province or municipality.",
                    ));
                }
            };
            if clinics.is_empty() {
                return Err(ApiError::bad_request(
                    "no_clinics_in_region",
                    "해당 지역에 의료기관이 없습니다.",
                    "There are no clinics in that region.",
                ));
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

fn appointment_json(state: &AppState, a: &Appointment) -> Value {
    json!(AppointmentView::of(state, a))
}

fn unplaced_json(state: &AppState, u: &Unplaced) -> Value {
    json!({
        "booking": u.booking.0,
        "person": u.person.0,
        "dose": u.dose,
        "from": appointment_json(state, &u.from),
    })
}

/// The plan as an operator reads it: what moves, by how much, and who could not be placed.
fn plan_json(state: &AppState, outcome: &SupplyOutcome) -> Value {
    let plan: &Plan = &outcome.plan;
    let by_shift: serde_json::Map<String, Value> = plan
        .shift_histogram()
        .into_iter()
        .map(|(days, n)| (days.to_string(), json!(n)))
        .collect();
    let moves: Vec<Value> = plan
        .moves
        .iter()
        .take(SAMPLE)
        .map(|m| {
            json!({
                "booking": m.booking.0,
                "dose": m.dose,
                "from": appointment_json(state, &m.from),
                "to": appointment_json(state, &m.to),
            })
        })
        .collect();
    let unplaced: Vec<Value> = plan
        .unplaced
        .iter()
        .take(SAMPLE)
        .map(|u| unplaced_json(state, u))
        .collect();
    json!({
        "plan_id": plan.id(),
        "reason": plan.reason.code(),
        "applied": outcome.change_id.is_some(),
        "change_id": outcome.change_id,
        "people_moved": plan.people_moved(),
        "moves": plan.moves.len(),
        "moved_to_other_clinics": plan.moved_to_other_clinics(),
        "unplaced": plan.unplaced.len(),
        "informed": plan.informed.len(),
        "notified": outcome.messages,
        "supply_edits": plan.supply.len(),
        "skipped_clinics": plan.skipped_clinics.iter().map(|c| c.0).collect::<Vec<_>>(),
        "schedule": plan.schedule.map(|(p, s)| json!({ "product": p.code(), "interval_days": s.interval_days })),
        "by_shift_days": by_shift,
        "over_capacity_after": plan.over_capacity_after,
        "moves_sample": moves,
        "unplaced_list": unplaced,
    })
}

fn refusal_response(state: &AppState, refusal: SupplyRefusal) -> Result<Response, ApiError> {
    let (code, ko, en, plan) = match refusal {
        SupplyRefusal::Invalid(e) => {
            return Err(ApiError::bad_request(
                e.code(),
                e.message_ko(),
                e.message_en(),
            ));
        }
        SupplyRefusal::PlanRequired(plan) => (
            "plan_required",
            "이 변경으로 예약을 옮겨야 합니다. 먼저 계획을 확인한 뒤 적용해 주세요.",
            "This change moves bookings: preview its plan, then apply that plan.",
            plan,
        ),
        SupplyRefusal::PlanChanged(plan) => (
            "plan_changed",
            "계획을 확인한 뒤 예약이 바뀌었습니다. 새 계획을 확인해 주세요.",
            "Bookings changed since the preview; check the new plan.",
            plan,
        ),
    };
    let preview = SupplyOutcome {
        change_id: None,
        plan,
        messages: 0,
    };
    Err(ApiError::new(StatusCode::CONFLICT, code, ko, en).with_detail(plan_json(state, &preview)))
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
    let response = Json(plan_json(state, &outcome)).into_response();
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
    let body = std::str::from_utf8(body).map_err(|_| {
        ApiError::bad_request(
            "csv_not_utf8",
            "파일은 UTF-8 텍스트여야 합니다. 엑셀에서는 'CSV UTF-8'로 저장해 주세요.",
            "The upload must be UTF-8 text (in Excel, save as 'CSV UTF-8').",
        )
    })?;
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
            ApiError::bad_request(
                "invalid_csv_line",
                format!(
                    "{}번째 줄이 올바르지 않습니다 (의료기관,날짜,백신,수량).",
                    n + 1
                ),
                format!("Line {} is not clinic,day,product,doses.", n + 1),
            )
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
        return Err(ApiError::bad_request(
            "empty_csv",
            "올린 파일에 배송 계획이 없습니다.",
            "The upload holds no deliveries.",
        ));
    }
    Ok(lines)
}

/// `GET /api/v1/admin/supply?clinic&from&days`: planned doses, doses promised to appointments,
/// doses given and doses left, per day and product.
pub async fn show(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiQuery(query): ApiQuery<SupplyQuery>,
) -> Result<Json<Value>, ApiError> {
    let clinic = state
        .world
        .clinics
        .get(query.clinic as usize)
        .ok_or_else(ApiError::not_found)?
        .clone();
    let today = seoul_date(state.clock.now());
    let first = match &query.from {
        Some(text) => parse_date(text)?,
        None => today,
    };
    let days = query.days.unwrap_or(14).clamp(1, 62);
    let now_ms = state.clock.now().as_millisecond();
    let planned = state
        .writer
        .planned_supply(clinic.id, first, days, now_ms)
        .await?;
    let last = add_days(first, i32::from(days) - 1);
    let id = clinic.id;
    let given = read(&state, move |r| r.doses_given(id, first, last)).await?;
    let availability = state.writer.availability();
    let rows: Vec<Value> = planned
        .iter()
        .enumerate()
        .map(|(d, planned)| {
            let day = add_days(first, d as i32);
            let products: Vec<Value> = clinic
                .products
                .iter()
                .map(|&p| {
                    let planned = planned[p.index()];
                    let left = availability.supply_left(id, day, p);
                    let given = given
                        .iter()
                        .find(|(gd, gp, _)| *gd == day && *gp == p)
                        .map_or(0, |g| g.2);
                    json!({
                        "product": p.code(),
                        "planned": planned,
                        "promised": planned - left,
                        "given": given,
                        "left": left,
                        "stock_on_hand": i64::from(planned) - i64::from(given),
                    })
                })
                .collect();
            json!({ "date": day.to_string(), "products": products })
        })
        .collect();
    Ok(Json(json!({
        "clinic": { "id": id.0, "name": clinic.name },
        "days": rows,
    })))
}

fn add_days(day: Date, days: i32) -> Date {
    day.checked_add(jiff::Span::new().days(days)).unwrap_or(day)
}

/// `GET /api/v1/admin/supply-changes`: the applied changes, newest first.
pub async fn list_changes(
    State(state): State<Arc<AppState>>,
    _: Operator,
) -> Result<Json<Value>, ApiError> {
    let changes = read(&state, |r| r.supply_changes(100)).await?;
    let changes: Vec<Value> = changes
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "reason": c.reason.code(),
                "plan_id": c.plan_id,
                "people_moved": c.people_moved,
                "moves": c.doses_moved,
                "unplaced": c.unplaced,
                "informed": c.informed,
                // Applied in pieces: fewer done means interrupted, the rest to plan again.
                "pieces": c.pieces,
                "pieces_done": c.pieces_done,
                "partial": c.partial(),
                "applied_at": jiff::Timestamp::from_millisecond(c.applied_ms).ok().map(|t| t.to_string()),
                "change": serde_json::from_str::<Value>(&c.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({ "changes": changes })))
}

/// `GET /api/v1/admin/supply-changes/{id}/unplaced`: everyone a change could not place, for the
/// operator to call.
pub async fn unplaced(
    State(state): State<Arc<AppState>>,
    _: Operator,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let records = read(&state, move |r| r.unplaced(id)).await?;
    let list: Vec<Value> = records
        .iter()
        .map(|r| {
            unplaced_json(
                &state,
                &Unplaced {
                    booking: r.booking,
                    person: r.person,
                    dose: r.dose,
                    from: r.from,
                },
            )
        })
        .collect();
    Ok(Json(json!({ "change_id": id, "unplaced": list })))
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
        MessageText {
            template: text.template.into(),
            ko: text.ko,
            en: text.en,
        }
    })
}

/// `POST /api/v1/bookings/{id}/accept-move`: the person saw why their appointment moved.
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
#[derive(Debug, Clone, Serialize)]
pub struct MoveView {
    pub dose: u8,
    pub from: AppointmentView,
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
