//! `cargo xtask api-fuzz`: the server against its own OpenAPI document.
//!
//! Schemathesis (pinned, installed from PyPI into a virtualenv in the
//! target directory) generates requests from the document, valid and
//! invalid, and sends them to a real `praxis-server` on loopback, on
//! SQLite and (when configured) PostgreSQL, signed in as an organisation
//! admin. A run fails on any server error, any status, content type or
//! header the document does not declare for the operation, and any answer
//! that breaks its declared schema.
//!
//! Two of Schemathesis's checks are left out on purpose: the document
//! states shapes and types, not every rule the server applies (password
//! strength, email and phone forms, a cursor's signature, integral floats
//! such as `5.0` for an integer), so "schema-valid but refused" and its
//! mirror are expected answers, not defects. Operations left out: signing
//! out, ending sessions by id or all others, and erasure (they end the
//! run's session: with them in, most operations answer only 401), restriction (it freezes
//! the account the rest of the run writes to), and the change feed (a
//! stream that never ends by itself; the Rust suites test it).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The Schemathesis release the checks were written against.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// Examples per operation and phase: enough to reach every status, small
/// enough for CI (about 30 s per backend).
const EXAMPLES: &str = "25";

/// The checks that judge the server (see the module comment).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance";

/// Operations the run does not call (see the module comment).
const LEFT_OUT: [&str; 6] = [
    "logout",
    "delete_me",
    "set_restriction",
    "changes",
    "end_session",
    "end_other_sessions",
];

/// Runs Schemathesis against a fresh server per backend.
pub fn run(postgres: Option<&str>) -> Result<()> {
    let Some(st) = schemathesis()? else {
        return Ok(());
    };
    crate::run(crate::cargo().args(["build", "-p", "praxis-server"]))?;
    let server = crate::target_dir().join("debug/praxis-server");
    against(&st, &server, None)?;
    match postgres {
        Some(url) => against(&st, &server, Some(url)),
        None => {
            eprintln!("xtask: API fuzzing on PostgreSQL SKIPPED (no PostgreSQL configured)");
            Ok(())
        }
    }
}

/// The `st` executable: from `PRAXIS_SCHEMATHESIS`, else installed into
/// `target/schemathesis` on first use. `None` (after a loud notice) when
/// it cannot be installed outside CI.
fn schemathesis() -> Result<Option<PathBuf>> {
    if let Some(st) = std::env::var_os("PRAXIS_SCHEMATHESIS") {
        return Ok(Some(st.into()));
    }
    let venv = crate::target_dir().join("schemathesis");
    let st = venv.join("bin/st");
    let marker = venv.join(SCHEMATHESIS);
    if st.exists() && marker.exists() {
        return Ok(Some(st));
    }
    let installed = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SCHEMATHESIS,
            ])
            .status()
            .is_ok_and(|s| s.success());
    if installed {
        std::fs::write(&marker, "")?;
        return Ok(Some(st));
    }
    if std::env::var_os("CI").is_some() {
        bail!("could not install {SCHEMATHESIS} (python3 -m venv and pip from PyPI)");
    }
    eprintln!("xtask: ************************************************************");
    eprintln!("xtask: API fuzzing SKIPPED: could not install {SCHEMATHESIS}");
    eprintln!("xtask: (needs python3 with venv, and PyPI)");
    eprintln!("xtask: ************************************************************");
    Ok(None)
}

/// A server process, stopped when dropped.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn against(st: &Path, server: &Path, postgres: Option<&str>) -> Result<()> {
    let name = if postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!("xtask: API fuzzing against a real server on {name}");
    let dir = tempdir()?;
    let addr = free_port()?;
    let mut cmd = Command::new(server);
    cmd.arg("--dev")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--bind")
        .arg(addr.to_string())
        .args(["--registrations-per-hour", "100000"])
        .env_remove("DATABASE_URL")
        .stdout(std::fs::File::create(dir.join("server.log"))?)
        .stderr(std::fs::File::create(dir.join("server.err"))?);
    if let Some(url) = postgres {
        cmd.env("DATABASE_URL", fresh_schema(url)?);
    }
    let _server = Server(cmd.spawn().context("starting praxis-server")?);
    wait_ready(addr)?;
    let (token, org) = sign_up(addr)?;
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, format!("[parameters]\norg_id = \"{org}\"\n"))?;
    let mut run = Command::new(st);
    // Schemathesis keeps a cache in its working directory: the run's own.
    run.current_dir(&dir)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("http://{addr}/v1/openapi.json"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .args(["--max-examples", EXAMPLES, "--workers", "2", "--no-color"])
        .args(["--checks", CHECKS])
        .arg("--report-dir")
        .arg(dir.join("report"));
    for op in LEFT_OUT {
        run.args(["--exclude-operation-id", op]);
    }
    let ok = run.status().context("running schemathesis")?.success();
    if !ok {
        let log = std::fs::read_to_string(dir.join("server.err")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for line in tail.iter().rev() {
            eprintln!("server: {line}");
        }
        bail!("API fuzzing on {name} found answers the document does not describe");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A new empty directory under the target directory.
fn tempdir() -> Result<PathBuf> {
    let dir = crate::target_dir().join(format!("api-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A loopback address with a port nobody holds now.
pub(crate) fn free_port() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// `url` pointed at an emptied schema of its own (`api_fuzz`), through
/// the connection's `search_path`.
fn fresh_schema(url: &str) -> Result<String> {
    let ok = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg("DROP SCHEMA IF EXISTS api_fuzz CASCADE; CREATE SCHEMA api_fuzz")
        .status()
        .context("psql (PostgreSQL's client) is needed for API fuzzing on PostgreSQL")?
        .success();
    if !ok {
        bail!("could not create the api_fuzz schema");
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-csearch_path%3Dapi_fuzz"))
}

pub(crate) fn wait_ready(addr: SocketAddr) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = http(addr, "GET", "/readyz", None, None) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("praxis-server did not become ready on {addr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Registers an account, signs it in and makes it an organisation's admin:
/// its access token and the organisation's id.
fn sign_up(addr: SocketAddr) -> Result<(String, String)> {
    let (email, password) = ("fuzz@clinic-example.org", "violet-tram-oboe-fuzz-42");
    let person = serde_json::json!({
        "email": email, "password": password, "full_name": "Fuzz Tester",
        "phone": "+33612345678", "country": "FR", "language": "fr-FR",
        "profession": "nurse", "date_of_birth": "1985-04-12",
    });
    let (status, _) = http(addr, "POST", "/v1/accounts", None, Some(&person))?;
    if status != 201 {
        bail!("registration answered {status}");
    }
    let login = serde_json::json!({"email": email, "password": password});
    let (status, body) = http(addr, "POST", "/v1/sessions", None, Some(&login))?;
    let token = body["access_token"].as_str().map(str::to_owned);
    let Some(token) = token.filter(|_| status == 200) else {
        bail!("login answered {status}");
    };
    let org = serde_json::json!({"name": "Fuzz Clinic"});
    let (status, body) = http(addr, "POST", "/v1/orgs", Some(&token), Some(&org))?;
    let Some(org) = body["org_id"].as_str().filter(|_| status == 201) else {
        bail!("creating the organisation answered {status}");
    };
    Ok((token, org.to_owned()))
}

/// One HTTP/1.1 request on a fresh connection: the status and the body as
/// JSON (`Null` when it is not JSON).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Result<(u16, serde_json::Value)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(ToString::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    let json = answer
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}
