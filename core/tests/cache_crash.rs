//! Crash safety: a child process is killed (SIGKILL) at random points
//! during bulk writes and during DEK rotation; after each kill the cache
//! reopens with `PRAGMA integrity_check` = ok, every committed record
//! decrypts, and no half-rotated state remains.
//!
//! The child is this test binary itself, re-run with `--ignored` on the
//! `crash_child` test and told what to do through the environment.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use praxis_core::cache::{Cache, KeyProvider, RawKeyProvider, RecordMeta};

const ITERATIONS: usize = 25; // per mode; two modes → 50 kills
const SEEDED: usize = 1500;

fn provider() -> Arc<dyn KeyProvider> {
    Arc::new(RawKeyProvider::new([42; 32]))
}

fn value(i: u64) -> String {
    format!("record number {i} with some padding to look like a real appointment note")
}

/// Deterministic delays without a rand dependency (splitmix64).
fn delays(seed: u64) -> impl Iterator<Item = u64> {
    let mut s = seed;
    std::iter::from_fn(move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Some(z ^ (z >> 31))
    })
}

#[test]
#[ignore = "run as a child process by the crash tests"]
fn crash_child() {
    let Some(path) = std::env::var_os("PRAXIS_CRASH_DB") else {
        return;
    };
    let mode = std::env::var("PRAXIS_CRASH_MODE").expect("mode");
    let cache = Cache::open(Path::new(&path), provider()).expect("child open");
    println!("opened");
    match mode.as_str() {
        "write" => {
            let mut next: u64 = std::env::var("PRAXIS_CRASH_FROM")
                .expect("from")
                .parse()
                .expect("number");
            loop {
                let first = next;
                cache
                    .transaction(|tx| {
                        for i in first..first + 25 {
                            tx.put("notes", &format!("n{i:08}"), &value(i), RecordMeta::local())?;
                            tx.enqueue(&i.to_be_bytes())?;
                        }
                        Ok(())
                    })
                    .expect("child write");
                next += 25;
                println!("committed {next}");
            }
        }
        "rotate" => loop {
            cache.rotate_dek().expect("child rotate");
            println!("rotated");
        },
        other => panic!("unknown mode {other}"),
    }
}

/// Runs the child until it has said "opened" and `delay` has passed, then
/// SIGKILLs it; returns what it printed.
fn run_and_kill(path: &Path, mode: &str, from: u64, delay: Duration) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "cache_crash::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("PRAXIS_CRASH_DB", path)
        .env("PRAXIS_CRASH_MODE", mode)
        .env("PRAXIS_CRASH_FROM", from.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines.iter().any(|l: &String| l == "opened") {
        let line = rx
            .recv_timeout(deadline - Instant::now())
            .expect("child opened the cache");
        lines.push(line);
    }
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    reader.join().expect("reader");
    lines.extend(rx.try_iter());
    lines
}

fn check_after_crash(path: &Path) -> Cache {
    let cache = Cache::open(path, provider()).expect("reopen after kill");
    assert!(
        cache.integrity_check().expect("integrity"),
        "integrity_check failed"
    );
    assert_eq!(
        cache.key_generations().expect("gens"),
        1,
        "half-rotated state remains"
    );
    let conn = rusqlite::Connection::open(path).expect("raw");
    let gens: i64 = conn
        .query_row(
            "SELECT COUNT(DISTINCT gen) FROM (SELECT gen FROM records UNION ALL SELECT gen FROM outbox UNION ALL SELECT gen FROM keys)",
            [],
            |r| r.get(0),
        )
        .expect("gens");
    assert_eq!(gens, 1, "rows under more than one key generation");
    cache
}

#[test]
fn killed_during_bulk_writes_loses_nothing_committed() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("crash.db");
    drop(Cache::open(&path, provider()).expect("create"));
    let mut committed: u64 = 0;
    for (round, d) in delays(7).take(ITERATIONS).enumerate() {
        let delay = Duration::from_millis(5 + d % 120);
        let lines = run_and_kill(&path, "write", committed, delay);
        let acked = lines
            .iter()
            .filter_map(|l| l.strip_prefix("committed "))
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
            .unwrap_or(committed);
        let cache = check_after_crash(&path);
        let notes = cache
            .list::<String>("notes")
            .expect("every record decrypts");
        // Everything acknowledged is there; a transaction committed just
        // before the kill but not yet reported may be there too, whole.
        assert!(
            notes.len() as u64 >= acked,
            "round {round}: {} < {acked}",
            notes.len()
        );
        assert_eq!(
            notes.len() % 25,
            0,
            "round {round}: a partial transaction survived"
        );
        for (i, n) in notes.iter().enumerate() {
            assert_eq!(n.id, format!("n{i:08}"));
            assert_eq!(n.value, value(i as u64));
        }
        let outbox = cache.outbox(usize::MAX).expect("outbox decrypts");
        assert_eq!(
            outbox.len(),
            notes.len(),
            "record and outbox entry are atomic"
        );
        committed = notes.len() as u64;
    }
    assert!(committed > 0, "the child never committed anything");
}

#[test]
fn killed_during_dek_rotation_finishes_the_rotation_at_open() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("rotate.db");
    let cache = Cache::open(&path, provider()).expect("create");
    cache
        .transaction(|tx| {
            for i in 0..SEEDED as u64 {
                tx.put_indexed(
                    "notes",
                    &format!("n{i:08}"),
                    &value(i),
                    RecordMeta::synced(i as i64),
                    &[("k", &i.to_string())],
                )?;
            }
            tx.enqueue(b"queued")?;
            Ok(())
        })
        .expect("seed");
    drop(cache);
    let mut rotations = 0;
    for d in delays(11).take(ITERATIONS) {
        let lines = run_and_kill(&path, "rotate", 0, Duration::from_millis(2 + d % 400));
        rotations += lines.iter().filter(|l| *l == "rotated").count();
        let cache = check_after_crash(&path);
        let notes = cache
            .list::<String>("notes")
            .expect("every record decrypts");
        assert_eq!(notes.len(), SEEDED);
        assert!(
            notes
                .iter()
                .enumerate()
                .all(|(i, n)| n.value == value(i as u64) && n.meta == RecordMeta::synced(i as i64))
        );
        assert_eq!(
            cache
                .lookup::<String>("notes", "k", "1234")
                .expect("lookup")[0]
                .value,
            value(1234)
        );
        assert_eq!(cache.outbox(10).expect("outbox")[0].payload, b"queued");
    }
    assert!(rotations > 0, "no rotation ever completed in the child");
}
