//! The wire types as the apps' bindings see them (`uniffi` feature): this
//! crate is a uniffi component of its own, so `praxis-ffi` exports these
//! types as they are instead of declaring copies. The records and enums
//! carry `#[cfg_attr(feature = "uniffi", derive(...))]` where they are
//! defined; here are the foreign types they contain, as custom types:
//!
//! * ids (`Uuid`) cross as their hyphenated text, a `String` under the
//!   alias `Uuid`;
//! * times (`DateTime<Utc>`) cross as `SystemTime` (`Instant` in Kotlin,
//!   `Date` in Swift) under the alias `Timestamp`;
//! * calendar dates (`NaiveDate`, a date of birth) cross as `YYYY-MM-DD`
//!   text under the alias `CalendarDate`.
//!
//! `praxis-ffi` uses the same conversions (`uniffi::use_remote_type!`).

use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

uniffi::custom_type!(Uuid, String, {
    remote,
    lower: |id| id.to_string(),
    try_lift: |text| Ok(Uuid::parse_str(&text)?),
});

/// Times as the apps see them.
pub type Timestamp = DateTime<Utc>;

uniffi::custom_type!(Timestamp, SystemTime, {
    remote,
    lower: |at| at.into(),
    try_lift: |at| Ok(at.into()),
});

/// Calendar dates as the apps see them.
pub type CalendarDate = NaiveDate;

uniffi::custom_type!(CalendarDate, String, {
    remote,
    lower: |date| date.to_string(),
    try_lift: |text| Ok(text.parse()?),
});
