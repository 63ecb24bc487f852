//! Domain operations over any [`Db`] backend.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use praxis_protocol::Role;
use uuid::Uuid;

use praxis_protocol::sync::{
    FieldValue, Fields, Mutation, MutationResult, RejectReason, SyncRecord,
};

use super::db::{Db, Row, StoreError};
use super::{migrate, sql};
use crate::sync;

/// Milliseconds since the epoch, the storage form of every instant.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn at(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Decode("timestamp out of range"))
}

fn role(r: &Row, i: usize) -> Result<Role, StoreError> {
    Role::parse(&r.text(i)?).ok_or(StoreError::Decode("unknown role"))
}

/// The storage used by the server: domain operations over a [`Db`].
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) db: Arc<dyn Db>,
    pub(super) vault: Arc<super::Vault>,
    epoch: Arc<str>,
}

/// One page of a pull.
#[derive(Debug)]
pub struct PullPage {
    /// Changed records in sequence order.
    pub changes: Vec<SyncRecord>,
    /// Sequence of the last change returned (or the requested one).
    pub last_seq: i64,
    /// Whether more changes follow.
    pub more: bool,
    /// The scope's newest sequence.
    pub scope_seq: i64,
    /// Tombstones at or below this sequence were pruned.
    pub pruned_below: i64,
}

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

/// Hashes of a fresh access/refresh token pair.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the access token.
    pub access_hash: Vec<u8>,
    /// Access token expiry.
    pub access_expires_at: DateTime<Utc>,
    /// SHA-256 of the refresh token.
    pub refresh_hash: Vec<u8>,
    /// Refresh token expiry.
    pub refresh_expires_at: DateTime<Utc>,
}

/// Outcome of spending a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was valid; the new pair is stored in the same family.
    Rotated {
        /// The account.
        user_id: Uuid,
    },
    /// The token had already been spent: the whole family is now revoked.
    Reused {
        /// The account whose family was revoked.
        user_id: Uuid,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// An organisation seen by one of its members.
#[derive(Debug, Clone)]
pub struct OrgView {
    /// Organisation id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The member's role.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A member row joined with the member's public profile fields.
pub struct MemberRecord {
    /// Account id.
    pub user_id: Uuid,
    /// Full name.
    pub full_name: String,
    /// Profession.
    pub profession: String,
    /// Role.
    pub role: Role,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}
praxis_protocol::redacted_debug!(MemberRecord { user_id, role });

/// Outcome of redeeming a join code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// Joined the organisation.
    Joined(Uuid),
    /// Already a member; the code is left unspent.
    AlreadyMember(Uuid),
    /// Spent before.
    Used,
    /// Past its expiry.
    Expired,
    /// No such code.
    Unknown,
}

/// Outcome of a membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// Done.
    Done,
    /// The target is not a member.
    NotMember,
    /// The change would leave the organisation without an admin.
    LastAdmin,
}

impl Store {
    /// Wraps a backend and brings its schema up to date.
    /// Personal columns are sealed under per-user keys that `vault`'s
    /// master keys wrap.
    pub async fn open(
        db: Arc<dyn Db>,
        vault: Arc<super::Vault>,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        migrate::run(db.as_ref(), &vault, ms(now)).await?;
        let mut tx = db.begin().await?;
        vault.load(&mut *tx, ms(now)).await?;
        tx.execute(
            sql::EPOCH_INIT,
            vec![Uuid::new_v4().simple().to_string().into()],
        )
        .await?;
        tx.execute(sql::AUDIT_INIT, vec![[0u8; 32].as_slice().into()])
            .await?;
        tx.commit().await?;
        let epoch = db.query(sql::EPOCH_GET, vec![]).await?;
        let epoch = epoch
            .first()
            .ok_or(StoreError::Decode("sync epoch"))?
            .text(0)?;
        Ok(Self {
            db,
            vault,
            epoch: epoch.into(),
        })
    }

    /// Starts a write transaction that carries the vault.
    pub(super) async fn begin(&self) -> Result<Box<dyn super::Tx>, StoreError> {
        Ok(Box::new(super::vault::VaultTx {
            inner: self.db.begin().await?,
            vault: self.vault.clone(),
        }))
    }

    /// Rewraps every key under the current master key (after a rotation);
    /// returns how many were rewrapped.
    pub async fn rewrap_keys(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let n = self.vault.rewrap_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The sync epoch: cursors from another epoch force a full resync.
    pub fn sync_epoch(&self) -> &str {
        &self.epoch
    }

    /// The backend, for diagnostics and tests.
    pub fn db(&self) -> &Arc<dyn Db> {
        &self.db
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.query(sql::PING, vec![]).await.map(drop)
    }

    // --- accounts --------------------------------------------------------

    /// Inserts an account; [`StoreError::Conflict`] when the email is taken.
    pub async fn create_user(&self, u: NewUser, now: DateTime<Utc>) -> Result<(), StoreError> {
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
            sql::USER_INSERT,
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

    /// The blind index of a normalised email (hex), as stored.
    pub(crate) fn email_index(&self, email: &str) -> String {
        hex(&self.vault.blind_index("email", email))
    }

    /// The keyed login-throttle key of a normalised email.
    pub fn throttle_key(&self, email: &str) -> Vec<u8> {
        self.vault.blind_index("login-throttle", email)
    }

    /// The password hash for a normalised email, if an account has it.
    pub async fn credentials(&self, email: &str) -> Result<Option<Credentials>, StoreError> {
        let rows = self
            .db
            .query(sql::USER_CREDENTIALS, vec![self.email_index(email).into()])
            .await?;
        rows.first()
            .map(|r| {
                Ok(Credentials {
                    user_id: r.uuid(0)?,
                    password_hash: r.text(1)?,
                })
            })
            .transpose()
    }

    /// An account by id.
    pub async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let rows = self.db.query(sql::USER_BY_ID, vec![id.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let plain = self.open_read(id, &user_context(id), r.text(1)?).await?;
        user_record(r, &plain).map(Some)
    }

    /// Opens a value sealed for `user` that was read outside a transaction.
    pub(super) async fn open_read(
        &self,
        user: Uuid,
        context: &str,
        stored: String,
    ) -> Result<String, StoreError> {
        if !super::Vault::is_sealed(&stored) {
            return Ok(stored);
        }
        let key = self
            .vault
            .user_key_for_read(self.db.as_ref(), user)
            .await?
            .ok_or(StoreError::Decode("user key destroyed"))?;
        super::Vault::open(&key, context, stored)
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
            sql::USER_UPDATE,
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
            tx.execute(
                sql::FAMILIES_REVOKE_OTHERS,
                vec![id.into(), family.into(), ms(now).into()],
            )
            .await?;
            super::audit::append(
                &mut *tx,
                &super::audit::Event::user("email_changed", id, serde_json::json!({})),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        user = profile.into_record(id, user.created_at, now);
        Ok(Some(user))
    }

    // --- login throttling ------------------------------------------------

    /// Reserves one password check for `key`, atomically: under a lock on
    /// the key's row, `locked(failures, last_failure)` decides whether the
    /// streak allows an attempt now (`Some(seconds)` to wait refuses it);
    /// an allowed attempt is counted as a failure before the password is
    /// checked, and [`Self::clear_login_failures`] settles it on success.
    /// So however many attempts arrive at once, no more are checked than
    /// the streak allows.
    pub async fn reserve_login_attempt(
        &self,
        key: &[u8],
        now: DateTime<Utc>,
        streak_start: DateTime<Utc>,
        locked: impl FnOnce(u32, DateTime<Utc>) -> Option<u64>,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(sql::THROTTLE_ENSURE, vec![key.into()]).await?;
        let rows = tx.query(sql::THROTTLE_GET_LOCKED, vec![key.into()]).await?;
        let row = rows.first().ok_or(StoreError::Decode("throttle row"))?;
        let (failures, last) = (u32::try_from(row.i64(0)?).unwrap_or(u32::MAX), row.i64(1)?);
        if failures > 0
            && let Some(wait) = locked(failures, at(last)?)
        {
            return Ok(Some(wait));
        }
        tx.execute(
            sql::THROTTLE_FAIL,
            vec![key.into(), ms(now).into(), ms(streak_start).into()],
        )
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    /// Retention of abuse counters: login streaks older than
    /// `streak_start`, and rate-limit windows that started before
    /// `windows_before`. Returns the rows deleted.
    pub async fn purge_counters(
        &self,
        streak_start: DateTime<Utc>,
        windows_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let a = tx
            .execute(sql::THROTTLE_PURGE, vec![ms(streak_start).into()])
            .await?;
        let b = tx
            .execute(sql::RATE_PURGE, vec![ms(windows_before).into()])
            .await?;
        tx.commit().await?;
        Ok(a + b)
    }

    /// Gives back a reserved attempt whose password was never checked.
    pub async fn refund_login_attempt(&self, key: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(sql::THROTTLE_REFUND, vec![key.into()]).await?;
        tx.commit().await
    }

    /// Forgets the failures after a successful login.
    pub async fn clear_login_failures(&self, key: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(sql::THROTTLE_CLEAR, vec![key.into()]).await?;
        tx.commit().await
    }

    // --- sessions --------------------------------------------------------

    /// Starts a token family with its first token pair.
    pub async fn create_session(
        &self,
        user_id: Uuid,
        family_id: Uuid,
        s: NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(
            sql::FAMILY_INSERT,
            vec![family_id.into(), user_id.into(), ms(now).into()],
        )
        .await?;
        insert_pair(tx.as_mut(), user_id, family_id, s).await?;
        tx.commit().await
    }

    /// The account and family of a live access token.
    pub async fn access(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Uuid)>, StoreError> {
        let rows = self
            .db
            .query(sql::ACCESS_LOOKUP, vec![hash.into(), ms(now).into()])
            .await?;
        rows.first()
            .map(|r| Ok((r.uuid(0)?, r.uuid(1)?)))
            .transpose()
    }

    /// Spends a refresh token and stores its successor pair, or detects
    /// reuse and revokes the family. One transaction; concurrent spends of
    /// the same token serialise on its row, so exactly one wins.
    pub async fn rotate_refresh(
        &self,
        hash: &[u8],
        next: NewSession,
        now: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx.query(sql::REFRESH_LOOKUP, vec![hash.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(RotateOutcome::Invalid);
        };
        let (family_id, user_id) = (r.uuid(0)?, r.uuid(1)?);
        let (expires_at, used_at, revoked_at) = (r.i64(2)?, r.opt_i64(3)?, r.opt_i64(4)?);
        if revoked_at.is_some() {
            return Ok(RotateOutcome::Invalid);
        }
        if used_at.is_some() {
            revoke_family(tx.as_mut(), family_id, now).await?;
            tx.commit().await?;
            return Ok(RotateOutcome::Reused { user_id });
        }
        if expires_at <= ms(now) {
            return Ok(RotateOutcome::Invalid);
        }
        if tx
            .execute(sql::REFRESH_SPEND, vec![hash.into(), ms(now).into()])
            .await?
            != 1
        {
            return Ok(RotateOutcome::Invalid);
        }
        // Only the newest access token of a family stays valid.
        tx.execute(sql::ACCESS_DELETE_FAMILY, vec![family_id.into()])
            .await?;
        insert_pair(tx.as_mut(), user_id, family_id, next).await?;
        tx.commit().await?;
        Ok(RotateOutcome::Rotated { user_id })
    }

    /// Ends every token of a family (logout).
    pub async fn revoke_family(
        &self,
        family_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        revoke_family(tx.as_mut(), family_id, now).await?;
        tx.commit().await
    }

    // --- organisations ---------------------------------------------------

    /// Creates an organisation with `owner` as its first admin.
    pub async fn create_org(
        &self,
        id: Uuid,
        name: &str,
        owner: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(
            sql::ORG_INSERT,
            vec![id.into(), name.into(), ms(now).into()],
        )
        .await?;
        tx.execute(
            sql::MEMBER_INSERT,
            vec![
                id.into(),
                owner.into(),
                Role::Admin.as_str().into(),
                ms(now).into(),
            ],
        )
        .await?;
        super::privacy::publish_member_policy(&mut *tx, id, owner, now).await?;
        super::audit::append(
            &mut *tx,
            &super::audit::Event::org("org_created", id, owner, serde_json::json!({})),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// The organisations a user belongs to.
    pub async fn orgs_of(&self, user: Uuid) -> Result<Vec<OrgView>, StoreError> {
        let rows = self.db.query(sql::ORGS_OF_USER, vec![user.into()]).await?;
        rows.iter().map(org_view).collect()
    }

    /// One organisation, only if `user` is a member of it.
    pub async fn org_for_member(
        &self,
        org: Uuid,
        user: Uuid,
    ) -> Result<Option<OrgView>, StoreError> {
        let rows = self
            .db
            .query(sql::ORG_OF_MEMBER, vec![user.into(), org.into()])
            .await?;
        rows.first().map(org_view).transpose()
    }

    /// Renames an organisation.
    pub async fn rename_org(
        &self,
        org: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(
            sql::ORG_RENAME,
            vec![org.into(), name.into(), ms(now).into()],
        )
        .await?;
        tx.commit().await
    }

    /// Members of an organisation.
    pub async fn members(&self, org: Uuid) -> Result<Vec<MemberRecord>, StoreError> {
        let rows = self.db.query(sql::MEMBERS_OF_ORG, vec![org.into()]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let user_id = r.uuid(0)?;
            let plain = self
                .open_read(user_id, &user_context(user_id), r.text(1)?)
                .await?;
            let p: SealedProfile =
                serde_json::from_str(&plain).map_err(|_| StoreError::Decode("sealed profile"))?;
            out.push(MemberRecord {
                user_id,
                full_name: p.full_name,
                profession: p.profession,
                role: role(r, 2)?,
                joined_at: at(r.i64(3)?)?,
            });
        }
        Ok(out)
    }

    /// Stores the hash of a new join code.
    pub async fn create_join_code(
        &self,
        hash: &[u8],
        org: Uuid,
        created_by: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(
            sql::JOIN_CODE_INSERT,
            vec![
                hash.into(),
                org.into(),
                created_by.into(),
                ms(now).into(),
                ms(expires_at).into(),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// The organisation's open join codes: (hash, creator, created, expires).
    pub async fn open_join_codes(
        &self,
        org: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Vec<u8>, Uuid, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        let rows = self
            .db
            .query(sql::JOIN_CODES_OPEN, vec![org.into(), ms(now).into()])
            .await?;
        rows.iter()
            .map(|r| Ok((r.bytes(0)?, r.uuid(1)?, at(r.i64(2)?)?, at(r.i64(3)?)?)))
            .collect()
    }

    /// Revokes an unused join code of `org` (audited); `false` when there
    /// is no such open code.
    pub async fn revoke_join_code(
        &self,
        org: Uuid,
        hash: &[u8],
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if tx
            .execute(sql::JOIN_CODE_REVOKE, vec![org.into(), hash.into()])
            .await?
            == 0
        {
            return Ok(false);
        }
        super::audit::append(
            &mut *tx,
            &super::audit::Event::org("join_code_revoked", org, actor, serde_json::json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Spends a join code and adds `user` as a member, atomically.
    pub async fn redeem_join_code(
        &self,
        hash: &[u8],
        user: Uuid,
        now: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx.query(sql::JOIN_CODE_LOOKUP, vec![hash.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(RedeemOutcome::Unknown);
        };
        let (org, expires_at, used_at) = (r.uuid(0)?, r.i64(1)?, r.opt_i64(2)?);
        if used_at.is_some() {
            return Ok(RedeemOutcome::Used);
        }
        if expires_at <= ms(now) {
            return Ok(RedeemOutcome::Expired);
        }
        // A code lives only while its creator is an admin of the
        // organisation (removal and demotion also delete their codes).
        let creator_role = tx
            .query(sql::MEMBER_ROLE, vec![org.into(), r.uuid(3)?.into()])
            .await?;
        if creator_role.first().map(|r| role(r, 0)).transpose()? != Some(Role::Admin) {
            return Ok(RedeemOutcome::Unknown);
        }
        if !tx
            .query(sql::MEMBER_ROLE, vec![org.into(), user.into()])
            .await?
            .is_empty()
        {
            return Ok(RedeemOutcome::AlreadyMember(org));
        }
        if tx
            .execute(
                sql::JOIN_CODE_SPEND,
                vec![hash.into(), user.into(), ms(now).into()],
            )
            .await?
            != 1
        {
            return Ok(RedeemOutcome::Used);
        }
        tx.execute(
            sql::MEMBER_INSERT,
            vec![
                org.into(),
                user.into(),
                Role::Member.as_str().into(),
                ms(now).into(),
            ],
        )
        .await?;
        super::privacy::publish_member_policy(&mut *tx, org, user, now).await?;
        super::audit::append(
            &mut *tx,
            &super::audit::Event::org("member_joined", org, user, serde_json::json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(RedeemOutcome::Joined(org))
    }

    /// Changes a member's role, refusing to demote the last admin.
    pub async fn set_role(
        &self,
        org: Uuid,
        user: Uuid,
        new: Role,
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<MemberChange, StoreError> {
        self.change_member(org, user, Some(new), actor, now).await
    }

    /// Removes a member, refusing to remove the last admin.
    pub async fn remove_member(
        &self,
        org: Uuid,
        user: Uuid,
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<MemberChange, StoreError> {
        self.change_member(org, user, None, actor, now).await
    }

    /// Shared by role changes (`Some(role)`) and removal (`None`): both must
    /// keep at least one admin, checked under a lock on the organisation
    /// row so that two admins demoting each other cannot both succeed.
    async fn change_member(
        &self,
        org: Uuid,
        user: Uuid,
        new: Option<Role>,
        actor: Uuid,
        now: DateTime<Utc>,
    ) -> Result<MemberChange, StoreError> {
        let mut tx = self.begin().await?;
        tx.query(sql::ORG_LOCK, vec![org.into()]).await?;
        let rows = tx
            .query(sql::MEMBER_ROLE, vec![org.into(), user.into()])
            .await?;
        let Some(current) = rows.first().map(|r| role(r, 0)).transpose()? else {
            return Ok(MemberChange::NotMember);
        };
        if current == Role::Admin && new != Some(Role::Admin) {
            let admins = tx.query(sql::ADMIN_COUNT, vec![org.into()]).await?;
            if admins.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0) <= 1 {
                return Ok(MemberChange::LastAdmin);
            }
        }
        if current == Role::Admin && new != Some(Role::Admin) {
            tx.execute(sql::JOIN_CODES_DROP_OF_ADMIN, vec![org.into(), user.into()])
                .await?;
        }
        match new {
            Some(role) => {
                tx.execute(
                    sql::MEMBER_SET_ROLE,
                    vec![org.into(), user.into(), role.as_str().into()],
                )
                .await?
            }
            None => {
                tx.execute(sql::MEMBER_DELETE, vec![org.into(), user.into()])
                    .await?;
                super::privacy::withdraw_member_policy(&mut *tx, org, user, now).await?;
                0
            }
        };
        let (event, details) = match new {
            Some(role) => (
                "member_role_changed",
                serde_json::json!({ "member_id": user, "role": role.as_str() }),
            ),
            None => ("member_removed", serde_json::json!({ "member_id": user })),
        };
        super::audit::append(
            &mut *tx,
            &super::audit::Event::org(event, org, actor, details),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(MemberChange::Done)
    }
}

impl Store {
    // --- sync ------------------------------------------------------------

    /// Applies a batch of mutations from one device in one transaction:
    /// each exactly once (a replayed `client_seq` gets its stored answer
    /// back and changes nothing), each change with its new sequence number.
    pub async fn push(
        &self,
        user: Uuid,
        client_id: &str,
        mutations: &[Mutation],
        now: DateTime<Utc>,
    ) -> Result<Vec<MutationResult>, StoreError> {
        let scope = sync::user_scope(user);
        let mut tx = self.begin().await?;
        // A restricted account's data is not changed; withdrawing consent
        // (objecting) stays possible. Checked under the account's row lock,
        // so a restriction cannot slip in before this batch commits.
        if mutations
            .iter()
            .any(|m| m.collection != praxis_protocol::privacy::consents::COLLECTION)
            && super::privacy::restricted_locked(&mut *tx, user).await?
        {
            return Err(StoreError::Restricted);
        }
        let mut results = Vec::with_capacity(mutations.len());
        // The answers already given to this device for this batch's
        // sequence numbers (a retried push), read in one query.
        let (lo, hi) = mutations.iter().fold((i64::MAX, i64::MIN), |(lo, hi), m| {
            (lo.min(m.client_seq), hi.max(m.client_seq))
        });
        let mut answered: std::collections::HashMap<i64, String> = if mutations.is_empty() {
            Default::default()
        } else {
            tx.query(
                sql::MUTATIONS_RANGE,
                vec![user.into(), client_id.into(), lo.into(), hi.into()],
            )
            .await?
            .into_iter()
            .map(|r| Ok((r.i64(0)?, r.text(1)?)))
            .collect::<Result<_, StoreError>>()?
        };
        // The scope's sequence: taken (and its row locked) at the first
        // change, then counted here and written back once after the loop.
        let mut last_seq: Option<i64> = None;
        let mut numbered = 0u32;
        // Loaded when a mutation needs them; a consent written in this
        // batch changes them, so they are reloaded after one.
        let mut gates: Option<super::privacy::Gates> = None;
        let mut sharing_consent_changed = false;
        for m in mutations {
            let key = vec![user.into(), client_id.into(), m.client_seq.into()];
            let answer_context = format!("sync_mutations/{user}/{client_id}/{}", m.client_seq);
            if let Some(stored) = answered.get(&m.client_seq).cloned() {
                let text = super::vault::open_for(&mut *tx, user, &answer_context, stored).await?;
                let stored: MutationResult = serde_json::from_str(&text)
                    .map_err(|_| StoreError::Decode("stored mutation result"))?;
                results.push(stored);
                continue;
            }
            let rows = tx
                .query(
                    sql::RECORD_GET,
                    vec![m.collection.as_str().into(), m.id.as_str().into()],
                )
                .await?;
            let stored = match rows.first() {
                Some(r) => {
                    let owner = r.text(0)?;
                    // Another scope's record is refused by `decide`
                    // without looking at its fields (sealed under its
                    // owner's key).
                    let fields = if owner == scope {
                        open_fields(&mut *tx, user, &m.collection, &m.id, r.text(2)?).await?
                    } else {
                        Fields::default()
                    };
                    Some(sync::Stored {
                        scope: owner,
                        version: r.i64(1)?,
                        fields,
                        deleted: r.opt_text(3)?,
                    })
                }
                None => None,
            };
            if sync::needs_gates(&m.collection) && gates.is_none() {
                gates = Some(super::privacy::Gates::load(&mut *tx, user).await?);
            }
            let view = gates.as_ref().map(|g| g as &dyn sync::GateView);
            let mut decision = sync::decide(stored.as_ref(), m, &scope, now, view);
            let mut taken = false;
            let record = match &decision {
                sync::Decision::Write {
                    fields,
                    deleted,
                    changed,
                    ..
                } => {
                    let version = if *changed {
                        let sealed =
                            seal_fields(&mut *tx, user, &m.collection, &m.id, fields, ms(now))
                                .await?;
                        let seq = match last_seq {
                            Some(prev) => prev + 1,
                            None => tx
                                .query(sql::SCOPE_NEXT, vec![scope.as_str().into()])
                                .await?
                                .first()
                                .ok_or(StoreError::Decode("scope sequence"))?
                                .i64(0)?,
                        };
                        last_seq = Some(seq);
                        numbered += 1;
                        let written = tx
                            .execute(
                                sql::RECORD_UPSERT,
                                vec![
                                    m.collection.as_str().into(),
                                    m.id.as_str().into(),
                                    scope.as_str().into(),
                                    seq.into(),
                                    sealed.into(),
                                    deleted.clone().into(),
                                    ms(now).into(),
                                ],
                            )
                            .await?;
                        // Zero rows: another scope created this id concurrently.
                        taken = written == 0;
                        seq
                    } else {
                        stored.as_ref().map_or(0, |s| s.version)
                    };
                    Some(SyncRecord {
                        collection: m.collection.clone(),
                        id: m.id.clone(),
                        version,
                        fields: fields.clone(),
                        deleted: deleted.clone(),
                    })
                }
                sync::Decision::Reject(..) => None,
            };
            if taken {
                decision = sync::Decision::Reject(RejectReason::Forbidden, None);
            }
            if m.collection == praxis_protocol::privacy::consents::COLLECTION
                && matches!(decision, sync::Decision::Write { changed: true, .. })
            {
                let field = |k: &str| m.fields.get(k).map(|f| f.v.clone());
                super::audit::append(
                    &mut *tx,
                    &super::audit::Event::user(
                        "consent_changed",
                        user,
                        serde_json::json!({
                            "purpose": field("purpose"),
                            "granted": field("granted"),
                            "policy_version": field("policy_version"),
                        }),
                    ),
                    now,
                )
                .await?;
                gates = None;
                sharing_consent_changed |= m.fields.get("purpose").and_then(|f| f.v.as_str())
                    == Some(praxis_protocol::privacy::Purpose::LocationSharing.as_str());
            }
            let result = sync::answer(m, &decision, record);
            // Refusals store nothing; a replay is simply refused again.
            if !matches!(result, MutationResult::Rejected { .. }) {
                let text = serde_json::to_string(&result)
                    .map_err(|_| StoreError::Decode("mutation result"))?;
                let text =
                    super::vault::seal_for(&mut *tx, user, &answer_context, &text, ms(now)).await?;
                let mut put = key;
                put.push(text.clone().into());
                put.push(ms(now).into());
                tx.execute(sql::MUTATION_PUT, put).await?;
                answered.insert(m.client_seq, text);
            }
            results.push(result);
        }
        if let (Some(seq), 2..) = (last_seq, numbered) {
            tx.execute(sql::SCOPE_SET, vec![scope.as_str().into(), seq.into()])
                .await?;
        }
        if sharing_consent_changed {
            // A withdrawal ends the user's live shares in this transaction.
            super::privacy::close_shares_if_gated(&mut *tx, user).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    /// Changes of `scope` after sequence `after`, at most `limit`.
    pub async fn pull(&self, scope: &str, after: i64, limit: u32) -> Result<PullPage, StoreError> {
        let state = self.db.query(sql::SCOPE_GET, vec![scope.into()]).await?;
        let (scope_seq, pruned_below) = match state.first() {
            Some(r) => (r.i64(0)?, r.i64(1)?),
            None => (0, 0),
        };
        let rows = self
            .db
            .query(
                sql::RECORDS_SINCE,
                vec![scope.into(), after.into(), (i64::from(limit) + 1).into()],
            )
            .await?;
        let more = rows.len() > limit as usize;
        let user = scope_user(scope)?;
        let mut changes = Vec::with_capacity(rows.len().min(limit as usize));
        for r in rows.into_iter().take(limit as usize) {
            let (collection, id) = (r.text(0)?, r.text(1)?);
            let fields = self
                .open_fields_read(user, &collection, &id, r.text(3)?)
                .await?;
            changes.push(SyncRecord {
                collection,
                id,
                version: r.i64(2)?,
                fields,
                deleted: r.opt_text(4)?,
            });
        }
        let last_seq = changes.last().map_or(after, |c| c.version);
        Ok(PullPage {
            changes,
            last_seq,
            more,
            scope_seq,
            pruned_below,
        })
    }

    /// Drops tombstones last changed before `tombstones_before` (recording
    /// the horizon per scope) and idempotency answers older than
    /// `mutations_before`. Returns the number of tombstones removed.
    pub async fn prune_sync(
        &self,
        tombstones_before: DateTime<Utc>,
        mutations_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let horizons = tx
            .query(sql::TOMBSTONES_PRUNABLE, vec![ms(tombstones_before).into()])
            .await?;
        for h in &horizons {
            tx.execute(sql::SCOPE_PRUNED, vec![h.text(0)?.into(), h.i64(1)?.into()])
                .await?;
        }
        let n = tx
            .execute(sql::TOMBSTONES_PRUNE, vec![ms(tombstones_before).into()])
            .await?;
        tx.execute(sql::MUTATIONS_PRUNE, vec![ms(mutations_before).into()])
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The associated data of a sync record's sealed fields.
fn record_context(collection: &str, id: &str) -> String {
    format!("sync_records/{collection}/{id}")
}

/// Seals a record's fields under the scope owner's key.
pub(super) async fn seal_fields(
    tx: &mut dyn super::Tx,
    user: Uuid,
    collection: &str,
    id: &str,
    fields: &Fields,
    now_ms: i64,
) -> Result<String, StoreError> {
    let json = serde_json::to_string(fields).map_err(|_| StoreError::Decode("fields"))?;
    super::vault::seal_for(tx, user, &record_context(collection, id), &json, now_ms).await
}

/// Opens a record's fields read inside a transaction.
pub(super) async fn open_fields(
    tx: &mut dyn super::Tx,
    user: Uuid,
    collection: &str,
    id: &str,
    stored: String,
) -> Result<Fields, StoreError> {
    let plain = super::vault::open_for(tx, user, &record_context(collection, id), stored).await?;
    parse_fields(&plain)
}

pub(super) fn parse_fields(s: &str) -> Result<Fields, StoreError> {
    serde_json::from_str(s).map_err(|_| StoreError::Decode("fields"))
}

/// The account a `u:<id>` sync scope belongs to.
pub(super) fn scope_user(scope: &str) -> Result<Uuid, StoreError> {
    scope
        .strip_prefix("u:")
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or(StoreError::Decode("sync scope"))
}

impl Store {
    /// Opens a record's fields read outside a transaction.
    pub(super) async fn open_fields_read(
        &self,
        user: Uuid,
        collection: &str,
        id: &str,
        stored: String,
    ) -> Result<Fields, StoreError> {
        let plain = self
            .open_read(user, &record_context(collection, id), stored)
            .await?;
        parse_fields(&plain)
    }
}

/// The profile as a server-authored sync record (all fields, one HLC).
fn profile_fields(p: &SealedProfile, now: DateTime<Utc>) -> Fields {
    let t = super::privacy::server_hlc(now);
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

/// Writes the user's profile record into their scope (new version).
async fn publish_profile(
    tx: &mut dyn super::Tx,
    user: Uuid,
    fields: Fields,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id = user.to_string();
    super::privacy::publish(tx, user, "profile", &id, &fields, None, now).await
}

async fn insert_pair(
    tx: &mut dyn super::Tx,
    user_id: Uuid,
    family_id: Uuid,
    s: NewSession,
) -> Result<(), StoreError> {
    tx.execute(
        sql::ACCESS_INSERT,
        vec![
            s.access_hash.as_slice().into(),
            family_id.into(),
            user_id.into(),
            ms(s.access_expires_at).into(),
        ],
    )
    .await?;
    tx.execute(
        sql::REFRESH_INSERT,
        vec![
            s.refresh_hash.as_slice().into(),
            family_id.into(),
            user_id.into(),
            ms(s.refresh_expires_at).into(),
        ],
    )
    .await?;
    Ok(())
}

async fn revoke_family(
    tx: &mut dyn super::Tx,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.execute(sql::FAMILY_REVOKE, vec![family_id.into(), ms(now).into()])
        .await?;
    tx.execute(sql::ACCESS_DELETE_FAMILY, vec![family_id.into()])
        .await?;
    Ok(())
}

/// The profile as sealed in `users.sealed`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct SealedProfile {
    pub(super) email: String,
    pub(super) full_name: String,
    pub(super) phone: String,
    pub(super) country: String,
    pub(super) language: String,
    pub(super) profession: String,
    pub(super) date_of_birth: NaiveDate,
}

impl SealedProfile {
    fn into_record(
        self,
        id: Uuid,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> UserRecord {
        UserRecord {
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

/// The associated data of a user's sealed profile.
pub(super) fn user_context(id: Uuid) -> String {
    format!("users/{id}")
}

pub(super) async fn seal_profile(
    tx: &mut dyn super::Tx,
    id: Uuid,
    p: &SealedProfile,
    now_ms: i64,
) -> Result<String, StoreError> {
    let json = serde_json::to_string(p).map_err(|_| StoreError::Decode("profile"))?;
    super::vault::seal_for(tx, id, &user_context(id), &json, now_ms).await
}

/// A `USER_BY_ID` row and its opened profile.
fn user_record(r: &Row, plain: &str) -> Result<UserRecord, StoreError> {
    let p: SealedProfile =
        serde_json::from_str(plain).map_err(|_| StoreError::Decode("sealed profile"))?;
    Ok(p.into_record(r.uuid(0)?, at(r.i64(2)?)?, at(r.i64(3)?)?))
}

/// An account read inside a transaction; `lock` holds its row until
/// commit (PostgreSQL), for a read-modify-write.
pub(super) async fn read_user(
    tx: &mut dyn super::Tx,
    id: Uuid,
    lock: bool,
) -> Result<Option<UserRecord>, StoreError> {
    let sql = if lock {
        sql::USER_BY_ID_LOCKED
    } else {
        sql::USER_BY_ID
    };
    let rows = tx.query(sql, vec![id.into()]).await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let plain = super::vault::open_for(tx, id, &user_context(id), r.text(1)?).await?;
    user_record(r, &plain).map(Some)
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn org_view(r: &Row) -> Result<OrgView, StoreError> {
    Ok(OrgView {
        id: r.uuid(0)?,
        name: r.text(1)?,
        role: role(r, 2)?,
        created_at: at(r.i64(3)?)?,
    })
}
