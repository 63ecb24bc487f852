//! `GET`/`PUT`/`DELETE /v1/me/post-mortem`: the user's directive for their
//! data after their death (erase, or hand the export to a chosen person
//! with a message, then erase). Applied by the operator's `admin
//! deceased`; without a directive the default is erasure.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use praxis_protocol::Problem;
use praxis_protocol::notice::{PostMortemDirective, PostMortemRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller};
use crate::store::Event;
use crate::validate;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_directive, set_directive, delete_directive))
}

/// The directive in force (the default, erasure, when none was recorded).
#[utoipa::path(get, path = "/v1/me/post-mortem", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = PostMortemDirective), (status = 401, body = Problem)))]
async fn get_directive(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<PostMortemDirective>> {
    Ok(Json(state.store().post_mortem(caller.user_id).await?))
}

/// Records what happens to my data after my death: `erase`, or
/// `hand_over` the export to a person (name and email, optionally with a
/// message), then erase. Sealed under my key; audited (the action only).
#[utoipa::path(put, path = "/v1/me/post-mortem", tag = "privacy", security(("bearer" = [])),
    request_body = PostMortemRequest,
    responses((status = 200, body = PostMortemDirective),
        (status = 400, description = "validation_failed (recipient, recipient.name, recipient.email, message)", body = Problem),
        (status = 401, body = Problem)))]
async fn set_directive(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut req): ApiJson<PostMortemRequest>,
) -> AppResult<Json<PostMortemDirective>> {
    // The shape (which fields go with which action, lengths) as the device
    // checks it, then the recipient as the server checks every name and
    // address it keeps: trimmed, the address lower-cased with a real domain.
    req.check()
        .map_err(|(field, reason)| AppError::invalid(field, reason))?;
    if let Some(r) = req.recipient.as_mut() {
        r.name = validate::text("recipient.name", &r.name, 200)?;
        r.email = validate::email("recipient.email", &r.email)?;
    }
    let now = state.now();
    state
        .store()
        .set_post_mortem(caller.user_id, &req, now)
        .await?;
    state
        .store()
        .audit(
            Event::user(
                "post_mortem_set",
                caller.user_id,
                serde_json::json!({ "action": req.action }),
            ),
            now,
        )
        .await?;
    Ok(Json(state.store().post_mortem(caller.user_id).await?))
}

/// Removes my directive: erasure applies again.
#[utoipa::path(delete, path = "/v1/me/post-mortem", tag = "privacy", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn delete_directive(State(state): State<AppState>, caller: Caller) -> AppResult<StatusCode> {
    if state.store().delete_post_mortem(caller.user_id).await? {
        state
            .store()
            .audit(
                Event::user("post_mortem_removed", caller.user_id, serde_json::json!({})),
                state.now(),
            )
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
