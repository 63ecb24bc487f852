//! The binary's handling of the master key: no key, no start (outside
//! `--dev`); bad keys are refused without being echoed; `--dev` makes a
//! private key file; rotation rewraps under the new key.

use std::process::{Command, Output};

fn server(dir: &std::path::Path, args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_praxis-server"));
    cmd.args(["--data-dir", dir.to_str().expect("utf-8 path")])
        .args(args)
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
