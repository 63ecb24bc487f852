//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use praxis_protocol::ErrorCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{AppError, AppResult};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Object)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Object), (status = 503, body = praxis_protocol::Problem)))]
async fn readyz(State(state): State<AppState>) -> AppResult<Json<serde_json::Value>> {
    state
        .store()
        .ping()
        .await
        .map_err(|_| AppError::new(ErrorCode::Unavailable))?;
    Ok(Json(serde_json::json!({ "status": "ready" })))
}
