//! The one error shape every API answer uses: a status, a stable machine-readable code, and a
//! message in Korean and in English.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::booking::BookingError;
use serde::Serialize;
use std::borrow::Cow;
use store::writer::{Fault, Refusal, WriteError};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message_ko: Cow<'static, str>,
    pub message_en: Cow<'static, str>,
    pub retry_after_s: Option<u32>,
    /// Extra machine-readable facts (for example when a window opens).
    pub detail: Option<serde_json::Value>,
}

/// Every refusal's JSON body.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "error": "slot_full",
    "message": "That time band is full. Please choose another one.",
    "message_ko": "선택하신 시간대의 예약이 마감되었습니다. 다른 시간대를 선택해 주세요.",
    "message_en": "That time band is full. Please choose another one.",
}))]
pub struct ErrorBody<'a> {
    /// Stable machine-readable code: a client decides on it, never on the messages.
    error: &'a str,
    /// The English message (`message_en`), for clients that show one text.
    message: &'a str,
    /// The message in Korean, the service's first language.
    message_ko: &'a str,
    message_en: &'a str,
    /// Extra machine-readable facts: for example `booking_id` (already_booked), `alternatives`
    /// (slot_full), `line` (an upload's bad line), `fault` (a storage fault).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    detail: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message_ko: impl Into<Cow<'static, str>>,
        message_en: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message_ko: message_ko.into(),
            message_en: message_en.into(),
            retry_after_s: None,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> ApiError {
        self.detail = Some(detail);
        self
    }

    pub fn bad_request(
        code: &'static str,
        ko: impl Into<Cow<'static, str>>,
        en: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, ko, en)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "본인인증이 필요합니다. 본인인증을 다시 진행해 주세요.",
            "Please verify your identity first.",
        )
    }

    pub fn forbidden(code: &'static str, ko: &'static str, en: &'static str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, ko, en)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "요청하신 항목을 찾을 수 없습니다.",
            "Not found.",
        )
    }

    /// The booking side is at capacity: come back shortly with the same idempotency key.
    pub fn busy(retry_after_s: u32) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "접속자가 많아 잠시 후 자동으로 다시 시도합니다. 이미 진행한 예약은 안전합니다.",
                "Too many requests right now; retry shortly. Nothing you already booked is lost.",
            )
        }
    }

    /// The server is shedding load (too many connections or requests at once): nothing was
    /// done, and the same request may be sent again after `Retry-After`.
    pub fn overloaded(retry_after_s: u32) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "접속자가 많아 요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요. 대기 순서와 예약은 그대로입니다.",
                "The server is at its limit and did not handle this request; retry shortly. Your place in the queue and your bookings are unchanged.",
            )
        }
    }

    /// The answer took longer than the request timeout. The request may still complete: retry
    /// with the same Idempotency-Key to learn how it ended.
    pub fn timed_out(retry_after_s: u32) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "응답이 늦어지고 있습니다. 같은 요청 키(Idempotency-Key)로 다시 시도하면 결과를 확인할 수 있습니다.",
                "The answer took too long. Retry with the same Idempotency-Key to learn the outcome.",
            )
        }
    }

    /// An error the HTTP layer raises for a request it could not take as sent (a body too
    /// large, a path parameter of the wrong type, a method the route does not have, …), by its
    /// status. `detail` says what exactly, in English, when there is something to add.
    pub fn rejection(status: StatusCode) -> ApiError {
        let (code, ko, en) = match status.as_u16() {
            404 => (
                "not_found",
                "요청하신 항목을 찾을 수 없습니다.",
                "Not found.",
            ),
            405 => (
                "method_not_allowed",
                "이 주소에서는 사용할 수 없는 요청 방식입니다.",
                "This method is not allowed here (see the Allow header).",
            ),
            408 => (
                "request_timeout",
                "요청을 제시간에 다 받지 못했습니다. 다시 보내 주세요.",
                "The request was not received in time; send it again.",
            ),
            413 => (
                "body_too_large",
                "요청 내용이 너무 큽니다.",
                "The request body is larger than this route accepts.",
            ),
            415 => (
                "unsupported_media_type",
                "요청 형식(Content-Type)이 올바르지 않습니다.",
                "Unsupported Content-Type for this route.",
            ),
            _ => (
                "invalid_request",
                "요청 형식이 올바르지 않습니다.",
                "The request is not valid.",
            ),
        };
        let status = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, code, ko, en)
    }

    /// The JSON body of this error, as every answer carries it.
    pub fn body_json(&self) -> String {
        let body = ErrorBody {
            error: &self.code,
            message: &self.message_en,
            message_ko: &self.message_ko,
            message_en: &self.message_en,
            detail: self.detail.as_ref(),
        };
        serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
    }

    /// Storage cannot take writes now (full, failing, or the writer rebuilding its ledger from
    /// the database). Nothing of the request was written; the same request may be retried.
    pub fn storage_fault(fault: Fault) -> ApiError {
        let (code, retry_after_s, ko, en) = match fault {
            Fault::Full => (
                "storage_full",
                30,
                "서버의 저장 공간이 가득 차 지금은 저장할 수 없습니다. 요청은 처리되지 않았습니다. \
                 잠시 후 다시 시도해 주세요.",
                "The server's storage is full, so nothing can be saved right now. Your request \
                 was not carried out; please retry in a little while.",
            ),
            // Behind a load balancer the next try may reach the node that writes; this one
            // takes over by itself within a lease time (5 s) if that node is gone.
            Fault::Standby => (
                "storage_unavailable",
                5,
                "이 서버는 지금 예약을 저장하지 않습니다. 요청은 처리되지 않았습니다. 잠시 후 다시 \
                 시도해 주세요.",
                "This server is not saving bookings right now. Your request was not carried \
                 out; please retry shortly.",
            ),
            Fault::Storage | Fault::LedgerStale => (
                "storage_unavailable",
                5,
                "저장소 장애에서 복구하는 중입니다. 요청은 처리되지 않았습니다. 잠시 후 다시 \
                 시도해 주세요.",
                "The server is recovering from a storage fault. Your request was not carried \
                 out; please retry shortly.",
            ),
        };
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, ko, en)
                .with_detail(serde_json::json!({ "fault": fault.code() }))
        }
    }

    pub fn internal() -> ApiError {
        ApiError {
            retry_after_s: Some(2),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "일시적인 오류입니다. 잠시 후 다시 시도해 주세요. 예약은 완료되지 않았습니다.",
                "A temporary failure; please retry. Nothing was booked.",
            )
        }
    }
}

impl From<BookingError> for ApiError {
    fn from(error: BookingError) -> ApiError {
        let status = match error {
            BookingError::NoSuchClinic | BookingError::NoSuchBooking => StatusCode::NOT_FOUND,
            BookingError::NotYourBooking | BookingError::OtherClinic => StatusCode::FORBIDDEN,
            BookingError::ProductNotOffered
            | BookingError::DayNotBookable
            | BookingError::HourNotOpen => StatusCode::UNPROCESSABLE_ENTITY,
            BookingError::SlotFull
            | BookingError::SecondDoseUnavailable
            | BookingError::AlreadyBooked(_)
            | BookingError::FirstDoseGiven
            | BookingError::AlreadyCancelled
            | BookingError::NotDueToday
            | BookingError::DoseNotBooked
            | BookingError::FirstDoseNotGiven => StatusCode::CONFLICT,
        };
        let api = ApiError::new(status, error.code(), error.message_ko(), error.message_en());
        match error {
            BookingError::AlreadyBooked(id) => {
                api.with_detail(serde_json::json!({ "booking_id": id.0 }))
            }
            _ => api,
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        match refusal {
            Refusal::Booking(error) => error.into(),
            Refusal::KeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "같은 요청 키(Idempotency-Key)가 다른 요청에 이미 사용되었습니다.",
                "This Idempotency-Key was already used for a different request.",
            ),
        }
    }
}

/// The writer's error policy: every write that did not happen (or whose outcome is unknown)
/// is a 503 with `Retry-After`, and says which.
impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> ApiError {
        match error {
            // The queue is full: retry in a second with the same key.
            WriteError::Busy => ApiError::busy(1),
            // Storage full or failing, ledger being rebuilt, or (a standby) no holder reachable.
            WriteError::Unavailable(fault) => ApiError::storage_fault(fault),
            // Forwarded to the holder, answer lost: the same key learns the outcome.
            WriteError::Lost => ApiError::timed_out(5),
            // No writer thread: a bug or a stop; logged, as nothing else will say so.
            WriteError::Stopped => {
                tracing::error!(%error, "write failed");
                ApiError::internal()
            }
        }
    }
}

impl From<store::StoreError> for ApiError {
    /// A read that failed. The database not answering (PostgreSQL unreachable, SQLite busy) is
    /// passing: 503 + `Retry-After`, as for a write. Anything else is a bug or corrupt data.
    fn from(error: store::StoreError) -> ApiError {
        tracing::error!(%error, "storage read failed");
        match error {
            store::StoreError::Database(_) => ApiError::storage_fault(Fault::Storage),
            store::StoreError::Full(_) => ApiError::storage_fault(Fault::Full),
            _ => ApiError::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body_json(),
        )
            .into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("stored settings are unreadable: {0}")]
    Settings(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
