//! HTTP to the Praxis server.
//!
//! reqwest over rustls with the *ring* provider and the Mozilla roots
//! (webpki-roots): ring stays the one crypto library of the core and
//! nothing needs cmake for the mobile targets. Plain `http://` is refused
//! except for loopback addresses (development and tests). Every request has
//! a connect timeout and an overall timeout. Optional SPKI pinning checks,
//! on top of normal certificate validation, that the server's leaf key is
//! one of the pinned SHA-256 hashes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use praxis_protocol::Problem;
use reqwest::{Method, StatusCode};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::clock::ServerClock;
use crate::{Error, Result};

/// Network settings of the client.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Longest wait for a whole request.
    pub timeout: Duration,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// SHA-256 hashes of accepted server public keys (SPKI); empty = no
    /// pinning beyond the usual certificate checks.
    pub spki_pins: Vec<[u8; 32]>,
    /// Certificate authorities (DER) trusted besides the Mozilla roots,
    /// e.g. an organisation's private CA. Only this setting extends the
    /// trust store; nothing else does, in any build.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            spki_pins: Vec::new(),
            extra_roots: Vec::new(),
        }
    }
}

/// The server's base URL, checked: `https://`, or `http://` to loopback.
pub fn check_server_url(raw: &str) -> Result<Url> {
    let bad = |reason| Error::InvalidInput {
        field: "server_url",
        reason,
    };
    let url = Url::parse(raw).map_err(|_| bad("not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            // Loopback addresses only: a name, even `localhost`, is
            // resolved by whatever the device's resolver (or an attacker
            // on its network) says, and plain HTTP would then leave it.
            let loopback = match url.host() {
                Some(url::Host::Domain(_)) => false,
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            if !loopback {
                return Err(bad(
                    "http:// is allowed only for loopback addresses; use https://",
                ));
            }
        }
        _ => return Err(bad("must be an https:// URL")),
    }
    if url.cannot_be_a_base() || url.query().is_some() || !url.username().is_empty() {
        return Err(bad("must be a plain base URL"));
    }
    Ok(url)
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo (the value to pin).
pub fn spki_sha256(cert_der: &[u8]) -> Result<[u8; 32]> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| Error::InvalidInput {
        field: "certificate",
        reason: "not an X.509 certificate",
    })?;
    let spki = cert.subject_public_key_info();
    let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    Ok(out)
}

/// Normal WebPKI validation, then the pin check on the leaf.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let hash = spki_sha256(end_entity)
            .map_err(|_| rustls::Error::General("unparsable certificate".into()))?;
        if self.pins.contains(&hash) {
            Ok(verified)
        } else {
            // The one place this certificate error is produced: the apps
            // see it as `NetworkError::PinMismatch`.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn tls_config(pins: &[[u8; 32]], extra_roots: &[Vec<u8>]) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra_roots {
        roots
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|_| Error::InvalidInput {
                field: "extra_roots",
                reason: "not a DER X.509 CA certificate",
            })?;
    }
    let roots = Arc::new(roots);
    let tls_err = |_| Error::Network(crate::NetworkError::Tls);
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(Arc::clone(&roots))
        .with_no_client_auth();
    if !pins.is_empty() {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|_| Error::Network(crate::NetworkError::Tls))?;
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(PinnedVerifier {
                inner,
                pins: pins.to_vec(),
            }));
    }
    // HTTP/1.1 only: the client is built without HTTP/2 (one request at a
    // time and one change stream need no multiplexing), so it must not
    // let a server pick h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The largest answer body read into memory (a pull page of 1,000
/// records is a few hundred KiB); anything larger is refused as not the
/// API's shape, whatever the server or a man in the middle sends.
/// Downloads (the export) stream to a sink instead and are not capped.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Reads a whole answer body, up to [`MAX_RESPONSE_BYTES`] (after
/// decompression, so a compressed bomb is cut off too).
async fn read_capped(mut res: reqwest::Response) -> Result<bytes::Bytes> {
    let status = res.status().as_u16();
    let too_large = || Error::Protocol { status };
    if res
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = res.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// How long an event stream may stay open at most (the server ends it
/// sooner, when its access token expires).
const STREAM_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The `Retry-After` seconds of an answer, if any.
fn retry_after(res: &reqwest::Response) -> Option<u64> {
    res.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The error for a refused request: the server's problem, or a protocol
/// error when the body is not one.
fn refusal(status: StatusCode, retry_after: Option<u64>, body: &[u8]) -> Error {
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) => Error::Api {
            status: status.as_u16(),
            code: p.code,
            field: p.field,
            retry_after,
        },
        Err(_) => Error::Protocol {
            status: status.as_u16(),
        },
    }
}

/// A configured client for one server.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    base: Url,
    client: reqwest::Client,
    /// Learns the server's time from every answer's `Date` header.
    clock: Arc<ServerClock>,
}

/// What to do with a response body.
pub(crate) enum Body<'a, T: Serialize> {
    None,
    Json(&'a T),
}

impl Api {
    pub(crate) fn new(server_url: &str, cfg: &HttpConfig, clock: Arc<ServerClock>) -> Result<Self> {
        let base = check_server_url(server_url)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config(&cfg.spki_pins, &cfg.extra_roots)?)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("praxis-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| Error::Network(crate::NetworkError::Tls))?;
        Ok(Self {
            base,
            client,
            clock,
        })
    }

    fn note_server_time(&self, res: &reqwest::Response) {
        if let Some(date) = res
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
        {
            self.clock.observe_date_header(date);
        }
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|_| Error::InvalidInput {
                field: "path",
                reason: "not a valid API path",
            })
    }

    /// Sends a request; returns the status and body of a 2xx answer, or the
    /// server's problem as an error.
    pub(crate) async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Body<'_, B>,
    ) -> Result<(StatusCode, bytes::Bytes)> {
        let mut req = self.client.request(method, self.url(path)?);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Body::Json(b) = body {
            req = req.json(b);
        }
        let res = self.accepted(req).await?;
        let status = res.status();
        Ok((status, read_capped(res).await?))
    }

    /// Sends `req` and hands back an accepted answer with its body unread;
    /// a refusal is the server's problem.
    async fn accepted(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let res = req.send().await?;
        self.note_server_time(&res);
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let retry_after = retry_after(&res);
        let bytes = read_capped(res).await?;
        Err(refusal(status, retry_after, &bytes))
    }

    /// A GET whose answer is a stream of Server-Sent Events, left open:
    /// the client's whole-request timeout does not apply (the caller reads
    /// with its own idle timeout); a refusal is the server's problem.
    pub(crate) async fn event_stream(&self, path: &str, token: &str) -> Result<reqwest::Response> {
        let res = self
            .accepted(
                self.client
                    .get(self.url(path)?)
                    .bearer_auth(token)
                    .header(reqwest::header::ACCEPT, "text/event-stream")
                    .timeout(STREAM_LIFETIME),
            )
            .await?;
        let is_sse = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            return Err(Error::Protocol {
                status: res.status().as_u16(),
            });
        }
        Ok(res)
    }

    /// A GET whose (possibly large) answer is handed over chunk by chunk.
    pub(crate) async fn download(
        &self,
        path: &str,
        token: &str,
        mut sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let mut res = self
            .accepted(self.client.get(self.url(path)?).bearer_auth(token))
            .await?;
        let mut n = 0u64;
        while let Some(chunk) = res.chunk().await? {
            n += chunk.len() as u64;
            sink(&chunk)?;
        }
        Ok(n)
    }

    /// A request whose answer is JSON.
    pub(crate) async fn json<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Body<'_, B>,
    ) -> Result<R> {
        let (status, bytes) = self.send(method, path, token, body).await?;
        serde_json::from_slice(&bytes).map_err(|_| Error::Protocol {
            status: status.as_u16(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://api.example.org",
            "https://api.example.org/base/",
            "http://127.0.0.1:8787",
            "http://127.8.9.10:1",
            "http://[::1]:80",
        ] {
            assert!(check_server_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.org",
            // Regression: the name is resolved, not known to be loopback.
            "http://localhost:8787",
            "http://LOCALHOST",
            "http://10.0.0.1",
            "ftp://x",
            "not a url",
            "https://u:p@x.org",
            "https://x.org/?a=1",
        ] {
            assert!(
                matches!(
                    check_server_url(bad),
                    Err(Error::InvalidInput {
                        field: "server_url",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn spki_hashes_are_stable_and_distinct() {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        let a = spki_sha256(roots[0].as_ref()).expect("parse");
        let b = spki_sha256(roots[1].as_ref()).expect("parse");
        assert_eq!(a, spki_sha256(roots[0].as_ref()).expect("parse"));
        assert_ne!(a, b);
        assert!(spki_sha256(b"garbage").is_err());
    }
}
