//! The command line: clap's tree of commands and flags, and the parsers of
//! their values. Nothing here runs a command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use praxis_core::protocol::location::Precision;
use praxis_core::protocol::privacy::Purpose;

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

const PURPOSES: [&str; 4] = [
    "location_visits",
    "location_sharing",
    "marketing",
    "analytics",
];

fn purpose(s: &str) -> Result<Purpose, String> {
    Purpose::parse(s).ok_or_else(|| format!("one of {}", PURPOSES.join(", ")))
}

fn role(s: &str) -> Result<praxis_core::protocol::Role, String> {
    praxis_core::protocol::Role::parse(s).ok_or_else(|| "admin or member".into())
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err("on or off".into()),
    }
}

fn precision(s: &str) -> Result<Precision, String> {
    match Precision::parse(s) {
        Some(p @ (Precision::Approximate | Precision::Precise)) => Ok(p),
        _ => Err("approximate or precise".into()),
    }
}

#[derive(Debug, Args)]
pub(crate) struct CardArgs {
    /// Name shown to colleagues.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Profession.
    #[arg(long)]
    pub(crate) profession: Option<String>,
    /// Specialty.
    #[arg(long)]
    pub(crate) specialty: Option<String>,
    /// Work phone, E.164.
    #[arg(long)]
    pub(crate) work_phone: Option<String>,
    /// Work email.
    #[arg(long)]
    pub(crate) work_email: Option<String>,
    /// Organisation or clinic name.
    #[arg(long)]
    pub(crate) organisation: Option<String>,
    /// Clinic address.
    #[arg(long)]
    pub(crate) clinic_address: Option<String>,
    /// Languages, comma-separated BCP 47 tags (e.g. fr,en).
    #[arg(long, value_delimiter = ',')]
    pub(crate) languages: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContactsCommand {
    /// Your card.
    Card,
    /// Change your card (only the fields given); holders see the change at their next sync.
    EditCard(CardArgs),
    /// Invite someone: prints a single-use code (for a QR code or a link).
    Invite {
        /// Fields they will see, comma-separated (display_name, work_phone, ...).
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// Let them forward your card to their connections.
        #[arg(long)]
        allow_forward: bool,
        /// Hours until it expires (default 48, at most 168).
        #[arg(long)]
        hours: Option<u32>,
    },
    /// Who invites you (checks the code on this device first).
    Preview {
        /// The invitation code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
    },
    /// Accept an invitation; you share the fields you choose back.
    Accept {
        /// The invitation code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
        /// Your fields they will see, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// Let them forward your card.
        #[arg(long)]
        allow_forward: bool,
    },
    /// Decline an invitation.
    Decline {
        /// The invitation code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
    },
    /// Cards shared with you (works offline; `praxis sync` refreshes).
    List,
    /// Who holds your card.
    Holders,
    /// End a connection, both ways.
    Revoke {
        /// Their account id.
        user_id: uuid::Uuid,
    },
    /// Take your card back from one holder.
    RevokeHolder {
        /// The holder's account id.
        holder_id: uuid::Uuid,
    },
    /// Forward a card you hold to one of your connections (if its owner allowed it).
    Forward {
        /// The card's owner.
        owner_id: uuid::Uuid,
        /// Your connection to pass it to.
        #[arg(long)]
        to: uuid::Uuid,
    },
    /// Block someone: your connection ends and their invitations are refused.
    Block {
        /// Their account id.
        user_id: uuid::Uuid,
    },
    /// Lift a block.
    Unblock {
        /// Their account id.
        user_id: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// Restrict processing of your account (on) or lift it (off): your data
    /// is kept but nothing changes it; consent can still be withdrawn.
    Restrict {
        /// on or off.
        #[arg(value_parser = on_off, action = clap::ArgAction::Set)]
        restricted: bool,
    },
    /// The security events recorded about your account.
    Audit,
    /// What happens to your data after your death: erased (the default),
    /// or handed to a person you choose, then erased.
    #[command(subcommand)]
    PostMortem(PostMortemCommand),
    /// Object to processing that rests on the service's legitimate
    /// interest (GDPR Art. 21), or withdraw the objection (--withdraw);
    /// without a basis, list them with where you stand.
    Object {
        /// e.g. connection_log (see the list).
        basis: Option<String>,
        /// Withdraw the objection instead.
        #[arg(long, requires = "basis")]
        withdraw: bool,
    },
    /// Change your password (asks for the current and the new one, or
    /// PRAXIS_PASSWORD and PRAXIS_NEW_PASSWORD). Your other devices are
    /// signed out.
    Password,
    /// Forgot your password: without --code, mails a reset code to the
    /// address; with --code, sets a new password (asks for it, or
    /// PRAXIS_NEW_PASSWORD) and signs out every device. No sign-in needed.
    Reset {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// The code from the mail.
        #[arg(long)]
        code: Option<String>,
    },
    /// Prove your email address: with a code from the mail, confirm it;
    /// without, mail a new code.
    VerifyEmail {
        /// The code from the mail.
        code: Option<String>,
    },
    /// Your signed-in devices (the one in use is marked `*`).
    Sessions,
    /// Sign a device out: an id from `praxis account sessions`, or every
    /// other device with --others. With --wipe the device also deletes
    /// your data on it when it next goes online (asks for your password,
    /// or PRAXIS_PASSWORD): for a lost or stolen phone.
    SignOut {
        /// The session to end.
        #[arg(required_unless_present = "others", conflicts_with = "others")]
        id: Option<uuid::Uuid>,
        /// Every device but this one.
        #[arg(long)]
        others: bool,
        /// Also make the device delete your data on it.
        #[arg(long)]
        wipe: bool,
    },
    /// Erase your account and everything about you (asks for your password,
    /// or PRAXIS_PASSWORD). Your other devices wipe themselves at their next
    /// contact; colleagues holding your card lose it.
    Delete {
        /// Confirm without the interactive question.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PostMortemCommand {
    /// Your directive (or the default, erasure).
    Show,
    /// Erase everything after your death.
    Erase,
    /// Hand a copy of your data to a person after your death, then erase.
    HandOver {
        /// Their name.
        #[arg(long)]
        name: String,
        /// Their email address.
        #[arg(long)]
        email: String,
        /// A message for them.
        #[arg(long)]
        message: Option<String>,
    },
    /// Remove your directive: erasure applies again.
    Remove,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConsentCommand {
    /// Where your consent stands, per purpose.
    Show,
    /// Give consent for a purpose (for the current privacy policy version).
    Grant {
        /// location_visits, location_sharing, marketing or analytics.
        #[arg(value_parser = purpose)]
        purpose: Purpose,
    },
    /// Withdraw consent; it applies at once on this device.
    Withdraw {
        /// location_visits, location_sharing, marketing or analytics.
        #[arg(value_parser = purpose)]
        purpose: Purpose,
    },
    /// Every grant and withdrawal ever recorded (the proof of consent).
    History,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PrivacyCommand {
    /// Show the privacy notice in force (offline: the copy last fetched);
    /// once shown, a "changed" notice counts as seen.
    Notice,
}

#[derive(Debug, Args)]
pub(crate) struct FixArgs {
    /// Latitude, degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) lat: f64,
    /// Longitude, degrees.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) lon: f64,
    /// Accuracy radius in metres.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) accuracy: f64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LocationCommand {
    /// Whether location may be used now, per purpose, and how precisely.
    Status,
    /// Your precision preference: approximate (default) or precise.
    Precision {
        /// approximate or precise.
        #[arg(value_parser = precision)]
        precision: Precision,
    },
    /// Record your arrival at a visit.
    CheckIn {
        /// The visit id.
        appointment_id: uuid::Uuid,
        #[command(flatten)]
        fix: FixArgs,
    },
    /// Record your departure from a visit.
    CheckOut {
        /// The visit id.
        appointment_id: uuid::Uuid,
        #[command(flatten)]
        fix: FixArgs,
    },
    /// Share your live location with people of your organisations.
    Share {
        /// Their account ids (repeat the flag).
        #[arg(long = "to", required = true)]
        to: Vec<uuid::Uuid>,
        /// For how long, 1 to 480 minutes.
        #[arg(long, default_value_t = 60)]
        minutes: u32,
    },
    /// Send a position to your running live shares (alias: `fix`).
    #[command(visible_alias = "fix")]
    SendFix(FixArgs),
    /// Stop a live share.
    StopShare {
        /// The share id.
        share_id: uuid::Uuid,
    },
    /// Live positions shared with you.
    SharedWithMe,
    /// Erase the location data collected about you (after withdrawing
    /// consent): raw fixes, check-in results and distances, live shares.
    /// What your organisation must keep by law is held, restricted, until
    /// its date (the answer says so).
    Erase {
        /// location_visits or location_sharing; absent: both.
        #[arg(long, value_parser = purpose)]
        purpose: Option<Purpose>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LocationPolicyCommand {
    /// Show an organisation's location policy.
    Show {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// Change it (admins). Members' devices apply it at their next sync.
    Set {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// Visit verification (check-in/out location): on or off.
        #[arg(long, value_parser = on_off)]
        visits: Option<bool>,
        /// Live location sharing: on or off.
        #[arg(long, value_parser = on_off)]
        sharing: Option<bool>,
        /// Finest precision allowed: approximate or precise.
        #[arg(long, value_parser = precision)]
        precision: Option<Precision>,
        /// Days raw fixes are kept (1 to 30).
        #[arg(long)]
        retention_days: Option<u32>,
        /// Days visit records must be kept by law or contract (0 to 3650;
        /// 0: none).
        #[arg(long)]
        visit_records_days: Option<u32>,
    },
    /// Switch location off (or back on) for one member (admins).
    Member {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The member's account id.
        user_id: uuid::Uuid,
        /// on or off.
        #[arg(value_parser = on_off, action = clap::ArgAction::Set)]
        enabled: bool,
    },
    /// Who changed the location settings, and when (admins).
    Changes {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AppointmentsCommand {
    /// List visits on this device.
    List,
    /// Add a visit.
    Add {
        /// Title, e.g. "Wound dressing".
        #[arg(long)]
        title: String,
        /// Start, RFC 3339, e.g. 2026-11-23T09:30:00+01:00.
        #[arg(long)]
        start: chrono::DateTime<chrono::FixedOffset>,
        /// Duration in minutes.
        #[arg(long, default_value_t = 30)]
        minutes: u32,
        /// A pseudonymous patient label (not the patient's name).
        #[arg(long)]
        patient: Option<String>,
        /// Visit address.
        #[arg(long)]
        address: Option<String>,
        /// The visit's point, latitude in degrees (with --lon): check-in
        /// and check-out are then judged against a circle around it.
        #[arg(long, requires = "lon", allow_negative_numbers = true)]
        lat: Option<f64>,
        /// The visit's point, longitude in degrees (with --lat).
        #[arg(long, requires = "lat", allow_negative_numbers = true)]
        lon: Option<f64>,
        /// Radius of that circle in metres (default 150).
        #[arg(long, requires = "lat")]
        radius: Option<f64>,
    },
    /// Change a visit.
    Edit {
        /// The visit id.
        id: uuid::Uuid,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New start (RFC 3339).
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// New duration in minutes.
        #[arg(long)]
        minutes: Option<u32>,
        /// New status: scheduled, completed, cancelled or no_show.
        #[arg(long, value_parser = ["scheduled", "completed", "cancelled", "no_show"])]
        status: Option<String>,
        /// New address.
        #[arg(long)]
        address: Option<String>,
    },
    /// Delete a visit.
    Delete {
        /// The visit id.
        id: uuid::Uuid,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// Email address.
    #[arg(long)]
    pub(crate) email: String,
    /// Full name.
    #[arg(long)]
    pub(crate) name: String,
    /// Phone number in E.164 form, e.g. +33612345678.
    #[arg(long)]
    pub(crate) phone: String,
    /// ISO 3166-1 alpha-2 country code, e.g. FR.
    #[arg(long)]
    pub(crate) country: String,
    /// BCP 47 language tag, e.g. fr-FR.
    #[arg(long)]
    pub(crate) language: String,
    /// Profession, e.g. nurse.
    #[arg(long)]
    pub(crate) profession: String,
    /// Date of birth, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) date_of_birth: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// Show your profile.
    Show {
        /// Show the copy stored on this device, without the network.
        #[arg(long)]
        offline: bool,
    },
    /// Correct profile fields (only those given change).
    Edit {
        /// New email address (your sign-in: the password is asked for, or
        /// read from PRAXIS_PASSWORD, and your other devices are signed out).
        #[arg(long)]
        email: Option<String>,
        /// New full name.
        #[arg(long)]
        name: Option<String>,
        /// New phone number (E.164).
        #[arg(long)]
        phone: Option<String>,
        /// New country code.
        #[arg(long)]
        country: Option<String>,
        /// New language tag.
        #[arg(long)]
        language: Option<String>,
        /// New profession.
        #[arg(long)]
        profession: Option<String>,
        /// Corrected date of birth.
        #[arg(long)]
        date_of_birth: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organisation; you become its admin.
    Create {
        /// Its name.
        name: String,
    },
    /// Join an organisation with a code from an admin.
    Join {
        /// The join code (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code: String,
    },
    /// Create a single-use join code (admins).
    Invite {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// List the members of an organisation.
    Members {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// List your organisations.
    List,
    /// Make a member an admin or a plain member (admins).
    Role {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The member's account id.
        user_id: uuid::Uuid,
        /// admin or member.
        #[arg(value_parser = role)]
        role: praxis_core::protocol::Role,
    },
    /// Remove a member (admins).
    Remove {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The member's account id.
        user_id: uuid::Uuid,
    },
    /// Leave an organisation (its last admin cannot while others remain).
    Leave {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// Rename an organisation (admins).
    Rename {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The new name.
        name: String,
    },
    /// The open join codes, by id (admins).
    Codes {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// Revoke an open join code by its id (admins).
    RevokeCode {
        /// The organisation id.
        org_id: uuid::Uuid,
        /// The code's id, from `praxis org codes` (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        code_id: String,
    },
    /// The organisation's audit log (admins).
    Audit {
        /// The organisation id.
        org_id: uuid::Uuid,
    },
    /// The organisation's location policy (admins change it).
    #[command(subcommand)]
    LocationPolicy(LocationPolicyCommand),
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
