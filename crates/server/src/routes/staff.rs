//! Operators manage staff (clinic staff and agents) and read the audit log; every request an
//! operator or agent makes that changes something is written to that log.

use crate::error::ApiError;
use crate::http::{ApiJson, ApiQuery};
use crate::session::IdentitySession;
use crate::staff::Operator;
use crate::staff::{Presented, new_token};
use crate::state::AppState;
use crate::state::{read, read_by_key};
use crate::text::errors;
use axum::Json;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::clinic::ClinicId;
use serde::{Deserialize, Serialize};
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

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "role": "clinic", "name": "김간호", "clinic": 1 }))]
pub struct NewStaff {
    role: String,
    name: String,
    clinic: Option<u32>,
}

/// A staff member as operators see them (never their token). Fields in alphabetical order, as
/// the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "clinic": 1, "id": 3, "name": "김간호", "revoked": false, "role": "clinic",
}))]
pub struct StaffView {
    /// The clinic of clinic staff; none for an agent.
    pub clinic: Option<u32>,
    pub id: u64,
    pub name: String,
    pub revoked: bool,
    /// `clinic` or `agent`.
    #[schema(value_type = String)]
    pub role: &'static str,
}

impl StaffView {
    fn of(record: &StaffRecord) -> StaffView {
        StaffView {
            clinic: record.clinic.map(|c| c.0),
            id: record.id,
            name: record.name.clone(),
            revoked: record.revoked,
            role: record.role.code(),
        }
    }
}

/// A staff member just issued, with their token: in this answer only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedStaff {
    #[serde(flatten)]
    pub staff: StaffView,
    /// Sent as `X-Yeyak-Staff` (or the sign-in cookie); only its hash is stored.
    pub token: String,
}

/// Every staff member.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaffList {
    pub staff: Vec<StaffView>,
}

/// A staff member to issue a token to, as the operator asked, checked.
struct StaffMember {
    role: StaffRole,
    name: String,
    clinic: Option<ClinicId>,
}

impl StaffMember {
    /// A clinic's staff name an existing clinic, an agent none; a name of 1–50 characters.
    fn parse(state: &AppState, body: &NewStaff) -> Result<StaffMember, ApiError> {
        let role = StaffRole::parse(&body.role);
        let name = body.name.trim();
        let clinic = body.clinic.map(ClinicId);
        let valid_role = match (role, clinic) {
            (Some(StaffRole::Clinic), Some(c)) => state.world.clinics.get(c.index()).is_some(),
            (Some(StaffRole::Agent), None) => true,
            _ => false,
        };
        match role {
            Some(role) if valid_role && !name.is_empty() && name.chars().count() <= 50 => {
                Ok(StaffMember {
                    role,
                    name: name.to_string(),
                    clinic,
                })
            }
            _ => Err(ApiError::bad_request(errors::INVALID_STAFF)),
        }
    }
}

/// `POST /api/v1/admin/staff`: issues a staff token. The token is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/staff",
    tags = ["operators", "staff"],
    summary = "Operators: issue a token to clinic staff (role clinic, with its clinic) or to an agent (role agent). The token is in this answer only; only its hash is stored.",
    security(("operator" = [])),
    request_body = crate::routes::staff::NewStaff,
    responses(
        (status = 201, description = "{id, role, clinic, name, revoked, token}", body = crate::routes::staff::IssuedStaff),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiJson(body): ApiJson<NewStaff>,
) -> Result<Response, ApiError> {
    let member = StaffMember::parse(&state, &body)?;
    let issued = issue_staff(&state, member).await?;
    Ok(audited_response(
        (StatusCode::CREATED, Json(issued)).into_response(),
    ))
}

/// Issues a staff token; the record, its token's hash and the operator's audit line commit
/// together.
async fn issue_staff(state: &AppState, member: StaffMember) -> Result<IssuedStaff, ApiError> {
    let StaffMember { role, name, clinic } = member;
    let (token, hash) = new_token(&mut rand::rng());
    let now_ms = state.clock.now().as_millisecond();
    let record = StaffRecord {
        id: 0,
        role,
        clinic,
        name,
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
    Ok(IssuedStaff {
        staff: StaffView::of(&StaffRecord { id, ..record }),
        token,
    })
}

/// `GET /api/v1/admin/staff`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/staff",
    tags = ["operators", "staff"],
    summary = "Operators: every staff member (no tokens).",
    security(("operator" = [])),
    responses(
        (status = 200, description = "OK", body = crate::routes::staff::StaffList),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _: Operator,
) -> Result<Json<StaffList>, ApiError> {
    Ok(Json(staff_list(&state).await?))
}

/// Every staff member, without tokens.
async fn staff_list(state: &Arc<AppState>) -> Result<StaffList, ApiError> {
    let staff = read(state, store::ReadStore::staff).await?;
    Ok(StaffList {
        staff: staff.iter().map(StaffView::of).collect(),
    })
}

/// `POST /api/v1/admin/staff/{id}/revoke`: the token stops working at once.
#[utoipa::path(
    post,
    path = "/api/v1/admin/staff/{id}/revoke",
    tags = ["operators", "staff"],
    summary = "Operators: revoke a staff token; it stops working at once.",
    security(("operator" = [])),
    params(
        ("id" = i64, Path),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, response = crate::routes::doc::Refused),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    tags = ["operators", "audit"],
    summary = "Operators: the audit log, newest first: every operator, agent and clinic-staff action with its outcome ('ok', a refusal code, or the HTTP status).",
    security(("operator" = [])),
    params(
        ("limit" = Option<i64>, Query),
        ("before" = Option<i64>, Query, description = "Only lines with a smaller id (paging)."),
    ),
    responses(
        (status = 200, description = "{audit: [{id, at, actor, action, target, outcome, detail}]}", body = crate::routes::staff::AuditLog),
    )
)]
pub async fn audit(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(audit_log(&state, limit, query.before).await?))
}

/// One line of the audit log. Fields in alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "action": "POST /api/v1/admin/staff", "actor": "operator",
    "at": "2021-07-26T09:00:00Z", "detail": { "clinic": 1, "role": "clinic" }, "id": 1,
    "outcome": "", "target": "/api/v1/admin/staff",
}))]
pub struct AuditLine {
    /// The method and route pattern.
    pub action: String,
    /// `operator`, or the staff member (`agent:ID`, `clinic:ID`).
    pub actor: String,
    pub at: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub id: u64,
    /// `ok`, a refusal's code, the HTTP status, or empty.
    pub outcome: String,
    pub target: String,
}

/// The audit log, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditLog {
    pub audit: Vec<AuditLine>,
}

/// Up to `limit` lines of the audit log older than `before`, newest first.
async fn audit_log(
    state: &Arc<AppState>,
    limit: usize,
    before: Option<u64>,
) -> Result<AuditLog, ApiError> {
    let lines = read(state, move |r| {
        store::ReadStore::audit_log(r, limit, before)
    })
    .await?;
    let audit = lines
        .into_iter()
        .map(|r| AuditLine {
            action: r.entry.action,
            actor: r.entry.actor,
            at: jiff::Timestamp::from_millisecond(r.at_ms)
                .map(|t| t.to_string())
                .ok(),
            detail: serde_json::from_str::<Value>(&r.entry.detail).unwrap_or(Value::Null),
            id: r.id,
            outcome: r.entry.outcome,
            target: r.entry.target,
        })
        .collect();
    Ok(AuditLog { audit })
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
        let found = read_by_key(state, move |r| store::ReadStore::staff_by_token(r, &hash))
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
        .get::<crate::error::WrittenElsewhere>()
        .is_some()
    {
        return response; // sent on to its part's holder, which audits it as it does it
    }
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
    if let Err(error) = crate::forward::relay::audit(&state, entry, now_ms).await {
        tracing::error!(%error, "audit line not written");
    }
    response
}
