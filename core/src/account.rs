//! The account capability: registration, login, logout, the profile, and
//! organisations, against the Praxis server.
//!
//! The profile last read from the server is kept in the encrypted cache, so
//! [`Account::cached_profile`] answers offline.

use std::sync::Arc;

use praxis_protocol::privacy::{
    LocationPolicy, MemberLocationRequest, PolicyChange, RestrictionRequest,
    UpdateLocationPolicyRequest,
};
use praxis_protocol::{
    CreateOrgRequest, CreateOrgResponse, JoinCodeResponse, JoinOrgRequest, JoinOrgResponse,
    LoginRequest, Member, Org, Profile, RegisterRequest, RegisterResponse, TokenResponse,
    UpdateProfileRequest,
};
use reqwest::Method;
use uuid::Uuid;

pub use crate::session::SessionState;
use crate::session::{Session, Tokens, clear_user_data};

use crate::Result;
use crate::cache::{Cache, RecordMeta, blocking};
use crate::http::Body;
use crate::log::Log;

use crate::local::{ME, PROFILE};

/// Account operations; cheap to clone.
#[derive(Debug, Clone)]
pub struct Account {
    pub(crate) session: Arc<Session>,
    pub(crate) cache: Arc<Cache>,
    pub(crate) log: Log,
    pub(crate) device: crate::session::DeviceLabel,
}

type NoBody = ();

impl Account {
    /// The session state now.
    pub fn state(&self) -> SessionState {
        self.session.state()
    }

    /// A receiver of every session state change (current value first).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<SessionState> {
        self.session.subscribe()
    }

    /// Creates an account on the server (it does not sign in).
    pub async fn register(&self, req: &RegisterRequest) -> Result<Uuid> {
        let r: RegisterResponse = self
            .session
            .api()
            .json(Method::POST, "v1/accounts", None, Body::Json(req))
            .await?;
        self.log.info("account", "account registered");
        Ok(r.user_id)
    }

    /// Signs in and stores the session in the encrypted cache.
    pub async fn login(&self, email: &str, password: &str) -> Result<Uuid> {
        let req = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            device_name: self.device.name.clone(),
            platform: self.device.platform,
        };
        let api = self.session.api();
        let t: TokenResponse = api
            .json(Method::POST, "v1/sessions", None, Body::Json(&req))
            .await?;
        let now = self.session.now();
        // The token response does not name the account: ask once.
        let me: Profile = api
            .json(
                Method::GET,
                "v1/me",
                Some(&t.access_token),
                Body::<NoBody>::None,
            )
            .await?;
        // Someone else used this device before and their session ended
        // without a logout: their data must not be shown to this user.
        if self
            .cached_profile()
            .await?
            .is_some_and(|p| p.user_id != me.user_id)
        {
            clear_user_data(&self.cache).await?;
            self.log
                .info("account", "previous user's local data removed");
        }
        self.session
            .start(Tokens::from_response(me.user_id, None, t, now))
            .await?;
        self.store_profile(&me).await?;
        self.log.info("account", "signed in");
        Ok(me.user_id)
    }

    /// Signs out: the server revokes this login's tokens, and the local
    /// session is removed whatever the network does (an unreachable server
    /// must not keep the user signed in on this device). The user's synced
    /// data and unsent changes are removed from the device too: sync first
    /// to keep offline edits.
    pub async fn logout(&self) -> Result<()> {
        if let Some(token) = self.session.current_access().await {
            let revoked = self
                .session
                .api()
                .send(
                    Method::DELETE,
                    "v1/sessions/current",
                    Some(&token),
                    Body::<NoBody>::None,
                )
                .await;
            if revoked.is_err() {
                self.log.warn(
                    "account",
                    "server logout failed; local session removed anyway",
                );
            }
        }
        self.session.end(false).await?;
        clear_user_data(&self.cache).await?;
        self.log.info("account", "signed out");
        Ok(())
    }

    /// The profile from the server (and refreshes the cached copy).
    pub async fn profile(&self) -> Result<Profile> {
        let api = self.session.api();
        let p: Profile = self
            .session
            .authorized(|t| async move {
                api.json(Method::GET, "v1/me", Some(&t), Body::<NoBody>::None)
                    .await
            })
            .await?;
        self.store_profile(&p).await?;
        Ok(p)
    }

    /// The profile as last seen, without the network: the copy read from
    /// the server, with the synced `profile` record laid over it (so a
    /// correction made on another device shows here after a sync).
    pub async fn cached_profile(&self) -> Result<Option<Profile>> {
        blocking(&self.cache, |c| {
            c.transaction(|tx| {
                let Some(mut p) = tx.get::<Profile>(PROFILE, ME)?.map(|r| r.value) else {
                    return Ok(None);
                };
                let synced = tx
                    .get::<crate::sync::plan::LocalRecord>("profile", &p.user_id.to_string())?
                    .map(|r| r.value.fields);
                if let Some(f) = synced {
                    let text = |k: &str| f.get(k).and_then(|v| v.v.as_str()).map(str::to_owned);
                    let set = |slot: &mut String, k: &str| {
                        if let Some(v) = text(k) {
                            *slot = v;
                        }
                    };
                    set(&mut p.email, "email");
                    set(&mut p.full_name, "full_name");
                    set(&mut p.phone, "phone");
                    set(&mut p.country, "country");
                    set(&mut p.language, "language");
                    set(&mut p.profession, "profession");
                    if let Some(d) = text("date_of_birth").and_then(|d| d.parse().ok()) {
                        p.date_of_birth = d;
                    }
                }
                Ok(Some(p))
            })
        })
        .await
    }

    /// Rectifies profile fields on the server. A change of the login email
    /// needs [`Self::reauthenticate`] first (else `reauth_required`) and
    /// signs the account's other devices out.
    pub async fn update_profile(&self, req: &UpdateProfileRequest) -> Result<Profile> {
        let api = self.session.api();
        let p: Profile = self
            .session
            .authorized(|t| async move {
                api.json(Method::PATCH, "v1/me", Some(&t), Body::Json(req))
                    .await
            })
            .await?;
        self.store_profile(&p).await?;
        self.log.info("account", "profile updated");
        Ok(p)
    }

    async fn store_profile(&self, p: &Profile) -> Result<()> {
        let p = p.clone();
        blocking(&self.cache, move |c| {
            c.put(PROFILE, ME, &p, RecordMeta::synced(0))
        })
        .await
    }

    /// Creates an organisation; the caller becomes its admin.
    pub async fn create_org(&self, name: &str) -> Result<Uuid> {
        let api = self.session.api();
        let req = CreateOrgRequest {
            name: name.to_owned(),
        };
        let r: CreateOrgResponse = self
            .session
            .authorized(|t| {
                let req = &req;
                async move {
                    api.json(Method::POST, "v1/orgs", Some(&t), Body::Json(req))
                        .await
                }
            })
            .await?;
        Ok(r.org_id)
    }

    /// Joins an organisation with a code from one of its admins.
    pub async fn join_org(&self, code: &str) -> Result<Uuid> {
        let api = self.session.api();
        let req = JoinOrgRequest {
            code: code.to_owned(),
        };
        let r: JoinOrgResponse = self
            .session
            .authorized(|t| {
                let req = &req;
                async move {
                    api.json(Method::POST, "v1/orgs/join", Some(&t), Body::Json(req))
                        .await
                }
            })
            .await?;
        Ok(r.org_id)
    }

    /// The caller's organisations.
    pub async fn orgs(&self) -> Result<Vec<Org>> {
        let api = self.session.api();
        self.session
            .authorized(|t| async move {
                api.json(Method::GET, "v1/orgs", Some(&t), Body::<NoBody>::None)
                    .await
            })
            .await
    }

    /// A single-use join code for `org` (admins).
    pub async fn create_join_code(&self, org: Uuid) -> Result<JoinCodeResponse> {
        let api = self.session.api();
        let path = format!("v1/orgs/{org}/join-codes");
        self.session
            .authorized(|t| {
                let path = &path;
                async move {
                    api.json(Method::POST, path, Some(&t), Body::<NoBody>::None)
                        .await
                }
            })
            .await
    }

    /// Members of `org` (members only).
    pub async fn members(&self, org: Uuid) -> Result<Vec<Member>> {
        let api = self.session.api();
        let path = format!("v1/orgs/{org}/members");
        self.session
            .authorized(|t| {
                let path = &path;
                async move {
                    api.json(Method::GET, path, Some(&t), Body::<NoBody>::None)
                        .await
                }
            })
            .await
    }

    async fn call<B: serde::Serialize + Sync, R: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&B>,
    ) -> Result<R> {
        self.session.call(method, path, body).await
    }

    /// An organisation's location policy (members).
    pub async fn location_policy(&self, org: Uuid) -> Result<LocationPolicy> {
        self.call::<NoBody, _>(Method::GET, format!("v1/orgs/{org}/location-policy"), None)
            .await
    }

    /// Changes an organisation's location policy (admins; others get
    /// `forbidden`). Members' devices apply it at their next sync.
    pub async fn update_location_policy(
        &self,
        org: Uuid,
        change: &UpdateLocationPolicyRequest,
    ) -> Result<LocationPolicy> {
        self.call(
            Method::PATCH,
            format!("v1/orgs/{org}/location-policy"),
            Some(change),
        )
        .await
    }

    /// Switches location off (or back on) for one member (admins).
    pub async fn set_member_location(&self, org: Uuid, member: Uuid, enabled: bool) -> Result<()> {
        self.call::<_, ()>(
            Method::PUT,
            format!("v1/orgs/{org}/members/{member}/location"),
            Some(&MemberLocationRequest { enabled }),
        )
        .await
    }

    /// Who changed the organisation's location settings, and when (admins).
    pub async fn location_policy_changes(&self, org: Uuid) -> Result<Vec<PolicyChange>> {
        self.call::<NoBody, _>(
            Method::GET,
            format!("v1/orgs/{org}/location-policy/changes"),
            None,
        )
        .await
    }

    /// Downloads everything the server holds about this user to `path`
    /// (JSON, or encrypted under `passphrase`; see [`crate::export`]).
    /// Returns the bytes received.
    pub async fn export(&self, path: &std::path::Path, passphrase: Option<&str>) -> Result<u64> {
        self.export_with_progress(path, passphrase, &|_| {}).await
    }

    /// [`Self::export`], calling `progress` with the bytes received so far
    /// after each chunk (for a progress bar).
    pub async fn export_with_progress(
        &self,
        path: &std::path::Path,
        passphrase: Option<&str>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64> {
        crate::export::download(&self.session, path, passphrase, progress).await
    }

    /// Confirms the password in this sign-in. Sensitive changes need it in
    /// the five minutes before: changing the login email
    /// ([`Self::update_profile`]) and erasure.
    pub async fn reauthenticate(&self, password: &str) -> Result<()> {
        let reauth = praxis_protocol::ReauthRequest {
            password: password.to_owned(),
        };
        self.call::<_, ()>(Method::POST, "v1/sessions/reauth".into(), Some(&reauth))
            .await
    }

    /// Erases the account on the server and wipes this device: the
    /// password is confirmed first (`reauth`), then everything about the
    /// user is removed; the user's other devices wipe themselves at their
    /// next contact, and holders of the user's card lose it.
    pub async fn delete_account(&self, password: &str) -> Result<()> {
        self.reauthenticate(password).await?;
        self.call::<NoBody, ()>(Method::DELETE, "v1/me".into(), None)
            .await?;
        self.session.end(false).await?;
        crate::session::wipe(&self.cache, &self.log).await?;
        Ok(())
    }

    /// The security events recorded about this account, newest first.
    pub async fn audit(&self) -> Result<Vec<praxis_protocol::audit::AuditEntry>> {
        self.call::<NoBody, _>(Method::GET, "v1/me/audit".into(), None)
            .await
    }

    /// The processing that rests on legitimate interest, with whether the
    /// user objects to each, what an objection stops and what goes on.
    pub async fn objections(&self) -> Result<Vec<praxis_protocol::notice::Objection>> {
        self.call::<NoBody, _>(Method::GET, "v1/me/objections".into(), None)
            .await
    }

    /// Objects to `basis` (GDPR Art. 21), or withdraws the objection; the
    /// answer says what stops and what goes on despite it, and why.
    pub async fn set_objection(
        &self,
        basis: &str,
        objected: bool,
    ) -> Result<praxis_protocol::notice::Objection> {
        let body = praxis_protocol::notice::ObjectionRequest {
            basis: basis.to_owned(),
            objected,
        };
        self.call(Method::PUT, "v1/me/objections".into(), Some(&body))
            .await
    }

    /// What happens to the user's data after their death: their directive,
    /// or the default (erasure).
    pub async fn post_mortem(&self) -> Result<praxis_protocol::notice::PostMortemDirective> {
        self.call::<NoBody, _>(Method::GET, "v1/me/post-mortem".into(), None)
            .await
    }

    /// Records the post-mortem directive (checked here first: a bad one is
    /// refused without a request).
    pub async fn set_post_mortem(
        &self,
        req: &praxis_protocol::notice::PostMortemRequest,
    ) -> Result<praxis_protocol::notice::PostMortemDirective> {
        req.check()
            .map_err(|(field, reason)| crate::Error::InvalidInput { field, reason })?;
        self.call(Method::PUT, "v1/me/post-mortem".into(), Some(req))
            .await
    }

    /// Removes the post-mortem directive: erasure applies again.
    pub async fn remove_post_mortem(&self) -> Result<()> {
        self.call::<NoBody, ()>(Method::DELETE, "v1/me/post-mortem".into(), None)
            .await
    }

    /// Registers this sign-in's platform push token, so that the server
    /// wakes the app in the background when its data changes (then call
    /// [`crate::sync::SyncEngine::handle_wake_up`]). Call it again whenever
    /// the platform hands the app a new token; sign-out removes it.
    pub async fn register_push_token(
        &self,
        platform: praxis_protocol::sync::PushPlatform,
        token: &str,
    ) -> Result<()> {
        praxis_protocol::sync::check_push_token(token).map_err(|reason| {
            crate::Error::InvalidInput {
                field: "token",
                reason,
            }
        })?;
        self.call::<_, ()>(
            Method::POST,
            "v1/devices/push-token".to_owned(),
            Some(&praxis_protocol::sync::PushTokenRequest {
                platform,
                token: token.to_owned(),
            }),
        )
        .await
    }

    /// Stops background wake-ups for this sign-in.
    pub async fn remove_push_token(&self) -> Result<()> {
        self.call::<NoBody, ()>(Method::DELETE, "v1/devices/push-token".to_owned(), None)
            .await
    }

    /// Restricts processing of the account (GDPR Art. 18), or lifts it.
    /// While restricted, location and sharing are refused with
    /// `Restricted`; on this device that applies at once.
    pub async fn set_restricted(&self, restricted: bool) -> Result<()> {
        self.call::<_, ()>(
            Method::PUT,
            "v1/me/restriction".to_owned(),
            Some(&RestrictionRequest { restricted }),
        )
        .await?;
        let now = self.session.now();
        blocking(&self.cache, move |c| {
            c.transaction(|tx| {
                let mut state = tx
                    .get::<crate::privacy::StoredState>(
                        crate::privacy::STATE.0,
                        crate::privacy::STATE.1,
                    )?
                    .map(|r| r.value)
                    .unwrap_or_default();
                state.restricted = restricted;
                tx.put(
                    crate::privacy::STATE.0,
                    crate::privacy::STATE.1,
                    &state,
                    RecordMeta::local(),
                )?;
                crate::privacy::enforce(tx, now).map(drop)
            })
        })
        .await
    }

    /// The signed-in account's id, if any.
    pub fn user_id(&self) -> Option<Uuid> {
        match self.state() {
            SessionState::SignedIn { user_id } => Some(user_id),
            _ => None,
        }
    }
}
