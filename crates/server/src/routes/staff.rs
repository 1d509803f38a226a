//! Operators manage staff (clinic staff and agents) and read the audit log; every request an
//! operator or agent makes that changes something is written to that log.

use crate::error::ApiError;
use crate::http::{ApiJson, ApiQuery};
use crate::session::IdentitySession;
use crate::staff::Operator;
use crate::staff::{Presented, new_token};
use crate::state::AppState;
use crate::state::read;
use axum::Json;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::clinic::ClinicId;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use store::writer::CreateStaff;
use store::{AuditEntry, StaffRecord, StaffRole};

/// The audit line of an operator's action, committed with its effect in one writer transaction.
pub fn operator_audited(action: &str, target: String, detail: Value) -> AuditEntry {
    AuditEntry {
        actor: "operator".into(),
        action: action.to_string(),
        target,
        outcome: String::new(),
        detail: detail.to_string(),
    }
}

/// A response whose line the writer already wrote.
pub fn audited_response(mut response: Response) -> Response {
    response
        .extensions_mut()
        .insert(super::agent::AuditedInTransaction);
    response
}

#[derive(Deserialize)]
pub struct NewStaff {
    role: String,
    name: String,
    clinic: Option<u32>,
}

fn staff_json(record: &StaffRecord) -> Value {
    json!({
        "id": record.id,
        "role": record.role.code(),
        "clinic": record.clinic.map(|c| c.0),
        "name": record.name,
        "revoked": record.revoked,
    })
}

/// `POST /api/v1/admin/staff`: issues a staff token. The token is in this answer only.
pub async fn create(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(body): ApiJson<NewStaff>,
) -> Result<Response, ApiError> {
    let role = StaffRole::parse(&body.role);
    let name = body.name.trim();
    let clinic = body.clinic.map(ClinicId);
    let valid = match (role, clinic) {
        (Some(StaffRole::Clinic), Some(c)) => state.world.clinics.get(c.index()).is_some(),
        (Some(StaffRole::Agent), None) => true,
        _ => false,
    };
    if !valid || name.is_empty() || name.chars().count() > 50 {
        return Err(ApiError::bad_request(
            "invalid_staff",
            "역할(clinic 또는 agent), 이름, 의료기관(clinic 역할만)을 확인해 주세요.",
            "Give a role (clinic, with its clinic id, or agent) and a name of 1–50 characters.",
        ));
    }
    let role = role.ok_or_else(ApiError::internal)?;
    let (token, hash) = new_token(&mut rand::rng());
    let now_ms = state.clock.now().as_millisecond();
    let record = StaffRecord {
        id: 0,
        role,
        clinic,
        name: name.to_string(),
        created_ms: now_ms,
        revoked: false,
    };
    let audit = operator_audited(
        "POST /api/v1/admin/staff",
        "/api/v1/admin/staff".into(),
        json!({ "role": role.code(), "clinic": clinic.map(|c| c.0) }),
    );
    let create = CreateStaff {
        record: record.clone(),
        token_hash: hash,
    };
    let id = state
        .writer
        .create_staff(create, Some(audit), now_ms)
        .await?;
    let mut json = staff_json(&StaffRecord { id, ..record });
    json["token"] = token.into();
    Ok(audited_response(
        (StatusCode::CREATED, Json(json)).into_response(),
    ))
}

/// `GET /api/v1/admin/staff`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Operator,
) -> Result<Json<Value>, ApiError> {
    let staff = read(&state, store::ReadStore::staff).await?;
    Ok(Json(
        json!({ "staff": staff.iter().map(staff_json).collect::<Vec<_>>() }),
    ))
}

/// `POST /api/v1/admin/staff/{id}/revoke`: the token stops working at once.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    _: Operator,
    Path(id): Path<u64>,
) -> Result<Response, ApiError> {
    let staff = read(&state, store::ReadStore::staff).await?;
    if !staff.iter().any(|s| s.id == id) {
        return Err(ApiError::not_found());
    }
    let now_ms = state.clock.now().as_millisecond();
    let audit = operator_audited(
        "POST /api/v1/admin/staff/{id}/revoke",
        format!("/api/v1/admin/staff/{id}/revoke"),
        json!({ "staff": id }),
    );
    state.writer.revoke_staff(id, Some(audit), now_ms).await?;
    Ok(audited_response(StatusCode::NO_CONTENT.into_response()))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<usize>,
    before: Option<u64>,
}

/// `GET /api/v1/admin/audit?limit&before`: the audit log, newest first.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let lines = read(&state, move |r| {
        store::ReadStore::audit_log(r, limit, query.before)
    })
    .await?;
    let lines: Vec<Value> = lines
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": jiff::Timestamp::from_millisecond(r.at_ms).map(|t| t.to_string()).ok(),
                "actor": r.entry.actor,
                "action": r.entry.action,
                "target": r.entry.target,
                "outcome": r.entry.outcome,
                "detail": serde_json::from_str::<Value>(&r.entry.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({ "audit": lines })))
}

/// Who is acting, as the audit log names them: an agent or clinic staff by staff id, or the
/// operator. Takes the credentials, not the request, so no borrow of it crosses an await.
async fn actor_of(
    state: &Arc<AppState>,
    staff_token: Presented,
    bearer: Option<&str>,
    operator_cookie: Option<&str>,
) -> Option<String> {
    if let Presented::Token(hash) = staff_token {
        let found = read(state, move |r| store::ReadStore::staff_by_token(r, &hash))
            .await
            .ok()
            .flatten()?;
        return Some(crate::staff::actor_label(&found));
    }
    // The operator pages act with the sign-in cookie instead of the bearer token.
    let signed_in = operator_cookie.is_some_and(|c| {
        state.operator.verify_cookie(
            state.secrets.signing(),
            c,
            state.clock.now().as_millisecond(),
        )
    });
    (bearer.is_some_and(|t| state.operator.matches(t)) || (bearer.is_none() && signed_in))
        .then(|| "operator".to_string())
}

/// Writes an audit line for every state-changing request on the operator and agent routes, and
/// every agent read, after it was answered: the route, whom it acted for, and its status.
/// Agent bookings, changes, cancellations and identifications are audited by the writer in the
/// same transaction as their effect (marked [`super::agent::AuditedInTransaction`]), so they get
/// no second line here when they succeed. (The handlers decide who may act; this only records.)
pub async fn audit_requests(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    // Reads are audited only on the agent side: what an agent looked at about a person.
    let agent_side = request.uri().path().starts_with("/api/v1/agent/");
    if (request.method() == Method::GET || request.method() == Method::HEAD) && !agent_side {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_string(),
        |m| m.as_str().to_string(),
    );
    let action = format!("{} {route}", request.method());
    let target = request.uri().path().to_string();
    let now_ms = u64::try_from(state.clock.now().as_millisecond()).unwrap_or(0);
    let staff_token = crate::staff::presented(request.headers(), state.secrets.signing(), now_ms);
    let bearer = crate::http::bearer(request.headers());
    // The person an agent acts for, from their session (never their registration number).
    let acting_for = bearer
        .as_deref()
        .and_then(|t| IdentitySession::verify(t, &state.secrets, state.clock.now()).ok())
        .map(|s| s.person.0);
    let operator_cookie = crate::http::cookie(request.headers(), crate::operator::OPERATOR_COOKIE);
    let actor = actor_of(
        &state,
        staff_token,
        bearer.as_deref(),
        operator_cookie.as_deref(),
    )
    .await;
    let response = next.run(request).await;
    let acting_for = acting_for.or_else(|| {
        response
            .extensions()
            .get::<super::agent::ActingFor>()
            .map(|a| a.0.0)
    });
    let Some(actor) = actor else {
        return response; // refused as unauthenticated: nobody to name
    };
    if response
        .extensions()
        .get::<super::agent::AuditedInTransaction>()
        .is_some()
    {
        return response; // its line committed with its effect
    }
    let entry = AuditEntry {
        actor,
        action,
        target,
        outcome: response.status().as_u16().to_string(),
        detail: json!({ "person": acting_for }).to_string(),
    };
    let now_ms = state.clock.now().as_millisecond();
    if let Err(error) = state.writer.audit(entry, now_ms).await {
        tracing::error!(%error, "audit line not written");
    }
    response
}
