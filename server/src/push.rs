//! The notifier: delivers background wake-ups to a push gateway.
//!
//! A change to someone's data queues a wake-up for each of their signed-in
//! devices that registered a push token (`store::wakeups`, in the change's
//! own transaction). This worker, off the request path, sends the due ones
//! to the gateway the operator configured (`--push-gateway-url`), in the
//! style of a Matrix push gateway: one `POST` per wake-up naming the
//! device's platform and token and nothing else (no user, no record, no
//! text), which the gateway relays to FCM or APNs as a silent "sync now".
//! The app then syncs within its background time.
//!
//! A slow or absent gateway never slows a request: it only delays the
//! worker. A failed delivery is retried after 2 s doubling to 5 min, and
//! dropped after [`MAX_ATTEMPTS`] (the device still syncs when it next
//! opens); a token the gateway rejects is forgotten. Replicas share the
//! outbox: each row is leased by one of them at a time.

use std::time::Duration;

use serde_json::json;

use crate::AppState;
use crate::store::{Delivery, Wakeup};

/// Deliveries tried before a wake-up is dropped.
pub const MAX_ATTEMPTS: i64 = 6;
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often the outbox is read.
const POLL: Duration = Duration::from_millis(200);
/// Wake-ups sent at once per round.
const BATCH: i64 = 64;

/// Builds the HTTP client for the gateway (rustls on ring, the WebPKI
/// roots; plain HTTP only for a gateway on loopback, as in tests).
fn client() -> anyhow::Result<reqwest::Client> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Checks a gateway URL: `https://`, or `http://` to a loopback address.
pub fn check_gateway_url(raw: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(raw).map_err(|_| "not a URL")?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("the push gateway must be https:// (or http:// on loopback)"),
    }
}

/// The wait before retrying after `attempts` failed deliveries.
fn backoff(attempts: i64) -> chrono::Duration {
    let secs = 2_i64.saturating_pow(u32::try_from(attempts.clamp(1, 10)).unwrap_or(10));
    chrono::Duration::seconds(secs.min(300))
}

/// Delivers wake-ups until the task is dropped.
pub async fn run(state: AppState, gateway: url::Url) {
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "push notifier not started: no HTTP client");
            return;
        }
    };
    let coalesce = chrono::Duration::from_std(state.settings().push_coalesce)
        .unwrap_or(chrono::Duration::seconds(2));
    loop {
        let now = state.now();
        let taken = state
            .store()
            .take_wakeups(
                now - coalesce,
                now + chrono::Duration::from_std(TIMEOUT * 3).unwrap_or_default(),
                BATCH,
            )
            .await;
        match taken {
            Ok(batch) if !batch.is_empty() => {
                let sends = batch
                    .into_iter()
                    .map(|w| deliver(&state, &http, &gateway, w));
                futures_util::future::join_all(sends).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "push outbox unreadable"),
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn deliver(state: &AppState, http: &reqwest::Client, gateway: &url::Url, w: Wakeup) {
    let body = json!({
        "notification": {
            "type": "praxis.sync",
            "prio": "high",
            "devices": [{"platform": w.platform, "pushkey": w.token}],
        }
    });
    let answer = http.post(gateway.clone()).json(&body).send().await;
    let outcome = match answer {
        Ok(res) if res.status().is_success() => {
            #[derive(serde::Deserialize, Default)]
            struct Answer {
                #[serde(default)]
                rejected: Vec<String>,
            }
            let a: Answer = res.json().await.unwrap_or_default();
            if a.rejected.contains(&w.token) {
                Delivery::Rejected
            } else {
                Delivery::Delivered
            }
        }
        _ if w.attempts + 1 >= MAX_ATTEMPTS => Delivery::Dropped,
        _ => Delivery::Retry(state.now() + backoff(w.attempts + 1)),
    };
    match outcome {
        Delivery::Delivered => tracing::debug!("wake-up delivered"),
        Delivery::Rejected => tracing::info!("push token rejected by the gateway: forgotten"),
        Delivery::Retry(_) => tracing::info!(attempts = w.attempts + 1, "wake-up failed: retrying"),
        Delivery::Dropped => tracing::warn!(attempts = w.attempts + 1, "wake-up dropped"),
    }
    if let Err(e) = state.store().settle_wakeup(&w, outcome, state.now()).await {
        tracing::warn!(error = %e, "wake-up not settled");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_urls_are_https_or_loopback() {
        assert!(check_gateway_url("https://push.example.org/_matrix/push/v1/notify").is_ok());
        assert!(check_gateway_url("http://127.0.0.1:9/notify").is_ok());
        assert!(check_gateway_url("http://[::1]:9/notify").is_ok());
        assert!(check_gateway_url("http://push.example.org/notify").is_err());
        assert!(check_gateway_url("ftp://push.example.org").is_err());
        assert!(check_gateway_url("not a url").is_err());
    }

    #[test]
    fn retries_double_from_two_seconds_to_five_minutes() {
        assert_eq!(backoff(1), chrono::Duration::seconds(2));
        assert_eq!(backoff(2), chrono::Duration::seconds(4));
        assert_eq!(backoff(5), chrono::Duration::seconds(32));
        assert_eq!(backoff(9), chrono::Duration::seconds(300));
    }
}
