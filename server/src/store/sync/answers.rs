//! The exactly-once ledger of a push: the answer given to each device for
//! each of its sequence numbers, sealed under the user's key and read back
//! verbatim when the device retries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use praxis_protocol::sync::{Mutation, MutationResult};
use uuid::Uuid;

use crate::store::backend::{Dialect, Row, Statement, StoreError, Tx, ms};

/// The statement that reads the answers already given to this device for
/// a batch's sequence numbers (a retried push), in one query; `None` for
/// an empty batch. Its rows are read by [`answers_in`].
pub(super) fn answers_query(
    user: Uuid,
    client_id: &str,
    mutations: &[Mutation],
) -> Option<Statement> {
    // The stored answers of a device in a range of its sequence numbers.
    const MUTATIONS_RANGE: &str = "SELECT client_seq, result FROM sync_mutations WHERE user_id = ?1 AND client_id = ?2 AND client_seq BETWEEN ?3 AND ?4";
    let lo = mutations.iter().map(|m| m.client_seq).min()?;
    let hi = mutations.iter().map(|m| m.client_seq).max()?;
    Some((
        MUTATIONS_RANGE,
        vec![user.into(), client_id.into(), lo.into(), hi.into()],
    ))
}

/// The stored answers by sequence number, still sealed.
pub(super) fn answers_in(rows: Vec<Row>) -> Result<HashMap<i64, String>, StoreError> {
    rows.into_iter()
        .map(|r| Ok((r.i64("client_seq")?, r.text("result")?)))
        .collect()
}

/// The associated data of a stored answer.
pub(super) fn answer_context(user: Uuid, client_id: &str, client_seq: i64) -> String {
    format!("sync_mutations/{user}/{client_id}/{client_seq}")
}

/// The statement that stores the new answers to `(user, client_id)`,
/// sealed, in one statement, so a replay of the same mutation gets it back
/// verbatim; `None` when there is nothing to store.
pub(super) async fn keep_answers(
    tx: &mut dyn Tx,
    dialect: Dialect,
    (user, client_id): (Uuid, &str),
    results: &[MutationResult],
    now: DateTime<Utc>,
) -> Result<Option<Statement>, StoreError> {
    const SQLITE: &str = "INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?3 FROM json_each(?4)";
    const POSTGRES: &str = "INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) SELECT ?1::text, ?2::text, (k.v->>0)::bigint, k.v->>1, ?3::bigint FROM jsonb_array_elements(?4::text::jsonb) AS k(v)";
    if results.is_empty() {
        return Ok(None);
    }
    let mut rows = Vec::with_capacity(results.len());
    for r in results {
        let text = serde_json::to_string(r).map_err(|_| StoreError::Decode("mutation result"))?;
        let context = answer_context(user, client_id, r.client_seq());
        let sealed = crate::store::vault::seal_for(tx, user, &context, &text, ms(now)).await?;
        rows.push(serde_json::json!([r.client_seq(), sealed]));
    }
    let rows = serde_json::Value::Array(rows).to_string();
    let sql = match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    Ok(Some((
        sql,
        vec![user.into(), client_id.into(), ms(now).into(), rows.into()],
    )))
}
