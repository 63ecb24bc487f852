//! A change-feed reader for tests and the bench: opens
//! `GET /v1/sync/changes` and reads its Server-Sent Events one by one,
//! keeping every byte for privacy scans.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{TestServer, http_client};

/// An open change stream, read event by event.
pub struct Stream {
    res: reqwest::Response,
    buf: String,
    /// Every byte the server sent on it.
    pub raw: Vec<u8>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("bytes_read", &self.raw.len())
            .finish_non_exhaustive()
    }
}

/// One event: its name and its data as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    /// The SSE event name (`changes`, `privacy`, `end`).
    pub name: String,
    /// The event's data.
    pub data: Value,
}

/// `GET /v1/sync/changes` on a fresh client, whatever the answer.
pub async fn open(base: &str, token: &str, cursor: Option<&str>) -> reqwest::Response {
    open_on(&http_client(), base, token, cursor)
        .await
        .expect("request")
}

/// `GET /v1/sync/changes` through `client` (a shared client opens one
/// connection per concurrent stream).
pub async fn open_on(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    cursor: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let mut url = format!("{base}/v1/sync/changes");
    if let Some(c) = cursor {
        url.push_str(&format!("?cursor={c}"));
    }
    client.get(url).bearer_auth(token).send().await
}

impl Stream {
    /// Opens a stream; panics unless the server accepts it as an event stream.
    pub async fn open(base: &str, token: &str, cursor: Option<&str>) -> Self {
        Self::accepted(open(base, token, cursor).await)
    }

    /// Wraps an answer that must be an accepted event stream.
    pub fn accepted(res: reqwest::Response) -> Self {
        assert_eq!(res.status(), 200, "stream refused");
        assert_eq!(
            res.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Self {
            res,
            buf: String::new(),
            raw: Vec::new(),
        }
    }

    /// The next event that is not a heartbeat, within `within`; `None` on
    /// timeout or when the server closed the stream.
    pub async fn next(&mut self, within: Duration) -> Option<Ev> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name == "heartbeat" || name.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(Ev { name, data });
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    self.raw.extend_from_slice(&chunk);
                    self.buf.push_str(&String::from_utf8_lossy(&chunk));
                }
                Ok(_) => return None,
                Err(_) => return None,
            }
        }
    }

    /// Opens a stream at the account's current cursor: it stays quiet
    /// until something new commits.
    pub async fn current(s: &TestServer, base: &str, token: &str) -> Self {
        let page = s
            .send("POST", "/v1/sync/pull", Some(token), Some(&json!({})))
            .await
            .json();
        let cursor = page["cursor"].as_str().expect("cursor").to_owned();
        Self::open(base, token, Some(&cursor)).await
    }

    /// Asserts that the next event is `name`.
    pub async fn expect(&mut self, name: &str) -> Ev {
        let ev = self
            .next(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no `{name}` event"));
        assert_eq!(ev.name, name, "{ev:?}");
        ev
    }

    /// Asserts that nothing but heartbeats arrive for `d`.
    pub async fn quiet_for(&mut self, d: Duration) {
        if let Some(ev) = self.next(d).await {
            panic!("unexpected event {ev:?}");
        }
    }
}
