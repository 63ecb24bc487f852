//! `praxis appointments`: the visits.

use clap::Subcommand;

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
