//! The binary's handling of the master key: no key, no start (outside
//! `--dev`); bad keys are refused without being echoed; `--dev` makes a
//! private key file; rotation rewraps under the new key.

use std::process::{Command, Output};

fn server(dir: &std::path::Path, args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_praxis-server"));
    cmd.args(["--data-dir", dir.to_str().expect("utf-8 path")])
        .args(args)
        .env_remove("PRAXIS_PRIVACY_NOTICE")
        .env_remove("PRAXIS_MASTER_KEY")
        .env_remove("PRAXIS_MASTER_KEY_FILE")
        .env_remove("DATABASE_URL");
    if let Some(k) = key {
        cmd.env("PRAXIS_MASTER_KEY", k);
    }
    cmd.output().expect("run praxis-server")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn without_a_master_key_the_server_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let o = server(dir.path(), &["--bind", "127.0.0.1:0"], None);
    assert!(!o.status.success());
    assert!(text(&o).contains("no master key"), "{}", text(&o));
    assert!(
        !dir.path().join("praxis.sqlite3").exists(),
        "refused before touching the database"
    );
}

#[test]
fn a_malformed_key_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().expect("dir");
    let o = server(
        dir.path(),
        &["rewrap-keys"],
        Some("k1:c2VjcmV0LWJ1dC1zaG9ydA"),
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("PRAXIS_MASTER_KEY"), "{t}");
    assert!(
        !t.contains("c2VjcmV0LWJ1dC1zaG9ydA"),
        "the key is not echoed: {t}"
    );
}

#[test]
fn dev_mode_makes_a_private_key_and_rotation_rewraps_every_key() {
    let dir = tempfile::tempdir().expect("dir");
    let o = server(dir.path(), &["--dev", "rewrap-keys"], None);
    assert!(o.status.success(), "{}", text(&o));
    let key_file = dir.path().join("dev-master.key");
    let dev_key = std::fs::read_to_string(&key_file).expect("dev key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // First start made the blind-index and nothing else: 0 to rewrap.
    assert!(text(&o).contains("0 keys rewrapped"), "{}", text(&o));
    // Regression: logs to a pipe carried terminal colour codes.
    let logs = String::from_utf8_lossy(&o.stderr);
    assert!(logs.contains("development mode"), "{logs}");
    assert!(
        !logs.contains('\x1b'),
        "colour codes in piped logs: {logs:?}"
    );

    // Rotation: a new key first, the dev key second.
    let new = Command::new(env!("CARGO_BIN_EXE_praxis-server"))
        .args(["gen-master-key", "--id", "k2"])
        .output()
        .expect("gen");
    let new = String::from_utf8(new.stdout).expect("utf-8");
    assert!(new.starts_with("k2:"), "{new}");
    let both = format!("{}\n{dev_key}", new.trim());
    let o = server(dir.path(), &["rewrap-keys"], Some(&both));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 keys rewrapped"), "{}", text(&o));
    // The new key alone now opens everything; the dev key alone no longer.
    let o = server(dir.path(), &["rewrap-keys"], Some(new.trim()));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 keys rewrapped"), "{}", text(&o));
    let o = server(dir.path(), &["rewrap-keys"], Some(&dev_key));
    assert!(
        !o.status.success(),
        "the old key alone cannot open the data"
    );
}

/// A `--dev` server process on a free loopback port, with its address.
struct Running {
    child: std::process::Child,
    addr: String,
    /// The server's last log lines (a `--dev` server's logs hold no
    /// personal data), for a test to show when the process is gone.
    tail: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// How the process ended, and its last log lines.
    fn ended(&mut self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        format!(
            "the server process is gone ({:?}); its last log lines:\n{}",
            self.child.try_wait(),
            tail.iter().cloned().collect::<Vec<_>>().join("\n")
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev_server() -> Running {
    start_server(tempfile::tempdir().expect("dir"), &["--dev"], None)
}

/// A server process in `dir` with `args` on a free loopback port.
fn start_server(dir: tempfile::TempDir, args: &[&str], key: Option<&str>) -> Running {
    use std::io::BufRead as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_praxis-server"));
    if let Some(k) = key {
        cmd.env("PRAXIS_MASTER_KEY", k);
    }
    let mut child = cmd
        .args(args)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("PRAXIS_PRIVACY_NOTICE")
        .env_remove("PRAXIS_POLICY_VERSIONS")
        .env_remove("PRAXIS_MASTER_KEY_FILE")
        .env_remove("PRAXIS_MASTER_KEY_FILE")
        .env_remove("DATABASE_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start praxis-server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .expect("log line");
        if line.contains("praxis-server listening")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining the logs so the server never blocks on a full pipe;
    // the last ones are kept.
    let tail = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let keep = std::sync::Arc::clone(&tail);
    std::thread::spawn(move || {
        for line in lines {
            // A line that is not UTF-8 is skipped, not the rest.
            let Ok(line) = line else { continue };
            let mut keep = keep.lock().unwrap_or_else(|p| p.into_inner());
            if keep.len() == 40 {
                keep.pop_front();
            }
            keep.push_back(line);
        }
    });
    Running {
        child,
        addr,
        tail,
        _dir: dir,
    }
}

/// The resident memory of process `pid` in MiB (Linux): the larger of
/// its recorded peak (`VmHWM`) and its current size (`VmRSS`).
fn rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(field("VmHWM:")?.max(field("VmRSS:")?) / 1024)
}

/// The highest resident memory of `pid` (MiB, at least `floor`) seen while
/// `work` runs, sampled every 2 ms; `None` if the process is gone.
///
/// `VmHWM` read once after each burst did not do: with mimalloc, a reading
/// after 160 logins was seen lower than one after 40 (1 run in 20). The
/// kernel reports the larger of a recorded peak, refreshed only at some
/// points, and the current size from approximate counters, so the figure
/// is not guaranteed to grow; sampling during the work, never below the
/// previous peak, is.
fn peak_while(pid: u32, floor: u64, work: impl FnOnce()) -> Option<u64> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let stop = std::sync::Arc::clone(&done);
    let sampler = std::thread::spawn(move || {
        let mut peak = floor;
        loop {
            let last = stop.load(Ordering::Acquire);
            peak = peak.max(rss_mib(pid)?);
            if last {
                return Some(peak);
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    work();
    done.store(true, Ordering::Release);
    sampler.join().expect("sampler")
}

/// `n` parallel logins with unknown emails over plain HTTP/1.1; each is
/// answered 401, or 503 with `Retry-After` when hashing is saturated.
fn login_burst(addr: &str, from: usize, n: usize) {
    use std::io::{Read as _, Write as _};
    let threads: Vec<_> = (from..from + n)
        .map(|i| {
            let addr = addr.to_owned();
            std::thread::spawn(move || {
                let body = format!(
                    r#"{{"email":"nobody-{i}@clinic-example.org","password":"not-the-password-1"}}"#
                );
                let mut sock = std::net::TcpStream::connect(&addr).expect("connect");
                write!(
                    sock,
                    "POST /v1/sessions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .expect("send");
                let mut answer = String::new();
                sock.read_to_string(&mut answer).expect("answer");
                answer
            })
        })
        .collect();
    for t in threads {
        let answer = t.join().expect("thread");
        let status = answer.split_whitespace().nth(1).unwrap_or("");
        match status {
            "401" => assert!(answer.contains("invalid_credentials"), "{answer}"),
            "503" => assert!(
                answer.to_ascii_lowercase().contains("retry-after"),
                "{answer}"
            ),
            other => panic!("unexpected status {other}: {answer}"),
        }
    }
}

/// Regression: every argon2id hash (19 MiB) ran on tokio's blocking pool
/// with no cap, so parallel logins with unknown emails grew the server's
/// memory with their number (measured on the old code: +725 MiB for 40,
/// then +1,957 MiB for 120 more). Hashes now run on one thread per core;
/// the others queue briefly, then get `503` with `Retry-After`. The real
/// server process is measured: 40 parallel logins grow its peak memory by
/// less than 400 MiB, and 120 more by less than 64 MiB.
#[test]
fn parallel_logins_keep_the_servers_memory_bounded() {
    let mut server = start_dev_server();
    let pid = server.child.id();
    login_burst(&server.addr, 0, 2);
    let Some(start) = rss_mib(pid) else {
        eprintln!("SKIPPED: no /proc/<pid>/status here");
        return;
    };
    let addr = server.addr.clone();
    let after_40 = peak_while(pid, start, || login_burst(&addr, 2, 40))
        .unwrap_or_else(|| panic!("{}", server.ended()));
    let after_160 = peak_while(pid, after_40, || login_burst(&addr, 42, 120))
        .unwrap_or_else(|| panic!("{}", server.ended()));
    let (first, second) = (after_40 - start, after_160 - after_40);
    eprintln!(
        "server peak memory: {start} MiB, +{first} MiB for 40 parallel logins, +{second} MiB for 120 more"
    );
    assert!(
        first < 400,
        "40 parallel logins grew the peak by {first} MiB"
    );
    assert!(second < 64, "120 more grew the peak by {second} MiB");
}

/// A raw HTTP/1.1 GET without a token: the status and the JSON body.
fn get_json(addr: &str, path: &str) -> (u16, serde_json::Value) {
    use std::io::{Read as _, Write as _};
    let mut sock = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    sock.read_to_string(&mut raw).expect("read");
    let status = raw[9..12].parse().expect("status");
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).expect("json body"))
}

/// Every seed policy names its controller, contacts and authority: a
/// server for real users does not start without them, and says which are
/// missing; with them, anyone (no token) reads the notice.
#[test]
fn without_a_privacy_notice_the_server_refuses_to_start_and_names_the_fields() {
    let dir = tempfile::tempdir().expect("dir");
    let key = praxis_server::store::MasterKeys::generate_line("k1");
    let key = key.as_str();
    let o = server(dir.path(), &["--bind", "127.0.0.1:0"], Some(key));
    assert!(!o.status.success());
    let t = text(&o);
    for field in [
        "controller.name",
        "dpo.email",
        "supervisory_authority.url",
        "version",
    ] {
        assert!(t.contains(field), "{field} named: {t}");
    }
    assert!(
        !dir.path().join("praxis.sqlite3").exists(),
        "refused before touching the database"
    );
    // A notice with fields missing names exactly those.
    let partial = dir.path().join("partial.toml");
    let example = include_str!("../../docs/privacy-notice.example.toml");
    let without_dpo = example.split("[dpo]").next().expect("head").to_owned()
        + &example
            .split("[supervisory_authority]")
            .nth(1)
            .map(|t| format!("[supervisory_authority]{t}"))
            .expect("tail");
    std::fs::write(&partial, without_dpo).expect("write");
    let o = server(
        dir.path(),
        &[
            "--bind",
            "127.0.0.1:0",
            "--privacy-notice",
            partial.to_str().expect("utf-8"),
        ],
        Some(key),
    );
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("missing dpo.email"), "{t}");
    assert!(!t.contains("controller.name"), "{t}");

    let notice = dir.path().join("notice.toml");
    std::fs::write(&notice, example).expect("write");
    let running = start_server(
        dir,
        &[
            "--privacy-notice",
            notice.to_str().expect("utf-8"),
            "--policy-versions",
            "marketing=2",
        ],
        Some(key),
    );
    let (status, body) = get_json(&running.addr, "/v1/privacy/notice");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["published"], "2026-12-01");
    assert_eq!(body["controller"]["registration_number"], "HRB 000000");
    assert_eq!(body["dpo"]["email"], "dpo@praxis.example.org");
    assert_eq!(
        body["supervisory_authority"]["url"],
        "https://www.datenschutz-berlin.de/"
    );
    assert_eq!(body["consent_versions"]["marketing"], 2);
    assert!(body.get("development").is_none(), "{body}");

    // A new version of the notice is put in force by SIGHUP, without a
    // restart; a broken file then keeps the one in force.
    std::fs::write(
        &notice,
        example
            .replace("version = 1", "version = 2")
            .replace("2026-12-01", "2026-12-07"),
    )
    .expect("write");
    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill")
    };
    assert!(hup(running.child.id()).success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, body) = get_json(&running.addr, "/v1/privacy/notice");
        if body["version"] == 2 {
            assert_eq!(body["published"], "2026-12-07");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not reloaded: {body}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(&notice, "version = 3\n").expect("write");
    assert!(hup(running.child.id()).success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        get_json(&running.addr, "/v1/privacy/notice").1["version"],
        2
    );
}
