//! Live location sharing on the wire: starting a share, the share, its
//! latest position and what a recipient reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::location::Precision;
use crate::redacted_debug;

/// Longest live share, in minutes (8 hours).
pub const MAX_SHARE_MINUTES: u32 = 480;
/// Most recipients of one live share.
pub const MAX_SHARE_RECIPIENTS: usize = 20;

/// `POST /v1/location/shares`: share my live location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartShareRequest {
    /// Who may see it (users who share an organisation with me).
    pub recipients: Vec<Uuid>,
    /// For how long, 1..=480 minutes.
    pub duration_min: u32,
}

/// A live share I started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "LiveShare"))]
pub struct Share {
    /// Share id.
    pub share_id: Uuid,
    /// Recipients.
    pub recipients: Vec<Uuid>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ends, whatever happens.
    pub expires_at: DateTime<Utc>,
}

/// A position within a live share. Only the latest is kept.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SharePosition {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy_m: f64,
    /// When the fix was taken.
    pub at: DateTime<Utc>,
    /// Precision it was reduced to.
    pub precision: Precision,
}
redacted_debug!(SharePosition { at, precision });

/// A live share someone started with me (`GET /v1/location/shared-with-me`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedLocation {
    /// Share id.
    pub share_id: Uuid,
    /// Who shares.
    pub user_id: Uuid,
    /// Their name.
    pub full_name: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// The latest position, if one was sent yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<SharePosition>,
}
redacted_debug!(SharedLocation {
    share_id,
    user_id,
    expires_at
});
