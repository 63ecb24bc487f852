//! `GET /v1/sync/changes`: the change feed, as Server-Sent Events.
//!
//! A device holds one stream while its app is in the foreground. The
//! stream says *that* something changed, never what: `changes` carries the
//! scope's new sequence number (the device then pulls), `privacy` says the
//! privacy state changed (a restriction, a published policy version: the
//! device runs its privacy step), `heartbeat` keeps proxies from closing an
//! idle connection, and `end` closes the stream with a reason
//! (`signed_out`, `token_expired`, `account_erased`, `shutting_down`).
//! No record, field, name or address ever travels on it.
//!
//! Why SSE and not a long-poll pull: one request per foreground session
//! instead of one per change or per timeout, a signal within milliseconds
//! of the commit, and plain HTTP that proxies and the platform HTTP stacks
//! pass; the data itself still moves only through the pull, so there is
//! one code path for applying changes and the cursor stays the device's.

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use praxis_protocol::{ErrorCode, Problem};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{AppError, AppResult};
use crate::extract::Caller;
use crate::store::feed::{Broadcast, Signal, Subscription};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(changes))
}

/// Where the device's cursor stands.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ChangesQuery {
    /// The device's pull cursor; without one, any change is news.
    cursor: Option<String>,
}

/// One event of the stream, as the OpenAPI document describes it (the
/// handler writes them through axum's `Event`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct ChangeEvent {
    /// What happened.
    event: EventName,
    /// JSON: `{"seq": n}` for `changes`, `{"reason": "..."}` for `end`,
    /// `{}` otherwise.
    data: String,
}

/// The events a stream sends.
#[derive(Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum EventName {
    Changes,
    Privacy,
    Heartbeat,
    End,
}

impl EventName {
    fn as_str(self) -> &'static str {
        match self {
            Self::Changes => "changes",
            Self::Privacy => "privacy",
            Self::Heartbeat => "heartbeat",
            Self::End => "end",
        }
    }
}

/// Why a stream ended (the `end` event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    SignedOut,
    TokenExpired,
    AccountErased,
    ShuttingDown,
}

impl EndReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::SignedOut => "signed_out",
            Self::TokenExpired => "token_expired",
            Self::AccountErased => "account_erased",
            Self::ShuttingDown => "shutting_down",
        }
    }
}

/// Follow the changes of the caller's scope as they commit.
#[utoipa::path(get, path = "/v1/sync/changes", tag = "sync", security(("bearer" = [])),
    params(ChangesQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = ChangeEvent,
            description = "Server-Sent Events, each as described: `changes` {seq}, `privacy` {}, `heartbeat` {}, then `end` {reason: signed_out | token_expired | account_erased | shutting_down}"),
        (status = 400, description = "validation_failed (cursor)", body = Problem),
        (status = 410, description = "resync_required (a cursor of another epoch or from the future), account_erased", body = Problem),
        (status = 429, description = "rate_limited: the account holds the most streams allowed, with Retry-After", body = Problem),
    ))]
async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ChangesQuery>,
) -> AppResult<Response> {
    let after = super::sync::cursor_after(&state, q.cursor.as_deref())?;
    // Subscribed before the sequence is read: a commit in between wakes
    // the stream rather than being missed.
    let sub = state
        .store()
        .feed()
        .subscribe(caller.user_id, state.settings().streams_per_account)
        .ok_or_else(|| AppError::rate_limited(30))?;
    let seq = state.store().scope_seq(caller.user_id).await?;
    if after > seq {
        return Err(AppError::new(ErrorCode::ResyncRequired));
    }
    tracing::info!(user_id = %caller.user_id, "change stream opened");
    let mut heartbeat = tokio::time::interval(state.settings().feed_heartbeat);
    heartbeat.reset();
    let (seen, seen_all) = (*sub.user.borrow(), *sub.all.borrow());
    let mut live = Live {
        queue: VecDeque::new(),
        told: after,
        seen,
        seen_all,
        sub,
        state,
        caller,
        heartbeat,
        ended: false,
    };
    if seq > after {
        live.told = seq;
        live.queue.push_back(changes_event(seq));
    }
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    let mut res = Sse::new(stream).into_response();
    // Reverse proxies must pass each event on as it comes.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

fn changes_event(seq: i64) -> Event {
    Event::default()
        .event(EventName::Changes.as_str())
        .data(format!("{{\"seq\":{seq}}}"))
}

fn empty(name: EventName) -> Event {
    Event::default().event(name.as_str()).data("{}")
}

/// One open stream.
struct Live {
    state: AppState,
    caller: Caller,
    sub: Subscription,
    /// The highest sequence the device was told of.
    told: i64,
    seen: Signal,
    seen_all: Broadcast,
    heartbeat: tokio::time::Interval,
    queue: VecDeque<Event>,
    ended: bool,
}

impl Live {
    /// The next event, or `None` once the stream has ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            tokio::select! {
                changed = self.sub.user.changed() => {
                    if changed.is_err() {
                        self.end(EndReason::ShuttingDown);
                        continue;
                    }
                    let now = *self.sub.user.borrow_and_update();
                    self.user_changed(now).await;
                }
                changed = self.sub.all.changed() => {
                    if changed.is_err() {
                        self.end(EndReason::ShuttingDown);
                        continue;
                    }
                    let now = *self.sub.all.borrow_and_update();
                    self.all_changed(now).await;
                }
                _ = self.heartbeat.tick() => {
                    if self.state.now() >= self.caller.expires_at {
                        self.end(EndReason::TokenExpired);
                    } else {
                        self.queue.push_back(empty(EventName::Heartbeat));
                    }
                }
            }
        }
    }

    async fn user_changed(&mut self, now: Signal) {
        let before = std::mem::replace(&mut self.seen, now);
        if now.sessions != before.sessions
            && let Some(reason) = self.token_gone().await
        {
            self.end(reason);
            return;
        }
        if now.seq > self.told {
            self.told = now.seq;
            self.queue.push_back(changes_event(now.seq));
        }
        if now.privacy != before.privacy {
            self.queue.push_back(empty(EventName::Privacy));
        }
    }

    async fn all_changed(&mut self, now: Broadcast) {
        let before = std::mem::replace(&mut self.seen_all, now);
        if now.closing {
            self.end(EndReason::ShuttingDown);
            return;
        }
        if now.privacy != before.privacy {
            self.queue.push_back(empty(EventName::Privacy));
        }
        if now.resync != before.resync {
            // Notes may have been lost: the sequence, and the token, are
            // read again.
            if let Some(reason) = self.token_gone().await {
                self.end(reason);
                return;
            }
            match self.state.store().scope_seq(self.caller.user_id).await {
                Ok(seq) if seq > self.told => {
                    self.told = seq;
                    self.queue.push_back(changes_event(seq));
                }
                Ok(_) => {}
                Err(_) => self.end(EndReason::ShuttingDown),
            }
        }
    }

    /// Why the stream's token no longer holds, if it does not.
    async fn token_gone(&self) -> Option<EndReason> {
        let store = self.state.store();
        let now = self.state.now();
        match store.access(&self.caller.token_hash, now).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(match store.token_erased(&self.caller.token_hash).await {
                Ok(true) => EndReason::AccountErased,
                _ if now >= self.caller.expires_at => EndReason::TokenExpired,
                _ => EndReason::SignedOut,
            }),
            // The database is unreachable: the device reconnects later.
            Err(_) => Some(EndReason::ShuttingDown),
        }
    }

    fn end(&mut self, reason: EndReason) {
        tracing::info!(user_id = %self.caller.user_id, reason = reason.as_str(), "change stream ended");
        self.queue.push_back(
            Event::default()
                .event(EventName::End.as_str())
                .data(format!("{{\"reason\":\"{}\"}}", reason.as_str())),
        );
        self.ended = true;
    }
}
