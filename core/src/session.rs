//! The signed-in session: tokens kept only in the encrypted cache, an
//! observable state, and single-flight refresh.
//!
//! Every authenticated call goes through [`Session::authorized`]: it uses
//! the current access token (refreshing first if the clock says it has
//! expired), and on a `401` refreshes once and retries once. Refreshes are
//! serialised by the tokens mutex, so two calls that hit a `401` together
//! spend the refresh token once; the second sees the new token and simply
//! retries. A refresh the server refuses ends the session: the tokens are
//! deleted and the state becomes [`SessionState::NeedsReLogin`].

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::{ErrorCode, RefreshRequest, TokenResponse};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use crate::cache::{Cache, RecordMeta, blocking};
use crate::clock::Clock;
use crate::http::{Api, Body};
use crate::log::Log;
use crate::{Error, Result};

const COLLECTION: &str = crate::cache::SESSION_RECORD.0;
const CURRENT: &str = crate::cache::SESSION_RECORD.1;
/// Refresh a little before the server's expiry, not after a failed call.
const EXPIRY_MARGIN: Duration = Duration::seconds(30);

/// Whether someone is signed in on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No session.
    SignedOut,
    /// A session for this account.
    SignedIn {
        /// The account.
        user_id: Uuid,
    },
    /// The server ended the session (revoked, expired, reused token):
    /// the app should ask the user to sign in again.
    NeedsReLogin,
    /// The user signed this device out from another one and asked for a
    /// wipe: the user's data on this device was deleted. The app says so
    /// and asks for a new sign-in.
    Wiped,
}

/// What this device tells the server about itself at login, shown in the
/// user's list of sessions. The name is sealed on the server.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DeviceLabel {
    /// A name the user recognises (e.g. the phone's model or the name the
    /// user gave it), at most 100 characters.
    pub name: Option<String>,
    /// The kind of device.
    pub platform: Option<praxis_protocol::Platform>,
}

impl std::fmt::Debug for DeviceLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLabel")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// Tokens as stored in the cache.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Tokens {
    pub(crate) user_id: Uuid,
    /// This sign-in, kept across token refreshes: sync steps are fenced by
    /// it (see `crate::cache::session_fence`). Nil for a session stored
    /// before it existed.
    #[serde(default)]
    pub(crate) session_id: Uuid,
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) access_expires_at: DateTime<Utc>,
}
praxis_protocol::redacted_debug!(Tokens {
    user_id,
    access_expires_at
});

impl Tokens {
    /// The tokens of a new sign-in (the server's session id) or, with
    /// `session_id`, of a refresh within it.
    pub(crate) fn from_response(
        user_id: Uuid,
        session_id: Option<Uuid>,
        t: TokenResponse,
        now: DateTime<Utc>,
    ) -> Self {
        let life = Duration::seconds(i64::try_from(t.expires_in).unwrap_or(0));
        Self {
            user_id,
            session_id: session_id.unwrap_or(t.session_id),
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            access_expires_at: now + life,
        }
    }
}

/// The session of one client.
#[derive(Debug)]
pub(crate) struct Session {
    api: Api,
    cache: Arc<Cache>,
    clock: Arc<dyn Clock>,
    log: Log,
    tokens: Mutex<Option<Tokens>>,
    state: watch::Sender<SessionState>,
}

impl Session {
    /// Restores the stored session, if any.
    pub(crate) async fn restore(
        api: Api,
        cache: Arc<Cache>,
        clock: Arc<dyn Clock>,
        log: Log,
    ) -> Result<Self> {
        let stored = blocking(&cache, |c| c.get::<Tokens>(COLLECTION, CURRENT)).await?;
        let tokens = stored.map(|r| r.value);
        let state = match &tokens {
            Some(t) => SessionState::SignedIn { user_id: t.user_id },
            None => SessionState::SignedOut,
        };
        if tokens.is_some() {
            log.info("account", "session restored from the encrypted cache");
        }
        Ok(Self {
            api,
            cache,
            clock,
            log,
            tokens: Mutex::new(tokens),
            state: watch::channel(state).0,
        })
    }

    pub(crate) fn api(&self) -> &Api {
        &self.api
    }

    /// The server's id of this sign-in, when signed in.
    pub(crate) async fn session_id(&self) -> Option<Uuid> {
        self.tokens.lock().await.as_ref().map(|t| t.session_id)
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn state(&self) -> SessionState {
        *self.state.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<SessionState> {
        self.state.subscribe()
    }

    /// Stores a new session (after login) and announces it.
    pub(crate) async fn start(&self, tokens: Tokens) -> Result<()> {
        let mut guard = self.tokens.lock().await;
        self.persist(Some(tokens.clone())).await?;
        let user_id = tokens.user_id;
        *guard = Some(tokens);
        self.state.send_replace(SessionState::SignedIn { user_id });
        Ok(())
    }

    /// Forgets the session locally; `ended_by_server` picks the state.
    pub(crate) async fn end(&self, ended_by_server: bool) -> Result<Option<Tokens>> {
        let mut guard = self.tokens.lock().await;
        self.persist(None).await?;
        let old = guard.take();
        self.state.send_replace(if ended_by_server {
            SessionState::NeedsReLogin
        } else {
            SessionState::SignedOut
        });
        Ok(old)
    }

    async fn persist(&self, tokens: Option<Tokens>) -> Result<()> {
        blocking(&self.cache, move |c| match tokens {
            Some(t) => c.put(COLLECTION, CURRENT, &t, RecordMeta::default()),
            None => c.delete(COLLECTION, CURRENT).map(drop),
        })
        .await
    }

    /// The current access token, refreshed first if it has expired.
    async fn access_token(&self) -> Result<String> {
        let guard = self.tokens.lock().await;
        let t = guard.as_ref().ok_or(Error::NotSignedIn)?;
        if self.clock.now() + EXPIRY_MARGIN < t.access_expires_at {
            return Ok(t.access_token.clone());
        }
        let stale = t.access_token.clone();
        drop(guard);
        self.refresh(&stale).await
    }

    /// Exchanges the refresh token, unless another call already did since
    /// `stale` was read. Returns the access token to use.
    async fn refresh(&self, stale: &str) -> Result<String> {
        let mut guard = self.tokens.lock().await;
        let current = guard.as_ref().ok_or(Error::NotSignedIn)?;
        if current.access_token != stale {
            return Ok(current.access_token.clone());
        }
        let body = RefreshRequest {
            refresh_token: current.refresh_token.clone(),
        };
        let (user_id, session_id) = (current.user_id, current.session_id);
        let answer: Result<TokenResponse> = self
            .api
            .json(Method::POST, "v1/sessions/refresh", None, Body::Json(&body))
            .await;
        match answer {
            Ok(t) => {
                let tokens = Tokens::from_response(user_id, Some(session_id), t, self.clock.now());
                self.persist(Some(tokens.clone())).await?;
                let access = tokens.access_token.clone();
                *guard = Some(tokens);
                self.log.info("account", "access token refreshed");
                Ok(access)
            }
            Err(Error::Api {
                code: ErrorCode::AccountErased,
                ..
            }) => {
                drop(guard);
                Err(Error::AccountErased)
            }
            Err(Error::Api {
                code: ErrorCode::SessionWiped,
                ..
            }) => {
                drop(guard);
                Err(Error::DeviceWiped)
            }
            Err(Error::Api { status: 401, .. }) => {
                self.persist(None).await?;
                *guard = None;
                self.state.send_replace(SessionState::NeedsReLogin);
                self.log
                    .warn("account", "refresh refused by the server; signed out");
                Err(Error::SessionExpired)
            }
            Err(e) => Err(e),
        }
    }

    /// The server says the account was erased: forget the session and wipe
    /// the user's data from this device.
    async fn erased(&self) -> Error {
        if self.end(false).await.is_ok() {
            let _ = wipe(&self.cache, &self.log).await;
        }
        Error::AccountErased
    }

    /// The user ended this session from another device and asked for a
    /// wipe: forget the session (the app asks for a new sign-in) and wipe
    /// the user's data from this device.
    async fn wiped(&self) -> Error {
        if self.end(false).await.is_ok() {
            let _ = wipe(&self.cache, &self.log).await;
            // Announced once the data is gone.
            self.state.send_replace(SessionState::Wiped);
            self.log
                .warn("account", "signed out and wiped from another device");
        }
        Error::DeviceWiped
    }

    /// Runs an authenticated call with one refresh-and-retry on `401`; an
    /// answer that the account was erased, or this session wiped, wipes
    /// the device before it is returned.
    pub(crate) async fn authorized<R, F, Fut>(&self, call: F) -> Result<R>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        match self.authorized_once(call).await {
            Err(
                Error::AccountErased
                | Error::Api {
                    code: ErrorCode::AccountErased,
                    ..
                },
            ) => Err(self.erased().await),
            Err(
                Error::DeviceWiped
                | Error::Api {
                    code: ErrorCode::SessionWiped,
                    ..
                },
            ) => Err(self.wiped().await),
            other => other,
        }
    }

    async fn authorized_once<R, F, Fut>(&self, call: F) -> Result<R>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let token = self.access_token().await?;
        match call(token.clone()).await {
            Err(Error::Api {
                status: 401,
                code: ErrorCode::Unauthorized,
                ..
            }) => {
                let fresh = self.refresh(&token).await?;
                match call(fresh).await {
                    Err(Error::Api {
                        status: 401,
                        code: ErrorCode::Unauthorized,
                        ..
                    }) => {
                        self.end(true).await?;
                        Err(Error::SessionExpired)
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    /// An authorised JSON call (refresh and retry on 401); an empty answer
    /// reads as JSON `null` (for `()`).
    pub(crate) async fn call<B: serde::Serialize + Sync, R: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: String,
        body: Option<&B>,
    ) -> Result<R> {
        let api = self.api();
        self.authorized(|t| {
            let (path, method) = (&path, method.clone());
            async move {
                let body = body.map_or(crate::http::Body::None, crate::http::Body::Json);
                let (status, bytes) = api.send(method, path, Some(&t), body).await?;
                let bytes = if bytes.is_empty() {
                    &b"null"[..]
                } else {
                    &bytes[..]
                };
                serde_json::from_slice(bytes).map_err(|_| Error::Protocol {
                    status: status.as_u16(),
                })
            }
        })
        .await
    }

    /// The access token for logout (no refresh: an expired one is fine to
    /// drop locally).
    pub(crate) async fn current_access(&self) -> Option<String> {
        self.tokens
            .lock()
            .await
            .as_ref()
            .map(|t| t.access_token.clone())
    }
}

/// Wipes the signed-in user's data from this device: records, queued
/// changes and local state are deleted (SQLite `secure_delete` overwrites
/// them), then the data key is rotated so whatever a file still holds
/// under the old key can never be decrypted (the old key is destroyed).
pub(crate) async fn wipe(cache: &Arc<Cache>, log: &Log) -> Result<()> {
    clear_user_data(cache).await?;
    blocking(cache, |c| c.rotate_dek()).await?;
    log.warn("account", "account erased; this device's data was wiped");
    Ok(())
}

/// Removes the signed-in user's data from the device: the cached profile,
/// synced records, queued changes and sync state.
pub(crate) async fn clear_user_data(cache: &Arc<Cache>) -> Result<()> {
    blocking(cache, |c| {
        c.transaction(|tx| {
            tx.delete(crate::local::PROFILE, crate::local::ME)?;
            for collection in crate::sync::SYNCED.iter().chain(crate::local::USER_LOCAL) {
                for r in tx.list::<serde_json::Value>(collection)? {
                    tx.delete(collection, &r.id)?;
                }
            }
            // The device keeps its sync identity and sequence counter (the
            // server's exactly-once keys are client id + sequence, so a
            // counter that restarted would make new changes look like
            // replays); only the cursor goes, so the next user pulls from
            // the start.
            for mut r in tx.list::<serde_json::Value>("sync_state")? {
                r.value["cursor"] = serde_json::Value::Null;
                r.value["resync"] = serde_json::Value::Bool(false);
                tx.put("sync_state", &r.id, &r.value, r.meta)?;
            }
            tx.ack_outbox(i64::MAX).map(drop)
        })
    })
    .await
}
