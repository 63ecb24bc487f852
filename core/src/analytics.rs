//! Usage analytics that keep the `analytics` consent: the apps report
//! events here and nowhere else, and the core records one only while the
//! gate is open (the user's latest consent grants the published version,
//! and processing is not restricted), so a withdrawal takes effect on the
//! very next call.
//!
//! What is recorded cannot identify anyone: an event is a name from a
//! closed alphabet (`screen_viewed`), with at most 8 properties whose
//! values are flags, small counts (≤ 10,000: no phone number, date or
//! coordinate fits) or tokens of the same alphabet, and no token may
//! contain a part of the signed-in user's name, email or phone. Events
//! are kept as counts per day, event and properties (no time of day, no
//! order, no id), in the encrypted cache; the app takes them with
//! [`Analytics::drain`] to ship to its analytics endpoint. When the gate
//! closes, what was counted and not yet drained is deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use praxis_protocol::Profile;
use serde::{Deserialize, Serialize};

use crate::cache::{CacheTx, RecordMeta, blocking};
use crate::local::{ANALYTICS, ME, PROFILE};
use crate::privacy::Gates;
use crate::sync::SyncEngine;
use crate::{Error, Result};

/// Most properties on one event.
pub const MAX_PROPS: usize = 8;
/// Largest count a property may carry.
pub const MAX_COUNT: u32 = 10_000;
/// Longest event name, property name or token.
pub const MAX_TOKEN: usize = 32;

/// A property's value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnalyticsValue {
    /// Yes or no.
    Flag(bool),
    /// A small count (0 to [`MAX_COUNT`]).
    Count(u32),
    /// A token: `a-z`, then `a-z`, `0-9` or `_`, at most [`MAX_TOKEN`].
    Token(String),
}

/// How often one event, with one set of properties, happened on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyticsCount {
    /// The day (UTC).
    pub day: NaiveDate,
    /// The event.
    pub event: String,
    /// Its properties.
    pub props: BTreeMap<String, AnalyticsValue>,
    /// How many times.
    pub count: u64,
}

fn token(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TOKEN
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn invalid(field: &'static str, reason: &'static str) -> Error {
    Error::InvalidInput { field, reason }
}

/// Fragments of the signed-in user's identity no token may contain: the
/// parts of their name and of their email address's local part (3
/// letters or more), lowercased, and their phone number's last digits.
fn identity_fragments(p: &Profile) -> Vec<String> {
    let local = p.email.split('@').next().unwrap_or_default();
    let mut out: Vec<String> = p
        .full_name
        .split(|c: char| !c.is_alphanumeric())
        .chain(local.split(|c: char| !c.is_ascii_alphanumeric()))
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3)
        .collect();
    let digits: String = p.phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 6 {
        out.push(digits[digits.len() - 6..].to_owned());
    }
    out
}

/// Checks one event's shape and that no token carries `fragments`.
fn check(
    event: &str,
    props: &BTreeMap<String, AnalyticsValue>,
    fragments: &[String],
) -> Result<()> {
    if !token(event) {
        return Err(invalid(
            "event",
            "a-z, 0-9 and _, starting with a letter, at most 32",
        ));
    }
    if props.len() > MAX_PROPS {
        return Err(invalid("props", "at most 8 properties"));
    }
    let mut tokens = vec![event];
    for (k, v) in props {
        if !token(k) {
            return Err(invalid(
                "props",
                "property names: a-z, 0-9 and _, at most 32",
            ));
        }
        tokens.push(k);
        match v {
            AnalyticsValue::Flag(_) => {}
            AnalyticsValue::Count(n) if *n <= MAX_COUNT => {}
            AnalyticsValue::Count(_) => return Err(invalid("props", "counts: 0 to 10000")),
            AnalyticsValue::Token(t) if token(t) => tokens.push(t),
            AnalyticsValue::Token(_) => {
                return Err(invalid("props", "tokens: a-z, 0-9 and _, at most 32"));
            }
        }
    }
    if tokens
        .iter()
        .any(|t| fragments.iter().any(|f| t.contains(f.as_str())))
    {
        return Err(invalid("props", "personal_data"));
    }
    Ok(())
}

/// Whether analytics may run now (see `crate::privacy::analytics_open`;
/// a closing gate deletes the counts there, in `enforce`).
fn open(tx: &CacheTx<'_>) -> Result<bool> {
    Ok(crate::privacy::analytics_open(&Gates::load(tx)?))
}

/// Deletes every count not yet drained.
fn forget(tx: &mut CacheTx<'_>) -> Result<usize> {
    let all = tx.list::<AnalyticsCount>(ANALYTICS)?;
    for r in &all {
        tx.delete(ANALYTICS, &r.id)?;
    }
    Ok(all.len())
}

/// The analytics capability; cheap to clone.
#[derive(Debug, Clone)]
pub struct Analytics {
    pub(crate) engine: Arc<SyncEngine>,
}

impl Analytics {
    /// Counts one event. `Ok(false)`: dropped, the gate is closed (nothing
    /// is stored). An event that is malformed or would carry a part of the
    /// user's identity is refused (`InvalidInput`), gate open or not.
    pub async fn record(
        &self,
        event: &str,
        props: BTreeMap<String, AnalyticsValue>,
    ) -> Result<bool> {
        let event = event.to_owned();
        let day = self.engine.clock().now().date_naive();
        blocking(self.engine.cache(), move |c| {
            c.transaction(|tx| {
                let fragments = tx
                    .get::<Profile>(PROFILE, ME)?
                    .map(|r| identity_fragments(&r.value))
                    .unwrap_or_default();
                check(&event, &props, &fragments)?;
                if !open(tx)? {
                    return Ok(false);
                }
                let key = serde_json::to_string(&(day, &event, &props))?;
                let id = hex::encode(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()));
                let count = tx
                    .get::<AnalyticsCount>(ANALYTICS, &id)?
                    .map_or(0, |r| r.value.count);
                let row = AnalyticsCount {
                    day,
                    event,
                    props,
                    count: count + 1,
                };
                tx.put(ANALYTICS, &id, &row, RecordMeta::local())?;
                Ok(true)
            })
        })
        .await
    }

    /// Takes every count recorded so far (oldest day first) and deletes
    /// it from the device: the app ships the batch to its analytics
    /// endpoint. Empty while the gate is closed.
    pub async fn drain(&self) -> Result<Vec<AnalyticsCount>> {
        blocking(self.engine.cache(), |c| {
            c.transaction(|tx| {
                let allowed = open(tx)?;
                let mut rows: Vec<AnalyticsCount> = tx
                    .list::<AnalyticsCount>(ANALYTICS)?
                    .into_iter()
                    .map(|r| r.value)
                    .collect();
                forget(tx)?;
                if !allowed {
                    return Ok(Vec::new());
                }
                rows.sort_by(|a, b| (a.day, &a.event, &a.props).cmp(&(b.day, &b.event, &b.props)));
                Ok(rows)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        serde_json::from_value(serde_json::json!({
            "user_id": "0193c3f0-0000-7000-8000-000000000001",
            "email": "jeanne.martin@clinic-example.org",
            "full_name": "Jeanne Martin",
            "phone": "+33612345678",
            "country": "FR",
            "language": "fr-FR",
            "profession": "nurse",
            "date_of_birth": "1985-04-12",
            "created_at": "2026-12-01T00:00:00Z",
            "updated_at": "2026-12-01T00:00:00Z",
        }))
        .expect("profile")
    }

    fn props(list: &[(&str, AnalyticsValue)]) -> BTreeMap<String, AnalyticsValue> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn shapes_that_could_carry_personal_data_are_refused() {
        let f = identity_fragments(&profile());
        let ok = props(&[
            ("screen", AnalyticsValue::Token("schedule".into())),
            ("items", AnalyticsValue::Count(12)),
            ("offline", AnalyticsValue::Flag(true)),
        ]);
        check("screen_viewed", &ok, &f).expect("a plain event");
        for (event, p) in [
            ("Screen Viewed", ok.clone()),
            ("", ok.clone()),
            (
                "x",
                props(&[("who", AnalyticsValue::Token("jeanne".into()))]),
            ),
            (
                "x",
                props(&[("who", AnalyticsValue::Token("dr_martin_notes".into()))]),
            ),
            (
                "x",
                props(&[("mail", AnalyticsValue::Token("jmartin".into()))]),
            ),
            (
                "x",
                props(&[("tel", AnalyticsValue::Token("n612345678".into()))]),
            ),
            ("x", props(&[("tel", AnalyticsValue::Count(33_612_345))])),
            (
                "x",
                props(&[("email", AnalyticsValue::Token("a@b.org".into()))]),
            ),
            (
                "x",
                props(&[("free", AnalyticsValue::Token("Hello world".into()))]),
            ),
            ("sent_to_martin", BTreeMap::new()),
        ] {
            assert!(check(event, &p, &f).is_err(), "{event} {p:?}");
        }
        let many: BTreeMap<String, AnalyticsValue> = (0..9)
            .map(|i| (format!("p{i}"), AnalyticsValue::Flag(true)))
            .collect();
        assert!(check("x", &many, &f).is_err());
    }
}
