//! Operator endpoints for eligibility: uploading a priority list (care workers, teachers, …).

use crate::error::ApiError;
use crate::http::ApiJson;
use crate::staff::Operator;
use crate::state::AppState;
use crate::text::errors;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::eligibility::{ListId, PriorityList, Window};
use domain::rrn::Rrn;
use domain::time::seoul_date;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// Members per upload at most; bigger lists go up in several uploads.
const MAX_MEMBERS: usize = 1_000_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "name_ko": "보건의료인", "name_en": "Health workers", "opens_at": "2021-07-19T00:00:00Z", "closes_at": "2021-07-31T00:00:00Z", "rrns": ["670315-1000007"] }))]
pub struct PriorityListRequest {
    name_ko: String,
    name_en: String,
    #[schema(value_type = String, format = DateTime)]
    opens_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    closes_at: jiff::Timestamp,
    rrns: Vec<String>,
}

/// Adds a priority list: its members may book in its window whatever their birth year.
/// Registration numbers are validated and hashed at once; none is stored or echoed back. One bad
/// line refuses the whole upload, naming the line, and changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/admin/priority-lists",
    tags = ["operators"],
    summary = "Operators: upload a priority list; its members may book in its window whatever their birth year. Numbers are hashed at once; a bad line refuses the whole upload and names the line.",
    security(("operator" = [])),
    request_body = crate::routes::admin::PriorityListRequest,
    responses(
        (status = 201, description = "{id, members}", body = crate::routes::admin::PriorityListAdded),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
        (status = 413, response = crate::routes::doc::Refused),
    )
)]
pub async fn add_priority_list(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(body): ApiJson<PriorityListRequest>,
) -> Result<Response, ApiError> {
    if body.opens_at >= body.closes_at
        || body.name_ko.trim().is_empty()
        || body.rrns.len() > MAX_MEMBERS
    {
        return Err(ApiError::bad_request(errors::INVALID_PRIORITY_LIST));
    }
    let today = seoul_date(state.clock.now());
    let key = state.secrets.rrn_key().to_vec();
    let mut hashes = Vec::with_capacity(body.rrns.len());
    for (line, text) in body.rrns.iter().enumerate() {
        let rrn = Rrn::parse_at(text, today)
            .map_err(|e| ApiError::bad_request(e).with_detail(json!({ "line": line + 1 })))?;
        hashes.push(rrn.keyed_hash(&key).0);
    }
    let id = ListId(
        state
            .world
            .rules()
            .priority_lists
            .iter()
            .map(|l| l.id.0)
            .max()
            .unwrap_or(0)
            + 1,
    );
    let reader = Arc::clone(&state.reader);
    let added = tokio::task::spawn_blocking(move || {
        store::PriorityStore::add_priority_members(reader.as_ref(), id.0, &hashes)
    })
    .await
    .map_err(|_| ApiError::internal())??;
    let list = PriorityList {
        id,
        name_ko: body.name_ko.trim().to_string(),
        name_en: body.name_en.trim().to_string(),
        window: Window {
            opens: body.opens_at,
            closes: body.closes_at,
        },
    };
    state
        .world
        .update_rules(state.reader.as_ref(), |rules| {
            rules.priority_lists.push(list)
        })
        .map_err(|e| {
            tracing::error!(error = %e, "cannot store the rules");
            ApiError::internal()
        })?;
    tracing::info!(list = id.0, members = added, "priority list added");
    Ok((
        StatusCode::CREATED,
        Json(PriorityListAdded {
            id: id.0,
            members: added,
        }),
    )
        .into_response())
}

/// `GET /api/v1/admin/dashboard`: the last five minutes second by second, the last hour every ten
/// seconds, and what is left to book per province, for the operators' live charts.
#[utoipa::path(
    get,
    path = "/api/v1/admin/dashboard",
    tags = ["operators"],
    summary = "Operators: the dashboard's time series — the last five minutes second by second (fine), the last hour every ten seconds (coarse), and people who can still be booked per province over the next 7 days",
    description = "Kept in a bounded in-memory ring fed by a background tick on the server clock; nothing is stored. Accepts the operator token or the operator pages' sign-in cookie.",
    security(("operator" = [])),
    responses(
        (status = 200, description = "series", body = DashboardView),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn dashboard(State(state): State<Arc<AppState>>, _: Operator) -> Json<DashboardView> {
    Json(dashboard_view(&state))
}

/// A priority list just added. Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({ "id": 1, "members": 2 }))]
pub struct PriorityListAdded {
    pub id: u32,
    /// Members added (a number listed twice counts once).
    pub members: u64,
}

/// The operators' live charts. Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DashboardView {
    /// Days ahead that `provinces` counts.
    pub capacity_days: i64,
    /// The last hour, every ten seconds.
    pub coarse: Vec<crate::dashboard::Sample>,
    /// The last five minutes, second by second.
    pub fine: Vec<crate::dashboard::Sample>,
    /// This node's part in writing (several nodes on PostgreSQL), as `/readyz` says it.
    #[schema(value_type = Object)]
    pub ledger: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub now: String,
    pub provinces: Vec<crate::dashboard::ProvinceCapacity>,
}

/// The dashboard as it stands.
fn dashboard_view(state: &AppState) -> DashboardView {
    let view = state.series.view();
    DashboardView {
        capacity_days: crate::dashboard::CAPACITY_DAYS,
        coarse: view.coarse,
        fine: view.fine,
        ledger: crate::forward::relay::describe(state),
        now: state.clock.now().to_string(),
        provinces: view.provinces,
    }
}
