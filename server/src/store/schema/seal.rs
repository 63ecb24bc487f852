//! Sealing of rows written in clear before encryption at rest (migration
//! 7): run once, inside the migration transaction, before migration 8
//! drops the plaintext profile columns.

use uuid::Uuid;

use crate::store::backend::{StoreError, Tx};
use crate::store::records::{SealedProfile, seal_profile};
use crate::store::vault::Vault;

/// Seals every plaintext profile, sync record, stored push answer, contact
/// card and live position under its owner's (new) key. `tx` carries the
/// vault.
pub(super) async fn seal(tx: &mut dyn Tx, vault: &Vault, now_ms: i64) -> Result<(), StoreError> {
    const LEGACY_POSITION_SEAL: &str =
        "UPDATE location_positions SET position = ?2 WHERE share_id = ?1";
    const LEGACY_POSITIONS: &str = "SELECT p.share_id, s.user_id, p.position FROM location_positions p JOIN location_shares s ON s.id = p.share_id WHERE p.position NOT LIKE 'px1:%'";
    const LEGACY_CARDS: &str =
        "SELECT user_id, card FROM contact_cards WHERE card NOT LIKE 'px1:%'";
    const LEGACY_MUTATION_SEAL: &str = "UPDATE sync_mutations SET result = ?4 WHERE user_id = ?1 AND client_id = ?2 AND client_seq = ?3";
    const LEGACY_MUTATIONS: &str = "SELECT user_id, client_id, client_seq, result FROM sync_mutations WHERE result NOT LIKE 'px1:%'";
    const LEGACY_RECORD_SEAL: &str =
        "UPDATE sync_records SET fields = ?3 WHERE collection = ?1 AND record_id = ?2";
    const LEGACY_RECORDS: &str = "SELECT collection, record_id, scope, fields FROM sync_records WHERE fields NOT LIKE 'px1:%'";
    const LEGACY_USER_SEAL: &str = "UPDATE users SET email_index = ?2, sealed = ?3 WHERE id = ?1";
    const LEGACY_USERS: &str = "SELECT id, email_index, full_name, phone, country, language, profession, date_of_birth FROM users WHERE sealed IS NULL";
    let vt = tx;
    for r in vt.query(LEGACY_USERS, vec![]).await? {
        let id = r.uuid("id")?;
        // Before encryption at rest, `email_index` held the address itself
        // (normalised); it becomes the blind index below.
        let profile = SealedProfile {
            email: r.text("email_index")?,
            full_name: r.text("full_name")?,
            phone: r.text("phone")?,
            country: r.text("country")?,
            language: r.text("language")?,
            profession: r.text("profession")?,
            date_of_birth: r
                .text("date_of_birth")?
                .parse()
                .map_err(|_| StoreError::Decode("date of birth"))?,
        };
        let sealed = seal_profile(vt, id, &profile, now_ms).await?;
        let index = hex::encode(vault.blind_index("email", &profile.email));
        vt.execute(
            LEGACY_USER_SEAL,
            vec![id.into(), index.into(), sealed.into()],
        )
        .await?;
    }
    for r in vt.query(LEGACY_RECORDS, vec![]).await? {
        let (collection, id, scope) = (
            r.text("collection")?,
            r.text("record_id")?,
            r.text("scope")?,
        );
        let Ok(user) = crate::store::records::scope_user(&scope) else {
            continue;
        };
        // Written in clear before encryption at rest: read as it is.
        let fields = crate::store::records::parse_fields(&r.text("fields")?)?;
        let sealed =
            crate::store::records::seal_fields(vt, user, &collection, &id, &fields, now_ms).await?;
        vt.execute(
            LEGACY_RECORD_SEAL,
            vec![collection.into(), id.into(), sealed.into()],
        )
        .await?;
    }
    for r in vt.query(LEGACY_MUTATIONS, vec![]).await? {
        let (user, client, seq) = (
            r.uuid("user_id")?,
            r.text("client_id")?,
            r.i64("client_seq")?,
        );
        let context = format!("sync_mutations/{user}/{client}/{seq}");
        let sealed =
            crate::store::vault::seal_for(vt, user, &context, &r.text("result")?, now_ms).await?;
        vt.execute(
            LEGACY_MUTATION_SEAL,
            vec![user.into(), client.into(), seq.into(), sealed.into()],
        )
        .await?;
    }
    for r in vt.query(LEGACY_CARDS, vec![]).await? {
        let user: Uuid = r.uuid("user_id")?;
        let sealed = crate::store::vault::seal_for(
            vt,
            user,
            &crate::store::contacts::card_context(user),
            &r.text("card")?,
            now_ms,
        )
        .await?;
        vt.execute(
            crate::store::contacts::CARD_PUT,
            vec![user.into(), sealed.into(), now_ms.into()],
        )
        .await?;
    }
    for r in vt.query(LEGACY_POSITIONS, vec![]).await? {
        let (share, user) = (r.uuid("share_id")?, r.uuid("user_id")?);
        let sealed = crate::store::vault::seal_for(
            vt,
            user,
            &crate::store::privacy::sharing::position_context(share),
            &r.text("position")?,
            now_ms,
        )
        .await?;
        vt.execute(LEGACY_POSITION_SEAL, vec![share.into(), sealed.into()])
            .await?;
    }
    Ok(())
}
