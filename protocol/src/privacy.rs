//! Consent, organisation location policy and the two-gate rule.
//!
//! Location is used only when two independent gates are open:
//!
//! 1. the organisation's location policy, set by its admins and synced
//!    down as `org_policy` records (one per organisation the user belongs
//!    to, already narrowed to this member: an admin can switch one member
//!    off). With several organisations the most restrictive wins; with
//!    none, location is off (there is no admin to have allowed it);
//! 2. the user's own consent for the purpose, from the append-only
//!    `consents` ledger, for the policy version currently published.
//!
//! A restricted account (GDPR Art. 18) has every gate closed. These are
//! pure functions used by the server (to refuse what a device should not
//! have sent) and by the core (to drop a fix before it is stored).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::location::Precision;
use crate::sync::{Fields, SyncRecord};

mod sharing;

pub use sharing::{
    MAX_SHARE_MINUTES, MAX_SHARE_RECIPIENTS, Share, SharePosition, SharedLocation,
    StartShareRequest,
};

/// A purpose the user consents to (or not), separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Purpose {
    /// Location at check-in and check-out of a visit (visit verification).
    LocationVisits,
    /// Live location shared with chosen contacts for a bounded time.
    LocationSharing,
    /// Marketing messages.
    Marketing,
    /// Usage analytics.
    Analytics,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 4] = [
        Self::LocationVisits,
        Self::LocationSharing,
        Self::Marketing,
        Self::Analytics,
    ];

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LocationVisits => "location_visits",
            Self::LocationSharing => "location_sharing",
            Self::Marketing => "marketing",
            Self::Analytics => "analytics",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the organisation's location policy also gates it.
    pub fn is_location(self) -> bool {
        matches!(self, Self::LocationVisits | Self::LocationSharing)
    }
}

/// Why a gate is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[cfg_attr(feature = "uniffi", uniffi(name = "GateClosed"))]
pub enum Closed {
    /// The account is restricted: nothing is processed.
    Restricted,
    /// The organisation (or no organisation) does not allow it.
    PolicyDisabled,
    /// The user has not consented to the current policy version.
    ConsentRequired,
}

fn text(v: &Value, max: usize) -> bool {
    v.as_str().is_some_and(|s| {
        let n = s.chars().count();
        (1..=max).contains(&n) && !s.chars().any(char::is_control)
    })
}

fn time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok())
}

fn uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok())
}

/// The `consents` collection: an append-only ledger, one record per grant
/// or withdrawal (the proof of consent). Records are never edited.
pub mod consents {
    use super::*;

    /// Collection name.
    pub const COLLECTION: &str = "consents";
    /// Every field is required.
    pub const REQUIRED: &[&str] = &["purpose", "granted", "policy_version", "at", "device"];

    /// Checks one field; `Err(reason)` names what is wrong.
    pub fn check_field(name: &str, v: &Value) -> Result<(), &'static str> {
        let ok = match name {
            "purpose" => v.as_str().and_then(Purpose::parse).is_some(),
            "granted" => v.is_boolean(),
            "policy_version" => v
                .as_u64()
                .is_some_and(|n| (1..=u64::from(u32::MAX)).contains(&n)),
            "at" => time(v),
            "device" => text(v, 64),
            _ => return Err("unknown field"),
        };
        if ok { Ok(()) } else { Err("invalid value") }
    }

    /// One ledger entry.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct Entry {
        /// Record id.
        pub id: String,
        /// Purpose.
        pub purpose: Purpose,
        /// Granted (`true`) or withdrawn (`false`).
        pub granted: bool,
        /// The published policy version it refers to.
        pub policy_version: u32,
        /// When (device time).
        pub at: DateTime<Utc>,
        /// Which device recorded it (its sync client id).
        pub device: String,
        /// Where the server put it in the user's change order (its sync
        /// sequence number), which follows the order the device pushed its
        /// entries in. The server sets it to break ties in time: entries
        /// clamped to the same receipt time keep the order they were made
        /// in. Not part of the record, so 0 on devices (where ties go to
        /// the id) and after a round trip through JSON.
        #[serde(skip)]
        #[cfg_attr(feature = "openapi", schema(ignore))]
        pub order: i64,
    }

    impl Entry {
        /// Reads an entry from a record's fields.
        pub fn from_fields(id: &str, f: &Fields) -> Option<Self> {
            Some(Self {
                id: id.to_owned(),
                purpose: Purpose::parse(f.get("purpose")?.v.as_str()?)?,
                granted: f.get("granted")?.v.as_bool()?,
                policy_version: u32::try_from(f.get("policy_version")?.v.as_u64()?).ok()?,
                at: f.get("at")?.v.as_str()?.parse().ok()?,
                device: f.get("device")?.v.as_str()?.to_owned(),
                order: 0,
            })
        }
    }

    /// The latest entry per purpose: by time, then by the server's change
    /// order, then by id, so every replica picks the same one.
    pub fn latest(entries: &[Entry]) -> BTreeMap<Purpose, &Entry> {
        let mut out: BTreeMap<Purpose, &Entry> = BTreeMap::new();
        for e in entries {
            match out.get(&e.purpose) {
                Some(cur) if (cur.at, cur.order, &cur.id) >= (e.at, e.order, &e.id) => {}
                _ => {
                    out.insert(e.purpose, e);
                }
            }
        }
        out
    }

    /// Whether consent for `purpose` counts now: the latest entry grants
    /// it for the currently published version (or a later one).
    pub fn counts(entries: &[Entry], purpose: Purpose, current_version: u32) -> bool {
        latest(entries)
            .get(&purpose)
            .is_some_and(|e| e.granted && e.policy_version >= current_version)
    }
}

/// The `org_policy` collection: server-authored, read-only on devices. One
/// record per organisation the user belongs to (id = organisation id),
/// already narrowed to this member.
pub mod org_policy {
    use super::*;

    /// Collection name.
    pub const COLLECTION: &str = "org_policy";
    /// Default retention of raw fixes, in days.
    pub const DEFAULT_RETENTION_DAYS: u32 = 7;
    /// Longest retention an admin may set, in days.
    pub const MAX_RETENTION_DAYS: u32 = 30;

    /// An organisation's location policy as it applies to one member.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct MemberPolicy {
        /// The organisation.
        pub org_id: Uuid,
        /// Visit verification allowed.
        pub location_visits: bool,
        /// Live sharing allowed.
        pub location_sharing: bool,
        /// The most precise location allowed.
        pub max_precision: Precision,
        /// Days raw fixes are kept.
        pub retention_days: u32,
        /// Whether an admin left location on for this member.
        pub member_enabled: bool,
    }

    impl MemberPolicy {
        /// As record fields (all written with HLC `t`).
        pub fn to_fields(&self, t: &str) -> Fields {
            let v = |v: Value| crate::sync::FieldValue { v, t: t.to_owned() };
            [
                ("org_id", Value::from(self.org_id.to_string())),
                ("location_visits", Value::from(self.location_visits)),
                ("location_sharing", Value::from(self.location_sharing)),
                ("max_precision", Value::from(self.max_precision.as_str())),
                ("retention_days", Value::from(self.retention_days)),
                ("member_enabled", Value::from(self.member_enabled)),
            ]
            .into_iter()
            .map(|(k, x)| (k.to_owned(), v(x)))
            .collect()
        }

        /// Reads a record's fields; `None` if any is missing or invalid.
        pub fn from_fields(f: &Fields) -> Option<Self> {
            let b = |k: &str| f.get(k)?.v.as_bool();
            Some(Self {
                org_id: f.get("org_id")?.v.as_str()?.parse().ok()?,
                location_visits: b("location_visits")?,
                location_sharing: b("location_sharing")?,
                max_precision: Precision::parse(f.get("max_precision")?.v.as_str()?)?,
                retention_days: u32::try_from(f.get("retention_days")?.v.as_u64()?).ok()?,
                member_enabled: b("member_enabled")?,
            })
        }

        /// Whether this organisation allows the purpose for this member.
        pub fn allows(&self, purpose: Purpose) -> bool {
            self.member_enabled
                && match purpose {
                    Purpose::LocationVisits => self.location_visits,
                    Purpose::LocationSharing => self.location_sharing,
                    Purpose::Marketing | Purpose::Analytics => true,
                }
        }
    }
}

/// The combined effect of every organisation policy on one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Effective {
    /// Visit verification allowed by every organisation.
    pub location_visits: bool,
    /// Live sharing allowed by every organisation.
    pub location_sharing: bool,
    /// The least precise of the organisations' maxima (`off` with no
    /// organisation).
    pub max_precision: Precision,
    /// The shortest retention of raw fixes, in days.
    pub retention_days: u32,
}

impl Effective {
    /// Most restrictive of `policies`; everything off when there are none.
    pub fn of(policies: &[org_policy::MemberPolicy]) -> Self {
        if policies.is_empty() {
            return Self {
                location_visits: false,
                location_sharing: false,
                max_precision: Precision::Off,
                retention_days: org_policy::DEFAULT_RETENTION_DAYS,
            };
        }
        Self {
            location_visits: policies.iter().all(|p| p.allows(Purpose::LocationVisits)),
            location_sharing: policies.iter().all(|p| p.allows(Purpose::LocationSharing)),
            max_precision: policies
                .iter()
                .map(|p| p.max_precision)
                .min()
                .unwrap_or(Precision::Off),
            retention_days: policies
                .iter()
                .map(|p| p.retention_days)
                .min()
                .unwrap_or(org_policy::DEFAULT_RETENTION_DAYS),
        }
    }

    /// Whether the organisations allow the purpose.
    pub fn allows(&self, purpose: Purpose) -> bool {
        match purpose {
            Purpose::LocationVisits => self.location_visits,
            Purpose::LocationSharing => self.location_sharing,
            Purpose::Marketing | Purpose::Analytics => true,
        }
    }
}

/// The two-gate decision for one purpose. `Ok` carries the precision to
/// use: the user's preference, never finer than the organisations allow.
pub fn gate(
    purpose: Purpose,
    restricted: bool,
    effective: &Effective,
    consents: &[consents::Entry],
    current_version: u32,
    preference: Precision,
) -> Result<Precision, Closed> {
    if restricted {
        return Err(Closed::Restricted);
    }
    if !effective.allows(purpose)
        || (purpose.is_location() && effective.max_precision == Precision::Off)
    {
        return Err(Closed::PolicyDisabled);
    }
    if !consents::counts(consents, purpose, current_version) {
        return Err(Closed::ConsentRequired);
    }
    let precision = if purpose.is_location() {
        preference.min(effective.max_precision)
    } else {
        preference
    };
    if precision == Precision::Off {
        return Err(Closed::ConsentRequired);
    }
    Ok(precision)
}

pub mod visit_events;

/// `GET /v1/me/privacy`: what a device needs before any other sync work,
/// so an "off" is applied before anything queued is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrivacyState {
    /// The published policy version per purpose (`location_visits` → 2).
    pub policy_versions: BTreeMap<Purpose, u32>,
    /// Whether processing of the account is restricted.
    pub restricted: bool,
    /// The current `org_policy` records of the user (all of them: one
    /// missing here was removed).
    pub org_policies: Vec<SyncRecord>,
    /// The version of the privacy notice in force (`GET
    /// /v1/privacy/notice`): a device holding an older one fetches it and
    /// tells its user the notice changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_version: Option<u32>,
}

/// An organisation's location policy (`GET`/`PATCH
/// /v1/orgs/{org_id}/location-policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LocationPolicy {
    /// Visit verification (check-in/out location) allowed.
    pub location_visits: bool,
    /// Live location sharing allowed.
    pub location_sharing: bool,
    /// The most precise location allowed: `approximate` or `precise`.
    pub max_precision: Precision,
    /// Days raw fixes are kept (1..=30).
    pub retention_days: u32,
    /// Days the organisation must keep visit check-in records (time,
    /// inside or not, distance; never the raw fix) by law or contract,
    /// e.g. for billing (0..=3650; 0: no such obligation). A member who
    /// erases their location data has records younger than this held,
    /// restricted, until they reach it.
    #[serde(default)]
    pub visit_records_days: u32,
    /// When an admin last changed it (creation time before that).
    pub updated_at: DateTime<Utc>,
    /// Who changed it last (none before the first change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<Uuid>,
}

impl LocationPolicy {
    /// The policy of a new organisation: location off until an admin
    /// decides otherwise.
    pub fn initial(now: DateTime<Utc>) -> Self {
        Self {
            location_visits: false,
            location_sharing: false,
            max_precision: Precision::Approximate,
            retention_days: org_policy::DEFAULT_RETENTION_DAYS,
            visit_records_days: 0,
            updated_at: now,
            updated_by: None,
        }
    }
}

/// `PATCH /v1/orgs/{org_id}/location-policy` (admins only). Absent fields
/// keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[cfg_attr(feature = "uniffi", uniffi(name = "LocationPolicyUpdate"))]
pub struct UpdateLocationPolicyRequest {
    /// Visit verification on/off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub location_visits: Option<bool>,
    /// Live sharing on/off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub location_sharing: Option<bool>,
    /// `approximate` or `precise` (`off`: switch the features off instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_precision: Option<Precision>,
    /// 1..=30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub retention_days: Option<u32>,
    /// 0..=3650 days (see [`LocationPolicy::visit_records_days`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub visit_records_days: Option<u32>,
}

/// Longest retention of visit records an organisation may state, in days.
pub const MAX_VISIT_RECORDS_DAYS: u32 = 3650;

/// `DELETE /v1/me/location-data`: what was erased of the data collected
/// under the location purposes (GDPR Art. 17(1)(b)), and what is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LocationErasure {
    /// Visit events whose raw fix (coordinates, accuracy) was erased.
    pub raw_fixes_erased: u64,
    /// Visit events (check-in results and distances) deleted.
    pub visit_events_deleted: u64,
    /// Visit events an organisation's stated retention requires keeping:
    /// without their raw fix, removed from every device, restricted
    /// (stored only, shown only in the export) until `held_until`.
    pub visit_events_held: u64,
    /// When the last held record is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<DateTime<Utc>>,
    /// Live shares ended, with their positions.
    pub shares_ended: u64,
}

/// `PUT /v1/orgs/{org_id}/members/{user_id}/location` (admins only): an
/// admin can switch location off for one member; `true` only lifts that
/// (it never overrides the member's own consent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberLocationRequest {
    /// Whether location may be used for this member.
    pub enabled: bool,
}

/// One recorded change of an organisation's location settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The admin who made it.
    pub actor_id: Uuid,
    /// The member concerned, for a per-member switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<Uuid>,
    /// The settings changed, with their new values.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub change: Value,
}

/// `PUT /v1/me/restriction`: restrict processing of the account (GDPR
/// Art. 18) or lift the restriction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestrictionRequest {
    /// Restricted or not.
    pub restricted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use org_policy::MemberPolicy;

    fn policy(visits: bool, sharing: bool, p: Precision, member: bool) -> MemberPolicy {
        MemberPolicy {
            org_id: Uuid::new_v4(),
            location_visits: visits,
            location_sharing: sharing,
            max_precision: p,
            retention_days: 7,
            member_enabled: member,
        }
    }

    fn entry(purpose: Purpose, granted: bool, v: u32, secs: i64, id: &str) -> consents::Entry {
        consents::Entry {
            id: id.into(),
            purpose,
            granted,
            policy_version: v,
            at: DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid"),
            device: "d".into(),
            order: 0,
        }
    }

    #[test]
    fn the_most_restrictive_organisation_wins_and_none_means_off() {
        let none = Effective::of(&[]);
        assert!(!none.location_visits && none.max_precision == Precision::Off);
        let e = Effective::of(&[
            policy(true, true, Precision::Precise, true),
            policy(true, false, Precision::Approximate, true),
        ]);
        assert!(e.location_visits && !e.location_sharing);
        assert_eq!(e.max_precision, Precision::Approximate);
        let off = Effective::of(&[policy(true, true, Precision::Precise, false)]);
        assert!(!off.location_visits && !off.location_sharing);
    }

    #[test]
    fn policy_fields_round_trip() {
        let p = policy(true, false, Precision::Precise, true);
        assert_eq!(MemberPolicy::from_fields(&p.to_fields("t")), Some(p));
    }

    #[test]
    fn consent_counts_only_for_the_current_version_and_the_latest_entry() {
        let v = Purpose::LocationVisits;
        let grant = entry(v, true, 1, 0, "a");
        assert!(consents::counts(std::slice::from_ref(&grant), v, 1));
        assert!(
            !consents::counts(std::slice::from_ref(&grant), v, 2),
            "version bumped"
        );
        let withdrawn = [grant.clone(), entry(v, false, 1, 10, "b")];
        assert!(!consents::counts(&withdrawn, v, 1));
        // Order of the ledger does not matter; time does.
        let regranted = [
            entry(v, true, 2, 20, "c"),
            grant,
            entry(v, false, 1, 10, "b"),
        ];
        assert!(consents::counts(&regranted, v, 2));
        assert!(!consents::counts(&regranted, Purpose::LocationSharing, 1));
    }

    #[test]
    fn the_gate_checks_restriction_then_policy_then_consent() {
        let v = Purpose::LocationVisits;
        let on = Effective::of(&[policy(true, true, Precision::Approximate, true)]);
        let c = [entry(v, true, 1, 0, "a")];
        let pref = Precision::Precise;
        assert_eq!(gate(v, true, &on, &c, 1, pref), Err(Closed::Restricted));
        let off = Effective::of(&[policy(false, true, Precision::Precise, true)]);
        assert_eq!(
            gate(v, false, &off, &c, 1, pref),
            Err(Closed::PolicyDisabled)
        );
        assert_eq!(
            gate(v, false, &on, &[], 1, pref),
            Err(Closed::ConsentRequired)
        );
        assert_eq!(
            gate(v, false, &on, &c, 2, pref),
            Err(Closed::ConsentRequired)
        );
        // Never finer than the organisation allows.
        assert_eq!(gate(v, false, &on, &c, 1, pref), Ok(Precision::Approximate));
    }

    #[test]
    fn consent_and_visit_fields_are_checked() {
        use serde_json::json;
        assert!(consents::check_field("purpose", &json!("marketing")).is_ok());
        assert!(consents::check_field("purpose", &json!("tracking")).is_err());
        assert!(consents::check_field("policy_version", &json!(0)).is_err());
        assert!(consents::check_field("extra", &json!(1)).is_err());
        assert!(visit_events::check_field("lat", &json!(91.0)).is_err());
        assert!(visit_events::check_field("lon", &json!(-180.5)).is_err());
        assert!(visit_events::check_field("accuracy_m", &json!(-1.0)).is_err());
        assert!(visit_events::check_field("kind", &json!("check_in")).is_ok());
        assert!(visit_events::check_field("kind", &json!("wander")).is_err());
    }
}
