//! The one error shape every API answer uses: a status, a stable machine-readable code, and a
//! message in Korean and in English.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::booking::BookingError;
use domain::partition::Part;
use serde::Serialize;
use std::borrow::Cow;
use store::writer::{Fault, Refusal, WriteError};

use crate::text::errors::{self, Words};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message_ko: Cow<'static, str>,
    pub message_en: Cow<'static, str>,
    pub retry_after_s: Option<u32>,
    /// Extra machine-readable facts (for example when a window opens).
    pub detail: Option<serde_json::Value>,
    /// Another node writes the part of the ledger this request needed, and nothing was
    /// written here: the answer carries [`WrittenElsewhere`], for the forwarding layer.
    pub elsewhere: Option<Part>,
}

/// A response extension: the request was refused because `0` is written by another node, and
/// nothing of it was done here (`forward::relay` sends it to that part's holder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrittenElsewhere(pub Part);

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
    /// A refusal with its status and its words: a catalogue entry ([`crate::text::errors`]),
    /// filled in or not, or the words of a pure crate's rule ([`Words::from_rules`]).
    pub fn new(status: StatusCode, words: impl Into<Words>) -> ApiError {
        let Words { code, ko, en } = words.into();
        ApiError {
            status,
            code: Cow::Borrowed(code),
            message_ko: ko,
            message_en: en,
            retry_after_s: None,
            detail: None,
            elsewhere: None,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> ApiError {
        self.detail = Some(detail);
        self
    }

    pub fn bad_request(words: impl Into<Words>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, words)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, errors::UNAUTHENTICATED)
    }

    pub fn forbidden(words: impl Into<Words>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, words)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, errors::NOT_FOUND)
    }

    /// A limit on how often someone may do this was reached: nothing was done, and it may be
    /// done again after `Retry-After`.
    pub fn rate_limited(words: impl Into<Words>, retry_after_s: u64) -> ApiError {
        ApiError {
            retry_after_s: Some(u32::try_from(retry_after_s).unwrap_or(u32::MAX)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, words)
        }
    }

    /// The booking side is at capacity: come back shortly with the same idempotency key.
    pub fn busy(retry_after_s: u32) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, errors::BUSY)
        }
    }

    /// The server is shedding load (too many connections or requests at once): nothing was
    /// done, and the same request may be sent again after `Retry-After`.
    pub fn overloaded(retry_after_s: u32) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, errors::OVERLOADED)
        }
    }

    /// The answer took longer than the request timeout. The request may still complete: retry
    /// with the same Idempotency-Key to learn how it ended.
    pub fn timed_out(retry_after_s: u32) -> ApiError {
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, errors::TIMEOUT)
        }
    }

    /// An error the HTTP layer raises for a request it could not take as sent (a body too
    /// large, a path parameter of the wrong type, a method the route does not have, …), by its
    /// status. `detail` says what exactly, in English, when there is something to add.
    pub fn rejection(status: StatusCode) -> ApiError {
        let entry = match status.as_u16() {
            404 => errors::NOT_FOUND,
            405 => errors::METHOD_NOT_ALLOWED,
            408 => errors::REQUEST_TIMEOUT,
            413 => errors::BODY_TOO_LARGE,
            415 => errors::UNSUPPORTED_MEDIA_TYPE,
            _ => errors::INVALID_REQUEST,
        };
        let status = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, entry)
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
        let (entry, retry_after_s) = match fault {
            Fault::Full => (errors::STORAGE_FULL, 30),
            // Behind a load balancer the next try may reach the node that writes; this one
            // takes over by itself within a lease time (5 s) if that node is gone.
            Fault::Standby | Fault::Storage | Fault::LedgerStale => {
                (errors::STORAGE_UNAVAILABLE, 5)
            }
        };
        ApiError {
            retry_after_s: Some(retry_after_s),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, entry)
                .with_detail(serde_json::json!({ "fault": fault.code() }))
        }
    }

    pub fn internal() -> ApiError {
        ApiError {
            retry_after_s: Some(2),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, errors::UNAVAILABLE)
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
        let api = ApiError::new(status, error);
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
                errors::IDEMPOTENCY_KEY_REUSED,
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
            // Another node writes the request's part: forwarded there by the relay, or else
            // answered as a standby is.
            WriteError::Elsewhere(part) => ApiError {
                elsewhere: Some(part),
                ..ApiError::storage_fault(Fault::Standby)
            },
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
        if let Some(part) = self.elsewhere {
            response.extensions_mut().insert(WrittenElsewhere(part));
        }
        response
    }
}
