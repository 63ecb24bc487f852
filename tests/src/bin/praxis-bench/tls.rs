//! Section `tls`: what the server's own TLS costs (operating issue):
//! `GET /v1/me` and pushes of 100 records over HTTPS against plain HTTP
//! on the same server in the same run, the rate of full handshakes, and
//! what counting and timing every request for the metrics costs a push.

use std::sync::Arc;
use std::time::{Duration, Instant};

use praxis_server::clock::Clock as _;
use praxis_tests::tls::{Ca, TlsListener};
use praxis_tests::{Backend, TestServer, Transport};

use crate::push::{MakeClient, load_with, me_load_with};
use crate::{Metric, Options, create_batches};

const CLIENTS: usize = 32;

fn tls_client_config(ca: &Ca) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca.der.clone()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn users(server: &TestServer) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..CLIENTS {
        tokens.push(server.user(&format!("tls{i}")).await.access);
    }
    tokens
}

pub async fn tls_benchmarks(opts: &Options) -> anyhow::Result<Vec<Metric>> {
    let duration = if opts.quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(8)
    };
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .ok_or_else(|| anyhow::anyhow!("server"))?;
    let ca = Ca::new("Praxis bench CA");
    let served = TlsListener::start(&server, &ca.leaf("localhost", false)).await;
    let plain_url = server.base_url().expect("http").to_owned();
    let tokens = users(&server).await;
    let config = tls_client_config(&ca)?;
    let plain: MakeClient = Arc::new(praxis_tests::http_client);
    let tls: MakeClient = {
        let config = config.clone();
        Arc::new(move || {
            praxis_tests::http_client_builder()
                .tls_backend_preconfigured(config.clone())
                .build()
                .expect("client")
        })
    };
    let mut out = Vec::new();
    let rps = |n: usize| n as f64 / duration.as_secs_f64();

    let (me_plain, _) = me_load_with(Arc::clone(&plain), &plain_url, &tokens, duration).await?;
    let (me_tls, e) = me_load_with(Arc::clone(&tls), &served.url, &tokens, duration).await?;
    let mut m = Metric::new(
        "server GET /v1/me over TLS (SQLite) throughput",
        rps(me_tls.len()),
        "req/s",
        format!(
            "{CLIENTS} kept-alive connections, TLS 1.3, ECDSA P-256, {}s, {e} errors; baseline: plain HTTP, same server",
            duration.as_secs()
        ),
    );
    m.baseline = Some(rps(me_plain.len()));
    out.push(m);

    let now = server.clock.now();
    let batch = move || create_batches(100, "tls", now).remove(0);
    let (push_plain, _) =
        load_with(Arc::clone(&plain), &plain_url, &tokens, duration, batch).await?;
    let (push_tls, e) = load_with(Arc::clone(&tls), &served.url, &tokens, duration, batch).await?;
    let mut m = Metric::new(
        "server push over TLS (SQLite) throughput",
        rps(push_tls.len()),
        "req/s",
        format!(
            "{CLIENTS} clients, 100 new records per request, {}s, {e} errors; baseline: plain HTTP, same server",
            duration.as_secs()
        ),
    );
    m.baseline = Some(rps(push_plain.len()));
    out.push(m);

    out.push(handshakes(&served, config, duration).await?);
    out.push(metrics_cost(opts, duration).await?);
    Ok(out)
}

/// Full handshakes a second (no resumption), 4 clients back to back.
async fn handshakes(
    served: &TlsListener,
    config: rustls::ClientConfig,
    duration: Duration,
) -> anyhow::Result<Metric> {
    let mut config = config;
    config.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let addr = served
        .url
        .trim_start_matches("https://localhost:")
        .parse::<u16>()?;
    let stop_at = Instant::now() + duration;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let connector = connector.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < stop_at {
                    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", addr)).await?;
                    let name = rustls::pki_types::ServerName::try_from("localhost")?;
                    drop(connector.connect(name, tcp).await?);
                    n += 1;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(Metric::new(
        "TLS full handshakes (server)",
        total as f64 / duration.as_secs_f64(),
        "handshakes/s",
        "4 clients back to back, TLS 1.3, ECDSA P-256, no resumption; client and server share the cores",
    ))
}

/// 1-mutation pushes with the metrics middleware against the same server
/// without it (two servers, one after the other, same database kind).
async fn metrics_cost(_opts: &Options, duration: Duration) -> anyhow::Result<Metric> {
    let mut rates = Vec::new();
    for on in [true, false] {
        let settings = praxis_server::Settings {
            request_metrics: on,
            ..praxis_tests::test_settings()
        };
        let server = TestServer::start_with(Backend::Sqlite, Transport::Http, settings)
            .await
            .ok_or_else(|| anyhow::anyhow!("server"))?;
        let tokens = users(&server).await;
        let now = server.clock.now();
        let (lat, _) = load_with(
            Arc::new(praxis_tests::http_client),
            server.base_url().expect("http"),
            &tokens,
            duration,
            move || create_batches(1, "metrics", now).remove(0),
        )
        .await?;
        rates.push(lat.len() as f64 / duration.as_secs_f64());
    }
    let mut m = Metric::new(
        "server push of 1 mutation with request metrics (SQLite) throughput",
        rates[0],
        "req/s",
        format!(
            "{CLIENTS} clients, {}s; baseline: the same server without the metrics middleware",
            duration.as_secs()
        ),
    );
    m.baseline = Some(rates[1]);
    Ok(m)
}
