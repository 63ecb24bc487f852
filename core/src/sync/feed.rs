//! The server's change feed as the device reads it: what an event means
//! ([`FeedEvent`]), the [`Feed`] a transport opens, and the HTTP one, a
//! Server-Sent Events stream (`GET /v1/sync/changes`) read with an idle
//! timeout so a connection that went silent (a dead NAT mapping, a proxy
//! that swallowed the heartbeats) is noticed and replaced.
//!
//! The feed only says *that* something changed; the data still comes
//! through the pull, so there is one way of applying server changes.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use eventsource_stream::Eventsource as _;
use futures_util::{Stream, StreamExt as _};

use crate::{Error, NetworkError, Result};

/// Why the server ended a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnd {
    /// The session was signed out or revoked.
    SignedOut,
    /// The access token expired: reconnect with a fresh one.
    TokenExpired,
    /// The account was erased.
    AccountErased,
    /// The server is going away: reconnect (to another replica).
    ShuttingDown,
    /// A reason this version does not know: treated as a reconnect.
    Other,
}

impl FeedEnd {
    fn parse(reason: &str) -> Self {
        match reason {
            "signed_out" => Self::SignedOut,
            "token_expired" => Self::TokenExpired,
            "account_erased" => Self::AccountErased,
            "shutting_down" => Self::ShuttingDown,
            _ => Self::Other,
        }
    }
}

/// One event of the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEvent {
    /// The account's data changed up to this sequence number: pull.
    Changes(i64),
    /// The account's privacy state changed (restriction, policy version,
    /// an organisation's location policy): run the privacy step.
    Privacy,
    /// The server closed the stream, for this reason.
    End(FeedEnd),
}

/// An open change feed.
#[async_trait]
pub trait Feed: Send {
    /// The next event; `Ok(None)` when the connection closed without an
    /// `end`, an error when it broke or stayed silent past the idle
    /// timeout.
    async fn next(&mut self) -> Result<Option<FeedEvent>>;
}

type Events = Pin<
    Box<
        dyn Stream<
                Item = std::result::Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<Error>,
                >,
            > + Send,
    >,
>;

/// The change feed over HTTP (Server-Sent Events).
pub(crate) struct HttpFeed {
    events: Events,
    idle: Duration,
}

impl std::fmt::Debug for HttpFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFeed")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl HttpFeed {
    /// Reads `res` (an accepted `text/event-stream` answer); silence longer
    /// than `idle` is an error.
    pub(crate) fn new(res: reqwest::Response, idle: Duration) -> Self {
        let bytes = futures_util::stream::unfold(res, |mut res| async move {
            match res.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), res)),
                Ok(None) => None,
                Err(e) => Some((Err(Error::from(e)), res)),
            }
        });
        Self {
            events: Box::pin(bytes.eventsource()),
            idle,
        }
    }
}

#[async_trait]
impl Feed for HttpFeed {
    async fn next(&mut self) -> Result<Option<FeedEvent>> {
        loop {
            let event = match tokio::time::timeout(self.idle, self.events.next()).await {
                Err(_) => return Err(Error::Network(NetworkError::Timeout)),
                Ok(None) => return Ok(None),
                Ok(Some(Err(eventsource_stream::EventStreamError::Transport(e)))) => {
                    return Err(e);
                }
                Ok(Some(Err(_))) => return Err(Error::Network(NetworkError::Interrupted)),
                Ok(Some(Ok(e))) => e,
            };
            if let Some(e) = parse(&event.event, &event.data) {
                return Ok(Some(e));
            }
            // Heartbeats, and events this version does not know.
        }
    }
}

/// The meaning of one event, `None` for heartbeats and unknown events.
fn parse(name: &str, data: &str) -> Option<FeedEvent> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: i64,
    }
    #[derive(serde::Deserialize)]
    struct End {
        reason: String,
    }
    match name {
        "changes" => serde_json::from_str::<Seq>(data)
            .ok()
            .map(|s| FeedEvent::Changes(s.seq)),
        "privacy" => Some(FeedEvent::Privacy),
        "end" => Some(FeedEvent::End(
            serde_json::from_str::<End>(data)
                .map(|e| FeedEnd::parse(&e.reason))
                .unwrap_or(FeedEnd::Other),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_by_name_and_unknown_ones_skipped() {
        assert_eq!(
            parse("changes", r#"{"seq":42}"#),
            Some(FeedEvent::Changes(42))
        );
        assert_eq!(parse("changes", "garbage"), None);
        assert_eq!(parse("privacy", "{}"), Some(FeedEvent::Privacy));
        assert_eq!(parse("heartbeat", "{}"), None);
        assert_eq!(parse("something_new", "{}"), None);
        for (reason, end) in [
            ("signed_out", FeedEnd::SignedOut),
            ("token_expired", FeedEnd::TokenExpired),
            ("account_erased", FeedEnd::AccountErased),
            ("shutting_down", FeedEnd::ShuttingDown),
            ("moved_to_mars", FeedEnd::Other),
        ] {
            assert_eq!(
                parse("end", &format!(r#"{{"reason":"{reason}"}}"#)),
                Some(FeedEvent::End(end))
            );
        }
        assert_eq!(parse("end", ""), Some(FeedEvent::End(FeedEnd::Other)));
    }
}
