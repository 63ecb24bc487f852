//! HTTPS on the server's own listener: rustls on the *ring* provider (no
//! aws-lc, as in the core), TLS 1.2 and 1.3 only, HTTP/2 or HTTP/1.1 by
//! ALPN.
//!
//! The certificate chain and key are PEM files. They are read again when
//! the process gets `SIGHUP` and when either file changes (checked every
//! few seconds), so a renewal needs no restart: connections already open
//! keep the certificate they were made with, new handshakes get the new
//! one. A renewal that cannot be read (half-written files, a key that does
//! not match) keeps the certificate in use and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate files are checked for a change.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// Why a certificate could not be loaded (no path or content in the text:
/// the operator knows which files they passed).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {0} file")]
    Read(&'static str),
    /// The certificate file holds no PEM certificate.
    #[error("the TLS certificate file holds no PEM certificate")]
    NoCertificate,
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[error("the TLS key file holds no usable PEM private key")]
    NoKey,
    /// The key does not sign with any algorithm the ring provider offers,
    /// or does not belong to the certificate.
    #[error("the TLS key does not match the certificate or is not supported")]
    KeyMismatch,
    /// rustls refused the configuration.
    #[error("TLS configuration refused")]
    Config,
}

/// The files a certificate comes from.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl CertFiles {
    fn load(&self) -> Result<CertifiedKey, TlsError> {
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|_| TlsError::Read("certificate"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| TlsError::NoCertificate)?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| match e {
            rustls::pki_types::pem::Error::Io(_) => TlsError::Read("key"),
            _ => TlsError::NoKey,
        })?;
        let provider = rustls::crypto::ring::default_provider();
        let certified =
            CertifiedKey::from_der(chain, key, &provider).map_err(|_| TlsError::KeyMismatch)?;
        Ok(certified)
    }

    fn stamps(&self) -> (Option<SystemTime>, Option<SystemTime>) {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        (modified(&self.cert), modified(&self.key))
    }
}

/// The certificate in use, replaced on reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// The listener's TLS: an acceptor whose certificate can be reloaded.
#[derive(Clone)]
pub struct Tls {
    files: CertFiles,
    current: Arc<Current>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the certificate and key; an error if they cannot serve.
    pub fn load(files: CertFiles) -> Result<Self, TlsError> {
        let current = Arc::new(Current(RwLock::new(Arc::new(files.load()?))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|_| TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            files,
            current,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads the files again and, if they serve, uses them for every new
    /// handshake; on error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(self.files.load()?);
        *self.current.0.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The handshake side of the listener.
    pub(crate) fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// Reloads on `SIGHUP` and when a file's modification time changes,
    /// until the task is aborted. The signal is taken over before this
    /// returns (from then on `SIGHUP` no longer ends the process).
    pub fn spawn_reloader(&self) -> tokio::task::JoinHandle<()> {
        let tls = self.clone();
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        tokio::spawn(async move {
            let mut seen = tls.files.stamps();
            let mut tick = tokio::time::interval(WATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let asked = async {
                    match hup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(not(unix))]
                let asked = std::future::pending::<()>();
                let why = tokio::select! {
                    () = asked => "signal",
                    _ = tick.tick() => {
                        let now = tls.files.stamps();
                        if now == seen {
                            continue;
                        }
                        seen = now;
                        "files changed"
                    }
                };
                match tls.reload() {
                    Ok(()) => tracing::info!(trigger = why, "TLS certificate reloaded"),
                    Err(e) => tracing::warn!(
                        trigger = why,
                        error = %e,
                        "TLS certificate not reloaded; the one in use stays"
                    ),
                }
            }
        })
    }
}
