//! The one error type of the HTTP layer, rendered as RFC 9457
//! `application/problem+json` with a stable `code`.
//!
//! Each [`ErrorCode`] has exactly one HTTP status and title, chosen here, so
//! handlers only say *what* went wrong. Internal failures are logged with
//! their class (never a value) and answered with a bare `internal` problem.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use praxis_protocol::{ErrorCode, PROBLEM_CONTENT_TYPE, Problem};

use crate::store::StoreError;

/// An error answered to the client.
#[derive(Debug)]
pub struct AppError {
    problem: Problem,
    retry_after: Option<u64>,
}

/// Result of a handler.
pub type AppResult<T> = Result<T, AppError>;

/// The status and title of each code.
pub fn status_and_title(code: ErrorCode) -> (StatusCode, &'static str) {
    use ErrorCode::*;
    match code {
        EmailTaken => (StatusCode::CONFLICT, "Email already registered"),
        InvalidCredentials => (StatusCode::UNAUTHORIZED, "Invalid email or password"),
        TooYoung => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Registration requires being 18 or older",
        ),
        WeakPassword => (StatusCode::UNPROCESSABLE_ENTITY, "Password too weak"),
        ValidationFailed => (StatusCode::BAD_REQUEST, "Invalid request"),
        MalformedJson => (StatusCode::BAD_REQUEST, "Malformed JSON body"),
        Unauthorized => (StatusCode::UNAUTHORIZED, "Authentication required"),
        Forbidden => (StatusCode::FORBIDDEN, "Not allowed"),
        NotFound => (StatusCode::NOT_FOUND, "Not found"),
        MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"),
        UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Body must be application/json",
        ),
        RateLimited => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts"),
        AlreadyMember => (StatusCode::CONFLICT, "Already a member"),
        JoinCodeUsed => (StatusCode::GONE, "Join code already used"),
        JoinCodeExpired => (StatusCode::GONE, "Join code expired"),
        LastAdmin => (
            StatusCode::CONFLICT,
            "An organisation needs at least one admin",
        ),
        ResyncRequired => (
            StatusCode::GONE,
            "Sync cursor expired: resync from the start",
        ),
        ConsentRequired => (StatusCode::FORBIDDEN, "Consent required for this purpose"),
        PolicyDisabled => (
            StatusCode::FORBIDDEN,
            "Not allowed by the organisation's location policy",
        ),
        Restricted => (
            StatusCode::FORBIDDEN,
            "Processing of this account is restricted",
        ),
        ShareEnded => (StatusCode::GONE, "The live share has ended"),
        InvitationInvalid => (StatusCode::NOT_FOUND, "Invitation code not valid"),
        InvitationExpired => (StatusCode::GONE, "Invitation expired"),
        InvitationUsed => (StatusCode::GONE, "Invitation already used"),
        OwnInvitation => (
            StatusCode::CONFLICT,
            "You cannot accept your own invitation",
        ),
        InvitationLimit => (StatusCode::CONFLICT, "Too many open invitations"),
        LimitReached => (StatusCode::CONFLICT, "Limit reached"),
        Blocked => (StatusCode::FORBIDDEN, "Not possible with this person"),
        ReauthRequired => (StatusCode::FORBIDDEN, "Re-enter your password to confirm"),
        AccountErased => (StatusCode::GONE, "This account was erased"),
        InvalidCode => (
            StatusCode::BAD_REQUEST,
            "The code is wrong, expired or already used",
        ),
        SessionWiped => (
            StatusCode::UNAUTHORIZED,
            "This device was signed out and must delete its data",
        ),
        RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "Request timed out"),
        Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
    }
}

impl AppError {
    /// An error with the code's status and title.
    pub fn new(code: ErrorCode) -> Self {
        let (status, title) = status_and_title(code);
        Self {
            problem: Problem::new(code, status.as_u16(), title),
            retry_after: None,
        }
    }

    /// A validation error naming the offending field; `detail` must not
    /// quote the submitted value.
    pub fn invalid(field: &str, detail: &str) -> Self {
        Self::new(ErrorCode::ValidationFailed)
            .field(field)
            .detail(detail)
    }

    /// Names the field at fault.
    pub fn field(mut self, field: &str) -> Self {
        self.problem.field = Some(field.to_owned());
        self
    }

    /// Adds a human-readable detail (never personal data).
    pub fn detail(mut self, detail: &str) -> Self {
        self.problem.detail = Some(detail.to_owned());
        self
    }

    /// `429 rate_limited` with a `Retry-After` in whole seconds.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// `503 unavailable` with a `Retry-After` in whole seconds: the server
    /// is saturated for now (e.g. every password-hashing slot is busy).
    pub fn busy(retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::Unavailable);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// The problem body.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable => {
                tracing::error!(error = %e, "storage unavailable");
                Self::new(ErrorCode::Unavailable)
            }
            StoreError::Restricted => Self::new(ErrorCode::Restricted),
            StoreError::LimitReached(what) => Self::new(ErrorCode::LimitReached).field(what),
            e => {
                tracing::error!(error = %e, "storage failure");
                Self::new(ErrorCode::Internal)
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED && self.problem.code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
