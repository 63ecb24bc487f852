//! `POST /v1/sync/push` and `POST /v1/sync/pull`.
//!
//! The cursor is opaque to clients: base64url of `{"e": epoch, "s": seq}`.
//! A cursor from another epoch (the database was reset or restored), from
//! the future, or older than the scope's tombstone horizon is answered
//! `410 resync_required`, never with a silent gap.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use praxis_protocol::sync::{
    MAX_PULL, MAX_PUSH, PullRequest, PullResponse, PushRequest, PushResponse,
};
use praxis_protocol::{ErrorCode, Problem};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller, SizedJson};
use crate::sync::user_scope;

/// Sync bodies carry many records: a larger limit than the default.
pub const SYNC_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push))
        .routes(routes!(pull))
        .layer(DefaultBodyLimit::max(SYNC_BODY_LIMIT))
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    e: String,
    s: i64,
}

fn encode(epoch: &str, seq: i64) -> String {
    let json = serde_json::to_vec(&Cursor {
        e: epoch.to_owned(),
        s: seq,
    })
    .expect("a cursor serialises");
    URL_SAFE_NO_PAD.encode(json)
}

fn decode(raw: &str) -> Option<Cursor> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(raw).ok()?).ok()
}

/// The sequence a client's cursor stands at (0 without one): `400` for
/// garbage, `410 resync_required` for a cursor of another epoch.
pub(super) fn cursor_after(state: &AppState, raw: Option<&str>) -> AppResult<i64> {
    let Some(raw) = raw else { return Ok(0) };
    let c =
        decode(raw).ok_or_else(|| AppError::invalid("cursor", "Not a cursor from this server"))?;
    if c.e != state.store().sync_epoch() {
        return Err(AppError::new(ErrorCode::ResyncRequired));
    }
    Ok(c.s)
}

/// Push bodies up to this size are validated on the request's own worker.
const INLINE_PRECHECK_BYTES: usize = 4 * 1024;

/// Push a batch of offline mutations; one answer per mutation.
#[utoipa::path(post, path = "/v1/sync/push", tag = "sync", security(("bearer" = [])), request_body = PushRequest,
    responses(
        (status = 200, body = PushResponse),
        (status = 400, description = "validation_failed (client_id, mutations)", body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "restricted: only consent changes are accepted", body = Problem),
        (status = 413, body = Problem),
        (status = 429, description = "rate_limited: the account's push budget (bytes per second) is spent, with Retry-After", body = Problem),
    ))]
async fn push(
    State(state): State<AppState>,
    caller: Caller,
    SizedJson(req, bytes): SizedJson<PushRequest>,
) -> AppResult<Json<PushResponse>> {
    state
        .push_attempt(caller.user_id, bytes)
        .map_err(AppError::rate_limited)?;
    if uuid::Uuid::parse_str(&req.client_id).is_err() {
        return Err(AppError::invalid("client_id", "Must be a UUID"));
    }
    if req.mutations.len() > MAX_PUSH {
        return Err(AppError::invalid(
            "mutations",
            "At most 500 mutations per push",
        ));
    }
    // A restricted account gets `403 restricted` for anything but consent
    // changes: checked inside the push's transaction (`Store::push`).
    // Field validation runs here, before the push takes any lock: in place
    // for a small body (a few mutations; a geofence in it has at most
    // about 200 points, microseconds of work, less than the hop to the
    // blocking pool), on the blocking pool for a larger one (up to 500
    // mutations, each with up to 1,000-point polygons).
    let now = state.now();
    let mutations = req.mutations;
    let (mutations, pre) = if bytes <= INLINE_PRECHECK_BYTES {
        let pre = crate::sync::precheck(&mutations, now);
        (mutations, pre)
    } else {
        tokio::task::spawn_blocking(move || {
            let pre = crate::sync::precheck(&mutations, now);
            (mutations, pre)
        })
        .await
        .map_err(|_| AppError::new(praxis_protocol::ErrorCode::Internal))?
    };
    let results = state
        .store()
        .push(
            caller.user_id,
            caller.family_id,
            &req.client_id,
            &mutations,
            &pre,
            now,
        )
        .await?;
    tracing::info!(user_id = %caller.user_id, mutations = mutations.len(), "sync push");
    Ok(Json(PushResponse { results }))
}

/// Pull the changes since a cursor, a page at a time.
#[utoipa::path(post, path = "/v1/sync/pull", tag = "sync", security(("bearer" = [])), request_body = PullRequest,
    responses(
        (status = 200, body = PullResponse),
        (status = 400, body = Problem),
        (status = 401, body = Problem),
        (status = 410, description = "resync_required", body = Problem),
    ))]
async fn pull(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PullRequest>,
) -> AppResult<Json<PullResponse>> {
    let limit = req.limit.unwrap_or(500).clamp(1, MAX_PULL);
    let epoch = state.store().sync_epoch().to_owned();
    let after = cursor_after(&state, req.cursor.as_deref())?;
    let scope = user_scope(caller.user_id);
    let page = state.store().pull(&scope, after, limit).await?;
    if after > page.scope_seq || (after > 0 && after < page.pruned_below) {
        return Err(AppError::new(ErrorCode::ResyncRequired));
    }
    Ok(Json(PullResponse {
        cursor: encode(&epoch, page.last_seq),
        more: page.more,
        changes: page.changes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = decode(&encode("abc", 42)).expect("decodes");
        assert_eq!((c.e.as_str(), c.s), ("abc", 42));
        assert!(decode("not-a-cursor").is_none());
    }
}
