//! The command line: clap's tree of commands and flags, and the parsers of
//! their values. Nothing here runs a command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod account;
mod appointments;
mod contacts;
mod org;
mod privacy;
mod values;

pub(crate) use account::{AccountCommand, PostMortemCommand, ProfileCommand, RegisterArgs};
pub(crate) use appointments::AppointmentsCommand;
pub(crate) use contacts::ContactsCommand;
pub(crate) use org::OrgCommand;
pub(crate) use privacy::{
    ConsentCommand, FixArgs, LocationCommand, LocationPolicyCommand, PrivacyCommand,
};

/// A terminal client for Praxis practitioners and admins.
#[derive(Debug, Parser)]
#[command(name = "praxis", version, about)]
pub(crate) struct Cli {
    /// Server base URL (default: the config file's `server`, else
    /// http://127.0.0.1:8787).
    #[arg(long, global = true, env = "PRAXIS_SERVER")]
    pub(crate) server: Option<String>,
    /// Where the encrypted local cache lives (default: the config file's
    /// `data_dir`, else the platform's data directory).
    #[arg(long, global = true, env = "PRAXIS_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// CA certificates (PEM) to trust besides the public roots, e.g. the
    /// organisation's private CA (default: the config file's `ca_cert`).
    #[arg(long, global = true, env = "PRAXIS_CA_CERT", value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// The config file (default: `config.toml` in the platform's config
    /// directory, e.g. ~/.config/praxis/config.toml).
    #[arg(long, global = true, env = "PRAXIS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create an account (you must be 18 or older). The password is asked
    /// for without echo, or read from PRAXIS_PASSWORD.
    Register(RegisterArgs),
    /// Sign in on this device.
    Login {
        /// Your email address.
        #[arg(long)]
        email: String,
    },
    /// Sign out on this device (and end this login on the server).
    Logout,
    /// Who is signed in.
    Whoami,
    /// Your profile.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Your visit schedule (works offline; `praxis sync` sends and fetches).
    #[command(subcommand)]
    Appointments(AppointmentsCommand),
    /// Your consent per purpose (location_visits, location_sharing,
    /// marketing, analytics).
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Location: permission, check-in/out of visits, live sharing.
    #[command(subcommand)]
    Location(LocationCommand),
    /// Contact cards shared between practitioners.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// The privacy notice: who is responsible for your data, whom to ask,
    /// where to complain (works before you sign in).
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Your account's rights: restriction of processing, the audit log.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Send local changes and fetch everyone else's now.
    Sync {
        /// Then keep following the server's changes, printing a line
        /// after each sync (one JSON object per line with --json), until
        /// interrupted (Ctrl-C) or the session ends.
        #[arg(long)]
        watch: bool,
    },
    /// Download everything the server holds about you (JSON; schema in
    /// docs/export.schema.json).
    Export {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// Encrypt it under a passphrase (asked for, or PRAXIS_EXPORT_PASSPHRASE).
        #[arg(long)]
        encrypt: bool,
        /// Instead of downloading: decrypt an encrypted export to --out.
        #[arg(long, value_name = "FILE")]
        decrypt: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        // clap's own consistency checks over every subcommand and argument.
        super::Cli::command().debug_assert();
    }

    #[test]
    fn a_join_code_may_start_with_a_hyphen() {
        // Join codes are base64url: one in 64 starts with `-`.
        use clap::Parser as _;
        let cli =
            super::Cli::try_parse_from(["praxis", "org", "join", "-_szyijO5g2EP"]).expect("parses");
        assert!(matches!(
            cli.command,
            super::Command::Org(super::OrgCommand::Join { code }) if code == "-_szyijO5g2EP"
        ));
        let cli =
            super::Cli::try_parse_from(["praxis", "org", "join", "-_x", "--json"]).expect("parses");
        assert!(cli.json);
    }

    /// Regression: a join code's id and an invitation code are base64url
    /// too; a revocation whose id started with `-` was refused as an
    /// unknown flag.
    #[test]
    fn code_ids_and_invitation_codes_may_start_with_a_hyphen() {
        use clap::Parser as _;
        let org = "fa844293-88cd-4806-8309-1e729057811c";
        let cli = super::Cli::try_parse_from(["praxis", "org", "revoke-code", org, "-Va5mSMY9"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            super::Command::Org(super::OrgCommand::RevokeCode { code_id, .. }) if code_id == "-Va5mSMY9"
        ));
        for sub in ["preview", "accept", "decline"] {
            let mut argv = vec!["praxis", "contacts", sub, "-xyz"];
            if sub == "accept" {
                argv.extend(["--fields", "email"]);
            }
            assert!(super::Cli::try_parse_from(&argv).is_ok(), "{argv:?}");
        }
    }
}
