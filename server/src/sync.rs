//! Sync decisions, as plain functions over a stored record and a mutation:
//! validation, authorization and the field-level merge. The store runs
//! them inside its transaction; keeping them pure makes every rule
//! unit-testable without a database.
//!
//! Rules:
//! * a client writes only its own scope (`u:<user id>`) and only
//!   client-writable collections (`appointments`, `consents`,
//!   `visit_events`); `profile` and `org_policy` are written by the server
//!   and read-only here;
//! * `consents` and `visit_events` are append-only (the consent ledger is
//!   the proof of consent; a visit event is evidence); a visit event is
//!   accepted only while both location gates are open, and never more
//!   precise than the organisation allows;
//! * per field, the later HLC wins; a deletion wins over every edit and
//!   clears the fields (nothing of a deleted record is kept but its
//!   tombstone);
//! * an edit of a record the server no longer has (tombstone pruned past
//!   the horizon) is `gone`, never a resurrection;
//! * HLCs more than a day ahead of the server clock are refused, so a
//!   device with a broken clock cannot win every future conflict.

use chrono::{DateTime, Duration, Utc};
use praxis_protocol::location::Precision;
use praxis_protocol::privacy::{Closed, Purpose, consents, visit_events};
use praxis_protocol::sync::{
    Fields, Hlc, Mutation, MutationResult, RejectReason, SyncRecord, appointments, merge_fields,
};
use serde_json::Value;

/// The stored state of a record.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Scope that owns it.
    pub scope: String,
    /// Current version.
    pub version: i64,
    /// Fields.
    pub fields: Fields,
    /// Tombstone HLC.
    pub deleted: Option<String>,
}

/// What to do with one mutation.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Refuse; store nothing but the answer.
    Reject(RejectReason, Option<String>),
    /// Store `fields`/`deleted` under a new version (when `changed`), then
    /// answer applied (`fast_forward`) or conflict.
    Write {
        /// Merged fields.
        fields: Fields,
        /// Merged tombstone.
        deleted: Option<String>,
        /// Whether anything changed (a new version is needed).
        changed: bool,
        /// Whether the mutation was made on the current version.
        fast_forward: bool,
    },
}

/// Scope of a user's own records.
pub fn user_scope(user: uuid::Uuid) -> String {
    format!("u:{user}")
}

/// The user's gates, as the store sees them inside its transaction.
pub trait GateView {
    /// The two-gate decision for `purpose` (the finest precision allowed).
    fn check(&self, purpose: Purpose) -> Result<Precision, Closed>;
    /// The published policy version for `purpose`.
    fn version(&self, purpose: Purpose) -> u32;
}

/// Whether a collection needs the user's gates to decide.
pub fn needs_gates(collection: &str) -> bool {
    matches!(collection, consents::COLLECTION | visit_events::COLLECTION)
}

/// How clients may write a collection.
struct Schema {
    required: &'static [&'static str],
    check: fn(&str, &Value) -> Result<(), &'static str>,
    append_only: bool,
}

/// `None`: no such collection; `Some(None)`: read-only for clients.
fn schema(collection: &str) -> Option<Option<Schema>> {
    match collection {
        appointments::COLLECTION => Some(Some(Schema {
            required: appointments::REQUIRED,
            check: appointments::check_field,
            append_only: false,
        })),
        consents::COLLECTION => Some(Some(Schema {
            required: consents::REQUIRED,
            check: consents::check_field,
            append_only: true,
        })),
        visit_events::COLLECTION => Some(Some(Schema {
            required: visit_events::REQUIRED,
            check: visit_events::check_field,
            append_only: true,
        })),
        "profile"
        | praxis_protocol::privacy::org_policy::COLLECTION
        | praxis_protocol::contacts::COLLECTION => Some(None),
        _ => None,
    }
}

fn closed(c: Closed) -> RejectReason {
    match c {
        Closed::Restricted => RejectReason::Restricted,
        Closed::PolicyDisabled => RejectReason::PolicyDisabled,
        Closed::ConsentRequired => RejectReason::ConsentRequired,
    }
}

/// Rules that look at a whole new record of a gated collection.
fn check_gated(m: &Mutation, gates: &dyn GateView) -> Result<(), Decision> {
    let invalid = |f: &str| Decision::Reject(RejectReason::InvalidRecord, Some(f.to_owned()));
    match m.collection.as_str() {
        consents::COLLECTION => {
            let purpose = m.fields["purpose"]
                .v
                .as_str()
                .and_then(Purpose::parse)
                .ok_or_else(|| invalid("purpose"))?;
            let version = m.fields["policy_version"].v.as_u64().unwrap_or(0);
            // Consent to a version not yet published is not informed consent.
            if version > u64::from(gates.version(purpose)) {
                return Err(invalid("policy_version"));
            }
            Ok(())
        }
        visit_events::COLLECTION => {
            let allowed = gates
                .check(Purpose::LocationVisits)
                .map_err(|c| Decision::Reject(closed(c), None))?;
            visit_events::check_precision(&m.fields, allowed).map_err(invalid)
        }
        _ => Ok(()),
    }
}

fn check_hlc(t: &str, now: DateTime<Utc>) -> bool {
    Hlc::parse(t).is_some_and(|h| {
        i64::try_from(h.wall_ms).is_ok_and(|ms| ms <= (now + Duration::days(1)).timestamp_millis())
    })
}

/// The refusals found in a batch before any record is read: per mutation,
/// `Some` refusal or `None` (to be decided against the stored record).
#[derive(Debug, Clone)]
pub struct Prechecked(Vec<Option<Decision>>);

impl Prechecked {
    /// The refusal found for the `i`-th mutation, if any.
    pub fn refusal(&self, i: usize) -> Option<&Decision> {
        self.0.get(i).and_then(Option::as_ref)
    }
}

/// Checks what can be checked of each mutation without the store: its
/// collection, id, clocks and every field value (geofences included, the
/// costliest). Run before the push's transaction, so validation never
/// holds a lock.
pub fn precheck(mutations: &[Mutation], now: DateTime<Utc>) -> Prechecked {
    Prechecked(mutations.iter().map(|m| check(m, now).err()).collect())
}

/// The stateless part of [`decide`].
fn check(m: &Mutation, now: DateTime<Utc>) -> Result<Schema, Decision> {
    let reject = |r| Decision::Reject(r, None);
    let schema = match schema(&m.collection) {
        None => return Err(reject(RejectReason::UnknownCollection)),
        Some(None) => return Err(reject(RejectReason::ReadOnlyCollection)),
        Some(Some(s)) => s,
    };
    if uuid::Uuid::parse_str(&m.id).is_err() {
        return Err(Decision::Reject(
            RejectReason::InvalidRecord,
            Some("id".into()),
        ));
    }
    if m.fields.values().any(|f| !check_hlc(&f.t, now))
        || m.delete.as_deref().is_some_and(|t| !check_hlc(t, now))
    {
        return Err(reject(RejectReason::InvalidClock));
    }
    for (name, f) in &m.fields {
        if (schema.check)(name, &f.v).is_err() {
            return Err(Decision::Reject(
                RejectReason::InvalidRecord,
                Some(name.clone()),
            ));
        }
    }
    Ok(schema)
}

/// Validates and merges one mutation against the stored record. `gates`
/// must be given for the collections [`needs_gates`] names.
pub fn decide(
    stored: Option<&Stored>,
    m: &Mutation,
    scope: &str,
    now: DateTime<Utc>,
    gates: Option<&dyn GateView>,
) -> Decision {
    match check(m, now) {
        Ok(schema) => decide_checked(schema, stored, m, scope, now, gates),
        Err(refused) => refused,
    }
}

/// [`decide`] for a mutation that passed [`precheck`]: its field values
/// are not validated again.
pub fn decide_prechecked(
    stored: Option<&Stored>,
    m: &Mutation,
    scope: &str,
    now: DateTime<Utc>,
    gates: Option<&dyn GateView>,
) -> Decision {
    match schema(&m.collection) {
        Some(Some(schema)) => decide_checked(schema, stored, m, scope, now, gates),
        // Not reached for a prechecked mutation; decided in full anyway.
        _ => decide(stored, m, scope, now, gates),
    }
}

fn decide_checked(
    schema: Schema,
    stored: Option<&Stored>,
    m: &Mutation,
    scope: &str,
    now: DateTime<Utc>,
    gates: Option<&dyn GateView>,
) -> Decision {
    let reject = |r| Decision::Reject(r, None);
    let Some(stored) = stored else {
        return decide_new(schema, m, now, gates);
    };
    if stored.scope != scope {
        return reject(RejectReason::Forbidden);
    }
    if schema.append_only {
        return reject(RejectReason::AppendOnly);
    }
    if m.base_version.is_some_and(|b| b > stored.version || b < 0) {
        return reject(RejectReason::InvalidBaseVersion);
    }
    let fast_forward = m.base_version == Some(stored.version);
    if stored.deleted.is_some() {
        // Deletes win: edits of a deleted record change nothing.
        return Decision::Write {
            fields: Fields::new(),
            deleted: stored.deleted.clone(),
            changed: false,
            fast_forward,
        };
    }
    if m.delete.is_some() {
        return Decision::Write {
            fields: Fields::new(),
            deleted: m.delete.clone(),
            changed: true,
            fast_forward,
        };
    }
    let mut fields = stored.fields.clone();
    let changed = merge_fields(&mut fields, &m.fields);
    Decision::Write {
        fields,
        deleted: None,
        changed,
        fast_forward,
    }
}

/// The decision for a record the server does not have: created (when
/// complete, allowed and through its gates), or refused.
fn decide_new(
    schema: Schema,
    m: &Mutation,
    now: DateTime<Utc>,
    gates: Option<&dyn GateView>,
) -> Decision {
    let reject = |r| Decision::Reject(r, None);
    if m.base_version.is_some() {
        // Edited on a version the server no longer has: deleted, and its
        // tombstone pruned. Dropping the change keeps it deleted.
        return reject(RejectReason::Gone);
    }
    let missing = schema.required.iter().find(|f| !m.fields.contains_key(**f));
    if let (None, Some(missing)) = (&m.delete, missing) {
        return Decision::Reject(RejectReason::InvalidRecord, Some((*missing).to_owned()));
    }
    if schema.append_only && m.delete.is_some() {
        return reject(RejectReason::AppendOnly);
    }
    if needs_gates(&m.collection) {
        let Some(gates) = gates else {
            return reject(RejectReason::Forbidden);
        };
        if let Err(d) = check_gated(m, gates) {
            return d;
        }
    }
    // A consent entry's time is the device's word: bounded like an HLC
    // (a day ahead at most), so a wrong clock cannot date a grant in
    // the far future. (The gates also rank entries by receipt; see
    // `store::privacy`.)
    if m.collection == consents::COLLECTION
        && m.fields["at"]
            .v
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| t.with_timezone(&Utc) > now + Duration::days(1))
    {
        return Decision::Reject(RejectReason::InvalidRecord, Some("at".to_owned()));
    }
    Decision::Write {
        fields: if m.delete.is_some() {
            Fields::new()
        } else {
            m.fields.clone()
        },
        deleted: m.delete.clone(),
        changed: true,
        fast_forward: true,
    }
}

/// The answer for a decided mutation, given the resulting record.
pub fn answer(m: &Mutation, decision: &Decision, record: Option<SyncRecord>) -> MutationResult {
    match (decision, record) {
        (
            Decision::Write {
                fast_forward: true, ..
            },
            Some(record),
        ) => MutationResult::Applied {
            client_seq: m.client_seq,
            record,
        },
        (Decision::Write { .. }, Some(record)) => MutationResult::Conflict {
            client_seq: m.client_seq,
            record,
        },
        (Decision::Reject(reason, field), _) => MutationResult::Rejected {
            client_seq: m.client_seq,
            reason: *reason,
            field: field.clone(),
        },
        (Decision::Write { .. }, None) => MutationResult::Rejected {
            client_seq: m.client_seq,
            reason: RejectReason::Gone,
            field: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use praxis_protocol::sync::FieldValue;
    use serde_json::{Value, json};

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid")
    }

    fn t(ms: u64) -> String {
        Hlc {
            wall_ms: ms,
            counter: 0,
            node: "dev1".into(),
        }
        .to_string()
    }

    fn m(base: Option<i64>, fields: &[(&str, Value, u64)]) -> Mutation {
        Mutation {
            client_seq: 1,
            collection: "appointments".into(),
            id: "6f1c2a1e-2d3b-4c5d-8e9f-0a1b2c3d4e5f".into(),
            base_version: base,
            fields: fields
                .iter()
                .map(|(n, v, ms)| {
                    (
                        (*n).to_owned(),
                        FieldValue {
                            v: v.clone(),
                            t: t(*ms),
                        },
                    )
                })
                .collect(),
            delete: None,
        }
    }

    fn create() -> Mutation {
        m(
            None,
            &[
                ("title", json!("Visit"), 1_799_000_000_000),
                ("start", json!("2026-11-21T09:00:00Z"), 1_799_000_000_000),
                ("duration_min", json!(30), 1_799_000_000_000),
            ],
        )
    }

    fn stored(scope: &str) -> Stored {
        let Decision::Write { fields, .. } = decide(None, &create(), scope, now(), None) else {
            panic!("create");
        };
        Stored {
            scope: scope.into(),
            version: 5,
            fields,
            deleted: None,
        }
    }

    #[test]
    fn creates_need_required_fields_and_valid_values() {
        assert!(matches!(
            decide(None, &create(), "u:a", now(), None),
            Decision::Write { changed: true, .. }
        ));
        let mut c = create();
        c.fields.remove("start");
        assert!(
            matches!(decide(None, &c, "u:a", now(), None), Decision::Reject(RejectReason::InvalidRecord, Some(f)) if f == "start")
        );
        let bad = m(None, &[("duration_min", json!(-1), 1)]);
        assert!(matches!(
            decide(None, &bad, "u:a", now(), None),
            Decision::Reject(RejectReason::InvalidRecord, _)
        ));
        let mut c = create();
        c.collection = "profile".into();
        assert!(matches!(
            decide(None, &c, "u:a", now(), None),
            Decision::Reject(RejectReason::ReadOnlyCollection, _)
        ));
        c.collection = "secrets".into();
        assert!(matches!(
            decide(None, &c, "u:a", now(), None),
            Decision::Reject(RejectReason::UnknownCollection, _)
        ));
    }

    #[test]
    fn another_scopes_record_is_forbidden() {
        let s = stored("u:owner");
        let edit = m(Some(5), &[("title", json!("Mine now"), 1_799_000_000_001)]);
        assert!(matches!(
            decide(Some(&s), &edit, "u:thief", now(), None),
            Decision::Reject(RejectReason::Forbidden, _)
        ));
    }

    #[test]
    fn stale_edits_merge_and_forged_versions_are_refused() {
        let s = stored("u:a");
        let edit = m(Some(3), &[("title", json!("Newer"), 1_799_000_000_001)]);
        match decide(Some(&s), &edit, "u:a", now(), None) {
            Decision::Write {
                fields,
                changed,
                fast_forward,
                ..
            } => {
                assert!(changed && !fast_forward);
                assert_eq!(fields["title"].v, "Newer");
            }
            other => panic!("{other:?}"),
        }
        let older = m(Some(5), &[("title", json!("Older"), 1_798_000_000_000)]);
        assert!(matches!(
            decide(Some(&s), &older, "u:a", now(), None),
            Decision::Write {
                changed: false,
                fast_forward: true,
                ..
            }
        ));
        let forged = m(Some(99), &[("title", json!("x"), 1_799_000_000_001)]);
        assert!(matches!(
            decide(Some(&s), &forged, "u:a", now(), None),
            Decision::Reject(RejectReason::InvalidBaseVersion, _)
        ));
        let future = m(Some(5), &[("title", json!("x"), 1_900_000_000_000)]);
        assert!(matches!(
            decide(Some(&s), &future, "u:a", now(), None),
            Decision::Reject(RejectReason::InvalidClock, _)
        ));
    }

    #[test]
    fn deletes_win_and_pruned_records_stay_gone() {
        let mut s = stored("u:a");
        let mut del = m(Some(5), &[]);
        del.delete = Some(t(1_799_000_000_000));
        match decide(Some(&s), &del, "u:a", now(), None) {
            Decision::Write {
                fields,
                deleted,
                changed,
                ..
            } => {
                assert!(
                    changed && deleted.is_some() && fields.is_empty(),
                    "tombstone keeps no data"
                );
            }
            other => panic!("{other:?}"),
        }
        s.deleted = Some(t(1_799_000_000_000));
        s.fields.clear();
        let late_edit = m(
            Some(5),
            &[("title", json!("Later edit"), 1_799_500_000_000)],
        );
        assert!(
            matches!(decide(Some(&s), &late_edit, "u:a", now(), None), Decision::Write { changed: false, ref deleted, .. } if deleted.is_some())
        );
        assert!(matches!(
            decide(None, &late_edit, "u:a", now(), None),
            Decision::Reject(RejectReason::Gone, _)
        ));
    }
}
