//! Merge planning: what to do with a server copy of a record, as a value.
//!
//! Pure functions over the local record and the incoming copy; the engine
//! applies the resulting plan in one cache transaction. Rules, the same as
//! the server's: per field the later HLC wins, a deletion wins, and a
//! record with local changes not yet acknowledged keeps them (they are
//! rebased onto the server copy and stay queued for the next push).

use praxis_protocol::sync::{Fields, SyncRecord, merge_fields};
use serde::{Deserialize, Serialize};

use crate::cache::RecordMeta;

/// A synced record as kept in the encrypted cache.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalRecord {
    /// Fields with their HLCs.
    pub fields: Fields,
    /// Tombstone HLC of a local deletion not yet acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}
praxis_protocol::redacted_debug!(LocalRecord { deleted });

/// What to do locally.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Store this record with this metadata.
    Put(LocalRecord, RecordMeta),
    /// Remove the record.
    Delete,
    /// Nothing to change (the incoming copy is older than what we have).
    Keep,
}

/// Plans the effect of a server copy on the local record. `pending` says
/// whether local changes to it are still queued.
pub fn plan_incoming(
    local: Option<(&LocalRecord, &RecordMeta)>,
    incoming: &SyncRecord,
    pending: bool,
) -> Plan {
    let local_version = local.and_then(|(_, m)| m.server_version).unwrap_or(0);
    if incoming.version < local_version {
        return Plan::Keep;
    }
    let Some((record, _)) = local.filter(|_| pending) else {
        return match &incoming.deleted {
            Some(_) => Plan::Delete,
            None => Plan::Put(
                LocalRecord {
                    fields: incoming.fields.clone(),
                    deleted: None,
                },
                RecordMeta::synced(incoming.version),
            ),
        };
    };
    // Rebase local changes onto the server copy.
    let deleted = incoming.deleted.clone().or_else(|| record.deleted.clone());
    let mut fields = incoming.fields.clone();
    if deleted.is_some() {
        fields.clear();
    } else {
        merge_fields(&mut fields, &record.fields);
    }
    let meta = RecordMeta {
        server_version: Some(incoming.version),
        dirty: true,
        deleted: deleted.is_some(),
        expires_day: None,
    };
    Plan::Put(LocalRecord { fields, deleted }, meta)
}

#[cfg(test)]
mod tests {
    use praxis_protocol::sync::FieldValue;
    use serde_json::Value;

    use super::*;

    fn fields(pairs: &[(&str, &str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v, t)| {
                (
                    (*k).to_owned(),
                    FieldValue {
                        v: Value::from(*v),
                        t: (*t).to_owned(),
                    },
                )
            })
            .collect()
    }

    fn server(version: i64, f: Fields, deleted: Option<&str>) -> SyncRecord {
        SyncRecord {
            collection: "appointments".into(),
            id: "r".into(),
            version,
            fields: f,
            deleted: deleted.map(str::to_owned),
        }
    }

    #[test]
    fn clean_records_take_the_server_copy() {
        let incoming = server(4, fields(&[("title", "S", "2")]), None);
        let local = LocalRecord {
            fields: fields(&[("title", "L", "1")]),
            deleted: None,
        };
        let plan = plan_incoming(Some((&local, &RecordMeta::synced(3))), &incoming, false);
        assert_eq!(
            plan,
            Plan::Put(
                LocalRecord {
                    fields: incoming.fields.clone(),
                    deleted: None
                },
                RecordMeta::synced(4)
            )
        );
        assert_eq!(
            plan_incoming(None, &server(5, Fields::new(), Some("9")), false),
            Plan::Delete
        );
        assert_eq!(
            plan_incoming(Some((&local, &RecordMeta::synced(9))), &incoming, false),
            Plan::Keep
        );
    }

    #[test]
    fn pending_local_changes_survive_a_pull() {
        let incoming = server(
            4,
            fields(&[("title", "S", "2"), ("address", "A", "2")]),
            None,
        );
        let local = LocalRecord {
            fields: fields(&[("title", "L", "3")]),
            deleted: None,
        };
        let Plan::Put(r, meta) =
            plan_incoming(Some((&local, &RecordMeta::local())), &incoming, true)
        else {
            panic!("put");
        };
        assert_eq!(r.fields["title"].v, "L", "newer local edit kept");
        assert_eq!(r.fields["address"].v, "A", "other server field taken");
        assert!(meta.dirty && meta.server_version == Some(4));
    }

    #[test]
    fn deletes_win_on_both_sides() {
        let local = LocalRecord {
            fields: fields(&[("title", "L", "3")]),
            deleted: None,
        };
        let Plan::Put(r, meta) = plan_incoming(
            Some((&local, &RecordMeta::local())),
            &server(4, Fields::new(), Some("1")),
            true,
        ) else {
            panic!("put");
        };
        assert!(r.deleted.is_some() && r.fields.is_empty() && meta.deleted);
        let deleted_locally = LocalRecord {
            fields: Fields::new(),
            deleted: Some("5".into()),
        };
        let Plan::Put(r, _) = plan_incoming(
            Some((&deleted_locally, &RecordMeta::local())),
            &server(4, fields(&[("title", "S", "9")]), None),
            true,
        ) else {
            panic!("put");
        };
        assert!(r.deleted.is_some() && r.fields.is_empty());
    }
}
