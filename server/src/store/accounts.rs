//! Accounts: registration, the profile (sealed in `users.sealed`, indexed
//! by a blind index of the email) and its rectification. Each profile
//! change is also published as the user's `profile` sync record.

use chrono::{DateTime, NaiveDate, Utc};
use praxis_protocol::sync::{FieldValue, Fields};
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{Row, StoreError, Tx, at, ms};
use crate::store::records::{SealedProfile, seal_profile, user_context};

const USER_BY_ID: &str =
    "SELECT id, sealed, created_at, updated_at, email_verified_at FROM users WHERE id = ?1";

/// A new account, already validated and with its password hashed.
pub struct NewUser {
    /// Account id.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Full name.
    pub full_name: String,
    /// E.164 phone.
    pub phone: String,
    /// ISO country code.
    pub country: String,
    /// BCP 47 tag.
    pub language: String,
    /// Profession.
    pub profession: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
}
praxis_protocol::redacted_debug!(NewUser { id });

/// A stored account, without its password hash.
pub struct UserRecord {
    /// Account id.
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Full name.
    pub full_name: String,
    /// E.164 phone.
    pub phone: String,
    /// ISO country code.
    pub country: String,
    /// BCP 47 tag.
    pub language: String,
    /// Profession.
    pub profession: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Whether the address was proved by a mailed code.
    pub email_verified: bool,
}
praxis_protocol::redacted_debug!(UserRecord { id });

/// What login needs to check a password.
pub struct Credentials {
    /// Account id.
    pub user_id: Uuid,
    /// argon2id PHC string.
    pub password_hash: String,
}
praxis_protocol::redacted_debug!(Credentials { user_id });

/// Validated profile changes; `None` keeps the stored value.
#[derive(Default)]
pub struct ProfilePatch {
    /// New normalised email.
    pub email: Option<String>,
    /// New full name.
    pub full_name: Option<String>,
    /// New E.164 phone.
    pub phone: Option<String>,
    /// New country code.
    pub country: Option<String>,
    /// New language tag.
    pub language: Option<String>,
    /// New profession.
    pub profession: Option<String>,
    /// New date of birth.
    pub date_of_birth: Option<NaiveDate>,
}
praxis_protocol::redacted_debug!(ProfilePatch {});

/// The profile as a server-authored sync record (all fields, one HLC).
fn profile_fields(p: &SealedProfile, now: DateTime<Utc>) -> Fields {
    let t = crate::store::records::server_hlc(now);
    [
        ("email", p.email.clone()),
        ("full_name", p.full_name.clone()),
        ("phone", p.phone.clone()),
        ("country", p.country.clone()),
        ("language", p.language.clone()),
        ("profession", p.profession.clone()),
        ("date_of_birth", p.date_of_birth.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_owned(),
            FieldValue {
                v: serde_json::Value::String(v),
                t: t.clone(),
            },
        )
    })
    .collect()
}

/// Locks `user`'s account row until commit: writers that count what an
/// account holds before adding to it (its caps) take it first, so two
/// parallel requests cannot both pass the count.
pub(in crate::store) async fn lock_user(tx: &mut dyn Tx, user: Uuid) -> Result<(), StoreError> {
    const USER_LOCK: &str = "SELECT id FROM users WHERE id = ?1 /*FOR UPDATE*/";
    tx.query(USER_LOCK, vec![user.into()]).await?;
    Ok(())
}

/// Writes the user's profile record into their scope (new version).
async fn publish_profile(
    tx: &mut dyn crate::store::Tx,
    user: Uuid,
    fields: Fields,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id = user.to_string();
    crate::store::records::publish(tx, user, "profile", &id, &fields, None, now).await
}

impl SealedProfile {
    fn into_record(
        self,
        id: Uuid,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        email_verified: bool,
    ) -> UserRecord {
        UserRecord {
            email_verified,
            id,
            email: self.email,
            full_name: self.full_name,
            phone: self.phone,
            country: self.country,
            language: self.language,
            profession: self.profession,
            date_of_birth: self.date_of_birth,
            created_at,
            updated_at,
        }
    }
}

/// A `USER_BY_ID` row and its opened profile.
fn user_record(r: &Row, plain: &str) -> Result<UserRecord, StoreError> {
    let p: SealedProfile =
        serde_json::from_str(plain).map_err(|_| StoreError::Decode("sealed profile"))?;
    let verified = r.opt_i64("email_verified_at")?.is_some();
    Ok(p.into_record(
        r.uuid("id")?,
        at(r.i64("created_at")?)?,
        at(r.i64("updated_at")?)?,
        verified,
    ))
}

/// An account read inside a transaction; `lock` holds its row until
/// commit (PostgreSQL), for a read-modify-write.
pub(in crate::store) async fn read_user(
    tx: &mut dyn crate::store::Tx,
    id: Uuid,
    lock: bool,
) -> Result<Option<UserRecord>, StoreError> {
    // The same, locking the row until commit (read-modify-write of the profile).
    const USER_BY_ID_LOCKED: &str = "SELECT id, sealed, created_at, updated_at, email_verified_at FROM users WHERE id = ?1 /*FOR UPDATE*/";
    let sql = if lock { USER_BY_ID_LOCKED } else { USER_BY_ID };
    let rows = tx.query(sql, vec![id.into()]).await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let plain = crate::store::vault::open_for(tx, id, &user_context(id), r.text("sealed")?).await?;
    user_record(r, &plain).map(Some)
}

impl Store {
    /// Inserts an account; [`StoreError::Conflict`] when the email is taken.
    pub async fn create_user(&self, u: NewUser, now: DateTime<Utc>) -> Result<(), StoreError> {
        const USER_INSERT: &str = "INSERT INTO users (id, email_index, password_hash, sealed, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
        let mut tx = self.begin().await?;
        let profile = SealedProfile {
            email: u.email,
            full_name: u.full_name,
            phone: u.phone,
            country: u.country,
            language: u.language,
            profession: u.profession,
            date_of_birth: u.date_of_birth,
        };
        let sealed = seal_profile(&mut *tx, u.id, &profile, ms(now)).await?;
        tx.execute(
            USER_INSERT,
            vec![
                u.id.into(),
                self.email_index(&profile.email).into(),
                u.password_hash.into(),
                sealed.into(),
                ms(now).into(),
            ],
        )
        .await?;
        publish_profile(tx.as_mut(), u.id, profile_fields(&profile, now), now).await?;
        tx.commit().await
    }

    /// The password hash for a normalised email, if an account has it.
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        const USER_CREDENTIALS: &str = "SELECT id, password_hash FROM users WHERE email_index = ?1";
        let rows = self
            .db
            .query(USER_CREDENTIALS, vec![self.email_index(email).into()])
            .await?;
        rows.first()
            .map(|r| {
                Ok(Credentials {
                    user_id: r.uuid("id")?,
                    password_hash: r.text("password_hash")?,
                })
            })
            .transpose()
    }

    /// Every account's id and creation time, oldest first (for the
    /// operator: nothing personal).
    pub async fn list_users(&self) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        const USERS_LIST: &str = "SELECT id, created_at FROM users ORDER BY created_at, id";
        self.db
            .query(USERS_LIST, vec![])
            .await?
            .iter()
            .map(|r| Ok((r.uuid("id")?, at(r.i64("created_at")?)?)))
            .collect()
    }

    /// An account by id.
    pub async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let rows = self.db.query(USER_BY_ID, vec![id.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let plain = self
            .open_read(id, &user_context(id), r.text("sealed")?)
            .await?;
        user_record(r, &plain).map(Some)
    }

    /// Applies a profile patch; `None` when the account does not exist,
    /// [`StoreError::Conflict`] when the new email is taken. A change of the
    /// login email ends every other session than `family` (the caller's)
    /// and is audited, in the same transaction.
    pub async fn update_user(
        &self,
        id: Uuid,
        p: ProfilePatch,
        family: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError> {
        // Ends every session of ?1 but the family ?2 (the caller's own).
        const FAMILIES_REVOKE_OTHERS: &str = "UPDATE token_families SET revoked_at = ?3 WHERE user_id = ?1 AND id <> ?2 AND revoked_at IS NULL";
        const USER_UPDATE: &str =
            "UPDATE users SET email_index = ?2, sealed = ?3, updated_at = ?4 WHERE id = ?1";
        let mut tx = self.begin().await?;
        let Some(mut user) = read_user(&mut *tx, id, true).await? else {
            return Ok(None);
        };
        let email_changed = p.email.as_ref().is_some_and(|e| *e != user.email);
        let mut profile = SealedProfile {
            email: user.email,
            full_name: user.full_name,
            phone: user.phone,
            country: user.country,
            language: user.language,
            profession: user.profession,
            date_of_birth: user.date_of_birth,
        };
        let patch = [
            (&mut profile.email, p.email),
            (&mut profile.full_name, p.full_name),
            (&mut profile.phone, p.phone),
            (&mut profile.country, p.country),
            (&mut profile.language, p.language),
            (&mut profile.profession, p.profession),
        ];
        for (field, new) in patch {
            if let Some(v) = new {
                *field = v;
            }
        }
        if let Some(d) = p.date_of_birth {
            profile.date_of_birth = d;
        }
        let sealed = seal_profile(&mut *tx, id, &profile, ms(now)).await?;
        tx.execute(
            USER_UPDATE,
            vec![
                id.into(),
                self.email_index(&profile.email).into(),
                sealed.into(),
                ms(now).into(),
            ],
        )
        .await?;
        publish_profile(tx.as_mut(), id, profile_fields(&profile, now), now).await?;
        if email_changed {
            // The new address is unproved; codes mailed to the old one die.
            const USER_UNVERIFY: &str = "UPDATE users SET email_verified_at = NULL WHERE id = ?1";
            const CODES_DELETE_USER: &str = "DELETE FROM email_codes WHERE user_id = ?1";
            tx.execute(USER_UNVERIFY, vec![id.into()]).await?;
            tx.execute(CODES_DELETE_USER, vec![id.into()]).await?;
            tx.execute(
                FAMILIES_REVOKE_OTHERS,
                vec![id.into(), family.into(), ms(now).into()],
            )
            .await?;
            crate::store::vault::note(&*tx, crate::store::Change::Sessions(id))?;
            crate::store::wakeups::forget_others(&mut *tx, id, family).await?;
            crate::store::audit::append(
                &mut *tx,
                &crate::store::audit::Event::user("email_changed", id, serde_json::json!({})),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        user = profile.into_record(
            id,
            user.created_at,
            now,
            user.email_verified && !email_changed,
        );
        Ok(Some(user))
    }
}
