//! Identity check: name, resident registration number and phone, then a one-time code.

use super::{ApiJson, SESSION_COOKIE};
use crate::AppState;
use crate::error::ApiError;
use crate::identity::{Claim, IdentityError, VerificationId, parse_name, parse_phone};
use crate::session::Session;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::rrn::Rrn;
use domain::time::seoul_date;
use jiff::SignedDuration;
use serde::Deserialize;
use std::sync::Arc;
use store::OutboxMessage;
use store::writer::{Command, Outcome};

#[derive(Deserialize)]
pub struct StartRequest {
    name: String,
    rrn: String,
    phone: String,
}

/// Validates a person's details as they typed them. Shared by identity checks and proxy bookings.
pub fn parse_claim(
    name: &str,
    rrn: &str,
    phone: &str,
    state: &AppState,
) -> Result<Claim, ApiError> {
    let name = parse_name(name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_name",
            "이름을 정확히 입력해 주세요.",
            "Please enter the name as registered.",
        )
    })?;
    let rrn = Rrn::parse_at(rrn, seoul_date(state.clock.now()))
        .map_err(|e| ApiError::bad_request(e.code(), e.message_ko(), e.message_en()))?;
    let phone = parse_phone(phone).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_phone",
            "휴대전화 번호를 정확히 입력해 주세요 (예: 010-1234-5678).",
            "Please enter a Korean mobile number (e.g. 010-1234-5678).",
        )
    })?;
    Ok(Claim { name, rrn, phone })
}

/// Name and phone, sealed for storage as "name\nphone".
pub fn seal_contact(state: &AppState, name: &str, phone: &str) -> Vec<u8> {
    state
        .secrets
        .seal(format!("{name}\n{phone}").as_bytes(), &mut rand::rng())
}

fn identity_error(error: IdentityError) -> ApiError {
    let seoul = |t: jiff::Timestamp| domain::time::in_seoul(t).strftime("%H:%M").to_string();
    match error {
        IdentityError::LockedOut { until } | IdentityError::TooManyAttempts { until } => {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                error.code(),
                format!(
                    "인증번호를 여러 번 잘못 입력하여 {} 이후에 다시 시도할 수 있습니다.",
                    seoul(until)
                ),
                format!(
                    "Too many wrong codes; try again after {} (KST).",
                    seoul(until)
                ),
            )
            .with_detail(serde_json::json!({ "retry_at": until.to_string() }))
        }
        IdentityError::UnknownOrExpired => ApiError::new(
            StatusCode::GONE,
            error.code(),
            "인증번호 유효시간이 지났습니다. 인증번호를 다시 받아 주세요.",
            "The code has expired. Please request a new one.",
        ),
        IdentityError::WrongCode { attempts_left } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            error.code(),
            format!("인증번호가 맞지 않습니다. {attempts_left}번 더 시도할 수 있습니다."),
            format!("Wrong code. {attempts_left} attempts left."),
        )
        .with_detail(serde_json::json!({ "attempts_left": attempts_left })),
        IdentityError::Overloaded => ApiError {
            retry_after_s: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                error.code(),
                "본인인증 기관에 요청이 많습니다. 잠시 후 다시 시도해 주세요.",
                "The identity service is busy. Please retry shortly.",
            )
        },
    }
}

pub async fn start(
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<StartRequest>,
) -> Result<Response, ApiError> {
    let claim = parse_claim(&body.name, &body.rrn, &body.phone, &state)?;
    let now = state.clock.now();
    let recipient = seal_contact(&state, &claim.name, &claim.phone);
    let challenge = state
        .identity
        .start(claim, now, &mut rand::rng())
        .map_err(identity_error)?;
    let message = OutboxMessage {
        person: None,
        recipient,
        template: "identity_code".into(),
        body_ko: format!(
            "[예약] 본인확인 인증번호 [{}]를 입력해 주세요. (3분 이내)",
            challenge.code
        ),
        body_en: format!(
            "[yeyak] Your verification code is {} (valid 3 minutes).",
            challenge.code
        ),
    };
    state
        .writer
        .execute(Command::Enqueue(message), now.as_millisecond())
        .await?;
    let mut body = serde_json::json!({
        "verification_id": URL_SAFE_NO_PAD.encode(challenge.id.0),
        "expires_at": challenge.expires_at.to_string(),
    });
    if state.identity.reveals_codes() {
        body["demo_code"] = challenge.code.into();
    }
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[derive(Deserialize)]
pub struct VerifyRequest {
    verification_id: String,
    code: String,
}

pub async fn verify(
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let id = URL_SAFE_NO_PAD
        .decode(body.verification_id.trim())
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .map(VerificationId)
        .ok_or_else(|| identity_error(IdentityError::UnknownOrExpired))?;
    let now = state.clock.now();
    let verified = state
        .identity
        .verify(id, &body.code, now)
        .map_err(identity_error)?;
    let command = Command::EnsurePerson {
        rrn_hash: verified.rrn_hash.0,
        birth_date: verified.birth_date,
        sealed: seal_contact(&state, &verified.name, &verified.phone),
    };
    let Outcome::Person { id: person, .. } =
        state.writer.execute(command, now.as_millisecond()).await?
    else {
        return Err(ApiError::internal());
    };
    let session = Session {
        person,
        expires_at: crate::clock::after(
            now,
            SignedDuration::from_mins(state.config.session_minutes),
        ),
    };
    let token = session.sign(state.secrets.token_key());
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.config.session_minutes * 60
    );
    let body = serde_json::json!({
        "session_token": token,
        "expires_at": session.expires_at.to_string(),
        "person": { "birth_date": verified.birth_date.to_string(), "rrn": verified.masked_rrn },
    });
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
