//! `praxis`: the terminal client. Every command runs on `praxis-core`, the
//! same core as the apps; this crate only parses arguments (`args`),
//! resolves settings and secrets (`config`), runs each command group
//! (`commands/`) and prints (`output`). This file dispatches.
//!
//! Exit codes: 0 success, 2 usage error, 3 authentication (not signed in,
//! wrong credentials, session ended), 4 network, 5 conflict, 6 invalid
//! input, 7 local data (wrong passphrase, storage), 1 anything else.

mod args;
mod commands;
mod config;
mod output;

use std::process::ExitCode;

use clap::Parser as _;
use praxis_core::Error;

use crate::args::{Cli, Command};
use crate::output::{Out, fail};

async fn run(cli: Cli) -> Result<(), Error> {
    let out = Out { json: cli.json };
    let client = config::open(&cli).await?;
    let c = &client;
    match cli.command {
        Command::Register(a) => commands::account::register(c, &out, a).await,
        Command::Login { email } => commands::account::login(c, &out, &email).await,
        Command::Logout => commands::account::logout(c, &out).await,
        Command::Whoami => commands::account::whoami(c, &out).await,
        Command::Profile(cmd) => commands::account::profile(c, &out, cmd).await,
        Command::Account(cmd) => commands::account::run(c, &out, cmd).await,
        Command::Org(cmd) => commands::org::run(c, &out, cmd).await,
        Command::Appointments(cmd) => commands::appointments::run(c, &out, cmd).await,
        Command::Consent(cmd) => commands::consent::run(c, &out, cmd).await,
        Command::Privacy(cmd) => commands::consent::privacy(c, &out, cmd).await,
        Command::Location(cmd) => commands::location::run(c, &out, cmd).await,
        Command::Contacts(cmd) => commands::contacts::run(c, &out, cmd).await,
        Command::Sync { watch: false } => commands::sync::run(c, &out).await,
        Command::Sync { watch: true } => commands::sync::watch(c, &out).await,
        Command::Export {
            out: path,
            encrypt,
            decrypt,
        } => commands::export::run(c, &out, &path, encrypt, decrypt).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return ExitCode::from(1),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, json),
    }
}
