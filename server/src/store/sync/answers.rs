//! The exactly-once ledger of a push: the answer given to each device for
//! each of its sequence numbers, sealed under the user's key and read back
//! verbatim when the device retries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use praxis_protocol::sync::{Mutation, MutationResult};
use uuid::Uuid;

use crate::store::backend::{Dialect, StoreError, Tx, ms};

/// The answers already given to this device for a batch's sequence numbers
/// (a retried push), read in one query, still sealed.
pub(super) async fn answers_given(
    tx: &mut dyn Tx,
    user: Uuid,
    client_id: &str,
    mutations: &[Mutation],
) -> Result<HashMap<i64, String>, StoreError> {
    // The stored answers of a device in a range of its sequence numbers.
    const MUTATIONS_RANGE: &str = "SELECT client_seq, result FROM sync_mutations WHERE user_id = ?1 AND client_id = ?2 AND client_seq BETWEEN ?3 AND ?4";
    if mutations.is_empty() {
        return Ok(HashMap::new());
    }
    let (lo, hi) = mutations.iter().fold((i64::MAX, i64::MIN), |(lo, hi), m| {
        (lo.min(m.client_seq), hi.max(m.client_seq))
    });
    tx.query(
        MUTATIONS_RANGE,
        vec![user.into(), client_id.into(), lo.into(), hi.into()],
    )
    .await?
    .into_iter()
    .map(|r| Ok((r.i64("client_seq")?, r.text("result")?)))
    .collect()
}

/// The associated data of a stored answer.
pub(super) fn answer_context(user: Uuid, client_id: &str, client_seq: i64) -> String {
    format!("sync_mutations/{user}/{client_id}/{client_seq}")
}

/// Seals and stores the new answers to `(user, client_id)`, in one
/// statement, so a replay of the same mutation gets it back verbatim.
pub(super) async fn keep_answers(
    tx: &mut dyn Tx,
    dialect: Dialect,
    (user, client_id): (Uuid, &str),
    results: &[MutationResult],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    const SQLITE: &str = "INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) SELECT ?1, ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?3 FROM json_each(?4)";
    const POSTGRES: &str = "INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) SELECT ?1::text, ?2::text, (k.v->>0)::bigint, k.v->>1, ?3::bigint FROM jsonb_array_elements(?4::text::jsonb) AS k(v)";
    if results.is_empty() {
        return Ok(());
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
    tx.execute(
        sql,
        vec![user.into(), client_id.into(), ms(now).into(), rows.into()],
    )
    .await?;
    Ok(())
}
