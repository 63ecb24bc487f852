//! Credentials: `PUT /v1/me/password` changes the password (with the
//! current one, or after a reauth in the last five minutes); every other
//! session of the account ends with it. `POST /v1/password-resets` mails a
//! single-use code to a verified address (answering the same whether or
//! not an account has it), `POST /v1/password-resets/confirm` sets a new
//! password with it and ends every session. `/v1/me/email-verification`
//! mails a code that proves the address (also sent at registration and
//! after a change of address) and confirms it.

use axum::extract::State;
use axum::http::StatusCode;
use praxis_protocol::{
    ChangePasswordRequest, EmailVerificationConfirm, ErrorCode, PasswordResetConfirm,
    PasswordResetRequest, Problem,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::tokens;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller};
use crate::mail::Mail;
use crate::store::CodePurpose;
use crate::validate;

use super::passwords::{password_matches, recently_reauthenticated, strong_hash};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
        .routes(routes!(send_verification_again))
        .routes(routes!(confirm_verification))
}

/// Reset requests one address may receive per hour (whether or not an
/// account has it, so the limit tells nothing).
const RESETS_PER_ADDRESS_PER_HOUR: i64 = 3;
/// Verification mails one account may ask for per hour.
const VERIFICATIONS_PER_HOUR: i64 = 5;

/// Counts one hit of `bucket` in an hour's window; the wait when over `max`.
async fn hourly(state: &AppState, bucket: &str, max: i64) -> AppResult<()> {
    let now = state.now();
    let (hits, start) = state.store().rate_hit(bucket, 3_600_000, now).await?;
    if hits > max {
        let wait = (start + chrono::Duration::hours(1) - now)
            .num_seconds()
            .max(1);
        return Err(AppError::rate_limited(u64::try_from(wait).unwrap_or(1)));
    }
    Ok(())
}

/// Mails a fresh verification code to `email` (when mail is configured).
pub(super) async fn send_verification(
    state: &AppState,
    user: uuid::Uuid,
    email: &str,
) -> AppResult<()> {
    if !state.mail_enabled() {
        return Ok(());
    }
    let code = tokens::mail_code(state.rng());
    let canonical =
        tokens::normalize_code(&code).ok_or_else(|| AppError::new(ErrorCode::Internal))?;
    state
        .store()
        .issue_code(user, CodePurpose::Verify, &canonical, state.now())
        .await?;
    state.send_mail(email.to_owned(), Mail::Verify { code });
    Ok(())
}

/// Ask for a password reset code by mail. The answer is `202` whether or
/// not an account has the address; a code goes out only to a verified one.
#[utoipa::path(post, path = "/v1/password-resets", tag = "accounts",
    request_body = PasswordResetRequest,
    responses((status = 202, description = "Accepted: if a verified account has this address, a code valid 15 minutes is on its way"),
        (status = 400, description = "validation_failed (email) or malformed_json", body = Problem),
        (status = 429, description = "rate_limited (this client, or this address), with Retry-After", body = Problem),
        (status = 503, description = "unavailable: this server sends no email", body = Problem)))]
async fn request_reset(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> AppResult<StatusCode> {
    if let Err(wait) = state.reset_attempt(peer.map(|p| p.0.0)) {
        return Err(AppError::rate_limited(wait));
    }
    let email = validate::email("email", &req.email)?;
    if !state.mail_enabled() {
        return Err(AppError::new(ErrorCode::Unavailable));
    }
    let key = hex::encode(state.store().throttle_key(&email));
    hourly(&state, &format!("reset:{key}"), RESETS_PER_ADDRESS_PER_HOUR).await?;
    // Both paths do the same lookup and answer alike, before any further
    // work: a known address's code is written and its mail queued on a
    // task, so the answer's timing does not tell whether the address has
    // an account (measured in the `lifecycle` bench section).
    if let Some(user) = state.store().credentials(&email).await? {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = issue_reset(&state, user.user_id, email).await {
                tracing::warn!(error = %e.problem().code, "reset code not issued");
            }
        });
    }
    Ok(StatusCode::ACCEPTED)
}

/// Writes a reset code for a verified account and mails it (nothing for
/// an unverified one).
async fn issue_reset(state: &AppState, user: uuid::Uuid, email: String) -> AppResult<()> {
    let now = state.now();
    if !state
        .store()
        .user(user)
        .await?
        .is_some_and(|u| u.email_verified)
    {
        return Ok(());
    }
    let code = tokens::mail_code(state.rng());
    let canonical =
        tokens::normalize_code(&code).ok_or_else(|| AppError::new(ErrorCode::Internal))?;
    state
        .store()
        .issue_code(user, CodePurpose::Reset, &canonical, now)
        .await?;
    state
        .store()
        .audit(
            crate::store::Event::user("password_reset_requested", user, serde_json::json!({})),
            now,
        )
        .await?;
    state.send_mail(
        email,
        Mail::Reset {
            code,
            minutes: CodePurpose::Reset.ttl().num_minutes(),
        },
    );
    Ok(())
}

/// Set a new password with a mailed reset code. Every session of the
/// account ends; the code works once.
#[utoipa::path(post, path = "/v1/password-resets/confirm", tag = "accounts",
    request_body = PasswordResetConfirm,
    responses((status = 204, description = "Password set; every session ended"),
        (status = 400, description = "invalid_code (wrong, expired, used, tried five times, or no such account), validation_failed or malformed_json", body = Problem),
        (status = 422, description = "weak_password (new_password)", body = Problem),
        (status = 429, description = "rate_limited: too many attempts from this client, with Retry-After", body = Problem),
        (status = 503, description = "unavailable: password hashing saturated, with Retry-After", body = Problem)))]
async fn confirm_reset(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ApiJson(req): ApiJson<PasswordResetConfirm>,
) -> AppResult<StatusCode> {
    if let Err(wait) = state.reset_attempt(peer.map(|p| p.0.0)) {
        return Err(AppError::rate_limited(wait));
    }
    let invalid = || AppError::new(ErrorCode::InvalidCode).field("code");
    let email = validate::email("email", &req.email).map_err(|_| invalid())?;
    let code = tokens::normalize_code(&req.code).ok_or_else(invalid)?;
    let now = state.now();
    let Some(creds) = state.store().credentials(&email).await? else {
        return Err(invalid());
    };
    let user = creds.user_id;
    // Checked first (a try counted if wrong), so a weak new password does
    // not spend the code; spent only in the transaction that sets it.
    if !state
        .store()
        .check_code(user, CodePurpose::Reset, &code, now)
        .await?
    {
        return Err(invalid());
    }
    let record = state.store().user(user).await?.ok_or_else(invalid)?;
    let phc = strong_hash(
        &state,
        "new_password",
        req.new_password,
        &record.email,
        &record.full_name,
    )
    .await?;
    let key = state.store().throttle_key(&email);
    if !state
        .store()
        .reset_password(user, &code, &phc, &key, now)
        .await?
    {
        return Err(invalid());
    }
    tracing::info!(user_id = %user, "password reset");
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a new code to prove my email address (`204` when it is already
/// proved).
#[utoipa::path(post, path = "/v1/me/email-verification", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, description = "A code valid 24 hours is on its way"),
        (status = 204, description = "The address is already verified"),
        (status = 429, description = "rate_limited (5 per hour), with Retry-After", body = Problem),
        (status = 503, description = "unavailable: this server sends no email", body = Problem)))]
async fn send_verification_again(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<StatusCode> {
    if !state.mail_enabled() {
        return Err(AppError::new(ErrorCode::Unavailable));
    }
    let user = state
        .store()
        .user(caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    if user.email_verified {
        return Ok(StatusCode::NO_CONTENT);
    }
    hourly(
        &state,
        &format!("verify:{}", caller.user_id),
        VERIFICATIONS_PER_HOUR,
    )
    .await?;
    send_verification(&state, user.id, &user.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Prove my email address with the mailed code.
#[utoipa::path(post, path = "/v1/me/email-verification/confirm", tag = "accounts", security(("bearer" = [])),
    request_body = EmailVerificationConfirm,
    responses((status = 204, description = "Verified"),
        (status = 400, description = "invalid_code (wrong, expired, used or tried five times), validation_failed or malformed_json", body = Problem)))]
async fn confirm_verification(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<EmailVerificationConfirm>,
) -> AppResult<StatusCode> {
    let invalid = || AppError::new(ErrorCode::InvalidCode).field("code");
    let code = tokens::normalize_code(&req.code).ok_or_else(invalid)?;
    if !state
        .store()
        .verify_email(caller.user_id, &code, state.now())
        .await?
    {
        return Err(invalid());
    }
    tracing::info!(user_id = %caller.user_id, "email verified");
    Ok(StatusCode::NO_CONTENT)
}

/// Change my password. Give the current one, or omit it within five
/// minutes of `POST /v1/sessions/reauth`. Every other session of mine ends.
#[utoipa::path(put, path = "/v1/me/password", tag = "accounts", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; every other session ended"),
        (status = 400, description = "validation_failed or malformed_json", body = Problem),
        (status = 401, description = "invalid_credentials: the current password is wrong", body = Problem),
        (status = 403, description = "reauth_required: no current password and no recent reauth", body = Problem),
        (status = 422, description = "weak_password (new_password)", body = Problem),
        (status = 429, description = "rate_limited: too many wrong passwords, with Retry-After", body = Problem),
        (status = 503, description = "unavailable: password hashing saturated, with Retry-After", body = Problem)))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    let now = state.now();
    let user = state
        .store()
        .user(caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    match req.current_password {
        Some(current) => {
            if !password_matches(&state, &user.email, current, now).await? {
                state
                    .store()
                    .audit(
                        crate::store::Event::user(
                            "password_change_failed",
                            caller.user_id,
                            serde_json::json!({}),
                        ),
                        now,
                    )
                    .await?;
                return Err(AppError::new(ErrorCode::InvalidCredentials).field("current_password"));
            }
        }
        None => {
            if !recently_reauthenticated(&state, &caller).await? {
                return Err(AppError::new(ErrorCode::ReauthRequired));
            }
        }
    }
    let phc = strong_hash(
        &state,
        "new_password",
        req.new_password,
        &user.email,
        &user.full_name,
    )
    .await?;
    state
        .store()
        .set_password(
            caller.user_id,
            &phc,
            Some(caller.family_id),
            "password_changed",
            now,
        )
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    tracing::info!(user_id = %caller.user_id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}
