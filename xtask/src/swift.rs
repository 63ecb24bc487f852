//! Swift: the cancellation uniffi's Swift lacks (patched into the generated
//! file), the XCFramework for Apple platforms (`cargo xtask swift`, macOS)
//! and the package's tests against a real server on any host with a Swift
//! toolchain (`cargo xtask swift-test`, Linux or macOS).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::api_fuzz::{Server, free_port, wait_ready};
use crate::{bindings, cargo, run, target_dir, workspace};

/// The uniffi version whose Swift template `patch_cancellation` edits.
const PATCHED_UNIFFI: &str = "0.32";

/// One exact edit of the generated Swift: `from` must occur `times` times.
struct Edit {
    from: &'static str,
    to: &'static str,
    times: usize,
}

const EDITS: &[Edit] = &[
    // The helper every async call goes through takes the future's cancel
    // function…
    Edit {
        from: "    freeFunc: (UInt64) -> (),\n    liftFunc: (F) throws -> T,\n",
        to: "    freeFunc: (UInt64) -> (),\n    cancelFunc: @escaping @Sendable (UInt64) -> (),\n    liftFunc: (F) throws -> T,\n",
        times: 1,
    },
    // …and calls it when the awaiting Task is cancelled: the Rust future
    // is dropped (its connection closed), and its continuation resumed.
    Edit {
        from: "    var pollResult: Int8;\n    repeat {\n",
        to: "    await withTaskCancellationHandler {\n    var pollResult: Int8;\n    repeat {\n",
        times: 1,
    },
    Edit {
        from: "    } while pollResult != UNIFFI_RUST_FUTURE_POLL_READY\n",
        to: "    } while pollResult != UNIFFI_RUST_FUTURE_POLL_READY\n    } onCancel: {\n        cancelFunc(rustFuture)\n    }\n",
        times: 1,
    },
    // A cancelled future completes with CALL_CANCELLED: Swift's own
    // CancellationError, as Kotlin gets its CancellationException.
    Edit {
        from: "        case CALL_CANCELLED:\n            fatalError(\"Cancellation not supported yet\")\n",
        to: "        case CALL_CANCELLED:\n            throw CancellationError()\n",
        times: 1,
    },
];

/// uniffi's Swift never cancels a Rust future (its Kotlin does): a
/// cancelled Task keeps waiting for the call to finish. This edits the
/// generated file the way Kotlin's template works: every async call passes
/// the future's `rust_future_cancel` function, called from a task
/// cancellation handler. Fails, naming the edit, when the template changed
/// (a uniffi upgrade): check whether it cancels by itself, then drop or
/// adapt the edit.
pub fn patch_cancellation(source: &str) -> Result<String> {
    let mut out = source.to_owned();
    for edit in EDITS {
        let found = out.matches(edit.from).count();
        if found != edit.times {
            bail!(
                "the generated Swift no longer matches uniffi {PATCHED_UNIFFI}'s template ({found} of {} expected `{}`): review xtask/src/swift.rs",
                edit.times,
                edit.from.trim()
            );
        }
        out = out.replace(edit.from, edit.to);
    }
    // Every call site names the cancel function of its future's type.
    let calls = out.matches("await uniffiRustCallAsync(").count();
    let mut patched = String::with_capacity(out.len() + calls * 64);
    let mut sites = 0;
    for line in out.split_inclusive('\n') {
        patched.push_str(line);
        let t = line.trim();
        if let Some(kind) = t
            .strip_prefix("freeFunc: ffi_praxis_ffi_rust_future_free_")
            .and_then(|k| k.strip_suffix(','))
        {
            let indent = &line[..line.len() - line.trim_start().len()];
            patched.push_str(&format!(
                "{indent}cancelFunc: ffi_praxis_ffi_rust_future_cancel_{kind},\n"
            ));
            sites += 1;
        }
    }
    if sites != calls {
        bail!("{calls} async calls in the generated Swift but {sites} free functions found");
    }
    Ok(patched)
}

/// The uniffi components in the library: the bindings' own and the wire
/// types' (`praxis-protocol`). Each has a generated Swift file, all of them
/// compiled into the package's `PraxisFFI` module, and a C header, all of
/// them in the one C module `PraxisFFIC` (the headers guard what they
/// share).
pub(crate) const COMPONENTS: [(&str, &str); 2] = [
    ("PraxisFFI.swift", "PraxisFFIC.h"),
    ("PraxisProtocol.swift", "PraxisProtocolFFIC.h"),
];

/// The module map of `PraxisFFIC`: every component's header, then `extra`
/// (what links it).
fn module_map(extra: &str) -> String {
    let headers: String = COMPONENTS
        .iter()
        .map(|(_, h)| format!("    header \"{h}\"\n"))
        .collect();
    format!("module PraxisFFIC {{\n{headers}    export *\n{extra}}}\n")
}

/// Copies every component's header into `dir`.
fn copy_headers(generated: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for (_, header) in COMPONENTS {
        std::fs::copy(generated.join(header), dir.join(header))?;
    }
    Ok(())
}

/// The headers and a module map linking the host library, for the
/// package's `systemLibrary` target (every platform but Apple's).
fn write_system_library(generated: &Path) -> Result<()> {
    let dir = workspace().join("ios/Sources/PraxisFFIC");
    copy_headers(generated, &dir)?;
    std::fs::write(
        dir.join("module.modulemap"),
        module_map("    link \"praxis_ffi\"\n"),
    )?;
    Ok(())
}

/// Copies the generated (and patched) Swift into the package.
fn install_generated_swift(generated: &Path) -> Result<()> {
    for (swift, _) in COMPONENTS {
        std::fs::copy(
            generated.join(swift),
            workspace().join("ios/Sources/PraxisFFI").join(swift),
        )?;
    }
    Ok(())
}

/// A push gateway on loopback (the Matrix push gateway API the server
/// speaks): each notification's body is written to a file in `dir`, and
/// every request is answered `{"rejected":[]}`.
fn push_gateway(dir: PathBuf) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::fs::create_dir_all(&dir)?;
    std::thread::spawn(move || {
        let mut n = 0u32;
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            // Requests on one kept-alive connection, one after the other.
            loop {
                let mut length = None;
                let mut line = String::new();
                let mut head = 0;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    head += 1;
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse::<usize>().ok();
                    }
                }
                let Some(length) = length.filter(|_| head > 1) else {
                    break;
                };
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                n += 1;
                let _ = std::fs::write(dir.join(format!("{n}.json")), &body);
                let answer = "{\"rejected\":[]}";
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    Ok(addr)
}

/// A server that accepts connections and never answers (the cancellation
/// test's): for the n-th connection it writes `open-n` in `dir`, and
/// `closed-n` once the client closed it.
fn silent_server(dir: PathBuf) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::fs::create_dir_all(&dir)?;
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().flatten().enumerate() {
            let dir = dir.clone();
            let _ = std::fs::write(dir.join(format!("open-{n}")), b"");
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf), Ok(k) if k > 0) {}
                let _ = std::fs::write(dir.join(format!("closed-{n}")), b"");
            });
        }
    });
    Ok(addr)
}

/// A praxis-server on a free loopback port with its own data directory.
fn start_server(bin: &Path, data: &Path, extra: &[String]) -> Result<(Server, SocketAddr)> {
    let addr = free_port()?;
    std::fs::create_dir_all(data)?;
    let child = Command::new(bin)
        .arg("--dev")
        .arg("--bind")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(data)
        .args(["--registrations-per-hour", "100000"])
        .arg("--privacy-notice")
        .arg(workspace().join("docs/privacy-notice.example.toml"))
        .args(extra)
        .env_remove("DATABASE_URL")
        .stdout(std::fs::File::create(data.join("server.log"))?)
        .stderr(std::fs::File::create(data.join("server.err"))?)
        .spawn()
        .context("starting praxis-server")?;
    let server = Server(child);
    wait_ready(addr)?;
    Ok((server, addr))
}

fn skipped(why: &str) {
    eprintln!();
    eprintln!("xtask: ************************************************************");
    eprintln!("xtask: Swift tests SKIPPED: {why}");
    eprintln!("xtask: ************************************************************");
    eprintln!();
}

/// `swift test` of the package (ios/) against real servers: the bindings
/// generated from the debug library the tests link, the C module as a
/// system library (Linux) or the XCFramework (macOS, `cargo xtask swift`
/// first). Skipped, loudly, where there is no Swift toolchain.
pub fn test() -> Result<()> {
    if Command::new("swift").arg("--version").output().is_err() {
        skipped("no `swift` on the PATH (install Swift 6 for Linux, or Xcode)");
        return Ok(());
    }
    let profile = bindings(false)?;
    run(cargo().args(["build", "-p", "praxis-server"]))?;
    let generated = target_dir().join("bindings/swift");
    install_generated_swift(&generated)?;
    if cfg!(target_os = "macos") {
        if !workspace().join("ios/PraxisFFIC.xcframework").exists() {
            bail!(
                "on macOS the package links ios/PraxisFFIC.xcframework: run `cargo xtask swift` first"
            );
        }
    } else {
        write_system_library(&generated)?;
    }
    let scratch = target_dir().join(format!("swift-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let bin = profile.join("praxis-server");
    let (_server, addr) = start_server(&bin, &scratch.join("server"), &[])?;
    // The wake-up test's server sends its notifications to a gateway here.
    let pushes = scratch.join("pushes");
    let gateway = push_gateway(pushes.clone())?;
    let (_woken, woken_addr) = start_server(
        &bin,
        &scratch.join("woken"),
        &[
            "--push-gateway-url".into(),
            format!("http://{gateway}/_matrix/push/v1/notify"),
        ],
    )?;
    let silent_dir = scratch.join("silent");
    let silent = silent_server(silent_dir.clone())?;
    let lib = profile.display().to_string();
    let mut swift = Command::new("swift");
    swift
        .current_dir(workspace().join("ios"))
        .args(["test", "--parallel", "--num-workers", "2"])
        .args(["-Xlinker", "-L", "-Xlinker", &lib])
        .env("LD_LIBRARY_PATH", &lib)
        .env("DYLD_LIBRARY_PATH", &lib)
        .env("PRAXIS_TEST_SERVER", format!("http://{addr}"))
        .env("PRAXIS_TEST_MAIL_DIR", scratch.join("server/mail"))
        .env("PRAXIS_TEST_PUSH_SERVER", format!("http://{woken_addr}"))
        .env("PRAXIS_TEST_PUSH_DIR", &pushes)
        .env("PRAXIS_TEST_SILENT_SERVER", format!("http://{silent}"))
        .env("PRAXIS_TEST_SILENT_DIR", &silent_dir);
    run(&mut swift)?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// The tree-sitter runtime and grammars (Swift's among them) the syntax
/// check runs, pinned.
const SYNTAX_PACKAGES: [&str; 2] = ["web-tree-sitter@0.22.6", "tree-sitter-wasms@0.1.13"];

/// Parses each file given with tree-sitter's Swift grammar; exits 1 naming
/// every syntax error or missing token.
const SYNTAX_SCRIPT: &str = r#"const Parser = require('web-tree-sitter');
const fs = require('fs');
const path = require('path');
(async () => {
  await Parser.init();
  const wasm = path.join(__dirname, 'node_modules/tree-sitter-wasms/out/tree-sitter-swift.wasm');
  const parser = new Parser();
  parser.setLanguage(await Parser.Language.load(wasm));
  let bad = 0;
  for (const file of process.argv.slice(2)) {
    const src = fs.readFileSync(file, 'utf8');
    const walk = (n) => {
      if (n.type === 'ERROR' || n.isMissing) {
        bad++;
        const what = n.isMissing ? 'missing ' + n.type : 'syntax error';
        console.error(`${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${what}`);
        return;
      }
      for (let i = 0; i < n.childCount; i++) walk(n.child(i));
    };
    walk(parser.parse(src).rootNode);
  }
  process.exit(bad ? 1 : 0);
})();
"#;

/// The Swift this repository holds (the wrapper, the tests, the package
/// manifest; not the generated file), parsed with tree-sitter's Swift
/// grammar: no Swift compiler runs here, so this is what catches a syntax
/// error in CI. Skipped, loudly, without Node or the npm registry.
pub fn syntax() -> Result<()> {
    let dir = target_dir().join("swift-syntax");
    std::fs::create_dir_all(&dir)?;
    if !dir
        .join("node_modules/tree-sitter-wasms/out/tree-sitter-swift.wasm")
        .exists()
    {
        let installed = Command::new("npm")
            .current_dir(&dir)
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .args(SYNTAX_PACKAGES)
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!("xtask: ************************************************************");
            eprintln!("xtask: Swift syntax check SKIPPED: could not install {SYNTAX_PACKAGES:?}");
            eprintln!("xtask: (needs Node with npm, and the npm registry)");
            eprintln!("xtask: ************************************************************");
            return Ok(());
        }
    }
    std::fs::write(dir.join("check.js"), SYNTAX_SCRIPT)?;
    let ios = workspace().join("ios");
    let mut files = vec![ios.join("Package.swift")];
    for sub in ["Sources/Praxis", "Tests/PraxisTests"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(ios.join(sub))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "swift"))
            .collect();
        found.sort();
        files.extend(found);
    }
    if files.len() < 4 {
        bail!(
            "ios/: expected the wrapper and its tests, found {} files",
            files.len()
        );
    }
    run(Command::new("node").arg(dir.join("check.js")).args(&files))?;
    eprintln!(
        "xtask: Swift syntax: {} files parse (tree-sitter)",
        files.len()
    );
    Ok(())
}

/// Builds the XCFramework for iOS devices, simulators and macOS. Needs
/// macOS with Xcode and the Apple Rust targets.
pub fn xcframework() -> Result<()> {
    if !cfg!(target_os = "macos") {
        bail!(
            "`cargo xtask swift` needs macOS with Xcode (xcodebuild); on Linux `cargo xtask swift-test` builds and tests the package against the host library"
        );
    }
    // iOS devices, the simulator on both kinds of Mac, and macOS itself
    // (so `swift test` runs on a Mac without a simulator).
    let targets = [
        "aarch64-apple-ios",
        "aarch64-apple-ios-sim",
        "x86_64-apple-ios",
        "aarch64-apple-darwin",
        "x86_64-apple-darwin",
    ];
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup")?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if !missing.is_empty() {
        bail!(
            "Rust targets missing: run `rustup target add {}`",
            missing.join(" ")
        );
    }
    bindings(true)?;
    for t in targets {
        run(cargo()
            .args([
                "build",
                "-p",
                "praxis-ffi",
                "--profile",
                "mobile",
                "--target",
                t,
            ])
            // The oldest iOS and macOS the package supports (Package.swift).
            .env("IPHONEOS_DEPLOYMENT_TARGET", "15.0")
            .env("MACOSX_DEPLOYMENT_TARGET", "12.0"))?;
    }
    let target = target_dir();
    let headers = target.join("bindings/swift-headers");
    copy_headers(&target.join("bindings/swift"), &headers)?;
    // As uniffi writes it for one header, for all of them.
    std::fs::write(
        headers.join("module.modulemap"),
        module_map(
            "    use \"Darwin\"\n    use \"_Builtin_stdbool\"\n    use \"_Builtin_stdint\"\n",
        ),
    )?;
    let fat = |name: &str, parts: [&str; 2]| -> Result<PathBuf> {
        let out = target.join(name).join("libpraxis_ffi.a");
        std::fs::create_dir_all(out.parent().expect("parent"))?;
        let mut lipo = Command::new("lipo");
        lipo.arg("-create");
        for p in parts {
            lipo.arg(target.join(p).join("mobile/libpraxis_ffi.a"));
        }
        run(lipo.arg("-output").arg(&out))?;
        Ok(out)
    };
    let sim = fat("ios-sim", ["aarch64-apple-ios-sim", "x86_64-apple-ios"])?;
    let mac = fat("macos", ["aarch64-apple-darwin", "x86_64-apple-darwin"])?;
    // Named after the target it provides (`PraxisFFIC` in Package.swift).
    let out = workspace().join("ios/PraxisFFIC.xcframework");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    let mut xcf = Command::new("xcodebuild");
    xcf.arg("-create-xcframework");
    for lib in [
        target.join("aarch64-apple-ios/mobile/libpraxis_ffi.a"),
        sim,
        mac,
    ] {
        xcf.arg("-library").arg(lib).arg("-headers").arg(&headers);
    }
    run(xcf.arg("-output").arg(&out))?;
    install_generated_swift(&target.join("bindings/swift"))?;
    eprintln!("xtask: {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C module declares every component's header (a Swift file whose
    /// header is missing does not compile) and keeps what it is given.
    #[test]
    fn the_c_module_declares_every_components_header() {
        let map = module_map("    link \"praxis_ffi\"\n");
        for (_, header) in COMPONENTS {
            assert!(map.contains(&format!("header \"{header}\"")), "{map}");
        }
        assert!(map.starts_with("module PraxisFFIC {"), "{map}");
        assert!(map.contains("    link \"praxis_ffi\"\n}"), "{map}");
    }

    /// The parts of uniffi 0.32's generated Swift the patch edits, as the
    /// generator writes them.
    const TEMPLATE: &str = r#"        case CALL_CANCELLED:
            fatalError("Cancellation not supported yet")

open func sessions()async throws  -> [DeviceSession]  {
    return
        try  await uniffiRustCallAsync(
            rustFutureFunc: {
                uniffi_praxis_ffi_fn_method_devices_sessions(
                        self.uniffiCloneHandle()
                )
            },
            pollFunc: ffi_praxis_ffi_rust_future_poll_rust_buffer,
            completeFunc: ffi_praxis_ffi_rust_future_complete_rust_buffer,
            freeFunc: ffi_praxis_ffi_rust_future_free_rust_buffer,
            liftFunc: FfiConverterSequenceTypeDeviceSession.lift,
            errorHandler: FfiConverterTypePraxisError_lift
        )
}
fileprivate func uniffiRustCallAsync<F, T>(
    rustFutureFunc: () -> UInt64,
    pollFunc: (UInt64, @escaping UniffiRustFutureContinuationCallback, UInt64) -> (),
    completeFunc: (UInt64, UnsafeMutablePointer<RustCallStatus>) -> F,
    freeFunc: (UInt64) -> (),
    liftFunc: (F) throws -> T,
    errorHandler: ((RustBuffer) throws -> Swift.Error)?
) async throws -> T {
    uniffiEnsurePraxisFfiInitialized()
    let rustFuture = rustFutureFunc()
    defer {
        freeFunc(rustFuture)
    }
    var pollResult: Int8;
    repeat {
        pollResult = await withUnsafeContinuation {
            pollFunc(rustFuture, { handle, pollResult in }, uniffiContinuationHandleMap.insert(obj: $0))
        }
    } while pollResult != UNIFFI_RUST_FUTURE_POLL_READY
"#;

    #[test]
    fn every_async_call_is_cancellable() {
        let out = patch_cancellation(TEMPLATE).expect("the template matches");
        assert!(out.contains(
            "cancelFunc: ffi_praxis_ffi_rust_future_cancel_rust_buffer,\n            liftFunc"
        ));
        assert!(out.contains("cancelFunc: @escaping @Sendable (UInt64) -> (),"));
        assert!(out.contains("} onCancel: {\n        cancelFunc(rustFuture)\n    }"));
        assert!(out.contains("throw CancellationError()"));
        assert!(!out.contains("fatalError"));
        // The handler wraps the whole poll loop.
        let start = out
            .find("await withTaskCancellationHandler {")
            .expect("handler");
        let end = out.find("} onCancel:").expect("onCancel");
        assert!(
            out[start..end].contains("repeat {") && out[start..end].contains("} while pollResult")
        );
    }

    #[test]
    fn a_changed_template_is_refused_not_half_patched() {
        let changed = TEMPLATE.replace(
            "fatalError(\"Cancellation not supported yet\")",
            "throw X()",
        );
        let e = patch_cancellation(&changed)
            .expect_err("a changed template")
            .to_string();
        assert!(e.contains("0 of 1 expected `case CALL_CANCELLED:"), "{e}");
        let extra = format!(
            "{TEMPLATE}\n        try  await uniffiRustCallAsync(\n            freeFunc: other,\n"
        );
        assert!(
            patch_cancellation(&extra).is_err(),
            "a call site without a known free function"
        );
    }
}
