//! How the sync driver reaches the server: the [`SyncTransport`] trait, and
//! its HTTP implementation through the signed-in session (refresh and retry
//! on `401`). The deterministic simulation implements the trait with the
//! server's router in-process.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use praxis_protocol::notice::PrivacyNotice;
use praxis_protocol::privacy::PrivacyState;
use praxis_protocol::sync::{PullRequest, PullResponse, PushRequest, PushResponse};
use reqwest::Method;

use tokio::sync::watch;

use super::feed::{Feed, HttpFeed};
use crate::Result;
use crate::http::Body;
use crate::session::{Session, SessionState};

/// How the engine reaches the server (HTTP in the app; in-process in the
/// deterministic simulation).
#[async_trait]
pub trait SyncTransport: Send + Sync + std::fmt::Debug {
    /// `POST /v1/sync/push`.
    async fn push(&self, req: &PushRequest) -> Result<PushResponse>;
    /// `POST /v1/sync/pull`.
    async fn pull(&self, req: &PullRequest) -> Result<PullResponse>;
    /// `GET /v1/me/privacy`; `None` from a transport that has no privacy
    /// state to offer (the sync simulation), which skips the step.
    async fn privacy(&self) -> Result<Option<PrivacyState>> {
        Ok(None)
    }
    /// `GET /v1/privacy/notice` (no session needed); `None` from a
    /// transport without a server (the sync simulation).
    async fn notice(&self) -> Result<Option<PrivacyNotice>> {
        Ok(None)
    }
    /// `GET /v1/sync/changes` from `cursor`, silence past `idle` being an
    /// error; `None` from a transport without a feed (the live driver then
    /// pulls periodically).
    async fn open_feed(
        &self,
        _cursor: Option<&str>,
        _idle: Duration,
    ) -> Result<Option<Box<dyn Feed>>> {
        Ok(None)
    }
    /// Sign-in state changes, from a transport that has sessions (the live
    /// driver waits for a sign-in rather than retrying blindly).
    fn session_changes(&self) -> Option<watch::Receiver<SessionState>> {
        None
    }
}

/// Sync over HTTP, through the session (refresh and retry on 401).
#[derive(Debug)]
pub(crate) struct HttpSync(pub(crate) Arc<Session>);

#[async_trait]
impl SyncTransport for HttpSync {
    async fn push(&self, req: &PushRequest) -> Result<PushResponse> {
        let api = self.0.api();
        self.0
            .authorized(|t| async move {
                api.json(Method::POST, "v1/sync/push", Some(&t), Body::Json(req))
                    .await
            })
            .await
    }

    async fn pull(&self, req: &PullRequest) -> Result<PullResponse> {
        let api = self.0.api();
        self.0
            .authorized(|t| async move {
                api.json(Method::POST, "v1/sync/pull", Some(&t), Body::Json(req))
                    .await
            })
            .await
    }

    async fn privacy(&self) -> Result<Option<PrivacyState>> {
        let api = self.0.api();
        self.0
            .authorized(|t| async move {
                api.json::<(), PrivacyState>(Method::GET, "v1/me/privacy", Some(&t), Body::None)
                    .await
            })
            .await
            .map(Some)
    }

    async fn notice(&self) -> Result<Option<PrivacyNotice>> {
        self.0
            .api()
            .json::<(), PrivacyNotice>(Method::GET, "v1/privacy/notice", None, Body::None)
            .await
            .map(Some)
    }

    async fn open_feed(
        &self,
        cursor: Option<&str>,
        idle: Duration,
    ) -> Result<Option<Box<dyn Feed>>> {
        let path = match cursor {
            Some(c) => format!(
                "v1/sync/changes?cursor={}",
                url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            ),
            None => "v1/sync/changes".to_owned(),
        };
        let api = self.0.api();
        let res = self
            .0
            .authorized(|t| {
                let path = path.clone();
                async move { api.event_stream(&path, &t).await }
            })
            .await?;
        Ok(Some(Box::new(HttpFeed::new(res, idle))))
    }

    fn session_changes(&self) -> Option<watch::Receiver<SessionState>> {
        Some(self.0.subscribe())
    }
}
