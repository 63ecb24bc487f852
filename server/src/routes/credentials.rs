//! Credentials: `PUT /v1/me/password` changes the password (with the
//! current one, or after a reauth in the last five minutes); every other
//! session of the account ends with it.

use axum::extract::State;
use axum::http::StatusCode;
use praxis_protocol::{ChangePasswordRequest, ErrorCode, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::password;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller};

use super::accounts::{
    checked_password, personal_inputs, recently_reauthenticated, reserve_attempt,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(change_password))
}

/// Hashes a new password after the registration rules (length, zxcvbn
/// with the user's email and name as guessable inputs); `weak_password`
/// names `field`.
pub(super) async fn strong_hash(
    state: &AppState,
    field: &'static str,
    password: String,
    email: &str,
    full_name: &str,
) -> AppResult<String> {
    let inputs = personal_inputs(email, full_name);
    state
        .hashing(move || {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            password::check_strength(&password, &inputs).map(|()| password::hash(&password))
        })
        .await?
        .map_err(|w| {
            AppError::new(ErrorCode::WeakPassword)
                .field(field)
                .detail(w.message())
        })
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
            // The same throttle as login: a stolen session cannot guess
            // the password through this route faster than through login.
            let key = state.store().throttle_key(&user.email);
            if let Some(wait) = reserve_attempt(&state, &key, now).await? {
                return Err(AppError::rate_limited(wait));
            }
            let phc = state
                .store()
                .credentials(&user.email)
                .await?
                .map(|c| c.password_hash)
                .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
            if !checked_password(&state, &key, current, phc).await? {
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
            state.store().clear_login_failures(&key).await?;
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
