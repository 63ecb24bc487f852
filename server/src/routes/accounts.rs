//! Accounts and sessions: `/v1/accounts`, `/v1/sessions*`, `/v1/me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use praxis_protocol::{
    ErrorCode, LoginRequest, Problem, Profile, ReauthRequest, RefreshRequest, RegisterRequest,
    RegisterResponse, TokenResponse, UpdateProfileRequest,
};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::tokens;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller};
use crate::store::{
    DeviceLabel, Event, NewSession, NewUser, ProfilePatch, RotateOutcome, StoreError, UserRecord,
};
use crate::validate;

use super::passwords::{
    checked_password, password_matches, recently_reauthenticated, reserve_attempt,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(reauth))
}

const NAME_MAX: usize = 200;
/// Longest device name a login may give.
const DEVICE_NAME_MAX: usize = 100;

/// Register an account.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = RegisterRequest,
    responses(
        (status = 201, body = RegisterResponse),
        (status = 400, description = "validation_failed or malformed_json", body = Problem),
        (status = 409, description = "email_taken", body = Problem),
        (status = 422, description = "too_young or weak_password", body = Problem),
        (status = 429, description = "rate_limited: too many registrations from this client, with Retry-After", body = Problem),
        (status = 503, description = "unavailable: password hashing saturated, with Retry-After", body = Problem),
    ))]
async fn register(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> AppResult<(StatusCode, Json<RegisterResponse>)> {
    // Counted before any work (validation, hashing): a client creating
    // accounts in bulk is refused whatever it sends.
    if let Err(wait) = state.registration_attempt(peer.map(|p| p.0.0)) {
        tracing::warn!("registration rate limited");
        return Err(AppError::rate_limited(wait));
    }
    let email = validate::email("email", &req.email)?;
    let full_name = validate::text("full_name", &req.full_name, NAME_MAX)?;
    let phone = validate::phone("phone", &req.phone)?;
    let country = validate::country("country", &req.country)?;
    let language = validate::language("language", &req.language)?;
    let profession = validate::text("profession", &req.profession, NAME_MAX)?;
    let date_of_birth = validate::date_of_birth(
        "date_of_birth",
        &req.date_of_birth,
        state.now().date_naive(),
    )?;
    let password_hash =
        super::passwords::strong_hash(&state, "password", req.password, &email, &full_name).await?;

    let user_id = Uuid::new_v4();
    let req_email = email.clone();
    let user = NewUser {
        id: user_id,
        email,
        password_hash,
        full_name,
        phone,
        country,
        language,
        profession,
        date_of_birth,
    };
    match state.store().create_user(user, state.now()).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(AppError::new(ErrorCode::EmailTaken).field("email"));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .store()
        .audit(Event::user("registered", user_id, json!({})), state.now())
        .await?;
    super::credentials::send_verification(&state, user_id, &req_email).await?;
    tracing::info!(%user_id, "account registered");
    Ok((StatusCode::CREATED, Json(RegisterResponse { user_id })))
}

/// Confirm the password in this login (erasure needs it within the last
/// five minutes).
#[utoipa::path(post, path = "/v1/sessions/reauth", tag = "sessions", security(("bearer" = [])),
    request_body = ReauthRequest,
    responses((status = 204), (status = 401, description = "invalid_credentials", body = Problem),
        (status = 429, body = Problem),
        (status = 503, description = "unavailable: password hashing saturated, with Retry-After", body = Problem)))]
async fn reauth(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ReauthRequest>,
) -> AppResult<StatusCode> {
    let now = state.now();
    let user = state
        .store()
        .user(caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    if !password_matches(&state, &user.email, req.password, now).await? {
        return Err(AppError::new(ErrorCode::InvalidCredentials));
    }
    state.store().mark_reauth(caller.family_id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Erase my account and everything about me (password re-entered within
/// the last five minutes). Every session ends; each of my devices wipes
/// its data at its next contact; holders of my card lose it.
#[utoipa::path(delete, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem),
        (status = 403, description = "reauth_required", body = Problem)))]
async fn delete_me(State(state): State<AppState>, caller: Caller) -> AppResult<StatusCode> {
    let now = state.now();
    if !recently_reauthenticated(&state, &caller).await? {
        return Err(AppError::new(ErrorCode::ReauthRequired));
    }
    let user = state
        .store()
        .user(caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    state
        .store()
        .erase_user(
            caller.user_id,
            &state.store().throttle_key(&user.email),
            now,
        )
        .await?;
    tracing::info!(user_id = %caller.user_id, "account erased");
    Ok(StatusCode::NO_CONTENT)
}

/// Log in; answers `invalid_credentials` alike for an unknown email and a
/// wrong password.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "validation_failed (device_name) or malformed_json", body = Problem),
        (status = 401, description = "invalid_credentials", body = Problem),
        (status = 429, description = "rate_limited, with Retry-After", body = Problem),
        (status = 503, description = "unavailable: password hashing saturated, with Retry-After", body = Problem),
    ))]
async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> AppResult<Json<TokenResponse>> {
    // A malformed email cannot belong to an account; it takes the same path
    // as an unknown one.
    let email =
        validate::email("email", &req.email).unwrap_or_else(|_| req.email.trim().to_lowercase());
    let device = DeviceLabel {
        name: req
            .device_name
            .as_deref()
            .map(|n| validate::text("device_name", n, DEVICE_NAME_MAX))
            .transpose()?,
        platform: req.platform,
    };
    let key = state.store().throttle_key(&email);
    let now = state.now();
    if let Some(wait) = reserve_attempt(&state, &key, now).await? {
        tracing::warn!("login throttled");
        return Err(AppError::rate_limited(wait));
    }
    let creds = state.store().credentials(&email).await?;
    let creds_user = creds.as_ref().map(|c| c.user_id);
    let (user_id, phc) = match creds {
        Some(c) => (Some(c.user_id), c.password_hash),
        None => (None, state.dummy_hash().to_owned()),
    };
    let password = req.password;
    let matches = checked_password(&state, &key, password, phc).await?;
    // The failure was counted when the attempt was reserved.
    let Some(user_id) = user_id.filter(|_| matches) else {
        // Recorded in the account's own security log when the email is
        // known. A failure for an unknown email concerns no one: it leaves
        // no audit row (anonymous traffic must not grow the database; the
        // throttle row it counted is purged after a day).
        if let Some(user) = creds_user {
            state
                .store()
                .audit(Event::user("login_failed", user, json!({})), now)
                .await?;
        }
        tracing::warn!("login failed");
        return Err(AppError::new(ErrorCode::InvalidCredentials));
    };
    state.store().clear_login_failures(&key).await?;
    let family_id = Uuid::new_v4();
    let (tokens, session) = new_tokens(&state, family_id);
    state
        .store()
        .create_session(user_id, family_id, session, &device, now)
        .await?;
    // An entry per sign-in is a connection log: not kept for a user who
    // objects to it (Art. 21).
    if !state
        .store()
        .objects(user_id, crate::store::CONNECTION_LOG)
        .await?
    {
        state
            .store()
            .audit(Event::user("login_succeeded", user_id, json!({})), now)
            .await?;
    }
    tracing::info!(%user_id, "logged in");
    Ok(Json(tokens))
}

fn new_tokens(state: &AppState, session_id: Uuid) -> (TokenResponse, NewSession) {
    let now = state.now();
    let s = state.settings();
    let access = tokens::token(state.rng());
    let refresh = tokens::token(state.rng());
    let session = NewSession {
        access_hash: tokens::hash(&access),
        access_expires_at: now + s.access_ttl,
        refresh_hash: tokens::hash(&refresh),
        refresh_expires_at: now + s.refresh_ttl,
    };
    let out = TokenResponse {
        access_token: access,
        refresh_token: refresh,
        expires_in: u64::try_from(s.access_ttl.num_seconds()).unwrap_or(0),
        session_id,
    };
    (out, session)
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting a spent one revokes every token of its login.
#[utoipa::path(post, path = "/v1/sessions/refresh", tag = "sessions", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "unauthorized (unknown, expired, revoked or reused token), or session_wiped (ended from another device with a wipe: delete local data)", body = Problem),
        (status = 410, description = "account_erased: delete local data", body = Problem),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> AppResult<Json<TokenResponse>> {
    let (mut tokens, session) = new_tokens(&state, Uuid::nil());
    match state
        .store()
        .rotate_refresh(&tokens::hash(&req.refresh_token), session, state.now())
        .await?
    {
        RotateOutcome::Rotated { family_id, .. } => {
            tokens.session_id = family_id;
            Ok(Json(tokens))
        }
        RotateOutcome::Wiped => Err(AppError::new(ErrorCode::SessionWiped)),
        RotateOutcome::Reused { user_id } => {
            state
                .store()
                .audit(
                    Event::user("refresh_token_reused", user_id, json!({})),
                    state.now(),
                )
                .await?;
            tracing::warn!(%user_id, "refresh token reused; token family revoked");
            Err(AppError::new(ErrorCode::Unauthorized))
        }
        RotateOutcome::Invalid => {
            if state
                .store()
                .token_erased(&tokens::hash(&req.refresh_token))
                .await?
            {
                return Err(AppError::new(ErrorCode::AccountErased));
            }
            Err(AppError::new(ErrorCode::Unauthorized))
        }
    }
}

/// Log out: ends the access and refresh tokens of this login.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, caller: Caller) -> AppResult<StatusCode> {
    state
        .store()
        .revoke_family(caller.family_id, state.now())
        .await?;
    state
        .store()
        .audit(
            Event::user("logged_out", caller.user_id, json!({})),
            state.now(),
        )
        .await?;
    tracing::info!(user_id = %caller.user_id, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's profile.
#[utoipa::path(get, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Profile), (status = 401, body = Problem)))]
async fn me(State(state): State<AppState>, caller: Caller) -> AppResult<Json<Profile>> {
    let user = state
        .store()
        .user(caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
    Ok(Json(profile(user)))
}

/// Rectify profile fields; each present field is validated as at
/// registration.
#[utoipa::path(patch, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, body = Profile),
        (status = 400, body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "reauth_required (email change)", body = Problem),
        (status = 409, description = "email_taken", body = Problem),
        (status = 422, description = "too_young", body = Problem),
    ))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<UpdateProfileRequest>,
) -> AppResult<Json<Profile>> {
    let today = state.now().date_naive();
    let patch = ProfilePatch {
        email: req
            .email
            .map(|v| validate::email("email", &v))
            .transpose()?,
        full_name: req
            .full_name
            .map(|v| validate::text("full_name", &v, NAME_MAX))
            .transpose()?,
        phone: req
            .phone
            .map(|v| validate::phone("phone", &v))
            .transpose()?,
        country: req
            .country
            .map(|v| validate::country("country", &v))
            .transpose()?,
        language: req
            .language
            .map(|v| validate::language("language", &v))
            .transpose()?,
        profession: req
            .profession
            .map(|v| validate::text("profession", &v, NAME_MAX))
            .transpose()?,
        date_of_birth: req
            .date_of_birth
            .map(|v| validate::date_of_birth("date_of_birth", &v, today))
            .transpose()?,
    };
    // The login email is a credential: changing it needs the password
    // re-entered in the last five minutes (a stolen 15-minute token cannot
    // take the account over, and probing which emails are taken costs a
    // password check each), and ends the other sessions.
    if let Some(new) = &patch.email {
        let current = state
            .store()
            .user(caller.user_id)
            .await?
            .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
        if *new != current.email && !recently_reauthenticated(&state, &caller).await? {
            return Err(AppError::new(ErrorCode::ReauthRequired));
        }
    }
    let email_changing = patch.email.is_some();
    let user = match state
        .store()
        .update_user(caller.user_id, patch, caller.family_id, state.now())
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => return Err(AppError::new(ErrorCode::Unauthorized)),
        Err(StoreError::Conflict) => {
            return Err(AppError::new(ErrorCode::EmailTaken).field("email"));
        }
        Err(e) => return Err(e.into()),
    };
    if email_changing && !user.email_verified {
        // The new address is proved by a code mailed to it.
        super::credentials::send_verification(&state, user.id, &user.email).await?;
    }
    tracing::info!(user_id = %caller.user_id, "profile updated");
    Ok(Json(profile(user)))
}

fn profile(u: UserRecord) -> Profile {
    Profile {
        user_id: u.id,
        email: u.email,
        full_name: u.full_name,
        phone: u.phone,
        country: u.country,
        language: u.language,
        profession: u.profession,
        date_of_birth: u.date_of_birth,
        created_at: u.created_at,
        updated_at: u.updated_at,
        email_verified: u.email_verified,
    }
}
