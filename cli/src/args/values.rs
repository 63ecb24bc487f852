//! Parsers of flag values that clap cannot derive.

use praxis_core::protocol::location::Precision;
use praxis_core::protocol::privacy::Purpose;

const PURPOSES: [&str; 4] = [
    "location_visits",
    "location_sharing",
    "marketing",
    "analytics",
];

pub(super) fn purpose(s: &str) -> Result<Purpose, String> {
    Purpose::parse(s).ok_or_else(|| format!("one of {}", PURPOSES.join(", ")))
}

pub(super) fn role(s: &str) -> Result<praxis_core::protocol::Role, String> {
    praxis_core::protocol::Role::parse(s).ok_or_else(|| "admin or member".into())
}

pub(super) fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err("on or off".into()),
    }
}

pub(super) fn precision(s: &str) -> Result<Precision, String> {
    match Precision::parse(s) {
        Some(p @ (Precision::Approximate | Precision::Precise)) => Ok(p),
        _ => Err("approximate or precise".into()),
    }
}
