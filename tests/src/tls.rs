//! TLS for tests and benchmarks: a private CA and server certificates
//! made at run time (rcgen), and the API served over HTTPS next to a
//! [`TestServer`] (the same state: one server, two listeners).

use praxis_server::tls::{CertFiles, Tls};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::TestServer;

/// A private certificate authority.
pub struct Ca {
    /// The CA certificate (DER).
    pub der: Vec<u8>,
    /// The same, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA");
        Self {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `host`; `expired` puts its validity in
    /// the past.
    pub fn leaf(&self, host: &str, expired: bool) -> Leaf {
        let mut params = CertificateParams::new(vec![host.to_owned()]).expect("params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            pin: praxis_core::http::spki_sha256(cert.der()).expect("spki"),
        }
    }
}

/// A server certificate and its key.
pub struct Leaf {
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
    /// SHA-256 of its public key (SPKI), for pinning.
    pub pin: [u8; 32],
}

/// The API served over HTTPS with `leaf`, on loopback, next to `s` (the
/// same state: one server, two listeners).
pub struct TlsListener {
    /// `https://localhost:<port>`.
    pub url: String,
    /// The listener's TLS (reload it to renew).
    pub tls: Tls,
    /// Where the PEM files are.
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsListener {
    /// Serves `s`'s state over HTTPS with `leaf`.
    pub async fn start(s: &TestServer, leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).expect("cert");
        std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).expect("key");
        let tls = Tls::load(CertFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        })
        .expect("load");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "https://localhost:{}",
            listener.local_addr().expect("addr").port()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (state, served) = (s.state.clone(), tls.clone());
        tokio::spawn(async move {
            praxis_server::serve_with_tls(
                listener,
                state,
                praxis_server::Limits::default(),
                Some(served),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("serve");
        });
        Self {
            url,
            tls,
            dir,
            stop: Some(stop),
        }
    }

    /// Writes a renewed certificate and reloads it.
    pub fn renew(&self, leaf: &Leaf) {
        std::fs::write(self.dir.path().join("cert.pem"), &leaf.cert_pem).expect("cert");
        std::fs::write(self.dir.path().join("key.pem"), &leaf.key_pem).expect("key");
        self.tls.reload().expect("reload");
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// Key material stays out of `Debug`.
impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaf").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}
