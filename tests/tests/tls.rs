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
use praxis_tests::tls::{Ca, TlsListener};
use praxis_tests::{Backend, TestServer, Transport, person};
use serde_json::Value;

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
