//! Agents: call-centre and community-centre staff who book for people without a smartphone (in
//! 2021 they booked by phone and at the counter). An agent checks who the person is (their ID
//! card, in person or read out on the phone), then acts for them through the same booking
//! handlers, under the same capacity and eligibility rules. Agent routes are not behind the
//! waiting room: agents are few and authenticated, and the writer is the same for everyone.
//! Every state-changing request is audited with the agent and the person.

use super::identity::{parse_claim, seal_contact};
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::session::IdentitySession;
use crate::staff::Agent;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::booking::PersonId;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use store::writer::EnsurePerson;

/// Set on a response by a handler that learned whom a request acts for.
#[derive(Debug, Clone, Copy)]
pub struct ActingFor(pub PersonId);

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "name": "김민수", "rrn": "670315-1000007", "phone": "01012345678" }))]
pub struct IdentifyRequest {
    name: String,
    rrn: String,
    phone: String,
}

/// Whom the agent now acts for, and the token to act with. Fields in alphabetical order, as the
/// JSON object it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "expires_at": "2021-07-26T09:30:00Z",
    "person": { "birth_date": "1967-03-01", "rrn": "670301-1******" },
    "person_token": "v1.AAAA",
}))]
pub struct Identified {
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: String,
    pub person: IdentifiedPerson,
    /// Sent as `Authorization: Bearer` on the agent's booking calls.
    pub person_token: String,
}

/// The person identified, as the agent may read them back: birth date and the masked number.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentifiedPerson {
    #[schema(value_type = String, format = Date)]
    pub birth_date: String,
    /// Masked: the birth date and the sex digit only.
    pub rrn: String,
}

/// The agent a request acts as, for the handlers that audit in the same transaction as the
/// effect (set by [`require_agent`]).
#[derive(Debug, Clone)]
pub struct AgentActor(pub String);

/// Marks a response whose action was audited in the same transaction as its effect, so the
/// HTTP layer does not write a second line for it.
#[derive(Debug, Clone, Copy)]
pub struct AuditedInTransaction;

/// The audit line of an agent's action, committed with its effect; none when no agent acts.
pub fn audited(
    agent: Option<&AgentActor>,
    action: &str,
    person: PersonId,
) -> Option<store::AuditEntry> {
    let AgentActor(actor) = agent?;
    Some(store::AuditEntry {
        actor: actor.clone(),
        action: action.to_string(),
        target: format!("person:{}", person.0),
        outcome: String::new(),
        detail: json!({ "person": person.0 }).to_string(),
    })
}

/// Marks `response` as audited in the writer's transaction when an agent acted.
pub fn mark_audited(mut response: Response, agent: Option<&AgentActor>) -> Response {
    if agent.is_some() {
        response.extensions_mut().insert(AuditedInTransaction);
    }
    response
}

/// Requires an agent's token on every agent route.
pub async fn require_agent(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let checked = <Agent as axum::extract::FromRequestParts<Arc<AppState>>>::from_request_parts(
        &mut parts, &state,
    )
    .await;
    match checked {
        Ok(Agent(record)) => {
            parts
                .extensions
                .insert(AgentActor(crate::staff::actor_label(&record)));
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => error.into_response(),
    }
}

/// `POST /api/v1/agent/identify`: the agent has checked the person's identity document; this
/// returns a session token to act for them (sent as `Authorization: Bearer` on the agent's
/// booking calls). The registration number is hashed at once, as everywhere.
#[utoipa::path(
    post,
    path = "/api/v1/agent/identify",
    tags = ["agents"],
    summary = "Agents: after checking a person's identity document, get a session token to act for them (send it as Authorization: Bearer on the agent routes). Audited.",
    security(("staff" = [])),
    request_body = crate::routes::agent::IdentifyRequest,
    responses(
        (status = 200, description = "{person_token, expires_at, person: {birth_date, rrn (masked)}}", body = crate::routes::agent::Identified),
        (status = 400, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn identify(
    State(state): State<Arc<AppState>>,
    Agent(agent): Agent,
    ApiJson(body): ApiJson<IdentifyRequest>,
) -> Result<Response, ApiError> {
    let claim = parse_claim(&body.name, &body.rrn, &body.phone, &state)?;
    let now = state.clock.now();
    let ensure = EnsurePerson {
        rrn_hash: claim.rrn.keyed_hash(state.secrets.rrn_key()).0,
        birth_date: claim.rrn.birth_date(),
        sealed: seal_contact(&state, claim.name.as_str(), &claim.phone),
    };
    // The identification (it may replace the person's contact) and its audit line commit
    // together; the person's id is known only inside the writer, so the line names the agent.
    let audit = store::AuditEntry {
        actor: crate::staff::actor_label(&agent),
        action: "POST /api/v1/agent/identify".into(),
        target: "person".into(),
        outcome: String::new(),
        detail: json!({ "id_checked": true }).to_string(),
    };
    let ensured = state
        .writer
        .ensure_person(ensure, Some(audit), now.as_millisecond())
        .await?;
    let id = ensured.id;
    let session = IdentitySession {
        person: id,
        expires_at: crate::clock::after(
            now,
            SignedDuration::from_mins(state.config.session_minutes),
        ),
    };
    let identified = Identified {
        expires_at: session.expires_at.to_string(),
        person: IdentifiedPerson {
            birth_date: claim.rrn.birth_date().to_string(),
            rrn: claim.rrn.masked(),
        },
        person_token: session.sign(&state.secrets),
    };
    let mut response = Json(identified).into_response();
    // For the HTTP layer's line: whom the agent now acts for.
    response.extensions_mut().insert(ActingFor(id));
    Ok(response)
}
