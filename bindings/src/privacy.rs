//! Consent, location and the organisation's location policy, mirrored for
//! the apps. No logic: conversions and calls into the core.

use std::sync::Arc;
use std::time::SystemTime;

use praxis_core::protocol::privacy as pp;
use uuid::Uuid;

use crate::client::{PraxisClient, uuid};
use crate::error::PraxisError;
use crate::listeners::{TaskHandle, runtime};
use crate::types::{GeoPoint, Timestamp};
pub(crate) use praxis_core::ConsentStatus;
pub(crate) use praxis_core::protocol::location::Precision;
pub(crate) use praxis_core::protocol::privacy::{
    Closed, LocationPolicy, Purpose, Share, UpdateLocationPolicyRequest,
};
use praxis_core::protocol::redacted_debug;
pub(crate) use praxis_core::{FixSource, LocationPermission, Route, VisitKind};

/// Whether location may be used for a purpose, and how precisely.
#[uniffi::remote(Record)]
pub struct LocationPermission {
    /// The purpose.
    pub purpose: Purpose,
    /// `None` when allowed.
    pub closed: Option<Closed>,
    /// The precision fixes are reduced to (`Off` when closed).
    pub precision: Precision,
    /// Whether the organisations allow it.
    pub organisation_allows: bool,
    /// Whether the user's consent counts.
    pub consented: bool,
    /// Whether the account is restricted.
    pub restricted: bool,
    /// The finest precision the organisations allow.
    pub max_precision: Precision,
    /// Days raw fixes are kept.
    pub retention_days: u32,
}

/// Receives location permission changes.
#[uniffi::export(foreign)]
pub trait LocationListener: Send + Sync {
    /// Both location purposes' permissions (now first, then at every change).
    fn on_update(&self, permissions: Vec<LocationPermission>);
}

/// Where consent for one purpose stands.
#[uniffi::remote(Record)]
pub struct ConsentStatus {
    /// The purpose.
    pub purpose: Purpose,
    /// Whether consent counts now.
    pub granted: bool,
    /// The version the latest grant or withdrawal referred to.
    pub given_version: Option<u32>,
    /// The published version.
    pub current_version: u32,
    /// Granted for an older version: ask again.
    pub needs_reconsent: bool,
    /// When the latest grant or withdrawal was recorded.
    pub updated_at: Option<Timestamp>,
}

/// One entry of the consent ledger.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConsentEntry {
    /// Entry id.
    pub id: String,
    /// Purpose.
    pub purpose: Purpose,
    /// Granted or withdrawn.
    pub granted: bool,
    /// Policy version.
    pub policy_version: u32,
    /// When.
    pub at: SystemTime,
    /// Which device.
    pub device: String,
}

/// Where a fix came from.
#[uniffi::remote(Enum)]
pub enum FixSource {
    /// Satellites.
    Gps,
    /// Wi-Fi / cell.
    Network,
    /// The platform's fused provider.
    Fused,
}

/// A position from the platform.
#[derive(Clone, Copy, PartialEq, uniffi::Record)]
pub struct Fix {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy_m: f64,
    /// When it was taken.
    pub time: SystemTime,
    /// Where it came from.
    pub source: FixSource,
}

redacted_debug!(Fix { source });

impl From<Fix> for praxis_core::Fix {
    fn from(f: Fix) -> Self {
        Self {
            lat: f.lat,
            lon: f.lon,
            accuracy_m: f.accuracy_m,
            at: f.time.into(),
            source: f.source,
        }
    }
}

/// Check-in or check-out.
#[uniffi::remote(Enum)]
pub enum VisitKind {
    /// Arrival.
    CheckIn,
    /// Departure.
    CheckOut,
}

/// A recorded check-in or check-out.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct VisitEvent {
    /// Event id.
    pub id: String,
    /// The appointment.
    pub appointment_id: String,
    /// Which.
    pub kind: VisitKind,
    /// When.
    pub at: SystemTime,
    /// The reduced fix, until retention clears it.
    pub position: Option<GeoPoint>,
    /// Its accuracy, metres.
    pub accuracy_m: Option<f64>,
    /// Its precision.
    pub precision: Precision,
    /// Inside the visit's geofence (`None` without a place).
    pub inside: Option<bool>,
    /// Metres from the geofence (0 inside).
    pub distance_m: Option<f64>,
}

redacted_debug!(VisitEvent { id, kind, inside });

impl From<praxis_core::VisitEvent> for VisitEvent {
    fn from(e: praxis_core::VisitEvent) -> Self {
        Self {
            id: e.id.to_string(),
            appointment_id: e.appointment_id.to_string(),
            kind: e.kind,
            at: e.at.into(),
            position: e.position.map(|p| GeoPoint {
                lat: p.lat,
                lon: p.lon,
            }),
            accuracy_m: e.accuracy_m,
            precision: e.precision,
            inside: e.inside,
            distance_m: e.distance_m,
        }
    }
}

/// Distance and bearing to the next visit.
#[uniffi::remote(Record)]
pub struct Route {
    /// The appointment.
    pub appointment_id: Uuid,
    /// Its start.
    pub start: Timestamp,
    /// Metres.
    pub distance_m: f64,
    /// Degrees from north.
    pub bearing_deg: f64,
}

/// A live position someone shares with the user.
#[derive(Clone, PartialEq, uniffi::Record)]
pub struct SharedLocation {
    /// Share id.
    pub share_id: String,
    /// Who shares.
    pub user_id: String,
    /// Their name.
    pub full_name: String,
    /// When it ends.
    pub expires_at: SystemTime,
    /// Latest position, if any.
    pub position: Option<GeoPoint>,
    /// Its accuracy, metres.
    pub accuracy_m: Option<f64>,
    /// When it was taken.
    pub position_at: Option<SystemTime>,
}

redacted_debug!(SharedLocation { share_id });

impl From<pp::SharedLocation> for SharedLocation {
    fn from(s: pp::SharedLocation) -> Self {
        Self {
            share_id: s.share_id.to_string(),
            user_id: s.user_id.to_string(),
            full_name: s.full_name,
            expires_at: s.expires_at.into(),
            position: s.position.as_ref().map(|p| GeoPoint {
                lat: p.lat,
                lon: p.lon,
            }),
            accuracy_m: s.position.as_ref().map(|p| p.accuracy_m),
            position_at: s.position.as_ref().map(|p| p.at.into()),
        }
    }
}

crate::capability!(
    /// Consent per purpose, and its ledger.
    Consents,
    consents
);

#[uniffi::export(async_runtime = "tokio")]
impl Consents {
    /// Where consent stands for every purpose.
    pub async fn consent_status(&self) -> Result<Vec<ConsentStatus>, PraxisError> {
        Ok(self.core().consents().status().await?)
    }

    /// Grants consent for a purpose (the current policy version).
    pub async fn grant_consent(&self, purpose: Purpose) -> Result<(), PraxisError> {
        Ok(self.core().consents().grant(purpose).await?)
    }

    /// Withdraws consent; processing for the purpose stops at once.
    pub async fn withdraw_consent(&self, purpose: Purpose) -> Result<(), PraxisError> {
        Ok(self.core().consents().withdraw(purpose).await?)
    }

    /// Purposes consented to under an older policy version.
    pub async fn purposes_needing_reconsent(&self) -> Result<Vec<Purpose>, PraxisError> {
        let p = self.core().consents().needs_reconsent().await?;
        Ok(p.into_iter().collect())
    }

    /// The consent ledger, oldest first.
    pub async fn consent_history(&self) -> Result<Vec<ConsentEntry>, PraxisError> {
        let h = self.core().consents().history().await?;
        Ok(h.into_iter()
            .map(|e| ConsentEntry {
                id: e.id,
                purpose: e.purpose,
                granted: e.granted,
                policy_version: e.policy_version,
                at: e.at.into(),
                device: e.device,
            })
            .collect())
    }
}

crate::capability!(
    /// Location: the gates, visit check-in/out, live shares, and the organisation's location policy.
    Location,
    location
);

#[uniffi::export(async_runtime = "tokio")]
impl Location {
    /// Whether location may be used for a purpose, and how precisely.
    pub async fn location_permission(
        &self,
        purpose: Purpose,
    ) -> Result<LocationPermission, PraxisError> {
        Ok(self.core().location().permission(purpose).await?)
    }

    /// Calls `listener` with both location permissions now and whenever
    /// they may have changed (a sync, a consent, a setting), until the
    /// handle is cancelled or dropped. Repeated values are not sent.
    pub fn subscribe_location(&self, listener: Arc<dyn LocationListener>) -> Arc<TaskHandle> {
        let location = self.core().location();
        let task = runtime().spawn(async move {
            location
                .watch_permissions(|now| {
                    listener.on_update(now.to_vec());
                })
                .await;
        });
        Arc::new(TaskHandle(task))
    }

    /// The user's precision preference (`Approximate` by default; `Precise`
    /// only where the organisation allows it).
    pub async fn set_location_precision(&self, precision: Precision) -> Result<(), PraxisError> {
        Ok(self.core().location().set_precision(precision).await?)
    }

    /// Records a check-in at a visit (both gates must be open).
    pub async fn check_in(
        &self,
        appointment_id: String,
        fix: Fix,
    ) -> Result<VisitEvent, PraxisError> {
        let id = uuid("appointment_id", &appointment_id)?;
        Ok(self
            .core()
            .location()
            .check_in(id, fix.into())
            .await?
            .into())
    }

    /// Records a check-out of a visit, after its check-in.
    pub async fn check_out(
        &self,
        appointment_id: String,
        fix: Fix,
    ) -> Result<VisitEvent, PraxisError> {
        let id = uuid("appointment_id", &appointment_id)?;
        Ok(self
            .core()
            .location()
            .check_out(id, fix.into())
            .await?
            .into())
    }

    /// The check-in/out events of a visit.
    pub async fn visit_events(
        &self,
        appointment_id: String,
    ) -> Result<Vec<VisitEvent>, PraxisError> {
        let id = uuid("appointment_id", &appointment_id)?;
        let e = self.core().location().events(id).await?;
        Ok(e.into_iter().map(Into::into).collect())
    }

    /// Distance and bearing from a fix to the next visit with a place.
    pub async fn route_to_next(&self, fix: Fix) -> Result<Option<Route>, PraxisError> {
        Ok(self.core().location().route_to_next(fix.into()).await?)
    }

    /// Starts sharing live location with people of the user's
    /// organisations, for at most 480 minutes.
    pub async fn start_location_share(
        &self,
        recipients: Vec<String>,
        duration_min: u32,
    ) -> Result<Share, PraxisError> {
        let ids = recipients
            .iter()
            .map(|r| uuid("recipients", r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .core()
            .location()
            .start_share(ids, duration_min)
            .await?)
    }

    /// Feeds a fix to the user's live shares; how many received it.
    pub async fn share_location(&self, fix: Fix) -> Result<u32, PraxisError> {
        let n = self.core().location().share_fix(fix.into()).await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Stops a live share.
    pub async fn stop_location_share(&self, share_id: String) -> Result<(), PraxisError> {
        let id = uuid("share_id", &share_id)?;
        Ok(self.core().location().stop_share(id).await?)
    }

    /// The user's live shares that have not ended.
    pub async fn my_location_shares(&self) -> Result<Vec<Share>, PraxisError> {
        Ok(self.core().location().my_shares().await?)
    }

    /// Live positions shared with the user (ended ones never appear).
    pub async fn shared_with_me(&self) -> Result<Vec<SharedLocation>, PraxisError> {
        let s = self.core().location().shared_with_me().await?;
        Ok(s.into_iter().map(Into::into).collect())
    }

    /// An organisation's location policy.
    pub async fn location_policy(&self, org_id: String) -> Result<LocationPolicy, PraxisError> {
        let org = uuid("org_id", &org_id)?;
        Ok(self.core().account().location_policy(org).await?)
    }

    /// Changes an organisation's location policy (admins).
    pub async fn update_location_policy(
        &self,
        org_id: String,
        update: UpdateLocationPolicyRequest,
    ) -> Result<LocationPolicy, PraxisError> {
        let org = uuid("org_id", &org_id)?;
        Ok(self
            .core()
            .account()
            .update_location_policy(org, &update)
            .await?)
    }

    /// Switches location off (or back on) for one member (admins).
    pub async fn set_member_location(
        &self,
        org_id: String,
        user_id: String,
        enabled: bool,
    ) -> Result<(), PraxisError> {
        let (org, user) = (uuid("org_id", &org_id)?, uuid("user_id", &user_id)?);
        Ok(self
            .core()
            .account()
            .set_member_location(org, user, enabled)
            .await?)
    }
}
