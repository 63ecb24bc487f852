//! Organisations: creation, membership and roles (never without an admin),
//! and single-use join codes stored as hashes. A membership change also
//! republishes the member's location policy and ends location shares left
//! without a common organisation, in the same transaction.

use chrono::{DateTime, Utc};
use praxis_protocol::Role;
use uuid::Uuid;

use crate::store::Store;
use crate::store::backend::{Row, StoreError, at, ms};
use crate::store::records::{SealedProfile, user_context};

/// Most organisations one account may belong to: creating another is
/// refused beyond it (anonymous sign-ups must not grow the database
/// without bound).
pub const MAX_ORGS_PER_USER: i64 = 50;

/// Most unused, unexpired join codes an organisation may hold at once.
pub const MAX_OPEN_JOIN_CODES: i64 = 100;

/// The number in a `SELECT COUNT(*)` answer.
fn count(rows: &[crate::store::Row]) -> Result<i64, StoreError> {
    rows.first().ok_or(StoreError::Decode("count"))?.i64(0)
}

pub(crate) const ORG_LOCK: &str = "SELECT id FROM orgs WHERE id = ?1 /*FOR UPDATE*/";

const MEMBER_INSERT: &str =
    "INSERT INTO org_members (org_id, user_id, role, joined_at) VALUES (?1, ?2, ?3, ?4)";

const MEMBER_ROLE: &str = "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2";

pub(crate) const MEMBER_SET_ROLE: &str =
    "UPDATE org_members SET role = ?3 WHERE org_id = ?1 AND user_id = ?2";

pub(crate) const MEMBER_DELETE: &str = "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2";

pub(crate) const ADMIN_COUNT: &str =
    "SELECT COUNT(*) FROM org_members WHERE org_id = ?1 AND role = 'admin'";

/// The `role` column of a row.
fn role(r: &Row) -> Result<Role, StoreError> {
    Role::parse(&r.text("role")?).ok_or(StoreError::Decode("unknown role"))
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

/// An `ORGS_OF_USER` or `ORG_OF_MEMBER` row (id, name, role, created_at).
fn org_view(r: &Row) -> Result<OrgView, StoreError> {
    Ok(OrgView {
        id: r.uuid("id")?,
        name: r.text("name")?,
        role: role(r)?,
        created_at: at(r.i64("created_at")?)?,
    })
}

impl Store {
    /// Creates an organisation with `owner` as its first admin.
    pub async fn create_org(
        &self,
        id: Uuid,
        name: &str,
        owner: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const ORG_INSERT: &str =
            "INSERT INTO orgs (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)";
        const MEMBERSHIPS_COUNT: &str = "SELECT COUNT(*) FROM org_members WHERE user_id = ?1";
        let mut tx = self.begin().await?;
        crate::store::accounts::lock_user(&mut *tx, owner).await?;
        let held = tx.query(MEMBERSHIPS_COUNT, vec![owner.into()]).await?;
        if count(&held)? >= MAX_ORGS_PER_USER {
            return Err(StoreError::LimitReached("organisations"));
        }
        tx.execute(ORG_INSERT, vec![id.into(), name.into(), ms(now).into()])
            .await?;
        tx.execute(
            MEMBER_INSERT,
            vec![
                id.into(),
                owner.into(),
                Role::Admin.as_str().into(),
                ms(now).into(),
            ],
        )
        .await?;
        crate::store::privacy::policy::publish_member_policy(&mut *tx, id, owner, now).await?;
        crate::store::audit::append(
            &mut *tx,
            &crate::store::audit::Event::org("org_created", id, owner, serde_json::json!({})),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// The organisations a user belongs to.
    pub async fn orgs_of(&self, user: Uuid) -> Result<Vec<OrgView>, StoreError> {
        const ORGS_OF_USER: &str = "SELECT o.id, o.name, m.role, o.created_at FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?1 ORDER BY o.created_at, o.id";
        let rows = self.db.query(ORGS_OF_USER, vec![user.into()]).await?;
        rows.iter().map(org_view).collect()
    }

    /// One organisation, only if `user` is a member of it.
    pub async fn org_for_member(
        &self,
        org: Uuid,
        user: Uuid,
    ) -> Result<Option<OrgView>, StoreError> {
        const ORG_OF_MEMBER: &str = "SELECT o.id, o.name, m.role, o.created_at FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?1 AND m.org_id = ?2";
        let rows = self
            .db
            .query(ORG_OF_MEMBER, vec![user.into(), org.into()])
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
        const ORG_RENAME: &str = "UPDATE orgs SET name = ?2, updated_at = ?3 WHERE id = ?1";
        let mut tx = self.begin().await?;
        tx.execute(ORG_RENAME, vec![org.into(), name.into(), ms(now).into()])
            .await?;
        tx.commit().await
    }

    /// Members of an organisation.
    pub async fn members(&self, org: Uuid) -> Result<Vec<MemberRecord>, StoreError> {
        const MEMBERS_OF_ORG: &str = "SELECT m.user_id, u.sealed, m.role, m.joined_at FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 ORDER BY m.joined_at, m.user_id";
        let rows = self.db.query(MEMBERS_OF_ORG, vec![org.into()]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let user_id = r.uuid("user_id")?;
            let plain = self
                .open_read(user_id, &user_context(user_id), r.text("sealed")?)
                .await?;
            let p: SealedProfile =
                serde_json::from_str(&plain).map_err(|_| StoreError::Decode("sealed profile"))?;
            out.push(MemberRecord {
                user_id,
                full_name: p.full_name,
                profession: p.profession,
                role: role(r)?,
                joined_at: at(r.i64("joined_at")?)?,
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
        const JOIN_CODE_INSERT: &str = "INSERT INTO join_codes (code_hash, org_id, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)";
        const OPEN_CODES_COUNT: &str = "SELECT COUNT(*) FROM join_codes WHERE org_id = ?1 AND used_at IS NULL AND expires_at > ?2";
        let mut tx = self.begin().await?;
        tx.query(ORG_LOCK, vec![org.into()]).await?;
        let open = tx
            .query(OPEN_CODES_COUNT, vec![org.into(), ms(now).into()])
            .await?;
        if count(&open)? >= MAX_OPEN_JOIN_CODES {
            return Err(StoreError::LimitReached("join_codes"));
        }
        tx.execute(
            JOIN_CODE_INSERT,
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
        // An organisation's open codes (unused, not expired).
        const JOIN_CODES_OPEN: &str = "SELECT code_hash, created_by, created_at, expires_at FROM join_codes WHERE org_id = ?1 AND used_at IS NULL AND expires_at > ?2 ORDER BY created_at, code_hash";
        let rows = self
            .db
            .query(JOIN_CODES_OPEN, vec![org.into(), ms(now).into()])
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.bytes("code_hash")?,
                    r.uuid("created_by")?,
                    at(r.i64("created_at")?)?,
                    at(r.i64("expires_at")?)?,
                ))
            })
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
        const JOIN_CODE_REVOKE: &str =
            "DELETE FROM join_codes WHERE org_id = ?1 AND code_hash = ?2 AND used_at IS NULL";
        let mut tx = self.begin().await?;
        if tx
            .execute(JOIN_CODE_REVOKE, vec![org.into(), hash.into()])
            .await?
            == 0
        {
            return Ok(false);
        }
        crate::store::audit::append(
            &mut *tx,
            &crate::store::audit::Event::org(
                "join_code_revoked",
                org,
                actor,
                serde_json::json!({}),
            ),
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
        const JOIN_CODE_SPEND: &str = "UPDATE join_codes SET used_by = ?2, used_at = ?3 WHERE code_hash = ?1 AND used_at IS NULL";
        const JOIN_CODE_ORG: &str = "SELECT org_id FROM join_codes WHERE code_hash = ?1";
        const JOIN_CODE_LOOKUP: &str = "SELECT org_id, expires_at, used_at, created_by FROM join_codes WHERE code_hash = ?1 /*FOR UPDATE*/";
        let mut tx = self.begin().await?;
        // The organisation's row first, as every membership change takes
        // it: joins to one organisation queue there. Taken later (the
        // member row's foreign key holds a share lock on it, and the
        // policy read upgrades it) two joins deadlocked each other.
        let Some(org) = tx
            .query(JOIN_CODE_ORG, vec![hash.into()])
            .await?
            .first()
            .map(|r| r.uuid(0))
            .transpose()?
        else {
            return Ok(RedeemOutcome::Unknown);
        };
        tx.query(ORG_LOCK, vec![org.into()]).await?;
        let rows = tx.query(JOIN_CODE_LOOKUP, vec![hash.into()]).await?;
        let Some(r) = rows.first() else {
            return Ok(RedeemOutcome::Unknown);
        };
        let (org, expires_at, used_at) = (
            r.uuid("org_id")?,
            r.i64("expires_at")?,
            r.opt_i64("used_at")?,
        );
        if used_at.is_some() {
            return Ok(RedeemOutcome::Used);
        }
        if expires_at <= ms(now) {
            return Ok(RedeemOutcome::Expired);
        }
        // A code lives only while its creator is an admin of the
        // organisation (removal and demotion also delete their codes).
        let creator_role = tx
            .query(MEMBER_ROLE, vec![org.into(), r.uuid("created_by")?.into()])
            .await?;
        if creator_role.first().map(role).transpose()? != Some(Role::Admin) {
            return Ok(RedeemOutcome::Unknown);
        }
        if !tx
            .query(MEMBER_ROLE, vec![org.into(), user.into()])
            .await?
            .is_empty()
        {
            return Ok(RedeemOutcome::AlreadyMember(org));
        }
        if tx
            .execute(
                JOIN_CODE_SPEND,
                vec![hash.into(), user.into(), ms(now).into()],
            )
            .await?
            != 1
        {
            return Ok(RedeemOutcome::Used);
        }
        tx.execute(
            MEMBER_INSERT,
            vec![
                org.into(),
                user.into(),
                Role::Member.as_str().into(),
                ms(now).into(),
            ],
        )
        .await?;
        crate::store::privacy::policy::publish_member_policy(&mut *tx, org, user, now).await?;
        crate::store::audit::append(
            &mut *tx,
            &crate::store::audit::Event::org("member_joined", org, user, serde_json::json!({})),
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
        // The open codes ?2 made for ?1 die with ?2's admin role there.
        const JOIN_CODES_DROP_OF_ADMIN: &str =
            "DELETE FROM join_codes WHERE org_id = ?1 AND created_by = ?2 AND used_at IS NULL";
        let mut tx = self.begin().await?;
        tx.query(ORG_LOCK, vec![org.into()]).await?;
        let rows = tx.query(MEMBER_ROLE, vec![org.into(), user.into()]).await?;
        let Some(current) = rows.first().map(role).transpose()? else {
            return Ok(MemberChange::NotMember);
        };
        if current == Role::Admin && new != Some(Role::Admin) {
            let admins = tx.query(ADMIN_COUNT, vec![org.into()]).await?;
            if admins.first().map(|r| r.i64(0)).transpose()?.unwrap_or(0) <= 1 {
                return Ok(MemberChange::LastAdmin);
            }
        }
        if current == Role::Admin && new != Some(Role::Admin) {
            tx.execute(JOIN_CODES_DROP_OF_ADMIN, vec![org.into(), user.into()])
                .await?;
        }
        match new {
            Some(role) => {
                tx.execute(
                    MEMBER_SET_ROLE,
                    vec![org.into(), user.into(), role.as_str().into()],
                )
                .await?
            }
            None => {
                tx.execute(MEMBER_DELETE, vec![org.into(), user.into()])
                    .await?;
                crate::store::privacy::policy::withdraw_member_policy(&mut *tx, org, user, now)
                    .await?;
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
        crate::store::audit::append(
            &mut *tx,
            &crate::store::audit::Event::org(event, org, actor, details),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(MemberChange::Done)
    }
}
