//! Project automation, run as `cargo xtask <command>`.
//!
//! * `test [--shifted-clock]`: every test. Rust (unit, API, end-to-end) always; the
//!   PostgreSQL suite when `PRAXIS_TEST_DATABASE_URL` is set or a local
//!   server answers at the default test URL, and a loud notice when it is
//!   skipped.
//!   Then the server against its OpenAPI document (`api-fuzz`), and the
//!   Kotlin bindings on the JVM (Maven, JNA, a real server), and the Swift
//!   package where a Swift toolchain exists.
//!   With `--shifted-clock`, the same tests (less doc tests) run under
//!   libfaketime with the clock a year ahead, so none depends on the date.
//! * `bindings [--debug]`: Kotlin and Swift bindings generated from the
//!   release (or debug) `praxis-ffi` cdylib into `target/bindings/`.
//! * `swift`: the XCFramework for iOS and macOS (macOS only).
//! * `swift-test`: the Swift package's tests against a real server (any
//!   host with a Swift toolchain; a loud notice where there is none).
//! * `swift-syntax`: the repository's Swift parsed with tree-sitter's Swift
//!   grammar (run by `test`; no Swift compiler is needed).
//! * `api-fuzz`: Schemathesis generates requests from the OpenAPI document
//!   against a real server on each backend (see `api_fuzz.rs`).
//! * `deps`: fails on an import cycle between the modules of a crate.
//! * `bench [--quick]`: the benchmark report in `target/bench-report.md`
//!   and `target/bench-report.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod api_fuzz;
mod deploy;
mod deps;
#[cfg(test)]
mod parity;
mod swift;

/// Where `xtask test` looks for PostgreSQL when nothing is configured
/// (the database `.ci/run` creates).
const DEFAULT_PG_URL: &str = "postgres://praxis:praxis@127.0.0.1:5432/praxis_test";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("api-fuzz") => api_fuzz::run(postgres_url().as_deref()),
        Some("bindings") => bindings(!args[1..].iter().any(|a| a == "--debug")).map(drop),
        Some("swift") => swift::xcframework(),
        Some("swift-test") => swift::test(),
        Some("swift-syntax") => swift::syntax(),
        Some("deploy-check") => deploy::check(),
        Some("deps") => deps::check(
            &workspace(),
            &["protocol", "core", "server", "bindings", "cli"],
        ),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|api-fuzz|deps|deploy-check|bindings [--debug]|swift|swift-test|swift-syntax|bench [--quick]>"
            );
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

/// How far `test --shifted-clock` moves the clock: more than a year, so
/// that a date written into a test, a benchmark or a fixture fails.
const CLOCK_SHIFT: &str = "+400 days";

fn test(args: &[String]) -> Result<()> {
    // `--shifted-clock`: the same tests (less the doc tests) with every
    // test process's clock moved by CLOCK_SHIFT through libfaketime, so no
    // test can depend on the date it runs on.
    let shifted = args.iter().any(|a| a == "--shifted-clock");
    let extra: Vec<&String> = args.iter().filter(|a| *a != "--shifted-clock").collect();
    let mut cmd = cargo();
    // One failing binary must not hide the others.
    cmd.args(["test", "--workspace", "--all-targets", "--no-fail-fast"]);
    cmd.args(&extra);
    let postgres = postgres_url();
    match &postgres {
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
    if shifted {
        shifted_clock_tests(&extra, postgres.as_deref())?;
        return kotlin_tests(Some(CLOCK_SHIFT));
    }
    run(&mut cmd)?;
    // Doc tests (not covered by --all-targets).
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    api_fuzz::run(postgres.as_deref())?;
    kotlin_tests(None)?;
    swift::syntax()?;
    swift::test()
}

/// A command run under libfaketime with the clock moved by `shift`. File
/// times stay real (`NO_FAKE_STAT`), so build tools judge staleness as
/// usual.
fn faketime(shift: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("faketime");
    c.arg(shift).arg(program).env("NO_FAKE_STAT", "1");
    c
}

/// Builds every test executable as `cargo test` would (compilers are not
/// run under libfaketime: rustc and rustdoc can hang there), then runs
/// each one under libfaketime from its package's directory, as `cargo
/// test` does. Every executable runs; the failures are listed at the end.
fn shifted_clock_tests(extra: &[&String], postgres: Option<&str>) -> Result<()> {
    if Command::new("faketime").arg("--version").output().is_err() {
        bail!("--shifted-clock needs libfaketime's `faketime` (Debian package faketime)");
    }
    let out = cargo()
        .args(["test", "--workspace", "--all-targets", "--no-run"])
        .args(["--message-format", "json-render-diagnostics"])
        .args(extra)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("building the tests")?;
    if !out.status.success() {
        bail!("building the tests failed");
    }
    let mut executables = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_test = msg["reason"] == "compiler-artifact" && msg["profile"]["test"] == true;
        if let (true, Some(exe), Some(manifest)) = (
            is_test,
            msg["executable"].as_str(),
            msg["manifest_path"].as_str(),
        ) {
            let dir = Path::new(manifest)
                .parent()
                .context("manifest has a directory")?;
            executables.push((PathBuf::from(exe), dir.to_owned()));
        }
    }
    if executables.is_empty() {
        bail!("no test executable was built");
    }
    eprintln!(
        "xtask: running {} test executables with the clock moved {CLOCK_SHIFT}",
        executables.len()
    );
    let mut failed = Vec::new();
    for (exe, dir) in &executables {
        let mut cmd = faketime(CLOCK_SHIFT, exe);
        cmd.current_dir(dir)
            .env("CARGO_MANIFEST_DIR", dir)
            .stdin(std::process::Stdio::null());
        match postgres {
            Some(url) => {
                cmd.env("PRAXIS_TEST_DATABASE_URL", url)
                    .env("PRAXIS_REQUIRE_POSTGRES", "1");
            }
            None => {
                cmd.env_remove("PRAXIS_TEST_DATABASE_URL");
            }
        }
        eprintln!("xtask: (clock {CLOCK_SHIFT}) {}", exe.display());
        if !cmd
            .status()
            .with_context(|| format!("starting {exe:?}"))?
            .success()
        {
            failed.push(exe.display().to_string());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} test executables failed with the clock moved {CLOCK_SHIFT}: {}",
            failed.len(),
            executables.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// The workspace root. `cargo xtask` sets `CARGO_MANIFEST_DIR` when it
/// runs this binary; that is preferred over the path compiled in, because
/// a build cache shared by two checkouts can hand one the other's binary.
fn workspace() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from)
}

fn cdylib(profile_dir: &Path) -> PathBuf {
    let name = if cfg!(target_os = "macos") {
        "libpraxis_ffi.dylib"
    } else {
        "libpraxis_ffi.so"
    };
    profile_dir.join(name)
}

/// Builds the cdylib and generates Kotlin and Swift from it (library
/// mode, with the in-repo uniffi-bindgen). Returns the profile directory.
fn bindings(release: bool) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "-p", "praxis-ffi", "-p", "uniffi-bindgen"]);
    if release {
        build.arg("--release");
    }
    run(&mut build)?;
    let profile = target_dir().join(if release { "release" } else { "debug" });
    let out = target_dir().join("bindings");
    for (lang, dir) in [("kotlin", "kotlin"), ("swift", "swift")] {
        let dir = out.join(dir);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        run(Command::new(profile.join("uniffi-bindgen"))
            .current_dir(workspace())
            .args(["generate", "--language", lang, "--no-format", "--out-dir"])
            .arg(&dir)
            .arg(cdylib(&profile)))?;
    }
    let swift = out.join("swift/PraxisFFI.swift");
    let expected = swift::COMPONENTS
        .iter()
        .flat_map(|(s, h)| [out.join("swift").join(s), out.join("swift").join(h)])
        .chain([
            out.join("kotlin/org/praxis/ffi/praxis_ffi.kt"),
            out.join("kotlin/org/praxis/ffi/protocol/praxis_protocol.kt"),
        ]);
    for f in expected {
        if !f.is_file() {
            bail!("bindings generation did not produce {}", f.display());
        }
    }
    let generated = std::fs::read_to_string(&swift)?;
    std::fs::write(&swift, swift::patch_cancellation(&generated)?)?;
    eprintln!("xtask: bindings in {}", out.display());
    Ok(profile)
}

/// Maven, under the shifted clock when there is one.
fn maven(clock_shift: Option<&str>) -> Command {
    match clock_shift {
        Some(shift) => {
            // Offline: the first run fetched everything, and the registry's
            // certificate may not be valid a year from now.
            let mut c = faketime(shift, "mvn");
            c.arg("-o");
            c
        }
        None => Command::new("mvn"),
    }
}

/// The Kotlin wrapper and generated bindings, compiled with Maven and run
/// on the JVM through JNA against the debug cdylib and a real server.
fn kotlin_tests(clock_shift: Option<&str>) -> Result<()> {
    if Command::new("mvn").arg("--version").output().is_err() {
        if std::env::var_os("CI").is_some() {
            bail!("Maven is required in CI for the Kotlin tests");
        }
        eprintln!("xtask: ************************************************************");
        eprintln!("xtask: Kotlin JVM tests SKIPPED: Maven (mvn) is not installed");
        eprintln!("xtask: ************************************************************");
        return Ok(());
    }
    let profile = bindings(false)?;
    run(cargo().args(["build", "-p", "praxis-server"]))?;
    let _ = std::fs::remove_file(target_dir().join("jna-bench.json"));
    let target = target_dir();
    run(maven(clock_shift)
        .current_dir(workspace().join("android/jvm-tests"))
        .args(["-B", "--no-transfer-progress", "test"])
        .arg(format!("-Dcargo.target.dir={}", target.display()))
        .arg(format!("-Dpraxis.lib.dir={}", profile.display()))
        .arg(format!(
            "-Dpraxis.server.bin={}",
            profile.join("praxis-server").display()
        ))
        .arg(format!("-Dpraxis.report.dir={}", target.display())))?;
    // The Android-specific Kotlin, compiled against the Android framework
    // classes (no SDK here; see android/compile-check/pom.xml).
    run(maven(clock_shift)
        .current_dir(workspace().join("android/compile-check"))
        .args(["-B", "--no-transfer-progress", "compile"])
        .arg(format!("-Dcargo.target.dir={}", target.display())))
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
    if !quick {
        // Size of the library the apps ship (x86_64 host as a proxy for arm64).
        run(cargo().args(["build", "-p", "praxis-ffi", "--profile", "mobile"]))?;
        // Kotlin -> core round trip through JNA, against the release library.
        let profile = bindings(true)?;
        run(Command::new("mvn")
            .current_dir(workspace().join("android/jvm-tests"))
            .args([
                "-B",
                "--no-transfer-progress",
                "test",
                "-Dtest=CallOverheadBenchmark",
            ])
            .arg(format!("-Dcargo.target.dir={}", target_dir().display()))
            .arg(format!("-Dpraxis.lib.dir={}", profile.display()))
            .arg(format!("-Dpraxis.report.dir={}", target_dir().display())))?;
    }
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
