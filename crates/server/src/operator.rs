//! Operator authentication: a bearer token, from configuration or generated at first start into
//! `DATA_DIR/operator.token` (mode 0600). Roles for clinic staff come with the supply work.

use crate::AppState;
use crate::StartError;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use rand::Rng;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct OperatorToken(String);

impl OperatorToken {
    pub fn load_or_create(
        dir: &Path,
        configured: Option<String>,
        rng: &mut impl Rng,
    ) -> Result<OperatorToken, StartError> {
        if let Some(token) = configured.filter(|t| t.len() >= 16) {
            return Ok(OperatorToken(token));
        }
        let path = dir.join("operator.token");
        let io = |source| StartError::DataDir {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(token) if token.trim().len() >= 16 => Ok(OperatorToken(token.trim().to_string())),
            Ok(_) => Err(StartError::Settings(format!(
                "{} is too short",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 24];
                rng.fill_bytes(&mut bytes);
                let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                crate::secrets::write_private_file(&path, token.as_bytes()).map_err(io)?;
                tracing::info!(path = %path.display(), "operator token created");
                Ok(OperatorToken(token))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        crate::secrets::constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

/// Proof that the request comes from an operator.
pub struct Operator;

impl FromRequestParts<Arc<AppState>> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        match crate::routes::bearer(&parts.headers) {
            Some(token) if state.operator.matches(&token) => Ok(Operator),
            Some(_) => Err(ApiError::forbidden(
                "not_an_operator",
                "운영자 권한이 없습니다.",
                "This needs an operator's token.",
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "operator_token_required",
                "운영자 인증이 필요합니다.",
                "Operator authentication required.",
            )),
        }
    }
}
