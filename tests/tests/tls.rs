//! The core against the server's own TLS, over loopback: a private CA and
//! server certificates made at run time (rcgen). A trusted certificate
//! serves; an expired one, one for another host, one from an untrusted CA
//! and a key that is not pinned are each refused during the handshake,
//! with distinct errors, and the request (a login, with its password)
//! never reaches the server. The private CA is trusted only when the
//! client's configuration names it. A certificate renewal reaches new
//! connections and leaves open ones alone.

use std::sync::Arc;

use praxis_core::{Error, NetworkError, PraxisClient};
use praxis_server::tls::{CertFiles, Tls};
use praxis_tests::{Backend, TestServer, Transport, person};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::Value;

/// A private certificate authority.
struct Ca {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA");
        Self {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `host`; `expired` puts its validity in
    /// the past.
    fn leaf(&self, host: &str, expired: bool) -> Leaf {
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

struct Leaf {
    cert_pem: String,
    key_pem: String,
    pin: [u8; 32],
}

/// The API served over HTTPS with `leaf`, on loopback, next to `s` (the
/// same state: one server, two listeners).
struct TlsListener {
    url: String,
    tls: Tls,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsListener {
    async fn start(s: &TestServer, leaf: &Leaf) -> Self {
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
    fn renew(&self, leaf: &Leaf) {
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

/// A core client of `url` trusting `roots` besides the public ones,
/// pinning `pins` if any.
async fn client(
    url: &str,
    roots: &[&Ca],
    pins: &[[u8; 32]],
) -> (Arc<PraxisClient>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = praxis_tests::client_config(url, dir.path(), 3);
    config.http.extra_roots = roots.iter().map(|ca| ca.der.clone()).collect();
    config.http.spki_pins = pins.to_vec();
    (PraxisClient::open(config).await.expect("open"), dir)
}

async fn login(c: &PraxisClient, p: &Value) -> praxis_core::Result<()> {
    c.account()
        .login(
            p["email"].as_str().expect("email"),
            p["password"].as_str().expect("password"),
        )
        .await
        .map(drop)
}

/// How many other sessions the person has, asked with `access` (over the
/// in-process router, which no TLS is in front of): every login that
/// reached the server made one.
async fn other_sessions(s: &TestServer, access: &str) -> usize {
    let r = s.send("GET", "/v1/sessions", Some(access), None).await;
    assert_eq!(r.status, 200);
    r.json()["sessions"].as_array().expect("sessions").len() - 1
}

fn network(r: praxis_core::Result<()>) -> NetworkError {
    match r {
        Err(Error::Network(n)) => n,
        other => panic!("expected a network error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_trusts_what_it_should_and_refuses_the_rest_before_sending_anything() {
    let s = TestServer::start(Backend::Sqlite, Transport::Oneshot)
        .await
        .expect("server");
    let p = person("tls");
    s.register(&p).await;
    let (access, _) = s
        .login(
            p["email"].as_str().expect("e"),
            p["password"].as_str().expect("p"),
        )
        .await;
    let ca = Ca::new("Praxis test CA");
    let good = ca.leaf("localhost", false);

    // Trusted through the explicit configuration: works.
    let served = TlsListener::start(&s, &good).await;
    let (c, _d) = client(&served.url, &[&ca], &[]).await;
    login(&c, &p).await.expect("login over TLS");
    c.account().profile().await.expect("an authenticated call");
    assert_eq!(other_sessions(&s, &access).await, 1);

    // The same server without the CA in the configuration: the public
    // roots do not know it.
    let (c, _d) = client(&served.url, &[], &[]).await;
    assert_eq!(
        network(login(&c, &p).await),
        NetworkError::CertificateUntrusted
    );
    // Another CA configured is not this one.
    let other = Ca::new("Another CA");
    let (c, _d) = client(&served.url, &[&other], &[]).await;
    assert_eq!(
        network(login(&c, &p).await),
        NetworkError::CertificateUntrusted
    );

    // The right key pinned passes; another key pinned is refused.
    let (c, _d) = client(&served.url, &[&ca], &[good.pin]).await;
    login(&c, &p).await.expect("pinned key");
    let (c, _d) = client(&served.url, &[&ca], &[[7; 32]]).await;
    assert_eq!(network(login(&c, &p).await), NetworkError::PinMismatch);
    assert_eq!(
        other_sessions(&s, &access).await,
        2,
        "refused logins never arrived"
    );

    // Expired, and for another host, though signed by the trusted CA.
    for (leaf, expected) in [
        (ca.leaf("localhost", true), NetworkError::CertificateExpired),
        (
            ca.leaf("praxis.example.org", false),
            NetworkError::CertificateWrongHost,
        ),
    ] {
        let bad = TlsListener::start(&s, &leaf).await;
        let (c, _d) = client(&bad.url, &[&ca], &[]).await;
        assert_eq!(network(login(&c, &p).await), expected);
    }
    assert_eq!(
        other_sessions(&s, &access).await,
        2,
        "refused logins never arrived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_reaches_new_connections_and_leaves_open_ones_alone() {
    let s = TestServer::start(Backend::Sqlite, Transport::Oneshot)
        .await
        .expect("server");
    let p = person("renew");
    s.register(&p).await;
    let ca = Ca::new("Praxis test CA");
    let (old, new) = (ca.leaf("localhost", false), ca.leaf("localhost", false));
    let served = TlsListener::start(&s, &old).await;

    // A client pinned to the old key, signed in (its connection is kept
    // alive), and one pinned to the new key, refused for now.
    let (kept, _d1) = client(&served.url, &[&ca], &[old.pin]).await;
    login(&kept, &p).await.expect("login");
    let (renewed, _d2) = client(&served.url, &[&ca], &[new.pin]).await;
    assert_eq!(
        network(login(&renewed, &p).await),
        NetworkError::PinMismatch
    );

    served.renew(&new);
    // The open connection goes on with the certificate it was made with.
    kept.account().profile().await.expect("open connection");
    // New connections get the new certificate.
    login(&renewed, &p).await.expect("new key served");
    let (fresh_old, _d3) = client(&served.url, &[&ca], &[old.pin]).await;
    assert_eq!(
        network(login(&fresh_old, &p).await),
        NetworkError::PinMismatch
    );

    // A renewal that cannot serve (a key that is not the certificate's)
    // keeps the certificate in use.
    std::fs::write(served.dir.path().join("key.pem"), &old.key_pem).expect("key");
    assert!(served.tls.reload().is_err());
    let (again, _d4) = client(&served.url, &[&ca], &[new.pin]).await;
    login(&again, &p).await.expect("still the new certificate");
}

/// Only a CA certificate extends the trust store: garbage in the setting
/// is refused when the core opens, naming the setting, not the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_root_that_is_not_a_certificate_is_refused_at_open() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = praxis_tests::client_config("https://localhost:1", dir.path(), 3);
    config.http.extra_roots = vec![b"-----BEGIN CERTIFICATE----- not DER".to_vec()];
    match PraxisClient::open(config).await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "extra_roots"),
        other => panic!("expected InvalidInput, got {:?}", other.map(drop)),
    }
}
