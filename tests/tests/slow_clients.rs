//! The listener against slow and greedy clients (security review: a socket
//! sending a partial request head stayed open for ever, and connections
//! were unbounded). A real server on loopback, raw TCP sockets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use praxis_server::store::{MasterKeys, Store, Vault, sqlite::SqliteDb};
use praxis_server::{AppState, Limits, Settings, clock::SystemClock};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A server with `limits` on 127.0.0.1; its address and the data dir.
async fn server(limits: Limits) -> (std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = SqliteDb::open(&dir.path().join("praxis.sqlite3")).expect("open");
    let vault = Vault::new(MasterKeys::random());
    let store = Store::open(Arc::new(db), vault, chrono::Utc::now())
        .await
        .expect("store");
    let state = AppState::new(store, Arc::new(SystemClock), Settings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(praxis_server::serve_with(
        listener,
        state,
        limits,
        std::future::pending(),
    ));
    (addr, dir)
}

fn limits(max_connections: usize, header_timeout_ms: u64) -> Limits {
    Limits {
        max_connections,
        header_timeout: Duration::from_millis(header_timeout_ms),
        ..Limits::default()
    }
}

/// Reads until the server closes the connection; `None` if it is still
/// open after `within`.
async fn closed_within(sock: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: praxis\r\n\r\n";

#[tokio::test]
async fn a_partial_request_head_is_cut_off_at_the_header_timeout() {
    let (addr, _dir) = server(limits(16, 800)).await;
    // Half a head, then nothing.
    let mut sock = TcpStream::connect(addr).await.expect("connect");
    let start = Instant::now();
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: pra")
        .await
        .expect("write");
    let got = closed_within(&mut sock, Duration::from_secs(5)).await;
    let took = start.elapsed();
    assert!(got.is_some(), "the half-sent head kept the socket open");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    // A head trickled a byte at a time is cut off at the same deadline,
    // however steadily the bytes come.
    let mut sock = TcpStream::connect(addr).await.expect("connect");
    let start = Instant::now();
    let mut cut = false;
    for b in b"GET /healthz HTTP/1.1\r\nHost: praxis\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    {
        if sock.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !cut {
        cut = closed_within(&mut sock, Duration::from_secs(3))
            .await
            .is_some();
    }
    assert!(cut, "a trickled head kept the socket open");
    assert!(start.elapsed() < Duration::from_secs(7));
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (addr, _dir) = server(limits(16, 800)).await;
    let mut sock = TcpStream::connect(addr).await.expect("connect");
    sock.write_all(HEALTH).await.expect("write");
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Kept alive, then silent: closed at the header timeout.
    let start = Instant::now();
    assert!(
        closed_within(&mut sock, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let (addr, _dir) = server(limits(2, 10_000)).await;
    let idle_a = TcpStream::connect(addr).await.expect("connect");
    let _idle_b = TcpStream::connect(addr).await.expect("connect");
    // Both slots are taken: a third client is not served...
    let mut third = TcpStream::connect(addr).await.expect("the kernel accepts");
    third.write_all(HEALTH).await.expect("write");
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(800), third.read(&mut buf))
            .await
            .is_err(),
        "served beyond the connection limit"
    );
    // ...until one of them leaves.
    drop(idle_a);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a slot freed")
        .expect("read");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}
