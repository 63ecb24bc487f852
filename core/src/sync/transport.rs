//! How the sync driver reaches the server: the [`SyncTransport`] trait, and
//! its HTTP implementation through the signed-in session (refresh and retry
//! on `401`). The deterministic simulation implements the trait with the
//! server's router in-process.

use std::sync::Arc;

use async_trait::async_trait;
use praxis_protocol::privacy::PrivacyState;
use praxis_protocol::sync::{PullRequest, PullResponse, PushRequest, PushResponse};
use reqwest::Method;

use crate::Result;
use crate::http::Body;
use crate::session::Session;

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
}
