//! The binary's listeners. HTTPS: plain HTTP on a public address needs
//! `--behind-proxy`; with `--tls-cert`/`--tls-key` it serves TLS 1.2 and
//! 1.3, HTTP/2 or HTTP/1.1 by ALPN, and takes a renewed certificate on
//! `SIGHUP` and when the files change, without a restart. Metrics: on
//! their own listener, never every interface, never the API's.

use std::io::BufRead as _;
use std::net::TcpStream;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_praxis-server"));
    cmd.env_remove("PRAXIS_MASTER_KEY")
        .env_remove("PRAXIS_MASTER_KEY_FILE")
        .env_remove("DATABASE_URL")
        .env_remove("PRAXIS_TLS_CERT")
        .env_remove("PRAXIS_TLS_KEY")
        .env_remove("PRAXIS_BEHIND_PROXY")
        .env_remove("PRAXIS_PRIVACY_NOTICE");
    cmd
}

fn master_key() -> String {
    let o = server().arg("gen-master-key").output().expect("run");
    String::from_utf8(o.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

#[test]
fn plain_http_on_a_public_address_needs_behind_proxy() {
    let dir = tempfile::tempdir().expect("dir");
    let o = server()
        .args(["--bind", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .env("PRAXIS_MASTER_KEY", master_key())
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(text.contains("--behind-proxy"), "{text}");
    assert!(
        !dir.path().join("praxis.sqlite3").exists(),
        "refused before touching the database"
    );
    // With the flag (and a privacy notice) it goes on to bind (an address
    // this machine does not have, so nothing listens on the network during
    // the test).
    let notice = dir.path().join("notice.toml");
    std::fs::write(
        &notice,
        include_str!("../../docs/privacy-notice.example.toml"),
    )
    .expect("notice");
    let o = server()
        .args(["--bind", "192.0.2.1:0", "--behind-proxy", "--data-dir"])
        .arg(dir.path())
        .arg("--privacy-notice")
        .arg(&notice)
        .env("PRAXIS_MASTER_KEY", master_key())
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(text.contains("binding"), "{text}");
    assert!(!text.contains("--behind-proxy"), "{text}");
}

struct Pki {
    ca: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let ca = params.self_signed(&key).expect("ca").der().clone();
        Self {
            ca,
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM, certificate DER) for localhost.
    fn leaf(&self) -> (String, String, CertificateDer<'static>) {
        let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }
}

struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tls(dir: &std::path::Path) -> Running {
    let mut child = server()
        .args(["--dev", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = loop {
        let line = lines.next().expect("exited early").expect("line");
        if line.contains("praxis-server listening")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            assert!(line.contains("https"), "{line}");
            break rest.split_whitespace().next().expect("addr").to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Running { child, addr }
}

/// Handshakes with the server offering `alpn` and `versions`; the
/// certificate it presented and the protocol it chose.
fn handshake(
    addr: &str,
    ca: &CertificateDer<'static>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (CertificateDer<'static>, Option<Vec<u8>>) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("root");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let mut conn = rustls::ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("localhost").expect("name"),
    )
    .expect("conn");
    let mut sock = TcpStream::connect(addr).expect("connect");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("handshake");
    }
    (
        conn.peer_certificates().expect("certs")[0].clone(),
        conn.alpn_protocol().map(<[u8]>::to_vec),
    )
}

fn write_leaf(dir: &std::path::Path, leaf: &(String, String, CertificateDer<'static>)) {
    std::fs::write(dir.join("cert.pem"), &leaf.0).expect("cert");
    std::fs::write(dir.join("key.pem"), &leaf.1).expect("key");
}

/// Waits (up to `within`) for new handshakes to present `want`.
fn serves(
    addr: &str,
    ca: &CertificateDer<'static>,
    want: &CertificateDer<'static>,
    within: Duration,
) -> bool {
    let until = Instant::now() + within;
    loop {
        if handshake(addr, ca, &[b"http/1.1"], rustls::ALL_VERSIONS).0 == *want {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn https_by_alpn_and_a_renewal_on_sighup_or_file_change() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = Pki::new();
    let first = pki.leaf();
    write_leaf(dir.path(), &first);
    let mut running = start_tls(dir.path());
    let addr = running.addr.clone();
    let addr = addr.as_str();

    // ALPN: h2 when offered, HTTP/1.1 otherwise; TLS 1.2 and 1.3 both.
    let (cert, proto) = handshake(
        addr,
        &pki.ca,
        &[b"h2", b"http/1.1"],
        &[&rustls::version::TLS13],
    );
    assert_eq!(cert, first.2);
    assert_eq!(proto.as_deref(), Some(&b"h2"[..]));
    let (_, proto) = handshake(addr, &pki.ca, &[b"http/1.1"], &[&rustls::version::TLS12]);
    assert_eq!(proto.as_deref(), Some(&b"http/1.1"[..]));

    // SIGHUP: new files whose modification times are put back, so only
    // the signal can explain the reload.
    let stamp = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let (cert_at, key_at) = (stamp("cert.pem"), stamp("key.pem"));
    let second = pki.leaf();
    write_leaf(dir.path(), &second);
    for (name, at) in [("cert.pem", cert_at), ("key.pem", key_at)] {
        std::fs::File::options()
            .write(true)
            .open(dir.path().join(name))
            .and_then(|f| f.set_modified(at))
            .expect("set mtime");
    }
    let ok = Command::new("kill")
        .args(["-HUP", &running.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    assert!(
        serves(addr, &pki.ca, &second.2, Duration::from_secs(3)),
        "SIGHUP reloads"
    );

    // A changed file is noticed without a signal.
    let third = pki.leaf();
    write_leaf(dir.path(), &third);
    assert!(
        serves(addr, &pki.ca, &third.2, Duration::from_secs(12)),
        "a file change reloads"
    );

    // A broken renewal (key of another certificate) keeps the one in use.
    std::fs::write(dir.path().join("key.pem"), &first.1).expect("key");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        handshake(addr, &pki.ca, &[b"http/1.1"], rustls::ALL_VERSIONS).0,
        third.2
    );
    assert!(
        running.child.try_wait().expect("status").is_none(),
        "still serving"
    );
}

/// A raw HTTP/1.1 GET; the status line and body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut sock = TcpStream::connect(addr).expect("connect");
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    sock.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn metrics_are_served_apart_from_the_api_and_never_on_every_interface() {
    let dir = tempfile::tempdir().expect("dir");
    let o = server()
        .args([
            "--dev",
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "0.0.0.0:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--metrics-bind"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let mut child = server()
        .args([
            "--dev",
            "--bind",
            "127.0.0.1:0",
            "--metrics-bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (mut api, mut metrics) = (None, None);
    while api.is_none() || metrics.is_none() {
        let line = lines.next().expect("exited early").expect("line");
        let addr = line
            .split("addr=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_owned);
        if line.contains("metrics listening") {
            metrics = addr;
        } else if line.contains("praxis-server listening") {
            api = addr;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let running = Running {
        child,
        addr: api.expect("api"),
    };
    let metrics = metrics.expect("metrics");
    assert!(http_get(&running.addr, "/healthz").starts_with("HTTP/1.1 200"));
    let scraped = http_get(&metrics, "/metrics");
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        scraped.contains(
            r#"praxis_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{scraped}"
    );
    assert!(http_get(&running.addr, "/metrics").starts_with("HTTP/1.1 404"));
}
