//! `praxis consent`, `praxis privacy` and `praxis location`: consent per
//! purpose, the privacy notice, fixes, visits, live sharing and the
//! organisation's location policy.

use clap::{Args, Subcommand};
use praxis_core::protocol::location::Precision;
use praxis_core::protocol::privacy::Purpose;

use super::values::{on_off, precision, purpose};

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
