//! Every collection of the encrypted cache that holds the signed-in user's
//! own data and is never synced, named once: sign-out and erasure wipe
//! exactly these and the synced collections ([`crate::sync::SYNCED`]), so
//! a capability that adds local data adds it here or it outlives the user.
//!
//! Device state (the sync identity and sequence, the clock offset, the
//! cache's keys) is not listed: it belongs to the device, not the user.

/// The signed-in user's profile, as last fetched.
pub(crate) const PROFILE: &str = "account_profile";
/// The one record of [`PROFILE`].
pub(crate) const ME: &str = "me";
/// Published policy versions and restriction, as last fetched.
pub(crate) const STATE: (&str, &str) = ("privacy_state", "state");
/// The user's precision preference.
pub(crate) const SETTINGS: (&str, &str) = ("location_settings", "settings");
/// Live shares this user runs (local copy of the server's list).
pub(crate) const OWN_SHARES: &str = "location_shares_out";
/// Live positions others share with this user (expiry checked on read).
pub(crate) const RECEIVED: &str = "location_shares_in";
/// The user's contact-card signing key.
pub(crate) const CONTACTS_KEY: (&str, &str) = ("contacts_signing_key", "current");

/// Usage counts not yet drained by the app (`crate::analytics`).
pub(crate) const ANALYTICS: &str = "analytics_counts";

/// The local collections cleared at sign-out, besides [`PROFILE`].
pub(crate) const USER_LOCAL: &[&str] = &[
    STATE.0,
    SETTINGS.0,
    OWN_SHARES,
    RECEIVED,
    CONTACTS_KEY.0,
    ANALYTICS,
];
