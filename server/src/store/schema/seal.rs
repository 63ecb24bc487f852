//! Sealing of rows written in clear before encryption at rest (migration
//! 7): run once, inside the migration transaction, before migration 8
//! drops the plaintext profile columns.

use uuid::Uuid;

use crate::store::backend::{StoreError, Tx};
use crate::store::records::{SealedProfile, hex, seal_profile};
use crate::store::sql;
use crate::store::vault::Vault;

/// Seals every plaintext profile, sync record, stored push answer, contact
/// card and live position under its owner's (new) key. `tx` carries the
/// vault.
pub(super) async fn seal(tx: &mut dyn Tx, vault: &Vault, now_ms: i64) -> Result<(), StoreError> {
    let vt = tx;
    for r in vt.query(sql::LEGACY_USERS, vec![]).await? {
        let id = r.uuid(0)?;
        let profile = SealedProfile {
            email: r.text(1)?,
            full_name: r.text(2)?,
            phone: r.text(3)?,
            country: r.text(4)?,
            language: r.text(5)?,
            profession: r.text(6)?,
            date_of_birth: r
                .text(7)?
                .parse()
                .map_err(|_| StoreError::Decode("date of birth"))?,
        };
        let sealed = seal_profile(vt, id, &profile, now_ms).await?;
        let index = hex(&vault.blind_index("email", &profile.email));
        vt.execute(
            sql::LEGACY_USER_SEAL,
            vec![id.into(), index.into(), sealed.into()],
        )
        .await?;
    }
    for r in vt.query(sql::LEGACY_RECORDS, vec![]).await? {
        let (collection, id, scope) = (r.text(0)?, r.text(1)?, r.text(2)?);
        let Ok(user) = crate::store::records::scope_user(&scope) else {
            continue;
        };
        // Written in clear before encryption at rest: read as it is.
        let fields = crate::store::records::parse_fields(&r.text(3)?)?;
        let sealed =
            crate::store::records::seal_fields(vt, user, &collection, &id, &fields, now_ms).await?;
        vt.execute(
            sql::LEGACY_RECORD_SEAL,
            vec![collection.into(), id.into(), sealed.into()],
        )
        .await?;
    }
    for r in vt.query(sql::LEGACY_MUTATIONS, vec![]).await? {
        let (user, client, seq) = (r.uuid(0)?, r.text(1)?, r.i64(2)?);
        let context = format!("sync_mutations/{user}/{client}/{seq}");
        let sealed = crate::store::vault::seal_for(vt, user, &context, &r.text(3)?, now_ms).await?;
        vt.execute(
            sql::LEGACY_MUTATION_SEAL,
            vec![user.into(), client.into(), seq.into(), sealed.into()],
        )
        .await?;
    }
    for r in vt.query(sql::LEGACY_CARDS, vec![]).await? {
        let user: Uuid = r.uuid(0)?;
        let sealed = crate::store::vault::seal_for(
            vt,
            user,
            &crate::store::contacts::card_context(user),
            &r.text(1)?,
            now_ms,
        )
        .await?;
        vt.execute(
            sql::CARD_PUT,
            vec![user.into(), sealed.into(), now_ms.into()],
        )
        .await?;
    }
    for r in vt.query(sql::LEGACY_POSITIONS, vec![]).await? {
        let (share, user) = (r.uuid(0)?, r.uuid(1)?);
        let sealed = crate::store::vault::seal_for(
            vt,
            user,
            &crate::store::privacy::sharing::position_context(share),
            &r.text(2)?,
            now_ms,
        )
        .await?;
        vt.execute(sql::LEGACY_POSITION_SEAL, vec![share.into(), sealed.into()])
            .await?;
    }
    Ok(())
}
