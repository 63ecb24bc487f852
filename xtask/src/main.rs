//! Project automation, run as `cargo xtask <command>`.
//!
//! * `test`: every test. Rust (unit, API, end-to-end) always; the
//!   PostgreSQL suite when `PRAXIS_TEST_DATABASE_URL` is set or a local
//!   server answers at the default test URL, and a loud notice when it is
//!   skipped.
//! * `bench [--quick]`: the benchmark report in `target/bench-report.md`
//!   and `target/bench-report.json`.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// Where `xtask test` looks for PostgreSQL when nothing is configured
/// (the database `.ci/run` creates).
const DEFAULT_PG_URL: &str = "postgres://praxis:praxis@127.0.0.1:5432/praxis_test";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test|bench [--quick]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The PostgreSQL URL to test against, if any.
fn postgres_url() -> Option<String> {
    if let Some(url) = std::env::var("PRAXIS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    let reachable = Command::new("psql")
        .args([DEFAULT_PG_URL, "-tAc", "SELECT 1"])
        .env("PGCONNECT_TIMEOUT", "3")
        .output()
        .is_ok_and(|o| o.status.success());
    reachable.then(|| DEFAULT_PG_URL.to_owned())
}

fn test(extra: &[String]) -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--all-targets"]);
    cmd.args(extra);
    match postgres_url() {
        Some(url) => {
            eprintln!("xtask: PostgreSQL suite ON");
            cmd.env("PRAXIS_TEST_DATABASE_URL", url)
                .env("PRAXIS_REQUIRE_POSTGRES", "1");
        }
        None => {
            eprintln!();
            eprintln!("xtask: ************************************************************");
            eprintln!("xtask: PostgreSQL suite SKIPPED: set PRAXIS_TEST_DATABASE_URL or");
            eprintln!("xtask: start a local server with {DEFAULT_PG_URL}");
            eprintln!("xtask: ************************************************************");
            eprintln!();
            cmd.env_remove("PRAXIS_TEST_DATABASE_URL");
        }
    }
    run(&mut cmd)?;
    // Doc tests (not covered by --all-targets).
    run(cargo().args(["test", "--workspace", "--doc"]))
}

fn bench(extra: &[String]) -> Result<()> {
    let quick = extra.iter().any(|a| a == "--quick");
    let records = if quick { "10000" } else { "100000" };
    // Criterion benchmarks first; the report reads their estimates.
    let mut criterion = cargo();
    criterion
        .args(["bench", "-p", "praxis-core", "--bench", "cache"])
        .env("PRAXIS_BENCH_RECORDS", records);
    if quick {
        criterion.args(["--", "--warm-up-time", "1", "--measurement-time", "2"]);
    }
    run(&mut criterion)?;
    let mut cmd = cargo();
    cmd.env("PRAXIS_BENCH_RECORDS", records);
    cmd.args([
        "run",
        "--release",
        "-p",
        "praxis-tests",
        "--bin",
        "praxis-bench",
        "--",
    ]);
    cmd.args(extra);
    if let Some(url) = postgres_url() {
        cmd.env("PRAXIS_TEST_DATABASE_URL", url);
    }
    run(&mut cmd)
}
