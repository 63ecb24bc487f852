//! Crash safety of sync: a device process is killed (SIGKILL) at random
//! points while it writes and syncs (mid-push, mid-pull, mid-write), 30
//! times, while another device keeps changing data. After each kill the
//! cache passes `PRAGMA integrity_check`; at the end, after a clean sync,
//! the server holds every appointment the killed device created exactly
//! once, and both devices hold the same data.
//!
//! The device process is this test binary itself, re-run on the ignored
//! `sync_crash_child` test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use praxis_core::cache::{Cache, KeyProvider, RawKeyProvider};
use praxis_core::{CACHE_FILE, ClientConfig, NewAppointment, PraxisClient, SessionState};
use praxis_tests::{Backend, TestServer, Transport, person};

const KILLS: u64 = 30;

fn key() -> Arc<dyn KeyProvider> {
    Arc::new(RawKeyProvider::new([21; 32]))
}

fn visit(title: String) -> NewAppointment {
    NewAppointment {
        title,
        patient_label: None,
        start: chrono::Utc::now(),
        duration_min: 30,
        address: None,
        point: None,
        geofence: None,
    }
}

#[derive(Debug)]
struct Stderr;
impl praxis_core::Logger for Stderr {
    fn log(&self, level: praxis_core::LogLevel, target: &str, message: &str) {
        eprintln!("{level:?} {target}: {message}");
    }
}

async fn open(url: &str, dir: &Path) -> Arc<PraxisClient> {
    let mut config = ClientConfig::new(url, dir, key());
    if std::env::var_os("PRAXIS_TEST_LOG").is_some() {
        config.logger = Some(Arc::new(Stderr));
    }
    PraxisClient::open(config).await.expect("open")
}

fn index(title: &str) -> Option<u64> {
    title.strip_prefix("crash-")?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by the crash test"]
async fn sync_crash_child() {
    let (Some(dir), Ok(url)) = (
        std::env::var_os("PRAXIS_CRASH_DIR"),
        std::env::var("PRAXIS_CRASH_URL"),
    ) else {
        return;
    };
    let c = open(&url, Path::new(&dir)).await;
    if c.account().state() == SessionState::SignedOut {
        let email = std::env::var("PRAXIS_CRASH_EMAIL").expect("email");
        let password = std::env::var("PRAXIS_CRASH_PASSWORD").expect("password");
        c.account().login(&email, &password).await.expect("login");
    }
    // Continue after the highest index this device already holds.
    let mut next = c
        .appointments()
        .list()
        .await
        .expect("list")
        .iter()
        .filter_map(|a| index(&a.title))
        .max()
        .map_or(0, |m| m + 1);
    println!("opened");
    loop {
        for _ in 0..5 {
            c.appointments()
                .create(visit(format!("crash-{next}")))
                .await
                .expect("create");
            println!("created {next}");
            next += 1;
        }
        let _ = c.sync().sync_now("crash-test").await;
        println!("synced");
    }
}

fn run_and_kill(
    dir: &Path,
    url: &str,
    email: &str,
    password: &str,
    delay: Duration,
) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "sync_crash::sync_crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("PRAXIS_CRASH_DIR", dir)
        .env("PRAXIS_CRASH_URL", url)
        .env("PRAXIS_CRASH_EMAIL", email)
        .env("PRAXIS_CRASH_PASSWORD", password)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !lines.iter().any(|l: &String| l == "opened") {
        lines.push(
            rx.recv_timeout(deadline - Instant::now())
                .expect("child opened"),
        );
    }
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    reader.join().expect("reader");
    lines.extend(rx.try_iter());
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_loses_and_duplicates_nothing() {
    let s = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = s.base_url().expect("url").to_owned();
    let p = person("crashsync");
    s.register(&p).await;
    let (email, password) = (
        p["email"].as_str().expect("e").to_owned(),
        p["password"].as_str().expect("p").to_owned(),
    );
    let crash_dir = tempfile::tempdir().expect("dir");
    let other_dir = tempfile::tempdir().expect("dir");
    let other = open(&url, other_dir.path()).await;
    other
        .account()
        .login(&email, &password)
        .await
        .expect("login");

    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut synced_rounds = 0;
    let mut max_created = None;
    for round in 0..KILLS {
        // The other device changes data, so the killed one has pulls to do.
        for i in 0..3 {
            other
                .appointments()
                .create(visit(format!("other-{round}-{i}")))
                .await
                .expect("create");
        }
        other
            .sync()
            .sync_now("crash-test")
            .await
            .expect("other sync");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let lines = run_and_kill(
            crash_dir.path(),
            &url,
            &email,
            &password,
            Duration::from_millis(10 + rng % 400),
        );
        synced_rounds += lines.iter().filter(|l| *l == "synced").count();
        let created = lines
            .iter()
            .filter_map(|l| l.strip_prefix("created ")?.parse::<u64>().ok())
            .max();
        max_created = max_created.max(created);
        let cache =
            Cache::open(&crash_dir.path().join(CACHE_FILE), key()).expect("reopen after kill");
        assert!(
            cache.integrity_check().expect("check"),
            "round {round}: integrity_check failed"
        );
    }
    assert!(synced_rounds > 0, "the child never completed a sync");

    // Recover: the device syncs cleanly; then compare everything.
    let device = open(&url, crash_dir.path()).await;
    for d in [&device, &other, &device] {
        let st = d.sync().sync_now("settle").await.expect("settle");
        assert_eq!(st.pending, 0, "{st:?}");
    }
    let on_device = device.appointments().list().await.expect("list");
    let on_other = other.appointments().list().await.expect("list");
    assert_eq!(on_device, on_other, "both devices converge");
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for a in &on_other {
        if let Some(i) = index(&a.title) {
            *counts.entry(i).or_default() += 1;
        }
    }
    let max = max_created.expect("the child created appointments");
    for i in 0..=max {
        assert_eq!(counts.get(&i), Some(&1), "crash-{i}: present exactly once");
    }
    assert!(counts.values().all(|n| *n == 1), "no duplicates");
    assert_eq!(
        on_other
            .iter()
            .filter(|a| a.title.starts_with("other-"))
            .count(),
        (KILLS * 3) as usize
    );
}
