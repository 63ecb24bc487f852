//! What the CLI tests share: running the `praxis` binary for one device
//! against a real server, and signing people up through it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::sync::Mutex;

use serde_json::Value;

/// Every argument list run, by the server it was run against (each test
/// has a server of its own), for coverage checks.
static INVOKED: Mutex<BTreeMap<String, BTreeSet<String>>> = Mutex::new(BTreeMap::new());

/// The argument lists run against `server`, that is, by one test.
pub fn invoked_against(server: &str) -> BTreeSet<String> {
    INVOKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(server)
        .cloned()
        .unwrap_or_default()
}

/// One device: the server it talks to, its data directory and passphrase.
pub struct Run<'a> {
    pub server: &'a str,
    pub dir: &'a Path,
    pub passphrase: &'a str,
}

impl Run<'_> {
    pub async fn praxis(&self, args: &[&str], password: Option<&str>) -> Output {
        self.praxis_env(args, password, &[]).await
    }

    /// Runs `praxis args` with extra environment variables.
    pub async fn praxis_env(
        &self,
        args: &[&str],
        password: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        INVOKED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(self.server.to_owned())
            .or_default()
            .insert(args.join(" "));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_praxis"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.dir)
            .env("PRAXIS_SERVER", self.server)
            .env("PRAXIS_PASSPHRASE", self.passphrase)
            .env_remove("PRAXIS_PASSWORD")
            .stdin(std::process::Stdio::null());
        if let Some(p) = password {
            cmd.env("PRAXIS_PASSWORD", p);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("run praxis"))
            .await
            .expect("join")
    }

    /// Runs `praxis args --json`, asserting success; its output.
    pub async fn json(&self, args: &[&str], password: Option<&str>) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.praxis(&all, password).await;
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json output")
    }
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// `praxis register` arguments for a registration body.
pub fn register_args(p: &Value) -> Vec<String> {
    let s = |k: &str| p[k].as_str().expect("field").to_owned();
    let mut args = vec!["register".to_owned()];
    for (flag, key) in [
        ("--email", "email"),
        ("--name", "full_name"),
        ("--phone", "phone"),
        ("--country", "country"),
        ("--language", "language"),
        ("--profession", "profession"),
        ("--date-of-birth", "date_of_birth"),
    ] {
        args.push(flag.to_owned());
        args.push(s(key));
    }
    args
}

/// Registers a person through the CLI; their id.
pub async fn register(r: &Run<'_>, p: &Value) -> String {
    let args = register_args(p);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = r.json(&args, p["password"].as_str()).await;
    v["user_id"].as_str().expect("user_id").to_owned()
}

/// `praxis login` for a registered person on this device.
pub async fn login(r: &Run<'_>, p: &Value) {
    r.json(
        &["login", "--email", p["email"].as_str().expect("e")],
        p["password"].as_str(),
    )
    .await;
}

/// Registers a person and signs them in on this device; their id.
pub async fn sign_up(r: &Run<'_>, p: &Value) -> String {
    let id = register(r, p).await;
    login(r, p).await;
    id
}

/// Every leaf subcommand of the binary (`org location-policy set`, …),
/// read from its own `--help` pages.
pub fn leaf_subcommands() -> Vec<String> {
    fn help(path: &[String]) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_praxis"))
            .args(path)
            .arg("--help")
            .output()
            .expect("help");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn walk(path: Vec<String>, out: &mut Vec<String>) {
        let text = help(&path);
        let mut subs = Vec::new();
        let mut in_commands = false;
        for line in text.lines() {
            if line.starts_with("Commands:") {
                in_commands = true;
                continue;
            }
            if in_commands {
                let Some(name) = line
                    .strip_prefix("  ")
                    .and_then(|l| l.split_whitespace().next())
                else {
                    break;
                };
                if name != "help" && !line.starts_with("   ") {
                    subs.push(name.to_owned());
                }
            }
        }
        if subs.is_empty() {
            out.push(path.join(" "));
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s);
            walk(p, out);
        }
    }
    let mut out = Vec::new();
    walk(Vec::new(), &mut out);
    out
}
