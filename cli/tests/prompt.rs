//! The passphrase prompt on a real terminal (a pseudo-terminal driven
//! expect-style): asked for when PRAXIS_PASSPHRASE is not set, never
//! echoed, and a wrong one is refused with its exit code; progress shown
//! to a person at a terminal, never to a script.

use crate::common;

use std::process::Command;

use praxis_tests::{Backend, TestServer, Transport};

fn praxis(dir: &std::path::Path, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_praxis"));
    cmd.args(["whoami", "--data-dir"])
        .arg(dir)
        .env("PRAXIS_SERVER", url)
        .env_remove("PRAXIS_PASSPHRASE");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_passphrase_is_asked_without_echo() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        // First run: the cache is created under the typed passphrase.
        let mut p =
            rexpect::session::spawn_command(praxis(&path, &url), Some(30_000)).expect("spawn");
        p.exp_string("Passphrase for the local data: ")
            .expect("the prompt");
        p.send_line("typed-passphrase-4711").expect("type");
        let rest = p.exp_eof().expect("ends");
        assert!(
            !rest.contains("typed-passphrase-4711"),
            "the passphrase was echoed: {rest:?}"
        );
        assert!(rest.contains("not signed in"), "{rest:?}");
        // Second run, wrong passphrase: refused (exit 7), nothing opened.
        let mut p =
            rexpect::session::spawn_command(praxis(&path, &url), Some(30_000)).expect("spawn");
        p.exp_string("Passphrase for the local data: ")
            .expect("the prompt");
        p.send_line("not-the-passphrase").expect("type");
        let rest = p.exp_eof().expect("ends");
        assert!(rest.contains("Wrong passphrase"), "{rest:?}");
        let status = p.process().wait().expect("status");
        assert!(
            format!("{status:?}").contains("Exited(") && format!("{status:?}").ends_with(", 7)"),
            "{status:?}"
        );
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_shows_progress_on_a_terminal_only() {
    let server = TestServer::start(Backend::Sqlite, Transport::Http)
        .await
        .expect("server");
    let url = server.base_url().expect("url").to_owned();
    let dir = tempfile::tempdir().expect("dir");
    let me = common::Run {
        server: &url,
        dir: dir.path(),
        passphrase: "progress device passphrase",
    };
    common::sign_up(&me, &praxis_tests::person("progress")).await;
    let out = tempfile::tempdir().expect("out");
    let (path, file) = (dir.path().to_owned(), out.path().join("export.json"));
    tokio::task::spawn_blocking(move || {
        let run = |json: bool| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_praxis"));
            cmd.args(["export", "--out"])
                .arg(&file)
                .arg("--data-dir")
                .arg(&path)
                .env("PRAXIS_SERVER", &url)
                .env("PRAXIS_PASSPHRASE", "progress device passphrase");
            if json {
                cmd.arg("--json");
            }
            let mut p = rexpect::session::spawn_command(cmd, Some(30_000)).expect("spawn");
            p.exp_eof().expect("ends")
        };
        let human = run(false);
        assert!(human.contains("Downloading your data"), "{human:?}");
        assert!(human.contains("Your data ("), "{human:?}");
        let script = run(true);
        assert!(!script.contains("Downloading"), "{script:?}");
        assert!(script.trim_start().starts_with('{'), "{script:?}");
    })
    .await
    .expect("join");
}
