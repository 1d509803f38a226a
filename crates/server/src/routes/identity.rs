//! Identity check: name, resident registration number and phone, then a one-time code.

use crate::credentials::IDENTITY_COOKIE;
use crate::error::ApiError;
use crate::http::ApiJson;
use crate::identity::{
    Claim, IdentityError, Requester, Scope, VerificationId, Verified, parse_phone,
};
use crate::notify::codes::CodeText;
use crate::session::{Consent, IdentitySession};
use crate::state::AppState;
use crate::state::Authenticated;
use crate::text::errors::{self, Words};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::booking::PersonId;
use domain::name::{NameError, PersonName};
use domain::rrn::Rrn;
use domain::time::seoul_date;
use jiff::SignedDuration;
use serde::Deserialize;
use std::sync::Arc;
use store::writer::EnsurePerson;

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "name": "김민수", "rrn": "670315-1000007", "phone": "01012345678" }))]
pub struct StartRequest {
    name: String,
    rrn: String,
    phone: String,
}

impl StartRequest {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn rrn(&self) -> &str {
        &self.rrn
    }
    pub fn phone(&self) -> &str {
        &self.phone
    }
}

/// Validates a person's details as they typed them. Shared by identity checks, family consent
/// and the agent desk.
pub fn parse_claim(
    name: &str,
    rrn: &str,
    phone: &str,
    state: &AppState,
) -> Result<Claim, ApiError> {
    // Too long and forbidden characters say the same words (one code, one entry).
    let name = PersonName::parse(name)
        .map_err(|_: NameError| ApiError::bad_request(errors::INVALID_NAME))?;
    let rrn = Rrn::parse_at(rrn, seoul_date(state.clock.now())).map_err(ApiError::bad_request)?;
    let phone = parse_phone(phone).ok_or_else(|| ApiError::bad_request(errors::INVALID_PHONE))?;
    Ok(Claim { name, rrn, phone })
}

/// Name and phone, sealed for storage as "name\nphone".
pub fn seal_contact(state: &AppState, name: &str, phone: &str) -> Vec<u8> {
    state
        .secrets
        .seal(format!("{name}\n{phone}").as_bytes(), &mut rand::rng())
}

/// Who asks: their waiting-room session and the address the request came from. Identity
/// checks sit behind the waiting room, so every caller has a session.
pub struct Asker(pub Requester);

impl FromRequestParts<Arc<AppState>> for Asker {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let session = super::pass::session_id(&parts.headers)
            .map(|s| s.0)
            .ok_or_else(ApiError::unauthenticated)?;
        let address = crate::http::client_address(&parts.extensions);
        Ok(Asker(Requester { session, address }))
    }
}

fn identity_error(error: IdentityError) -> ApiError {
    match error {
        IdentityError::RateLimited {
            scope,
            retry_after_s,
        } => {
            let minutes = retry_after_s.div_ceil(60);
            let why = match scope {
                Scope::Phone => errors::TOO_MANY_FOR_PHONE,
                Scope::Person => errors::TOO_MANY_FOR_PERSON,
                Scope::Requester | Scope::Address => errors::TOO_MANY_FROM_HERE,
                Scope::WrongCodes => errors::TOO_MANY_WRONG_CODES,
            };
            let words = Words::from(errors::IDENTITY_RATE_LIMITED)
                .fill_text("why", why)
                .fill("minutes", minutes);
            ApiError::rate_limited(words, retry_after_s).with_detail(
                serde_json::json!({ "limit": scope.code(), "retry_after_s": retry_after_s }),
            )
        }
        IdentityError::TooManyAttempts => {
            ApiError::new(StatusCode::GONE, errors::TOO_MANY_ATTEMPTS)
        }
        IdentityError::UnknownOrExpired => {
            ApiError::new(StatusCode::GONE, errors::VERIFICATION_EXPIRED)
        }
        IdentityError::WrongCode { attempts_left } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            errors::WRONG_CODE.fill("attempts_left", attempts_left),
        )
        .with_detail(serde_json::json!({ "attempts_left": attempts_left })),
        IdentityError::Overloaded => ApiError {
            retry_after_s: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                errors::IDENTITY_SERVICE_BUSY,
            )
        },
    }
}

/// Starts a check and texts the code when the details match the phone's subscriber. The
/// answer is the same either way. Shared by the identity check and family consent.
/// A started identity check, as the API answers it. Fields in alphabetical order, as the JSON
/// object it replaced.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CheckStarted {
    /// The code itself, only where the identity stand-in reveals codes (a demo).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo_code: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    pub verification_id: String,
}

pub fn start_check(
    state: &Arc<AppState>,
    claim: Claim,
    who: Requester,
    pass: Option<&queue::Pass>,
) -> Result<CheckStarted, ApiError> {
    let now = state.clock.now();
    let phone = claim.phone.clone();
    // The code's place in the gateway's queue first: when the gateway is behind, the person is
    // told to come back (503) before the check counts against their limits, their pass's
    // included, or leaves a code that was never sent. (Counted first, a night of 503s used up
    // people's passes: each retry took one of its eight starts.)
    let slot = state
        .codes
        .reserve()
        .map_err(|_| identity_error(IdentityError::Overloaded))?;
    super::pass::use_pass(state, pass, crate::waiting::PassUse::IdentityStart)?;
    let challenge = state
        .identity
        .start(claim, who, now, &mut rand::rng())
        .map_err(|error| {
            // The identity service itself too busy (checks in progress at their limit, the
            // carrier unreachable): a 503 like the gateway's, so the pass's start is given back.
            if matches!(error, IdentityError::Overloaded) {
                super::pass::give_back_use(state, pass, crate::waiting::PassUse::IdentityStart);
            }
            counted(state, error)
        })?;
    if challenge.send {
        // Straight to the gateway from memory, like the check itself (`notify::codes`).
        slot.hand_over(CodeText::new(
            phone,
            crate::text::notices::identity_code(&challenge.code),
            challenge.expires_at.as_millisecond(),
        ));
    }
    Ok(CheckStarted {
        demo_code: state
            .identity
            .reveals_codes()
            .then(|| challenge.code.clone()),
        expires_at: challenge.expires_at,
        verification_id: URL_SAFE_NO_PAD.encode(challenge.id.0),
    })
}

/// Counts refused checks for the operators' metrics and maps them to the API's answer.
fn counted(state: &AppState, error: IdentityError) -> ApiError {
    match error {
        IdentityError::WrongCode { .. } | IdentityError::TooManyAttempts => {
            state.metrics.count_failed_signin("wrong_code");
        }
        IdentityError::RateLimited { .. } => state.metrics.count_failed_signin("rate_limited"),
        _ => {}
    }
    identity_error(error)
}

#[utoipa::path(
    post,
    path = "/api/v1/identity/start",
    tags = ["identity"],
    summary = "Start an identity check: when the name, birth date and seventh digit match the phone's subscriber, a one-time code is sent by SMS (3 minutes, 5 attempts). The answer is the same when they do not match. Limits answer 429 identity_rate_limited with Retry-After. One pass may start at most 8 (429 pass_limit).",
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
    ),
    request_body = crate::routes::identity::StartRequest,
    responses(
        (status = 202, description = "Code sent", body = CheckStarted),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn start(
    State(state): State<Arc<AppState>>,
    pass: Option<axum::Extension<queue::Pass>>,
    Asker(who): Asker,
    ApiJson(body): ApiJson<StartRequest>,
) -> Result<Response, ApiError> {
    let claim = parse_claim(&body.name, &body.rrn, &body.phone, &state)?;
    let body = start_check(&state, claim, who, pass.as_deref())?;
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(example = json!({ "verification_id": "hT3k9Qm2v0aXb1cD", "code": "123456" }))]
pub struct VerifyRequest {
    pub verification_id: String,
    pub code: String,
}

/// Completes a check: the verified person, found or created, with their contact replaced by
/// the name and phone just verified (so notices follow their current phone).
pub async fn finish_check(
    state: &Arc<AppState>,
    body: &VerifyRequest,
    who: Requester,
) -> Result<(PersonId, Verified), ApiError> {
    let id = URL_SAFE_NO_PAD
        .decode(body.verification_id.trim())
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
        .map(VerificationId)
        .ok_or_else(|| identity_error(IdentityError::UnknownOrExpired))?;
    let now = state.clock.now();
    let verified = state
        .identity
        .verify(id, &body.code, who, now)
        .map_err(|e| counted(state, e))?;
    let sealed = seal_contact(state, &verified.name, &verified.phone);
    let ensure = EnsurePerson {
        rrn_hash: verified.rrn_hash.0,
        birth_date: verified.birth_date,
        sealed,
    };
    let person = crate::forward::relay::ensure_person(state, ensure, now.as_millisecond())
        .await?
        .id;
    Ok((person, verified))
}

/// A signed-in session for `person`: the token and its cookie.
pub fn session_for(state: &AppState, person: PersonId) -> (IdentitySession, String, String) {
    let session = IdentitySession {
        person,
        expires_at: crate::clock::after(
            state.clock.now(),
            SignedDuration::from_mins(state.config.session_minutes),
        ),
    };
    let token = session.sign(&state.secrets);
    let cookie = format!(
        "{IDENTITY_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        state.config.session_minutes * 60
    );
    (session, token, cookie)
}

/// A finished identity check: the session token (also the yeyak_identity cookie). Fields in
/// alphabetical order, as the JSON object it replaced.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The pass, now bound to this person, when it named nobody before (also the yeyak_pass
    /// cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    pub person: VerifiedPerson,
    pub session_token: String,
}

/// Who was verified, as they may be shown.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VerifiedPerson {
    /// A calendar day.
    #[schema(format = Date)]
    pub birth_date: String,
    /// Masked: only the birth date and the seventh digit.
    pub rrn: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/identity/verify",
    tags = ["identity"],
    summary = "Finish the identity check; returns a session token (also set as a cookie) With a pass that names nobody yet, binds it to this person and returns the new pass (also the yeyak_pass cookie); a pass that admitted someone else is refused (403 pass_other_person).",
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
    ),
    request_body = crate::routes::identity::VerifyRequest,
    responses(
        (status = 200, description = "Signed in", body = SignedIn),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 410, response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    pass: Option<axum::Extension<queue::Pass>>,
    Asker(who): Asker,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let (person, verified) = finish_check(&state, &body, who).await?;
    // The pass becomes this person's (or is refused if it admitted someone else).
    let bound = super::pass::bind_pass(&state, pass.as_deref(), person.0)?;
    let (session, token, cookie) = session_for(&state, person);
    let signed_in = SignedIn {
        expires_at: session.expires_at.to_string(),
        pass: bound.clone(),
        person: VerifiedPerson {
            birth_date: verified.birth_date.to_string(),
            rrn: verified.masked_rrn,
        },
        session_token: token,
    };
    let mut response = axum::Json(signed_in).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    if let Some(pass) = &bound {
        super::pass::set_pass_cookie(&state, &mut response, pass);
    }
    Ok(response)
}

/// `POST /api/v1/family/start`: the booker gives a family member's name, number and phone;
/// the code goes to the member's phone (only if it is theirs), and the member tells the booker.
#[utoipa::path(
    post,
    path = "/api/v1/family/start",
    tags = ["bookings"],
    summary = "Start a family member's consent: their code goes to their own phone (only if it is theirs); needs the booker's session token",
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
    ),
    request_body = crate::routes::identity::StartRequest,
    responses(
        (status = 202, description = "Code sent", body = CheckStarted),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
        (status = 503, response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn family_start(
    State(state): State<Arc<AppState>>,
    pass: Option<axum::Extension<queue::Pass>>,
    Authenticated(_session): Authenticated,
    asker: Asker,
    body: ApiJson<StartRequest>,
) -> Result<Response, ApiError> {
    // The same check as one's own, only for a signed-in booker.
    start(State(state), pass, asker, body).await
}

/// How long a family member's consent lasts: enough to choose a clinic and a time.
pub const CONSENT_MINUTES: i64 = 30;

/// `POST /api/v1/family/verify`: the member's code, typed in by the booker, proves the member
/// agreed; the answer is a consent token for `family.consent` in a booking.
#[utoipa::path(
    post,
    path = "/api/v1/family/verify",
    tags = ["bookings"],
    summary = "Finish a family member's consent with the code they received: a consent token for 30 minutes",
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
    ),
    request_body = crate::routes::identity::VerifyRequest,
    responses(
        (status = 200, description = "Consent given", body = FamilyConsent),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 410, response = crate::routes::doc::Refused),
        (status = 429, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn family_verify(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
    Asker(who): Asker,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let (member, verified) = finish_check(&state, &body, who).await?;
    if member == session.person {
        return Err(ApiError::bad_request(errors::FAMILY_IS_SELF));
    }
    let consent = Consent {
        booker: session.person,
        member,
        expires_at: crate::clock::after(
            state.clock.now(),
            SignedDuration::from_mins(CONSENT_MINUTES),
        ),
    };
    let given = FamilyConsent {
        consent: consent.sign(&state.secrets),
        expires_at: consent.expires_at.to_string(),
        member: FamilyMember {
            name: domain::name::masked(&verified.name),
        },
    };
    Ok(axum::Json(given).into_response())
}

/// A family member's consent, for `family.consent` in a booking. Fields in alphabetical order,
/// as the JSON object it replaced.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FamilyConsent {
    pub consent: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub member: FamilyMember,
}

/// The member who consented, as the booker may see them.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FamilyMember {
    /// Masked.
    pub name: String,
}

/// `GET /api/v1/contact`: where this person's notices go (masked). To change it, they verify
/// again with the new phone: only its subscriber can, and the check updates the contact.
/// Where a person's notices go, masked.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ContactView {
    pub name: String,
    pub phone: String,
}

/// The typed core of `GET /api/v1/identity/contact`.
pub async fn contact_of(state: &Arc<AppState>, person: PersonId) -> Result<ContactView, ApiError> {
    let record = super::eligibility::person_record(state, person).await?;
    let (name, phone) = state
        .secrets
        .unseal(&record.sealed)
        .and_then(|p| String::from_utf8(p).ok())
        .and_then(|t| {
            t.split_once('\n')
                .map(|(n, p)| (n.to_string(), p.to_string()))
        })
        .ok_or_else(ApiError::internal)?;
    Ok(ContactView {
        name: domain::name::masked(&name),
        phone: crate::identity::mask_phone(&phone),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/contact",
    tags = ["identity"],
    summary = "Where my notices go: {name, phone}, both masked. A new identity check with a new phone changes it.",
    security(("session" = []), ("sessionCookie" = [])),
    params(
        crate::routes::doc::PassHeader,
        crate::routes::doc::WaitingSessionHeader,
    ),
    responses(
        (status = 200, description = "OK", body = ContactView),
        (status = 400, response = crate::routes::doc::Refused),
        (status = "default", response = crate::routes::doc::Refused),
        (status = 401, response = crate::routes::doc::Refused),
        (status = 403, response = crate::routes::doc::Refused),
    )
)]
pub async fn contact(
    State(state): State<Arc<AppState>>,
    Authenticated(session): Authenticated,
) -> Result<axum::Json<ContactView>, ApiError> {
    Ok(axum::Json(contact_of(&state, session.person).await?))
}

/// Query keys that would carry personal data: refused in any URL, which ends up in browser
/// history, proxy logs and the `Referer` of the next page.
const PERSONAL_FIELDS: [&str; 8] = [
    "name",
    "rrn",
    "phone",
    "code",
    "verification_id",
    "family_name",
    "family_rrn",
    "family_phone",
];

/// Refuses a request whose URL carries personal data (a form sent by GET, a hand-made link),
/// before any handler or log line sees it. Forms that carry such data use POST.
pub async fn refuse_personal_urls<Answer: Future<Output = Response>>(
    request: axum::extract::Request,
    inner: impl FnOnce(axum::extract::Request) -> Answer,
) -> Response {
    let carries = request.uri().query().is_some_and(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split('=').next())
            .any(|key| PERSONAL_FIELDS.contains(&key))
    });
    if carries {
        return ApiError::bad_request(errors::PERSONAL_DATA_IN_URL).into_response();
    }
    inner(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Scope;

    /// The catalogue's words carry the identity service's own codes, filled in.
    #[test]
    fn identity_refusals_keep_their_codes() {
        let limited = IdentityError::RateLimited {
            scope: Scope::Phone,
            retry_after_s: 61,
        };
        for error in [
            limited,
            IdentityError::UnknownOrExpired,
            IdentityError::WrongCode { attempts_left: 2 },
            IdentityError::TooManyAttempts,
            IdentityError::Overloaded,
        ] {
            assert_eq!(identity_error(error).code, error.code());
        }
        assert_eq!(
            identity_error(limited).message_en,
            "Too many codes were asked for this phone. Please try again in about 2 minutes."
        );
        assert_eq!(
            identity_error(IdentityError::WrongCode { attempts_left: 2 }).message_ko,
            "인증번호가 맞지 않습니다. 2번 더 시도할 수 있습니다."
        );
    }

    /// The gateway stalls (nothing drains the codes' queue: no delivery task runs on a state
    /// built without serving): a check the queue has no room to text is refused with 503 before
    /// it is counted, so the person's tries are all there once the gateway catches up. Counting
    /// first, a stall of a few minutes would spend a whole hour's five codes on texts that were
    /// never sent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_check_the_gateway_cannot_take_costs_the_person_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut config = crate::Config::new(dir.path().to_path_buf());
        config.deliver_notifications = true;
        config.code_texts_queue = 1;
        let now = "2021-07-19T11:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let subscribers = Arc::clone(&config.subscribers);
        let state = crate::app::build(config, Arc::new(crate::clock::ManualClock::new(now)))
            .unwrap_or_else(|e| panic!("{e}"));
        let claim = |n: u32| {
            let name = domain::name::PersonName::parse("홍길동").unwrap_or_else(|e| panic!("{e}"));
            let rrn = domain::rrn::Rrn::parse(&format!("670315-1{n:06}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let phone = format!("010{n:08}");
            let carrier = crate::identity::Carrier::Kt;
            assert!(subscribers.register(&phone, &name, &rrn, carrier));
            Claim { name, rrn, phone }
        };
        let who = |session: u8| Requester {
            session: [session; 16],
            address: std::net::IpAddr::from([10, 0, 0, session]),
        };
        let (first, second) = (claim(21), claim(22));
        let started = start_check(&state, first, who(1), None);
        assert!(
            started.is_ok(),
            "the first check takes the queue's one place"
        );
        for attempt in 0..8u8 {
            let refused = start_check(&state, second.clone(), who(2 + attempt), None)
                .err()
                .unwrap_or_else(|| panic!("try {attempt} started with no room to text"));
            assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(refused.code, "identity_service_busy");
            assert!(refused.retry_after_s.is_some());
        }
        // The gateway catches up: the second person still has every try (five codes an hour).
        let mut gateway = state
            .codes
            .take_receiver()
            .unwrap_or_else(|| panic!("the gateway's end"));
        for attempt in 0..5u8 {
            assert!(gateway.try_recv().is_ok());
            if let Err(e) = start_check(&state, second.clone(), who(20 + attempt), None) {
                panic!("try {attempt} after the stall: {}", e.code);
            }
        }
        assert!(gateway.try_recv().is_ok());
        let sixth = start_check(&state, second, who(30), None).err();
        assert_eq!(
            sixth.map(|e| e.status),
            Some(StatusCode::TOO_MANY_REQUESTS),
            "the phone's limit still holds"
        );
    }
}
