//! The listener: accepts connections and serves the API on each, with the
//! limits a public server needs against slow or greedy clients.
//!
//! * At most [`Limits::max_connections`] connections are open at once;
//!   beyond that the server stops accepting (new clients wait in the
//!   kernel's backlog) instead of running out of memory or descriptors.
//! * A client must send a whole request head within
//!   [`Limits::header_timeout`], both for its first request and, on a
//!   kept-alive HTTP/1.1 connection, from the end of the previous answer:
//!   a socket that sends a partial head (slowloris) or idles is closed.
//!   Bodies and handlers are bounded by the router's request timeout,
//!   which answers `408` with a problem document.
//! * HTTP/2 connections are pinged when quiet and closed when the peer
//!   stops answering.
//! * Each request carries the peer's address ([`ConnectInfo`]), for the
//!   per-client limits (registration); it is never logged.
//!
//! * With TLS ([`crate::tls`]), the handshake has the same deadline as a
//!   request head.
//!
//! axum's own `serve` offers none of these settings, hence this loop
//! (hyper-util's connection builder, as axum uses underneath).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt as _;

/// A connection's byte stream, plain or TLS (one serving path for both).
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Connection limits of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request head (and the longest a
    /// kept-alive HTTP/1.1 connection may sit idle).
    pub header_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and lets in-flight requests finish (at most
/// `limits.drain_timeout`).
pub(crate) async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<crate::tls::Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before it
                    // was accepted: wait a moment rather than spin.
                    tracing::warn!(error = %e.kind(), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        );
        let service = TowerToHyperService::new(service);
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            // Errors here are the client's (reset, bad request head,
            // timeout, failed handshake); hyper already answered what
            // could be answered.
            let io: Box<dyn Io> = match tls {
                None => Box::new(stream),
                // The handshake has the same deadline as a request head: a
                // client that stalls in it is dropped.
                Some(tls) => {
                    match tokio::time::timeout(handshake_timeout, tls.acceptor().accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => Box::new(stream),
                        _ => return,
                    }
                }
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned();
            let _ = watcher.watch(connection).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: in-flight requests still running were cut off");
    }
    Ok(())
}
