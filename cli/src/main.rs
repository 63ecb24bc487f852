//! `praxis`: the terminal client. Every command runs on `praxis-core`, the
//! same core as the apps; this file only parses arguments, asks for
//! secrets without echo, and prints.
//!
//! Exit codes: 0 success, 2 usage error, 3 authentication (not signed in,
//! wrong credentials, session ended), 4 network, 5 conflict, 6 invalid
//! input, 7 local data (wrong passphrase, storage), 1 anything else.

mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use praxis_core::cache::{KeyProvider, PassphraseKeyProvider};
use praxis_core::protocol::location::Precision;
use praxis_core::protocol::privacy::{Purpose, UpdateLocationPolicyRequest};
use praxis_core::protocol::{RegisterRequest, UpdateProfileRequest};
use praxis_core::{ClientConfig, Error, Fix, FixSource, PraxisClient, SessionState};

use crate::output::{Out, fail};

/// A terminal client for Praxis practitioners and admins.
#[derive(Debug, Parser)]
#[command(name = "praxis", version, about)]
struct Cli {
    /// Server base URL (default: the config file's `server`, else
    /// http://127.0.0.1:8787).
    #[arg(long, global = true, env = "PRAXIS_SERVER")]
    server: Option<String>,
    /// Where the encrypted local cache lives (default: the config file's
    /// `data_dir`, else the platform's data directory).
    #[arg(long, global = true, env = "PRAXIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The config file (default: `config.toml` in the platform's config
    /// directory, e.g. ~/.config/praxis/config.toml).
    #[arg(long, global = true, env = "PRAXIS_CONFIG")]
    config: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    /// Your account's rights: restriction of processing, the audit log.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Send local changes and fetch everyone else's now.
    Sync,
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
struct CardArgs {
    /// Name shown to colleagues.
    #[arg(long)]
    name: Option<String>,
    /// Profession.
    #[arg(long)]
    profession: Option<String>,
    /// Specialty.
    #[arg(long)]
    specialty: Option<String>,
    /// Work phone, E.164.
    #[arg(long)]
    work_phone: Option<String>,
    /// Work email.
    #[arg(long)]
    work_email: Option<String>,
    /// Organisation or clinic name.
    #[arg(long)]
    organisation: Option<String>,
    /// Clinic address.
    #[arg(long)]
    clinic_address: Option<String>,
    /// Languages, comma-separated BCP 47 tags (e.g. fr,en).
    #[arg(long, value_delimiter = ',')]
    languages: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
enum ContactsCommand {
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
        /// The invitation code.
        code: String,
    },
    /// Accept an invitation; you share the fields you choose back.
    Accept {
        /// The invitation code.
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
        /// The invitation code.
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
enum AccountCommand {
    /// Restrict processing of your account (on) or lift it (off): your data
    /// is kept but nothing changes it; consent can still be withdrawn.
    Restrict {
        /// on or off.
        #[arg(value_parser = on_off, action = clap::ArgAction::Set)]
        restricted: bool,
    },
    /// The security events recorded about your account.
    Audit,
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
enum ConsentCommand {
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

#[derive(Debug, Args)]
struct FixArgs {
    /// Latitude, degrees.
    #[arg(long, allow_hyphen_values = true)]
    lat: f64,
    /// Longitude, degrees.
    #[arg(long, allow_hyphen_values = true)]
    lon: f64,
    /// Accuracy radius in metres.
    #[arg(long, default_value_t = 10.0)]
    accuracy: f64,
}

#[derive(Debug, Subcommand)]
enum LocationCommand {
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
}

#[derive(Debug, Subcommand)]
enum LocationPolicyCommand {
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
enum AppointmentsCommand {
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
struct RegisterArgs {
    /// Email address.
    #[arg(long)]
    email: String,
    /// Full name.
    #[arg(long)]
    name: String,
    /// Phone number in E.164 form, e.g. +33612345678.
    #[arg(long)]
    phone: String,
    /// ISO 3166-1 alpha-2 country code, e.g. FR.
    #[arg(long)]
    country: String,
    /// BCP 47 language tag, e.g. fr-FR.
    #[arg(long)]
    language: String,
    /// Profession, e.g. nurse.
    #[arg(long)]
    profession: String,
    /// Date of birth, YYYY-MM-DD.
    #[arg(long)]
    date_of_birth: String,
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
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
enum OrgCommand {
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
    /// The organisation's location policy (admins change it).
    #[command(subcommand)]
    LocationPolicy(LocationPolicyCommand),
}

/// The optional config file: `server = "..."`, `data_dir = "..."`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    data_dir: Option<PathBuf>,
}

const DEFAULT_SERVER: &str = "http://127.0.0.1:8787";

fn file_config(cli: &Cli) -> Result<FileConfig, Error> {
    let explicit = cli.config.clone();
    let path = explicit.clone().or_else(|| {
        directories::ProjectDirs::from("org", "Praxis", "praxis")
            .map(|p| p.config_dir().join("config.toml"))
    });
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|_| Error::InvalidInput {
            field: "config",
            reason: "the config file is not valid (keys: server, data_dir)",
        }),
        // Only a file named on purpose must exist.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok(FileConfig::default())
        }
        Err(_) => Err(Error::InvalidInput {
            field: "config",
            reason: "the config file cannot be read",
        }),
    }
}

/// Flags and environment first, then the config file, then defaults.
fn server_url(cli: &Cli, file: &FileConfig) -> String {
    cli.server
        .clone()
        .or_else(|| file.server.clone())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned())
}

fn data_dir(cli: &Cli, file: &FileConfig) -> Result<PathBuf, Error> {
    if let Some(d) = cli.data_dir.as_ref().or(file.data_dir.as_ref()) {
        return Ok(d.clone());
    }
    directories::ProjectDirs::from("org", "Praxis", "praxis")
        .map(|p| p.data_dir().to_owned())
        .ok_or(Error::InvalidInput {
            field: "data_dir",
            reason: "no home directory; pass --data-dir",
        })
}

/// A secret from the environment, or asked for on the terminal without echo.
fn secret(var: &str, prompt: &str) -> Result<String, Error> {
    if let Ok(v) = std::env::var(var) {
        return Ok(v);
    }
    rpassword::prompt_password(prompt).map_err(|_| Error::InvalidInput {
        field: "terminal",
        reason: "cannot read a secret here; set the environment variable instead",
    })
}

async fn open(cli: &Cli) -> Result<Arc<PraxisClient>, Error> {
    let file = file_config(cli)?;
    let passphrase = secret("PRAXIS_PASSPHRASE", "Passphrase for the local data: ")?;
    let provider: Arc<dyn KeyProvider> = Arc::new(PassphraseKeyProvider::new(passphrase)?);
    PraxisClient::open(ClientConfig::new(
        server_url(cli, &file),
        data_dir(cli, &file)?,
        provider,
    ))
    .await
}

async fn run(cli: Cli) -> Result<(), Error> {
    let out = Out { json: cli.json };
    let client = open(&cli).await?;
    let account = client.account();
    match cli.command {
        Command::Register(a) => {
            let password = secret("PRAXIS_PASSWORD", "New password: ")?;
            let id = account
                .register(&RegisterRequest {
                    email: a.email,
                    password,
                    full_name: a.name,
                    phone: a.phone,
                    country: a.country,
                    language: a.language,
                    profession: a.profession,
                    date_of_birth: a.date_of_birth,
                })
                .await?;
            out.done(
                &format!("Account created ({id}). Sign in with `praxis login`."),
                serde_json::json!({ "user_id": id }),
            );
        }
        Command::Login { email } => {
            let password = secret("PRAXIS_PASSWORD", "Password: ")?;
            let id = account.login(&email, &password).await?;
            out.done("Signed in.", serde_json::json!({ "user_id": id }));
        }
        Command::Logout => {
            account.logout().await?;
            out.done("Signed out.", serde_json::json!({ "signed_in": false }));
        }
        Command::Whoami => match account.state() {
            SessionState::SignedIn { user_id } => {
                let profile = account.cached_profile().await?;
                out.whoami(user_id, profile.as_ref());
            }
            SessionState::SignedOut => return Err(Error::NotSignedIn),
            SessionState::NeedsReLogin => return Err(Error::SessionExpired),
        },
        Command::Profile(ProfileCommand::Show { offline }) => {
            let profile = if offline {
                account.cached_profile().await?.ok_or(Error::NotSignedIn)?
            } else {
                account.profile().await?
            };
            out.profile(&profile);
        }
        Command::Profile(ProfileCommand::Edit {
            email,
            name,
            phone,
            country,
            language,
            profession,
            date_of_birth,
        }) => {
            let update = UpdateProfileRequest {
                email,
                full_name: name,
                phone,
                country,
                language,
                profession,
                date_of_birth,
            };
            if update == UpdateProfileRequest::default() {
                return Err(Error::InvalidInput {
                    field: "profile edit",
                    reason: "give at least one field to change, e.g. --phone",
                });
            }
            if update.email.is_some() {
                // The sign-in email changes only with the password
                // confirmed (the server refuses it otherwise).
                let password = secret("PRAXIS_PASSWORD", "Password: ")?;
                account.reauthenticate(&password).await?;
            }
            let profile = account.update_profile(&update).await?;
            out.profile(&profile);
        }
        Command::Org(OrgCommand::Create { name }) => {
            let id = account.create_org(&name).await?;
            out.done(
                &format!("Organisation created: {id}"),
                serde_json::json!({ "org_id": id }),
            );
        }
        Command::Org(OrgCommand::Join { code }) => {
            let id = account.join_org(&code).await?;
            out.done(
                &format!("Joined organisation {id}"),
                serde_json::json!({ "org_id": id }),
            );
        }
        Command::Org(OrgCommand::Invite { org_id }) => {
            let code = account.create_join_code(org_id).await?;
            out.join_code(&code);
        }
        Command::Org(OrgCommand::Members { org_id }) => {
            let members = account.members(org_id).await?;
            out.members(&members);
        }
        Command::Org(OrgCommand::List) => {
            let orgs = account.orgs().await?;
            out.orgs(&orgs);
        }
        Command::Org(OrgCommand::LocationPolicy(cmd)) => {
            location_policy(&client, &out, cmd).await?
        }
        Command::Consent(cmd) => consent(&client, &out, cmd).await?,
        Command::Location(cmd) => location(&client, &out, cmd).await?,
        Command::Contacts(cmd) => contacts(&client, &out, cmd).await?,
        Command::Account(AccountCommand::Restrict { restricted }) => {
            account.set_restricted(restricted).await?;
            out.done(
                if restricted {
                    "Processing restricted: your data is kept and nothing changes it. Lift it with `praxis account restrict off`."
                } else {
                    "Restriction lifted; queued changes sync at the next `praxis sync`."
                },
                serde_json::json!({ "restricted": restricted }),
            );
        }
        Command::Account(AccountCommand::Audit) => out.audit(&account.audit().await?),
        Command::Account(AccountCommand::Delete { yes }) => {
            if !yes {
                return Err(Error::InvalidInput {
                    field: "account delete",
                    reason: "this erases everything; run again with --yes to confirm",
                });
            }
            let password = secret("PRAXIS_PASSWORD", "Password: ")?;
            account.delete_account(&password).await?;
            out.done(
                "Account erased. This device's data was wiped; your other devices wipe theirs at their next contact.",
                serde_json::json!({ "erased": true }),
            );
        }
        Command::Appointments(cmd) => appointments(&client, &out, cmd).await?,
        Command::Export {
            out: path,
            encrypt,
            decrypt,
        } => {
            if let Some(input) = decrypt {
                let pass = secret("PRAXIS_EXPORT_PASSPHRASE", "Export passphrase: ")?;
                let plain = praxis_core::export::decrypt(std::fs::File::open(&input)?, &pass)?;
                std::fs::write(&path, plain)?;
                out.done(
                    &format!("Decrypted to {}.", path.display()),
                    serde_json::json!({ "out": path }),
                );
                return Ok(());
            }
            let pass = if encrypt {
                Some(secret("PRAXIS_EXPORT_PASSPHRASE", "Export passphrase: ")?)
            } else {
                None
            };
            let bar = out.progress("Downloading your data", true);
            let tick = bar.clone();
            let n = account
                .export_with_progress(&path, pass.as_deref(), &move |bytes| {
                    tick.set_position(bytes)
                })
                .await;
            bar.finish_and_clear();
            let n = n?;
            out.done(
                &format!(
                    "Your data ({n} bytes{}) is in {}.",
                    if encrypt { ", encrypted" } else { "" },
                    path.display()
                ),
                serde_json::json!({ "out": path, "bytes": n, "encrypted": encrypt }),
            );
        }
        Command::Sync => {
            if account.user_id().is_none() {
                return Err(Error::NotSignedIn);
            }
            let bar = out.progress("Syncing", false);
            let sync = client.sync();
            let mut watch = sync.subscribe();
            let shown = bar.clone();
            let follow = tokio::spawn(async move {
                while watch.changed().await.is_ok() {
                    let pending = watch.borrow().pending;
                    shown.set_message(format!("Syncing: {pending} local change(s) to send"));
                }
            });
            let status = sync.sync_now("cli").await;
            follow.abort();
            bar.finish_and_clear();
            let status = status?;
            out.sync(&status, client.clock_skew());
            match status.state {
                praxis_core::sync::SyncState::Idle => {}
                praxis_core::sync::SyncState::Offline => {
                    return Err(Error::Network(praxis_core::NetworkError::Unreachable));
                }
                // Signed out (rather than asked to sign in again) during the
                // sync: the server said the account was erased, and the core
                // wiped this device.
                _ if account.user_id().is_none()
                    && account.state() == praxis_core::SessionState::SignedOut =>
                {
                    return Err(Error::AccountErased);
                }
                _ if account.user_id().is_none() => return Err(Error::SessionExpired),
                _ => return Err(Error::Protocol { status: 0 }),
            }
        }
    }
    Ok(())
}

async fn appointments(
    client: &PraxisClient,
    out: &Out,
    cmd: AppointmentsCommand,
) -> Result<(), Error> {
    use praxis_core::{AppointmentPatch, AppointmentStatus, NewAppointment};
    let a = client.appointments();
    match cmd {
        AppointmentsCommand::List => out.appointments(&a.list().await?),
        AppointmentsCommand::Add {
            title,
            start,
            minutes,
            patient,
            address,
            lat,
            lon,
            radius,
        } => {
            let point = lat
                .zip(lon)
                .map(|(lat, lon)| praxis_core::GeoPoint { lat, lon });
            let geofence = point.zip(radius).map(|(p, radius_m)| {
                praxis_core::appointments::Geofence::Circle {
                    lat: p.lat,
                    lon: p.lon,
                    radius_m,
                }
            });
            let id = a
                .create(NewAppointment {
                    title,
                    patient_label: patient,
                    start: start.with_timezone(&chrono::Utc),
                    duration_min: minutes,
                    address,
                    point,
                    geofence,
                })
                .await?;
            out.done(
                &format!("Visit added ({id}); it syncs with `praxis sync`."),
                serde_json::json!({ "id": id }),
            );
        }
        AppointmentsCommand::Edit {
            id,
            title,
            start,
            minutes,
            status,
            address,
        } => {
            let status = status
                .map(|s| AppointmentStatus::parse(&s).expect("clap accepts only the wire names"));
            a.update(
                id,
                AppointmentPatch {
                    title,
                    start: start.map(|s| s.with_timezone(&chrono::Utc)),
                    duration_min: minutes,
                    status,
                    address: address.map(Some),
                    ..Default::default()
                },
            )
            .await?;
            out.done("Visit updated.", serde_json::json!({ "id": id }));
        }
        AppointmentsCommand::Delete { id } => {
            a.delete(id).await?;
            out.done("Visit deleted.", serde_json::json!({ "id": id }));
        }
    }
    Ok(())
}

async fn location_policy(
    client: &PraxisClient,
    out: &Out,
    cmd: LocationPolicyCommand,
) -> Result<(), Error> {
    let account = client.account();
    match cmd {
        LocationPolicyCommand::Show { org_id } => {
            out.location_policy(&account.location_policy(org_id).await?);
        }
        LocationPolicyCommand::Set {
            org_id,
            visits,
            sharing,
            precision,
            retention_days,
        } => {
            let change = UpdateLocationPolicyRequest {
                location_visits: visits,
                location_sharing: sharing,
                max_precision: precision,
                retention_days,
            };
            if change == UpdateLocationPolicyRequest::default() {
                return Err(Error::InvalidInput {
                    field: "location-policy set",
                    reason: "give at least one setting, e.g. --visits on",
                });
            }
            out.location_policy(&account.update_location_policy(org_id, &change).await?);
        }
        LocationPolicyCommand::Member {
            org_id,
            user_id,
            enabled,
        } => {
            account
                .set_member_location(org_id, user_id, enabled)
                .await?;
            out.done(
                &format!(
                    "Location {} for member {user_id}; their devices apply it at their next sync.",
                    if enabled {
                        "allowed again"
                    } else {
                        "switched off"
                    }
                ),
                serde_json::json!({ "user_id": user_id, "enabled": enabled }),
            );
        }
        LocationPolicyCommand::Changes { org_id } => {
            out.policy_changes(&account.location_policy_changes(org_id).await?);
        }
    }
    Ok(())
}

async fn consent(client: &PraxisClient, out: &Out, cmd: ConsentCommand) -> Result<(), Error> {
    if client.account().user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let consents = client.consents();
    match cmd {
        ConsentCommand::Show => out.consents(&consents.status().await?),
        ConsentCommand::Grant { purpose } => {
            consents.grant(purpose).await?;
            out.done(
                &format!(
                    "Consent to {} recorded; it syncs with `praxis sync`.",
                    purpose.as_str()
                ),
                serde_json::json!({ "purpose": purpose, "granted": true }),
            );
        }
        ConsentCommand::Withdraw { purpose } => {
            consents.withdraw(purpose).await?;
            out.done(
                &format!(
                    "Consent to {} withdrawn; processing stopped on this device.",
                    purpose.as_str()
                ),
                serde_json::json!({ "purpose": purpose, "granted": false }),
            );
        }
        ConsentCommand::History => out.consent_history(&consents.history().await?),
    }
    Ok(())
}

fn fix(a: &FixArgs) -> Fix {
    Fix {
        lat: a.lat,
        lon: a.lon,
        accuracy_m: a.accuracy,
        at: chrono::Utc::now(),
        source: FixSource::Gps,
    }
}

async fn location(client: &PraxisClient, out: &Out, cmd: LocationCommand) -> Result<(), Error> {
    if client.account().user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let loc = client.location();
    match cmd {
        LocationCommand::Status => out.permissions(&loc.permissions().await?),
        LocationCommand::Precision { precision } => {
            loc.set_precision(precision).await?;
            out.done(
                &format!(
                    "Precision preference: {} (never finer than your organisation allows).",
                    precision.as_str()
                ),
                serde_json::json!({ "precision": precision }),
            );
        }
        LocationCommand::CheckIn {
            appointment_id,
            fix: f,
        } => out.visit_event(&loc.check_in(appointment_id, fix(&f)).await?),
        LocationCommand::CheckOut {
            appointment_id,
            fix: f,
        } => out.visit_event(&loc.check_out(appointment_id, fix(&f)).await?),
        LocationCommand::Share { to, minutes } => {
            let share = loc.start_share(to, minutes).await?;
            out.done(
                &format!(
                    "Sharing your location until {} (share {}). Send positions with `praxis location send-fix`.",
                    share.expires_at, share.share_id
                ),
                serde_json::to_value(&share).unwrap_or_default(),
            );
        }
        LocationCommand::SendFix(f) => {
            let n = loc.share_fix(fix(&f)).await?;
            out.done(
                &format!("Position sent to {n} live share(s)."),
                serde_json::json!({ "shares": n }),
            );
        }
        LocationCommand::StopShare { share_id } => {
            loc.stop_share(share_id).await?;
            out.done(
                "Live share stopped; its position was deleted.",
                serde_json::json!({ "share_id": share_id }),
            );
        }
        LocationCommand::SharedWithMe => out.shared_with_me(&loc.shared_with_me().await?),
    }
    Ok(())
}

async fn contacts(client: &PraxisClient, out: &Out, cmd: ContactsCommand) -> Result<(), Error> {
    if client.account().user_id().is_none() {
        return Err(Error::NotSignedIn);
    }
    let c = client.contacts();
    match cmd {
        ContactsCommand::Card => out.card(&c.my_card().await?),
        ContactsCommand::EditCard(a) => {
            let mut card = c.my_card().await?;
            let before = card.clone();
            let set = |slot: &mut Option<String>, v: Option<String>| {
                if v.is_some() {
                    *slot = v;
                }
            };
            if let Some(n) = a.name {
                card.display_name = n;
            }
            set(&mut card.profession, a.profession);
            set(&mut card.specialty, a.specialty);
            set(&mut card.work_phone, a.work_phone);
            set(&mut card.work_email, a.work_email);
            set(&mut card.organisation, a.organisation);
            set(&mut card.clinic_address, a.clinic_address);
            if let Some(l) = a.languages {
                card.languages = l;
            }
            if card == before {
                return Err(Error::InvalidInput {
                    field: "edit-card",
                    reason: "give at least one field to change, e.g. --work-phone",
                });
            }
            out.card(&c.update_card(&card).await?);
        }
        ContactsCommand::Invite {
            fields,
            allow_forward,
            hours,
        } => {
            let i = c.invite(fields, allow_forward, hours).await?;
            out.print(
                &format!(
                    "Invitation code (single use, valid until {}):\n{}\nThe recipient runs `praxis contacts accept <code> --fields ...`.",
                    i.expires_at, i.code
                ),
                serde_json::to_value(&i).unwrap_or_default(),
            );
        }
        ContactsCommand::Preview { code } => {
            let p = c.preview(&code).await?;
            out.print(
                &format!(
                    "{} ({}) invites you to connect and offers: {}. Valid until {}.",
                    p.display_name.as_deref().unwrap_or("Someone"),
                    p.organisation
                        .as_deref()
                        .or(p.profession.as_deref())
                        .unwrap_or("practitioner"),
                    p.fields.join(", "),
                    p.expires_at
                ),
                serde_json::to_value(&p).unwrap_or_default(),
            );
        }
        ContactsCommand::Accept {
            code,
            fields,
            allow_forward,
        } => {
            let owner = c.accept(&code, fields, allow_forward).await?;
            out.done(
                &format!("Connected with {owner}; their card is in `praxis contacts list`."),
                serde_json::json!({ "owner_id": owner }),
            );
        }
        ContactsCommand::Decline { code } => {
            c.decline(&code).await?;
            out.done(
                "Invitation declined.",
                serde_json::json!({ "declined": true }),
            );
        }
        ContactsCommand::List => out.contacts(&c.list().await?),
        ContactsCommand::Holders => out.holders(&c.holders().await?),
        ContactsCommand::Revoke { user_id } => {
            c.revoke(user_id).await?;
            out.done(
                "Connection ended both ways; the cards leave the other devices at their next sync.",
                serde_json::json!({ "user_id": user_id }),
            );
        }
        ContactsCommand::RevokeHolder { holder_id } => {
            c.revoke_holder(holder_id).await?;
            out.done(
                "Your card was taken back; it leaves their devices at their next sync.",
                serde_json::json!({ "holder_id": holder_id }),
            );
        }
        ContactsCommand::Forward { owner_id, to } => {
            c.forward(owner_id, to).await?;
            out.done(
                "Card forwarded.",
                serde_json::json!({ "owner_id": owner_id, "to": to }),
            );
        }
        ContactsCommand::Block { user_id } => {
            c.block(user_id).await?;
            out.done("Blocked.", serde_json::json!({ "user_id": user_id }));
        }
        ContactsCommand::Unblock { user_id } => {
            c.unblock(user_id).await?;
            out.done("Block lifted.", serde_json::json!({ "user_id": user_id }));
        }
    }
    Ok(())
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
}
