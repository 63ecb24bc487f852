//! Contact sharing: the card, invitations, connections, holders,
//! forwarding and blocks.
//!
//! Someone who does not hold a card gets `not_found` for it, whether or
//! not it exists. Invitation creation and redemption are rate-limited per
//! account (fixed windows; `429` with `Retry-After`), and a practitioner
//! has at most [`MAX_OPEN`] open invitations.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use praxis_protocol::contacts::{
    self, AcceptInvitationRequest, AcceptInvitationResponse, BlockRequest, CodePayload,
    ContactCard, CreateInvitationRequest, ForwardRequest, Holder, Invitation,
    InvitationCodeRequest, InvitationPreview, SigningKey,
};
use praxis_protocol::sync::Fields;
use praxis_protocol::{ErrorCode, Problem};
use ring::rand::SecureRandom;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::path_id;
use crate::extract::{ApiJson, Caller};
use crate::store::{ForwardOutcome, RedeemError};
use crate::validate;

/// Invitations one account may create per hour.
pub const CREATE_PER_HOUR: i64 = 20;
/// Invitation codes one account may try (preview, accept, decline) per hour.
pub const REDEEM_PER_HOUR: i64 = 30;
/// Open (unused, unexpired) invitations per account.
pub const MAX_OPEN: i64 = 25;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_card, put_card))
        .routes(routes!(signing_key))
        .routes(routes!(create_invitation))
        .routes(routes!(preview_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(decline_invitation))
        .routes(routes!(held_card))
        .routes(routes!(revoke_connection))
        .routes(routes!(list_holders))
        .routes(routes!(revoke_holder))
        .routes(routes!(forward_card))
        .routes(routes!(block))
        .routes(routes!(unblock))
}

/// Counts a hit; `rate_limited` once `limit` is passed in the hour.
async fn limit(state: &AppState, action: &str, user: Uuid, limit: i64) -> AppResult<()> {
    let now = state.now();
    let window = Duration::hours(1);
    let (hits, started) = state
        .store()
        .rate_hit(
            &format!("contacts:{action}:{user}"),
            window.num_milliseconds(),
            now,
        )
        .await?;
    if hits > limit {
        let wait = (started + window - now).num_seconds().max(1);
        return Err(AppError::rate_limited(u64::try_from(wait).unwrap_or(1)));
    }
    Ok(())
}

fn redeem_error(e: RedeemError) -> AppError {
    AppError::new(match e {
        RedeemError::Invalid => ErrorCode::InvitationInvalid,
        RedeemError::Expired => ErrorCode::InvitationExpired,
        RedeemError::Used => ErrorCode::InvitationUsed,
        RedeemError::Own => ErrorCode::OwnInvitation,
        RedeemError::Blocked => ErrorCode::Blocked,
        RedeemError::Restricted => ErrorCode::Restricted,
    })
}

/// Verifies a code's signature and expiry; the secret's hash to look up.
async fn decode_code(state: &AppState, code: &str) -> AppResult<(CodePayload, Vec<u8>)> {
    let key = state.invitation_key().await?;
    let public = SigningKey {
        key_id: key.0.clone(),
        public_key: URL_SAFE_NO_PAD.encode(ring::signature::KeyPair::public_key(&*key.1)),
    };
    let payload = contacts::verify_code(code, &public, state.now()).map_err(|e| {
        AppError::new(match e {
            contacts::CodeError::Expired => ErrorCode::InvitationExpired,
            _ => ErrorCode::InvitationInvalid,
        })
    })?;
    let secret = URL_SAFE_NO_PAD
        .decode(&payload.s)
        .map_err(|_| AppError::new(ErrorCode::InvitationInvalid))?;
    Ok((payload, crate::auth::tokens::hash_bytes(&secret)))
}

fn check_fields(field: &str, fields: &[String]) -> AppResult<()> {
    contacts::check_fields(fields).map_err(|reason| AppError::invalid(field, reason))
}

fn valid_card(c: ContactCard) -> AppResult<ContactCard> {
    let opt = |field: &str, v: Option<String>, max: usize| {
        v.map(|v| validate::text(field, &v, max)).transpose()
    };
    if c.languages.len() > 10 {
        return Err(AppError::invalid("languages", "At most 10 languages"));
    }
    Ok(ContactCard {
        display_name: validate::text("display_name", &c.display_name, 200)?,
        profession: opt("profession", c.profession, 200)?,
        specialty: opt("specialty", c.specialty, 200)?,
        work_phone: c
            .work_phone
            .map(|p| validate::phone("work_phone", &p))
            .transpose()?,
        work_email: c
            .work_email
            .map(|e| validate::email("work_email", &e))
            .transpose()?,
        organisation: opt("organisation", c.organisation, 200)?,
        clinic_address: opt("clinic_address", c.clinic_address, 300)?,
        languages: c
            .languages
            .iter()
            .map(|l| validate::language("languages", l))
            .collect::<AppResult<_>>()?,
    })
}

/// My contact card (made from my profile until I set one).
#[utoipa::path(get, path = "/v1/contacts/card", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, body = ContactCard), (status = 401, body = Problem)))]
async fn get_card(State(state): State<AppState>, caller: Caller) -> AppResult<Json<ContactCard>> {
    let card = state
        .store()
        .card(caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    Ok(Json(card))
}

/// Replace my card; every holder's copy is updated (their fields only).
#[utoipa::path(put, path = "/v1/contacts/card", tag = "contacts", security(("bearer" = [])),
    request_body = ContactCard,
    responses((status = 200, body = ContactCard), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "restricted", body = Problem)))]
async fn put_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(card): ApiJson<ContactCard>,
) -> AppResult<Json<ContactCard>> {
    let card = valid_card(card)?;
    let holders = state
        .store()
        .put_card(caller.user_id, &card, state.now())
        .await?;
    tracing::info!(user_id = %caller.user_id, holders, "contact card updated");
    Ok(Json(card))
}

/// The public key that signs invitation codes (devices check codes with it
/// before sending them).
#[utoipa::path(get, path = "/v1/contacts/signing-key", tag = "contacts",
    responses((status = 200, body = SigningKey)))]
async fn signing_key(State(state): State<AppState>) -> AppResult<Json<SigningKey>> {
    let key = state.invitation_key().await?;
    Ok(Json(SigningKey {
        key_id: key.0.clone(),
        public_key: URL_SAFE_NO_PAD.encode(ring::signature::KeyPair::public_key(&*key.1)),
    }))
}

/// Invite someone to connect: a single-use code, valid 48 hours by default
/// (at most 7 days), offering the chosen fields of my card.
#[utoipa::path(post, path = "/v1/contacts/invitations", tag = "contacts", security(("bearer" = [])),
    request_body = CreateInvitationRequest,
    responses((status = 201, body = Invitation), (status = 400, body = Problem),
        (status = 409, description = "invitation_limit", body = Problem),
        (status = 429, description = "rate_limited, with Retry-After", body = Problem)))]
async fn create_invitation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateInvitationRequest>,
) -> AppResult<(StatusCode, Json<Invitation>)> {
    check_fields("fields", &req.fields)?;
    if state.store().is_restricted(caller.user_id).await? {
        return Err(AppError::new(ErrorCode::Restricted));
    }
    let ttl = req.ttl_hours.unwrap_or(contacts::DEFAULT_TTL_HOURS);
    if !(1..=contacts::MAX_TTL_HOURS).contains(&ttl) {
        return Err(AppError::invalid("ttl_hours", "Must be 1 to 168 hours"));
    }
    limit(&state, "create", caller.user_id, CREATE_PER_HOUR).await?;
    let now = state.now();
    let expires_at = now + Duration::hours(i64::from(ttl));
    let mut secret = [0u8; 32];
    state
        .rng()
        .fill(&mut secret)
        .map_err(|_| AppError::new(ErrorCode::Internal))?;
    let key = state.invitation_key().await?;
    let id = Uuid::new_v4();
    let payload = CodePayload {
        i: id,
        s: URL_SAFE_NO_PAD.encode(secret),
        e: expires_at.timestamp(),
        k: key.0.clone(),
    };
    let code = contacts::encode_code(&payload, |b| key.1.sign(b).as_ref().to_vec());
    match state
        .store()
        .create_invitation(
            id,
            caller.user_id,
            &crate::auth::tokens::hash_bytes(&secret),
            &req.fields,
            req.allow_forward,
            now,
            expires_at,
            MAX_OPEN,
        )
        .await?
    {
        Ok(true) => {}
        Ok(false) => return Err(AppError::new(ErrorCode::InvitationLimit)),
        Err(e) => return Err(redeem_error(e)),
    }
    tracing::info!(user_id = %caller.user_id, invitation_id = %id, "contact invitation created");
    Ok((
        StatusCode::CREATED,
        Json(Invitation {
            invitation_id: id,
            code,
            expires_at,
        }),
    ))
}

/// Who invites me, and what they offer (the invitation stays unused).
#[utoipa::path(post, path = "/v1/contacts/invitations/preview", tag = "contacts", security(("bearer" = [])),
    request_body = InvitationCodeRequest,
    responses((status = 200, body = InvitationPreview),
        (status = 404, description = "invitation_invalid", body = Problem),
        (status = 409, description = "own_invitation", body = Problem),
        (status = 410, description = "invitation_expired, invitation_used", body = Problem),
        (status = 429, body = Problem)))]
async fn preview_invitation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<InvitationCodeRequest>,
) -> AppResult<Json<InvitationPreview>> {
    limit(&state, "redeem", caller.user_id, REDEEM_PER_HOUR).await?;
    let (payload, hash) = decode_code(&state, &req.code).await?;
    let offer = state
        .store()
        .preview_invitation(payload.i, &hash, caller.user_id, state.now())
        .await?
        .map_err(redeem_error)?;
    // Only what the invitation offers: anyone holding the code can preview
    // it without using it up.
    let offered = |f: &str| offer.fields.iter().any(|x| x == f);
    Ok(Json(InvitationPreview {
        inviter_id: offer.inviter,
        display_name: offered("display_name").then(|| offer.card.display_name.clone()),
        profession: offer
            .card
            .profession
            .clone()
            .filter(|_| offered("profession")),
        organisation: offer
            .card
            .organisation
            .clone()
            .filter(|_| offered("organisation")),
        fields: offer.fields,
        expires_at: offer.expires_at,
    }))
}

/// Accept: we are connected both ways; I choose which of my fields the
/// inviter sees.
#[utoipa::path(post, path = "/v1/contacts/invitations/accept", tag = "contacts", security(("bearer" = [])),
    request_body = AcceptInvitationRequest,
    responses((status = 200, body = AcceptInvitationResponse), (status = 400, body = Problem),
        (status = 403, description = "blocked, restricted", body = Problem),
        (status = 404, description = "invitation_invalid", body = Problem),
        (status = 409, description = "own_invitation", body = Problem),
        (status = 410, description = "invitation_expired, invitation_used", body = Problem),
        (status = 429, body = Problem)))]
async fn accept_invitation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AcceptInvitationRequest>,
) -> AppResult<Json<AcceptInvitationResponse>> {
    check_fields("fields", &req.fields)?;
    limit(&state, "redeem", caller.user_id, REDEEM_PER_HOUR).await?;
    let (payload, hash) = decode_code(&state, &req.code).await?;
    let owner_id = state
        .store()
        .accept_invitation(
            payload.i,
            &hash,
            caller.user_id,
            &req.fields,
            req.allow_forward,
            state.now(),
        )
        .await?
        .map_err(redeem_error)?;
    tracing::info!(user_id = %caller.user_id, invitation_id = %payload.i, "contact invitation accepted");
    Ok(Json(AcceptInvitationResponse { owner_id }))
}

/// Decline: the invitation can no longer be used.
#[utoipa::path(post, path = "/v1/contacts/invitations/decline", tag = "contacts", security(("bearer" = [])),
    request_body = InvitationCodeRequest,
    responses((status = 204), (status = 404, body = Problem), (status = 410, body = Problem), (status = 429, body = Problem)))]
async fn decline_invitation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<InvitationCodeRequest>,
) -> AppResult<StatusCode> {
    limit(&state, "redeem", caller.user_id, REDEEM_PER_HOUR).await?;
    let (payload, hash) = decode_code(&state, &req.code).await?;
    state
        .store()
        .decline_invitation(payload.i, &hash, caller.user_id, state.now())
        .await?
        .map_err(redeem_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A card I hold, as shared with me (`not_found` for anyone else).
#[utoipa::path(get, path = "/v1/contacts/{owner_id}", tag = "contacts", security(("bearer" = [])),
    params(("owner_id" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
async fn held_card(
    State(state): State<AppState>,
    caller: Caller,
    Path(owner_id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let owner = path_id(&owner_id)?;
    let fields: Fields = state
        .store()
        .held_card(owner, caller.user_id)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::NotFound))?;
    Ok(Json(
        fields
            .into_iter()
            .map(|(k, v)| (k, v.v))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    ))
}

/// End a connection, both ways: each side's card leaves the other's
/// devices at their next sync.
#[utoipa::path(delete, path = "/v1/contacts/connections/{user_id}", tag = "contacts", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_connection(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> AppResult<StatusCode> {
    let other = path_id(&user_id)?;
    if !state
        .store()
        .revoke_connection(caller.user_id, other, state.now())
        .await?
    {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    tracing::info!(user_id = %caller.user_id, other = %other, "contact connection revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Who holds my card (directly or forwarded).
#[utoipa::path(get, path = "/v1/contacts/holders", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, body = Vec<Holder>), (status = 401, body = Problem)))]
async fn list_holders(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<Json<Vec<Holder>>> {
    Ok(Json(state.store().holders(caller.user_id).await?))
}

/// Take my card back from one holder.
#[utoipa::path(delete, path = "/v1/contacts/holders/{holder_id}", tag = "contacts", security(("bearer" = [])),
    params(("holder_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn revoke_holder(
    State(state): State<AppState>,
    caller: Caller,
    Path(holder_id): Path<String>,
) -> AppResult<StatusCode> {
    let holder = path_id(&holder_id)?;
    if !state
        .store()
        .revoke_holder(caller.user_id, holder, state.now())
        .await?
    {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Forward a card I hold to one of my connections (only if its owner
/// allowed me to); they get the fields I see, and cannot forward it on.
#[utoipa::path(post, path = "/v1/contacts/forward", tag = "contacts", security(("bearer" = [])),
    request_body = ForwardRequest,
    responses((status = 204), (status = 403, description = "forbidden (not allowed), blocked", body = Problem),
        (status = 404, body = Problem)))]
async fn forward_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ForwardRequest>,
) -> AppResult<StatusCode> {
    match state
        .store()
        .forward_card(caller.user_id, req.owner_id, req.to, state.now())
        .await?
    {
        ForwardOutcome::Forwarded => {
            tracing::info!(user_id = %caller.user_id, owner = %req.owner_id, to = %req.to, "contact card forwarded");
            Ok(StatusCode::NO_CONTENT)
        }
        ForwardOutcome::NotHeld => Err(AppError::new(ErrorCode::NotFound).field("owner_id")),
        ForwardOutcome::NotConnected => Err(AppError::new(ErrorCode::NotFound).field("to")),
        ForwardOutcome::NotAllowed => Err(AppError::new(ErrorCode::Forbidden)),
        ForwardOutcome::Blocked => Err(AppError::new(ErrorCode::Blocked)),
        ForwardOutcome::Restricted => Err(AppError::new(ErrorCode::Restricted)),
    }
}

/// Block someone: our connection ends, and their invitations and forwards
/// to me are refused.
#[utoipa::path(post, path = "/v1/contacts/blocks", tag = "contacts", security(("bearer" = [])),
    request_body = BlockRequest,
    responses((status = 204), (status = 400, body = Problem), (status = 404, description = "no such account", body = Problem)))]
async fn block(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<BlockRequest>,
) -> AppResult<StatusCode> {
    if req.user_id == caller.user_id {
        return Err(AppError::invalid("user_id", "You cannot block yourself"));
    }
    if !state
        .store()
        .block(caller.user_id, req.user_id, state.now())
        .await?
    {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a block.
#[utoipa::path(delete, path = "/v1/contacts/blocks/{user_id}", tag = "contacts", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
async fn unblock(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> AppResult<StatusCode> {
    if !state
        .store()
        .unblock(caller.user_id, path_id(&user_id)?)
        .await?
    {
        return Err(AppError::new(ErrorCode::NotFound));
    }
    Ok(StatusCode::NO_CONTENT)
}
