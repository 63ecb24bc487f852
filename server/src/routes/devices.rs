//! `POST`/`DELETE /v1/devices/push-token`: the signed-in device's platform
//! push token, through which the server wakes it in the background when
//! its data changes (`crate::push`). One per sign-in: a new one replaces
//! it; logout, revocation and erasure remove it.

use axum::extract::State;
use axum::http::StatusCode;
use praxis_protocol::Problem;
use praxis_protocol::sync::{PushTokenRequest, check_push_token};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_push_token, remove_push_token))
}

/// Register (or replace) this sign-in's push token.
#[utoipa::path(post, path = "/v1/devices/push-token", tag = "sync", security(("bearer" = [])),
    request_body = PushTokenRequest,
    responses(
        (status = 204, description = "Registered; this device is woken when its data changes"),
        (status = 400, description = "validation_failed (platform, token)", body = Problem),
    ))]
async fn set_push_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PushTokenRequest>,
) -> AppResult<StatusCode> {
    check_push_token(&req.token).map_err(|reason| AppError::invalid("token", reason))?;
    state
        .store()
        .set_push_token(
            caller.user_id,
            caller.family_id,
            req.platform.as_str(),
            &req.token,
            state.now(),
        )
        .await?;
    tracing::info!(user_id = %caller.user_id, platform = req.platform.as_str(), "push token registered");
    Ok(StatusCode::NO_CONTENT)
}

/// Stop waking this device (the app turned background refresh off).
#[utoipa::path(delete, path = "/v1/devices/push-token", tag = "sync", security(("bearer" = [])),
    responses((status = 204, description = "Removed (or there was none)")))]
async fn remove_push_token(State(state): State<AppState>, caller: Caller) -> AppResult<StatusCode> {
    state.store().remove_push_token(caller.family_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
