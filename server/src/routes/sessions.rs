//! The caller's signed-in devices: `GET /v1/sessions` lists them,
//! `DELETE /v1/sessions/{id}` ends one, `DELETE /v1/sessions?others=true`
//! ends all but the caller's. With `wipe=true` the ended device deletes its
//! local data when it next contacts the server (`session_wiped`); that
//! needs the password re-entered in the last five minutes, so a stolen
//! device signed in cannot wipe its owner's others.
//!
//! Login, refresh and logout are in `accounts`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use praxis_protocol::{ErrorCode, Problem, SessionInfo, SessionList};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::{Caller, path_id};
use crate::store::Event;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, end_other_sessions))
        .routes(routes!(end_session))
}

/// `DELETE /v1/sessions/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EndQuery {
    /// Also make the device delete its local data (needs a recent reauth).
    #[serde(default)]
    wipe: bool,
}

/// `DELETE /v1/sessions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EndOthersQuery {
    /// Must be `true`: every session but the caller's ends.
    others: bool,
    /// Also make those devices delete their local data (needs a recent
    /// reauth).
    #[serde(default)]
    wipe: bool,
}

/// My signed-in devices, newest first; `current` marks this one.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = SessionList)))]
async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<SessionList>> {
    let rows = state.store().sessions(caller.user_id, state.now()).await?;
    Ok(Json(SessionList {
        sessions: rows
            .into_iter()
            .map(|r| SessionInfo {
                current: r.id == caller.family_id,
                id: r.id,
                device_name: r.device.name,
                platform: r.device.platform,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
            })
            .collect(),
    }))
}

/// Refuses a wipe without a recent reauth.
async fn check_wipe(state: &AppState, caller: &Caller, wipe: bool) -> AppResult<()> {
    if wipe && !super::passwords::recently_reauthenticated(state, caller).await? {
        return Err(AppError::new(ErrorCode::ReauthRequired));
    }
    Ok(())
}

/// Sign out one of my devices (`wipe=true`: and make it delete its data).
/// Ending the current one is a logout.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's id"), EndQuery),
    responses((status = 204),
        (status = 400, description = "validation_failed (wipe)", body = Problem),
        (status = 403, description = "reauth_required (a wipe needs the password re-entered)", body = Problem),
        (status = 404, description = "not_found: no live session of mine has this id", body = Problem)))]
async fn end_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<EndQuery>,
) -> AppResult<StatusCode> {
    let id = path_id(&id)?;
    check_wipe(&state, &caller, q.wipe).await?;
    let now = state.now();
    if !state
        .store()
        .end_session(caller.user_id, id, q.wipe, now)
        .await?
    {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    state
        .store()
        .audit(
            Event::user("session_ended", caller.user_id, json!({"wipe": q.wipe})),
            now,
        )
        .await?;
    tracing::info!(user_id = %caller.user_id, wipe = q.wipe, "session ended from a device");
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out every other device of mine (`wipe=true`: and make them delete
/// their data).
#[utoipa::path(delete, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])),
    params(EndOthersQuery),
    responses((status = 204),
        (status = 400, description = "validation_failed (others must be true)", body = Problem),
        (status = 403, description = "reauth_required (a wipe needs the password re-entered)", body = Problem)))]
async fn end_other_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<EndOthersQuery>,
) -> AppResult<StatusCode> {
    if !q.others {
        return Err(AppError::invalid(
            "others",
            "Must be true: every session but this one ends",
        ));
    }
    check_wipe(&state, &caller, q.wipe).await?;
    let now = state.now();
    let ended = state
        .store()
        .end_other_sessions(caller.user_id, caller.family_id, q.wipe, now)
        .await?;
    state
        .store()
        .audit(
            Event::user(
                "other_sessions_ended",
                caller.user_id,
                json!({"wipe": q.wipe, "sessions": ended}),
            ),
            now,
        )
        .await?;
    tracing::info!(user_id = %caller.user_id, wipe = q.wipe, ended, "other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}
