//! Consent state, restriction, organisation location policy and live
//! location sharing.
//!
//! Only admins change an organisation's location policy (members get
//! `forbidden`, non-members `not_found`); every change is recorded with
//! who and when, and fanned out to the members' devices as `org_policy`
//! records. Live sharing checks both gates and the share's end on every
//! position and on every read: nothing relies on a timer.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Duration;
use praxis_protocol::audit::AuditEntry;
use praxis_protocol::location::{self, Precision};
use praxis_protocol::notice::{Objection, ObjectionRequest, PrivacyNotice};
use praxis_protocol::privacy::{
    Closed, LocationErasure, LocationPolicy, MAX_SHARE_MINUTES, MAX_SHARE_RECIPIENTS,
    MemberLocationRequest, PolicyChange, PrivacyState, Purpose, RestrictionRequest, Share,
    SharePosition, SharedLocation, StartShareRequest, UpdateLocationPolicyRequest, org_policy,
};
use praxis_protocol::{ErrorCode, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::orgs::membership;
use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::path_id;
use crate::extract::{ApiJson, Caller};
use crate::store::{Event, PositionOutcome, ShareOutcome};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(privacy_state))
        .routes(routes!(privacy_notice))
        .routes(routes!(erase_location_data))
        .routes(routes!(list_objections, set_objection))
        .routes(routes!(set_restriction))
        .routes(routes!(get_location_policy, update_location_policy))
        .routes(routes!(location_policy_changes))
        .routes(routes!(set_member_location))
        .routes(routes!(start_share, list_shares))
        .routes(routes!(stop_share))
        .routes(routes!(put_position))
        .routes(routes!(shared_with_me))
        .routes(routes!(my_audit))
        .routes(routes!(org_audit))
}

/// Entries of the audit log shown at most.
const AUDIT_PAGE: i64 = 1000;

/// The security events about my account, newest first.
#[utoipa::path(get, path = "/v1/me/audit", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = Problem)))]
async fn my_audit(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<Vec<AuditEntry>>> {
    Ok(Json(
        state
            .store()
            .audit_of_user(caller.user_id, AUDIT_PAGE)
            .await?,
    ))
}

/// An organisation's admin events, newest first (admins).
#[utoipa::path(get, path = "/v1/orgs/{org_id}/audit", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn org_audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> AppResult<Json<Vec<AuditEntry>>> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, true).await?;
    Ok(Json(state.store().audit_of_org(org_id, AUDIT_PAGE).await?))
}

/// The error for a closed gate.
/// The error for a closed gate; `consent_required` names the purpose in
/// `field`.
pub(crate) fn closed(purpose: Purpose, c: Closed) -> AppError {
    match c {
        Closed::Restricted => AppError::new(ErrorCode::Restricted),
        Closed::PolicyDisabled => AppError::new(ErrorCode::PolicyDisabled),
        Closed::ConsentRequired => {
            AppError::new(ErrorCode::ConsentRequired).field(purpose.as_str())
        }
    }
}

/// Published policy versions, restriction and the caller's `org_policy`
/// records: what a device applies before any other sync work.
#[utoipa::path(get, path = "/v1/me/privacy", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = PrivacyState), (status = 401, body = Problem)))]
async fn privacy_state(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<PrivacyState>> {
    let mut privacy = state.store().privacy_state(caller.user_id).await?;
    privacy.notice_version = Some(state.settings().privacy_notice.get().version);
    Ok(Json(privacy))
}

/// The privacy notice in force: the controller, whom to ask, where to
/// complain, the notice's version, date and URL, and the published consent
/// versions. Public: an app shows it before anyone registers.
#[utoipa::path(get, path = "/v1/privacy/notice", tag = "privacy",
    responses((status = 200, body = PrivacyNotice)))]
async fn privacy_notice(State(state): State<AppState>) -> AppResult<Json<PrivacyNotice>> {
    let mut notice = PrivacyNotice::clone(&state.settings().privacy_notice.get());
    notice.consent_versions = state.store().policy_versions().await?;
    Ok(Json(notice))
}

/// Which location data to erase (`DELETE /v1/me/location-data`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ErasureQuery {
    /// `location_visits` or `location_sharing`; absent: both.
    purpose: Option<String>,
}

/// Erase the data collected under a location purpose (GDPR Art.
/// 17(1)(b)), typically after withdrawing its consent: raw fixes at once,
/// visit check-in results and distances unless an organisation's stated
/// retention for visit records requires keeping them (then held,
/// restricted, until that date: the answer says how many and until when),
/// live shares with their positions. Every device removes its copies at
/// its next sync. Audited.
#[utoipa::path(delete, path = "/v1/me/location-data", tag = "privacy", security(("bearer" = [])),
    params(ErasureQuery),
    responses((status = 200, body = LocationErasure),
        (status = 400, description = "validation_failed (purpose)", body = Problem),
        (status = 401, body = Problem)))]
async fn erase_location_data(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Query(q): axum::extract::Query<ErasureQuery>,
) -> AppResult<Json<LocationErasure>> {
    let purposes = match q.purpose.as_deref() {
        None => vec![Purpose::LocationVisits, Purpose::LocationSharing],
        Some(p) => match Purpose::parse(p) {
            Some(p) if p.is_location() => vec![p],
            _ => {
                return Err(AppError::invalid(
                    "purpose",
                    "location_visits or location_sharing",
                ));
            }
        },
    };
    let now = state.now();
    let erased = state
        .store()
        .erase_location_data(caller.user_id, &purposes, now)
        .await?;
    state
        .store()
        .audit(
            Event::user(
                "location_data_erased",
                caller.user_id,
                serde_json::json!({
                    "purposes": purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "raw_fixes": erased.raw_fixes_erased,
                    "visit_events_deleted": erased.visit_events_deleted,
                    "visit_events_held": erased.visit_events_held,
                    "shares_ended": erased.shares_ended,
                }),
            ),
            now,
        )
        .await?;
    Ok(Json(erased))
}

/// The processing that rests on legitimate interest (the register's
/// list), with whether the caller objects to each, what an objection
/// stops and what goes on despite it, and why.
#[utoipa::path(get, path = "/v1/me/objections", tag = "privacy", security(("bearer" = [])),
    responses((status = 200, body = Vec<Objection>), (status = 401, body = Problem)))]
async fn list_objections(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<Vec<Objection>>> {
    Ok(Json(state.store().objections(caller.user_id).await?))
}

/// Object to processing on legitimate interest (GDPR Art. 21), or
/// withdraw the objection. What can be switched off stops at once (the
/// connection log: session last-used times, cleared now, and sign-in
/// entries); the answer says what goes on despite it and why. Audited.
#[utoipa::path(put, path = "/v1/me/objections", tag = "privacy", security(("bearer" = [])),
    request_body = ObjectionRequest,
    responses((status = 200, body = Objection),
        (status = 400, description = "validation_failed (basis: not one the register lists)", body = Problem),
        (status = 401, body = Problem)))]
async fn set_objection(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ObjectionRequest>,
) -> AppResult<Json<Objection>> {
    let now = state.now();
    let answer = state
        .store()
        .set_objection(caller.user_id, &req.basis, req.objected, now)
        .await?
        .ok_or_else(|| {
            AppError::invalid(
                "basis",
                "One of the processing listed by GET /v1/me/objections",
            )
        })?;
    state
        .store()
        .audit(
            Event::user(
                "objection_changed",
                caller.user_id,
                serde_json::json!({ "basis": answer.basis, "objected": req.objected }),
            ),
            now,
        )
        .await?;
    Ok(Json(answer))
}

/// Restrict processing of the caller's account (GDPR Art. 18), or lift it.
/// While restricted, location and sharing are refused with `restricted`.
#[utoipa::path(put, path = "/v1/me/restriction", tag = "privacy", security(("bearer" = [])),
    request_body = RestrictionRequest,
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn set_restriction(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RestrictionRequest>,
) -> AppResult<StatusCode> {
    state
        .store()
        .set_restricted(caller.user_id, req.restricted, state.now())
        .await?;
    state
        .store()
        .audit(
            Event::user(
                "restriction_changed",
                caller.user_id,
                serde_json::json!({ "restricted": req.restricted }),
            ),
            state.now(),
        )
        .await?;
    tracing::info!(user_id = %caller.user_id, restricted = req.restricted, "restriction changed");
    Ok(StatusCode::NO_CONTENT)
}

/// An organisation's location policy (members).
#[utoipa::path(get, path = "/v1/orgs/{org_id}/location-policy", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = LocationPolicy), (status = 404, body = Problem)))]
async fn get_location_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> AppResult<Json<LocationPolicy>> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, false).await?;
    let policy = state
        .store()
        .location_policy(org_id, state.now())
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    Ok(Json(policy))
}

/// Change an organisation's location policy (admins). Members' devices
/// apply it at their next sync.
#[utoipa::path(patch, path = "/v1/orgs/{org_id}/location-policy", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)), request_body = UpdateLocationPolicyRequest,
    responses((status = 200, body = LocationPolicy), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_location_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    ApiJson(req): ApiJson<UpdateLocationPolicyRequest>,
) -> AppResult<Json<LocationPolicy>> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, true).await?;
    if req.max_precision == Some(Precision::Off) {
        return Err(AppError::invalid(
            "max_precision",
            "Use approximate or precise; switch the features off instead",
        ));
    }
    if req
        .retention_days
        .is_some_and(|d| !(1..=org_policy::MAX_RETENTION_DAYS).contains(&d))
    {
        return Err(AppError::invalid("retention_days", "Must be 1 to 30 days"));
    }
    if req
        .visit_records_days
        .is_some_and(|d| d > praxis_protocol::privacy::MAX_VISIT_RECORDS_DAYS)
    {
        return Err(AppError::invalid(
            "visit_records_days",
            "Must be 0 to 3650 days",
        ));
    }
    let policy = state
        .store()
        .update_location_policy(org_id, caller.user_id, &req, state.now())
        .await?;
    tracing::info!(%org_id, admin = %caller.user_id, "location policy changed");
    Ok(Json(policy))
}

/// Every recorded change of the organisation's location settings (admins).
#[utoipa::path(get, path = "/v1/orgs/{org_id}/location-policy/changes", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Vec<PolicyChange>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn location_policy_changes(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> AppResult<Json<Vec<PolicyChange>>> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, true).await?;
    Ok(Json(state.store().policy_changes(org_id).await?))
}

/// Switch location off (or back on) for one member (admins). Switching on
/// only lifts the admin's switch; the member's own consent still decides.
#[utoipa::path(put, path = "/v1/orgs/{org_id}/members/{user_id}/location", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = MemberLocationRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_member_location(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<MemberLocationRequest>,
) -> AppResult<StatusCode> {
    let (org_id, user_id) = (path_id(&org_id)?, path_id(&user_id)?);
    membership(&state, org_id, &caller, true).await?;
    if !state
        .store()
        .set_member_location(org_id, caller.user_id, user_id, req.enabled, state.now())
        .await?
    {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    tracing::info!(%org_id, admin = %caller.user_id, member = %user_id, enabled = req.enabled, "member location switched");
    Ok(StatusCode::NO_CONTENT)
}

/// Start sharing my live location with chosen people (who share an
/// organisation with me) for at most 8 hours.
#[utoipa::path(post, path = "/v1/location/shares", tag = "location", security(("bearer" = [])),
    request_body = StartShareRequest,
    responses((status = 201, body = Share), (status = 400, body = Problem),
        (status = 403, description = "consent_required, policy_disabled or restricted", body = Problem),
        (status = 404, description = "a recipient is unknown", body = Problem),
        (status = 409, description = "limit_reached: the most live shares allowed (10) are running", body = Problem)))]
async fn start_share(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<StartShareRequest>,
) -> AppResult<(StatusCode, Json<Share>)> {
    if !(1..=MAX_SHARE_MINUTES).contains(&req.duration_min) {
        return Err(AppError::invalid(
            "duration_min",
            "Must be 1 to 480 minutes",
        ));
    }
    if req.recipients.is_empty() || req.recipients.len() > MAX_SHARE_RECIPIENTS {
        return Err(AppError::invalid("recipients", "Give 1 to 20 recipients"));
    }
    match state
        .store()
        .start_share(
            caller.user_id,
            &req.recipients,
            req.duration_min,
            state.now(),
        )
        .await?
    {
        ShareOutcome::Started(share) => {
            tracing::info!(user_id = %caller.user_id, share_id = %share.share_id, "live share started");
            Ok((StatusCode::CREATED, Json(share)))
        }
        ShareOutcome::Closed(c) => Err(closed(Purpose::LocationSharing, c)),
        ShareOutcome::UnknownRecipient => {
            Err(AppError::new(ErrorCode::NotFound).field("recipients"))
        }
    }
}

/// My live shares that have not ended.
#[utoipa::path(get, path = "/v1/location/shares", tag = "location", security(("bearer" = [])),
    responses((status = 200, body = Vec<Share>), (status = 401, body = Problem)))]
async fn list_shares(State(state): State<AppState>, caller: Caller) -> AppResult<Json<Vec<Share>>> {
    Ok(Json(
        state.store().shares_of(caller.user_id, state.now()).await?,
    ))
}

/// Stop a live share; its position is deleted.
#[utoipa::path(delete, path = "/v1/location/shares/{share_id}", tag = "location", security(("bearer" = [])),
    params(("share_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn stop_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
) -> AppResult<StatusCode> {
    let share_id = path_id(&share_id)?;
    if !state.store().stop_share(caller.user_id, share_id).await? {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    tracing::info!(user_id = %caller.user_id, %share_id, "live share stopped");
    Ok(StatusCode::NO_CONTENT)
}

/// Send the latest position of a live share (only the latest is kept).
#[utoipa::path(put, path = "/v1/location/shares/{share_id}/position", tag = "location", security(("bearer" = [])),
    params(("share_id" = Uuid, Path)), request_body = SharePosition,
    responses((status = 204), (status = 400, body = Problem),
        (status = 403, description = "consent_required, policy_disabled or restricted: the share is deleted", body = Problem),
        (status = 404, body = Problem), (status = 410, description = "share_ended", body = Problem)))]
async fn put_position(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
    ApiJson(pos): ApiJson<SharePosition>,
) -> AppResult<StatusCode> {
    let share_id = path_id(&share_id)?;
    location::check_coordinates(pos.lat, pos.lon)
        .and_then(|()| location::check_accuracy(pos.accuracy_m))
        .map_err(|e| AppError::invalid(e.field(), "Out of range or not a number"))?;
    if pos.at > state.now() + Duration::minutes(5) {
        return Err(AppError::invalid("at", "The fix is from the future"));
    }
    if pos.precision == Precision::Off {
        return Err(AppError::invalid(
            "precision",
            "Must be approximate or precise",
        ));
    }
    match state
        .store()
        .put_position(caller.user_id, share_id, pos, state.now())
        .await?
    {
        PositionOutcome::Stored => Ok(StatusCode::NO_CONTENT),
        PositionOutcome::NotFound => Err(AppError::new(ErrorCode::NotFound)),
        PositionOutcome::Expired => Err(AppError::new(ErrorCode::ShareEnded)),
        PositionOutcome::Closed(c) => Err(closed(Purpose::LocationSharing, c)),
    }
}

/// Live shares others run with me, with their latest position. Ended
/// shares are never returned (checked on this read).
#[utoipa::path(get, path = "/v1/location/shared-with-me", tag = "location", security(("bearer" = [])),
    responses((status = 200, body = Vec<SharedLocation>), (status = 401, body = Problem)))]
async fn shared_with_me(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<Vec<SharedLocation>>> {
    Ok(Json(
        state
            .store()
            .shared_with(caller.user_id, state.now())
            .await?,
    ))
}

/// Published policy versions, for the server's start-up flag.
pub(crate) fn parse_policy_versions(raw: &str) -> Result<BTreeMap<Purpose, u32>, String> {
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| {
            let (p, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("expected purpose=version, got {pair:?}"))?;
            let purpose =
                Purpose::parse(p.trim()).ok_or_else(|| format!("unknown purpose {p:?}"))?;
            let version = v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| format!("bad version for {p}"))?;
            Ok((purpose, version))
        })
        .collect()
}
