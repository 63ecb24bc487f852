//! Organisations: creation, membership, join codes. A non-member gets
//! `not_found` for an organisation (its existence is not disclosed); a
//! member who is not an admin gets `forbidden` for admin actions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use praxis_protocol::{
    CreateOrgRequest, CreateOrgResponse, ErrorCode, JoinCodeInfo, JoinCodeResponse, JoinOrgRequest,
    JoinOrgResponse, Member, Org, Problem, Role, UpdateMemberRequest, UpdateOrgRequest,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::tokens;
use crate::error::{AppError, AppResult};
use crate::extract::path_id;
use crate::extract::{ApiJson, Caller};
use crate::store::{MemberChange, OrgView, RedeemOutcome};
use crate::validate;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_org, list_orgs))
        .routes(routes!(get_org, update_org))
        .routes(routes!(create_join_code, list_join_codes))
        .routes(routes!(revoke_join_code))
        .routes(routes!(join_org))
        .routes(routes!(list_members))
        .routes(routes!(update_member, remove_member))
}

const ORG_NAME_MAX: usize = 200;

/// The caller's view of `org`: `not_found` unless a member, `forbidden`
/// unless an admin when `admin` is required.
pub(super) async fn membership(
    state: &AppState,
    org: Uuid,
    caller: &Caller,
    admin: bool,
) -> AppResult<OrgView> {
    let view = state
        .store()
        .org_for_member(org, caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    if admin && view.role != Role::Admin {
        return Err(AppError::new(ErrorCode::Forbidden));
    }
    Ok(view)
}

fn org(v: OrgView) -> Org {
    Org {
        org_id: v.id,
        name: v.name,
        role: v.role,
        created_at: v.created_at,
    }
}

/// Create an organisation; the caller becomes its admin.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])), request_body = CreateOrgRequest,
    responses((status = 201, body = CreateOrgResponse), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 409, description = "limit_reached: the caller already belongs to the most organisations allowed (50)", body = Problem)))]
async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateOrgRequest>,
) -> AppResult<(StatusCode, Json<CreateOrgResponse>)> {
    let name = validate::text("name", &req.name, ORG_NAME_MAX)?;
    let org_id = Uuid::new_v4();
    state
        .store()
        .create_org(org_id, &name, caller.user_id, state.now())
        .await?;
    tracing::info!(%org_id, user_id = %caller.user_id, "organisation created");
    Ok((StatusCode::CREATED, Json(CreateOrgResponse { org_id })))
}

/// The organisations the caller belongs to.
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs", security(("bearer" = [])),
    responses((status = 200, body = Vec<Org>), (status = 401, body = Problem)))]
async fn list_orgs(State(state): State<AppState>, caller: Caller) -> AppResult<Json<Vec<Org>>> {
    let orgs = state.store().orgs_of(caller.user_id).await?;
    Ok(Json(orgs.into_iter().map(org).collect()))
}

/// One organisation the caller belongs to.
#[utoipa::path(get, path = "/v1/orgs/{org_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Org), (status = 404, body = Problem)))]
async fn get_org(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> AppResult<Json<Org>> {
    let view = membership(&state, path_id(&org_id)?, &caller, false).await?;
    Ok(Json(org(view)))
}

/// Change organisation settings (admins).
#[utoipa::path(patch, path = "/v1/orgs/{org_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)), request_body = UpdateOrgRequest,
    responses((status = 200, body = Org), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn update_org(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
    ApiJson(req): ApiJson<UpdateOrgRequest>,
) -> AppResult<Json<Org>> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, true).await?;
    if let Some(name) = req.name {
        let name = validate::text("name", &name, ORG_NAME_MAX)?;
        state.store().rename_org(org_id, &name, state.now()).await?;
        tracing::info!(%org_id, user_id = %caller.user_id, "organisation renamed");
    }
    let view = membership(&state, org_id, &caller, true).await?;
    Ok(Json(org(view)))
}

/// Create a single-use, expiring join code (admins).
#[utoipa::path(post, path = "/v1/orgs/{org_id}/join-codes", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 201, body = JoinCodeResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "limit_reached: the organisation holds the most open join codes allowed (100)", body = Problem)))]
async fn create_join_code(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> AppResult<(StatusCode, Json<JoinCodeResponse>)> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, true).await?;
    // 128 bits: enough that codes cannot be guessed, short enough to type.
    let code = tokens::generate::<16>(state.rng());
    let now = state.now();
    let expires_at = now + state.settings().join_code_ttl;
    let hash = tokens::hash(&code);
    state
        .store()
        .create_join_code(&hash, org_id, caller.user_id, now, expires_at)
        .await?;
    tracing::info!(%org_id, user_id = %caller.user_id, "join code created");
    Ok((
        StatusCode::CREATED,
        Json(JoinCodeResponse {
            code,
            id: code_id(&hash),
            expires_at,
        }),
    ))
}

/// A join code's public id: its stored hash, base64url (it does not reveal
/// the code).
fn code_id(hash: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
}

/// The organisation's open join codes (admins): who made each, and until
/// when it works. The codes themselves are not stored, so not listed.
#[utoipa::path(get, path = "/v1/orgs/{org_id}/join-codes", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = [JoinCodeInfo]), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn list_join_codes(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> AppResult<Json<Vec<JoinCodeInfo>>> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, true).await?;
    let codes = state.store().open_join_codes(org_id, state.now()).await?;
    Ok(Json(
        codes
            .into_iter()
            .map(|(hash, created_by, created_at, expires_at)| JoinCodeInfo {
                id: code_id(&hash),
                created_by,
                created_at,
                expires_at,
            })
            .collect(),
    ))
}

/// Revoke an open join code (admins); audited.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/join-codes/{code_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path), ("code_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, description = "no such open code", body = Problem)))]
async fn revoke_join_code(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, code_id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    use base64::Engine as _;
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, true).await?;
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(code_id)
        .map_err(|_| AppError::new(ErrorCode::NotFound))?;
    if !state
        .store()
        .revoke_join_code(org_id, &hash, caller.user_id, state.now())
        .await?
    {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    tracing::info!(%org_id, user_id = %caller.user_id, "join code revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Join an organisation with a code.
#[utoipa::path(post, path = "/v1/orgs/join", tag = "orgs", security(("bearer" = [])), request_body = JoinOrgRequest,
    responses(
        (status = 200, body = JoinOrgResponse),
        (status = 404, description = "unknown code", body = Problem),
        (status = 409, description = "already_member", body = Problem),
        (status = 410, description = "join_code_used or join_code_expired", body = Problem),
    ))]
async fn join_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<JoinOrgRequest>,
) -> AppResult<Json<JoinOrgResponse>> {
    let outcome = state
        .store()
        .redeem_join_code(&tokens::hash(req.code.trim()), caller.user_id, state.now())
        .await?;
    match outcome {
        RedeemOutcome::Joined(org_id) => {
            tracing::info!(%org_id, user_id = %caller.user_id, "joined organisation");
            Ok(Json(JoinOrgResponse { org_id }))
        }
        RedeemOutcome::AlreadyMember(_) => Err(AppError::new(ErrorCode::AlreadyMember)),
        RedeemOutcome::Used => Err(AppError::new(ErrorCode::JoinCodeUsed).field("code")),
        RedeemOutcome::Expired => Err(AppError::new(ErrorCode::JoinCodeExpired).field("code")),
        RedeemOutcome::Unknown => Err(AppError::new(ErrorCode::NotFound).field("code")),
    }
}

/// Members of an organisation (members only).
#[utoipa::path(get, path = "/v1/orgs/{org_id}/members", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path)),
    responses((status = 200, body = Vec<Member>), (status = 404, body = Problem)))]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(org_id): Path<String>,
) -> AppResult<Json<Vec<Member>>> {
    let org_id = path_id(&org_id)?;
    membership(&state, org_id, &caller, false).await?;
    let members = state.store().members(org_id).await?;
    Ok(Json(
        members
            .into_iter()
            .map(|m| Member {
                user_id: m.user_id,
                full_name: m.full_name,
                profession: m.profession,
                role: m.role,
                joined_at: m.joined_at,
            })
            .collect(),
    ))
}

/// Promote or demote a member (admins). The last admin cannot be demoted.
#[utoipa::path(patch, path = "/v1/orgs/{org_id}/members/{user_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = UpdateMemberRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "last_admin", body = Problem)))]
async fn update_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateMemberRequest>,
) -> AppResult<StatusCode> {
    let (org_id, user_id) = (path_id(&org_id)?, path_id(&user_id)?);
    membership(&state, org_id, &caller, true).await?;
    let change = state
        .store()
        .set_role(org_id, user_id, req.role, caller.user_id, state.now())
        .await?;
    member_change(change)?;
    tracing::info!(%org_id, admin = %caller.user_id, member = %user_id, role = req.role.as_str(), "member role changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (admins), or leave (any member, for themselves). The last
/// admin cannot leave or be removed.
#[utoipa::path(delete, path = "/v1/orgs/{org_id}/members/{user_id}", tag = "orgs", security(("bearer" = [])),
    params(("org_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "last_admin", body = Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((org_id, user_id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let (org_id, user_id) = (path_id(&org_id)?, path_id(&user_id)?);
    membership(&state, org_id, &caller, user_id != caller.user_id).await?;
    let change = state
        .store()
        .remove_member(org_id, user_id, caller.user_id, state.now())
        .await?;
    member_change(change)?;
    tracing::info!(%org_id, by = %caller.user_id, member = %user_id, "member removed");
    Ok(StatusCode::NO_CONTENT)
}

fn member_change(c: MemberChange) -> AppResult<()> {
    match c {
        MemberChange::Done => Ok(()),
        MemberChange::NotMember => Err(AppError::new(ErrorCode::NotFound)),
        MemberChange::LastAdmin => Err(AppError::new(ErrorCode::LastAdmin)),
    }
}
