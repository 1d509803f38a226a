//! Operator endpoints for eligibility: uploading a priority list (care workers, teachers, …).

use crate::error::ApiError;
use crate::http::ApiJson;
use crate::staff::Operator;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::eligibility::{ListId, PriorityList, Window};
use domain::rrn::Rrn;
use domain::time::seoul_date;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Members per upload at most; bigger lists go up in several uploads.
const MAX_MEMBERS: usize = 1_000_000;

#[derive(Deserialize)]
pub struct PriorityListRequest {
    name_ko: String,
    name_en: String,
    opens_at: jiff::Timestamp,
    closes_at: jiff::Timestamp,
    rrns: Vec<String>,
}

/// Adds a priority list: its members may book in its window whatever their birth year.
/// Registration numbers are validated and hashed at once; none is stored or echoed back. One bad
/// line refuses the whole upload, naming the line, and changes nothing.
pub async fn add_priority_list(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(body): ApiJson<PriorityListRequest>,
) -> Result<Response, ApiError> {
    if body.opens_at >= body.closes_at
        || body.name_ko.trim().is_empty()
        || body.rrns.len() > MAX_MEMBERS
    {
        return Err(ApiError::bad_request(
            "invalid_priority_list",
            "명단 이름, 예약 기간(시작 < 마감), 인원(최대 100만 명)을 확인해 주세요.",
            "Check the list's name, its window (opens before it closes) and its size (at most 1,000,000).",
        ));
    }
    let today = seoul_date(state.clock.now());
    let key = state.secrets.rrn_key().to_vec();
    let mut hashes = Vec::with_capacity(body.rrns.len());
    for (line, text) in body.rrns.iter().enumerate() {
        let rrn = Rrn::parse_at(text, today).map_err(|e| {
            ApiError::bad_request(e.code(), e.message_ko(), e.message_en())
                .with_detail(json!({ "line": line + 1 }))
        })?;
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
        Json(json!({ "id": id.0, "members": added })),
    )
        .into_response())
}

/// `GET /api/v1/admin/dashboard`: the last five minutes second by second, the last hour every ten
/// seconds, and what is left to book per province, for the operators' live charts.
pub async fn dashboard(State(state): State<Arc<AppState>>, _: Operator) -> Json<serde_json::Value> {
    let view = state.series.view();
    Json(json!({
        "now": state.clock.now().to_string(),
        "capacity_days": crate::dashboard::CAPACITY_DAYS,
        "fine": view.fine,
        "coarse": view.coarse,
        "provinces": view.provinces,
        "ledger": crate::forward::relay::describe(&state),
    }))
}
