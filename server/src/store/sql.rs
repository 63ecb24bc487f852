//! Every statement the server runs, in portable SQL (`?N` placeholders).
//!
//! Timestamps are epoch milliseconds in `BIGINT`; ids are UUIDs as text;
//! hashes are `BLOB` (PostgreSQL: `BYTEA`, substituted by the migrator).

/// Schema migrations, applied in order at start; never edit a released one.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (1, V1_ACCOUNTS_AND_ORGS),
    (2, V2_SYNC),
    (3, V3_CONSENT_AND_LOCATION),
    (4, V4_CONTACTS),
    (5, V5_AUDIT),
    (6, V6_ERASURE),
    (7, V7_ENCRYPTION),
    (8, V8_DROP_PLAINTEXT),
];

/// Version 1: accounts, sessions, login throttling, organisations.
///
/// * `users`: one row per account. `email` is the normalised address and
///   unique; `password_hash` is an argon2id PHC string.
/// * `token_families`: one per login; every access and refresh token
///   descends from one, and revoking the family ends them all (logout,
///   refresh-token reuse).
/// * `access_tokens`, `refresh_tokens`: SHA-256 hashes of opaque tokens
///   only; a refresh token is spent when `used_at` is set.
/// * `login_throttle`: consecutive failures per hashed email key (unknown
///   emails are throttled alike, so the throttle reveals nothing).
/// * `orgs`, `org_members`, `join_codes`: organisations, their members with
///   a role, and single-use join codes stored as hashes. `orgs.settings` is
///   a JSON object for organisation-wide settings (location policy, later).
const V1_ACCOUNTS_AND_ORGS: &str = "
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    full_name TEXT NOT NULL,
    phone TEXT NOT NULL,
    country TEXT NOT NULL,
    language TEXT NOT NULL,
    profession TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE token_families (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX token_families_user ON token_families(user_id);
CREATE TABLE access_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_family ON access_tokens(family_id);
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE TABLE login_throttle (
    throttle_key BLOB PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);
CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE org_members (
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);
CREATE TABLE join_codes (
    code_hash BLOB PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_by TEXT,
    used_at BIGINT
);
CREATE INDEX join_codes_org ON join_codes(org_id);
";

/// Version 2: sync.
///
/// * `sync_meta`: the server's sync epoch (random, set once): a cursor from
///   another epoch (a reset or restored database) forces a full resync.
/// * `sync_scopes`: per scope (`u:<user>`; later `o:<org>`), the last
///   change sequence and the sequence below which tombstones were pruned.
///   Writers lock their scope's row, so within a scope commit order is
///   sequence order and a pull never skips a change.
/// * `sync_records`: one row per record; `seq` is the scope sequence of its
///   last change (its version); `fields` is JSON `{name: {v, t}}`;
///   `deleted` the tombstone HLC.
/// * `sync_mutations`: the answer given to each (user, client, client_seq),
///   replayed verbatim for a retried push (exactly-once application).
const V2_SYNC: &str = "
CREATE TABLE sync_meta (
    meta_key TEXT PRIMARY KEY,
    meta_value TEXT NOT NULL
);
CREATE TABLE sync_scopes (
    scope TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    pruned_below BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE sync_records (
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    seq BIGINT NOT NULL,
    fields TEXT NOT NULL,
    deleted TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (collection, record_id)
);
CREATE INDEX sync_records_scope_seq ON sync_records (scope, seq);
CREATE TABLE sync_mutations (
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_seq BIGINT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, client_seq)
);
";

/// Version 3: consent, organisation location policy, live sharing.
///
/// * `users.restricted_at`: set while processing is restricted (Art. 18).
/// * `org_members.location_enabled`: 0 when an admin switched location off
///   for this member; the organisation's policy itself is JSON in
///   `orgs.settings` under `location`.
/// * `org_policy_changes`: who changed which location setting, and when.
/// * `consent_policies`: the published policy version per purpose; a
///   higher version makes earlier consent stop counting.
/// * `location_shares` (+ recipients, + the one latest position as JSON):
///   live sharing. Stopping or expiring a share deletes its row, and the
///   position and recipients go with it.
const V3_CONSENT_AND_LOCATION: &str = "
ALTER TABLE users ADD COLUMN restricted_at BIGINT;
ALTER TABLE org_members ADD COLUMN location_enabled BIGINT NOT NULL DEFAULT 1;
CREATE TABLE org_policy_changes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    actor_id TEXT NOT NULL,
    member_id TEXT,
    change TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX org_policy_changes_org ON org_policy_changes(org_id, changed_at);
CREATE TABLE consent_policies (
    purpose TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    published_at BIGINT NOT NULL
);
CREATE TABLE location_shares (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX location_shares_user ON location_shares(user_id);
CREATE TABLE location_share_recipients (
    share_id TEXT NOT NULL REFERENCES location_shares(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (share_id, user_id)
);
CREATE INDEX location_share_recipients_user ON location_share_recipients(user_id);
CREATE TABLE location_positions (
    share_id TEXT PRIMARY KEY REFERENCES location_shares(id) ON DELETE CASCADE,
    position TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
";

/// Version 4: contact sharing.
///
/// * `server_keys`: the server's own keys (the Ed25519 key that signs
///   invitation codes), created once.
/// * `contact_cards`: each practitioner's card (JSON).
/// * `contact_invitations`: single-use, expiring; only a SHA-256 of the
///   code's secret is kept.
/// * `contact_shares`: who holds whose card, which fields, whether they
///   may forward it, and who forwarded it. A connection between two people
///   is a share in either direction.
/// * `contact_blocks`: invitations and forwards from a blocked person are
///   refused.
/// * `rate_limits`: fixed-window counters per account and action.
const V4_CONTACTS: &str = "
CREATE TABLE server_keys (
    key_id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    secret BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE contact_cards (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    card TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE contact_invitations (
    id TEXT PRIMARY KEY,
    inviter_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL,
    fields TEXT NOT NULL,
    allow_forward BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_by TEXT,
    used_at BIGINT
);
CREATE INDEX contact_invitations_inviter ON contact_invitations(inviter_id, expires_at);
CREATE TABLE contact_shares (
    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    holder_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fields TEXT NOT NULL,
    allow_forward BIGINT NOT NULL,
    forwarded_by TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, holder_id)
);
CREATE INDEX contact_shares_holder ON contact_shares(holder_id);
CREATE TABLE contact_blocks (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
";

pub(crate) const SERVER_KEY_INSERT: &str = "INSERT INTO server_keys (key_id, purpose, secret, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key_id) DO NOTHING";
pub(crate) const SERVER_KEY_GET: &str =
    "SELECT key_id, secret FROM server_keys WHERE purpose = ?1 ORDER BY created_at, key_id LIMIT 1";
pub(crate) const CARD_GET: &str = "SELECT card FROM contact_cards WHERE user_id = ?1";
pub(crate) const CARD_PUT: &str = "INSERT INTO contact_cards (user_id, card, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO UPDATE SET card = ?2, updated_at = ?3";
pub(crate) const INVITATION_INSERT: &str = "INSERT INTO contact_invitations (id, inviter_id, secret_hash, fields, allow_forward, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(crate) const INVITATIONS_OPEN: &str = "SELECT COUNT(*) FROM contact_invitations WHERE inviter_id = ?1 AND used_at IS NULL AND expires_at > ?2";
pub(crate) const INVITATION_GET: &str = "SELECT inviter_id, secret_hash, fields, allow_forward, expires_at, used_at FROM contact_invitations WHERE id = ?1 /*FOR UPDATE*/";
pub(crate) const INVITATION_SPEND: &str =
    "UPDATE contact_invitations SET used_by = ?2, used_at = ?3 WHERE id = ?1 AND used_at IS NULL";
pub(crate) const SHARE_PUT: &str = "INSERT INTO contact_shares (owner_id, holder_id, fields, allow_forward, forwarded_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (owner_id, holder_id) DO UPDATE SET fields = ?3, allow_forward = ?4, forwarded_by = ?5";
pub(crate) const SHARE_GET_PAIR: &str = "SELECT fields, allow_forward, forwarded_by, created_at FROM contact_shares WHERE owner_id = ?1 AND holder_id = ?2";
pub(crate) const SHARE_DELETE_PAIR: &str =
    "DELETE FROM contact_shares WHERE owner_id = ?1 AND holder_id = ?2";
pub(crate) const SHARES_BY_OWNER: &str = "SELECT holder_id, fields, allow_forward, forwarded_by, created_at FROM contact_shares WHERE owner_id = ?1 ORDER BY created_at, holder_id";
pub(crate) const CONNECTED: &str = "SELECT 1 FROM contact_shares WHERE (owner_id = ?1 AND holder_id = ?2) OR (owner_id = ?2 AND holder_id = ?1) LIMIT 1";
pub(crate) const BLOCK_PUT: &str = "INSERT INTO contact_blocks (user_id, blocked_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id, blocked_id) DO NOTHING";
pub(crate) const USER_EXISTS: &str = "SELECT 1 FROM users WHERE id = ?1";
pub(crate) const BLOCK_DELETE: &str =
    "DELETE FROM contact_blocks WHERE user_id = ?1 AND blocked_id = ?2";
pub(crate) const BLOCKED: &str =
    "SELECT 1 FROM contact_blocks WHERE user_id = ?1 AND blocked_id = ?2";
/// Counts one hit in a fixed window; a window older than `?3` starts over.
pub(crate) const RATE_HIT: &str = "INSERT INTO rate_limits (bucket, window_start, hits) VALUES (?1, ?2, 1) ON CONFLICT (bucket) DO UPDATE SET hits = CASE WHEN rate_limits.window_start <= ?3 THEN 1 ELSE rate_limits.hits + 1 END, window_start = CASE WHEN rate_limits.window_start <= ?3 THEN ?2 ELSE rate_limits.window_start END RETURNING hits, window_start";

/// Version 5: the audit log.
///
/// * `audit_log`: security events, hash-chained (`prev_hash`, `hash`);
///   accounts and organisations by id only, details without personal data.
/// * `audit_head`: one row (`id = 1`): the newest sequence and hash, locked
///   by every append, and the chain's start after retention purges
///   (`base_seq`, `base_hash`).
const V5_AUDIT: &str = "
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    user_id TEXT,
    org_id TEXT,
    details TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_log_user ON audit_log(user_id, seq);
CREATE INDEX audit_log_org ON audit_log(org_id, seq);
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash BLOB NOT NULL,
    base_seq BIGINT NOT NULL,
    base_hash BLOB NOT NULL
);
";

pub(crate) const AUDIT_INIT: &str = "INSERT INTO audit_head (id, seq, hash, base_seq, base_hash) VALUES (1, 0, ?1, 0, ?1) ON CONFLICT (id) DO NOTHING";
pub(crate) const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1 /*FOR UPDATE*/";
pub(crate) const AUDIT_HEAD_READ: &str =
    "SELECT seq, hash, base_seq, base_hash FROM audit_head WHERE id = 1";
pub(crate) const AUDIT_HEAD_SET: &str = "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1";
pub(crate) const AUDIT_BASE_SET: &str =
    "UPDATE audit_head SET base_seq = ?1, base_hash = ?2 WHERE id = 1";
pub(crate) const AUDIT_INSERT: &str = "INSERT INTO audit_log (seq, at, event, user_id, org_id, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
pub(crate) const AUDIT_ALL: &str =
    "SELECT seq, at, event, user_id, org_id, details, prev_hash, hash FROM audit_log ORDER BY seq";
pub(crate) const AUDIT_OF_USER: &str = "SELECT seq, at, event, user_id, org_id, details FROM audit_log WHERE user_id = ?1 ORDER BY seq DESC LIMIT ?2";
pub(crate) const AUDIT_OF_ORG: &str = "SELECT seq, at, event, user_id, org_id, details FROM audit_log WHERE org_id = ?1 ORDER BY seq DESC LIMIT ?2";
pub(crate) const AUDIT_LAST_BEFORE: &str =
    "SELECT seq, hash FROM audit_log WHERE at < ?1 ORDER BY seq DESC LIMIT 1";
pub(crate) const AUDIT_PURGE: &str = "DELETE FROM audit_log WHERE seq <= ?1";

pub(crate) const MEMBERSHIPS_OF_USER: &str = "SELECT o.id, o.name, m.role, m.joined_at, m.location_enabled FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?1 ORDER BY m.joined_at, o.id";
pub(crate) const EXPORT_RECORDS: &str = "SELECT record_id, seq, fields FROM sync_records WHERE scope = ?1 AND collection = ?2 AND deleted IS NULL AND seq > ?3 ORDER BY seq LIMIT ?4";
pub(crate) const POSITIONS_OF_USER: &str = "SELECT s.id, p.position FROM location_shares s LEFT JOIN location_positions p ON p.share_id = s.id WHERE s.user_id = ?1 ORDER BY s.started_at, s.id";
pub(crate) const BLOCKS_OF_USER: &str =
    "SELECT blocked_id FROM contact_blocks WHERE user_id = ?1 ORDER BY blocked_id";

/// Version 6: erasure.
///
/// * `token_families.reauth_at`: when the password was last re-entered in
///   this login (erasure needs it within the last five minutes).
/// * `erased_tokens`: SHA-256 hashes of an erased account's tokens, so a
///   device that comes back (even after a week offline) is told to wipe
///   itself; purged after 60 days.
const V6_ERASURE: &str = "
ALTER TABLE token_families ADD COLUMN reauth_at BIGINT;
CREATE TABLE erased_tokens (
    token_hash BLOB PRIMARY KEY,
    erased_at BIGINT NOT NULL
);
";

/// Version 7: encryption at rest (see `store::vault`).
///
/// * `user_keys`: each account's data key, wrapped by a master key from
///   configuration. Deleting the row crypto-shreds everything sealed under
///   it, so it has no foreign key: erasure deletes it explicitly.
/// * `users.email` becomes `email_index`, the keyed blind index of the
///   address; the profile moves into `users.sealed`, encrypted under the
///   user's key. The profile columns are dropped by version 8, after the
///   rows were sealed (`Store::seal_legacy`).
/// * Server keys written before this version were stored in clear: they
///   are dropped and made again, wrapped (open invitation codes signed
///   with the old key stop verifying).
const V7_ENCRYPTION: &str = "
CREATE TABLE user_keys (
    user_id TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
DELETE FROM server_keys;
ALTER TABLE users RENAME COLUMN email TO email_index;
ALTER TABLE users ADD COLUMN sealed TEXT;
";

/// Version 8: the plaintext profile columns, sealed by then, are dropped.
const V8_DROP_PLAINTEXT: &str = "
ALTER TABLE users DROP COLUMN full_name;
ALTER TABLE users DROP COLUMN phone;
ALTER TABLE users DROP COLUMN country;
ALTER TABLE users DROP COLUMN language;
ALTER TABLE users DROP COLUMN profession;
ALTER TABLE users DROP COLUMN date_of_birth;
";

pub(crate) const USER_KEY_GET: &str = "SELECT wrapped FROM user_keys WHERE user_id = ?1";
pub(crate) const USER_KEY_INSERT: &str = "INSERT INTO user_keys (user_id, wrapped, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO NOTHING";
pub(crate) const USER_KEY_DELETE: &str = "DELETE FROM user_keys WHERE user_id = ?1";
pub(crate) const USER_KEYS_ALL: &str = "SELECT user_id, wrapped FROM user_keys";
pub(crate) const USER_KEY_REWRAP: &str = "UPDATE user_keys SET wrapped = ?2 WHERE user_id = ?1";
pub(crate) const SERVER_KEYS_ALL: &str = "SELECT key_id, purpose, secret FROM server_keys";
pub(crate) const SERVER_KEY_REWRAP: &str = "UPDATE server_keys SET secret = ?2 WHERE key_id = ?1";
pub(crate) const LEGACY_USERS: &str = "SELECT id, email_index, full_name, phone, country, language, profession, date_of_birth FROM users WHERE sealed IS NULL";
pub(crate) const LEGACY_USER_SEAL: &str =
    "UPDATE users SET email_index = ?2, sealed = ?3 WHERE id = ?1";
pub(crate) const LEGACY_RECORDS: &str =
    "SELECT collection, record_id, scope, fields FROM sync_records WHERE fields NOT LIKE 'px1:%'";
pub(crate) const LEGACY_RECORD_SEAL: &str =
    "UPDATE sync_records SET fields = ?3 WHERE collection = ?1 AND record_id = ?2";
pub(crate) const LEGACY_MUTATIONS: &str = "SELECT user_id, client_id, client_seq, result FROM sync_mutations WHERE result NOT LIKE 'px1:%'";
pub(crate) const LEGACY_MUTATION_SEAL: &str = "UPDATE sync_mutations SET result = ?4 WHERE user_id = ?1 AND client_id = ?2 AND client_seq = ?3";
pub(crate) const LEGACY_CARDS: &str =
    "SELECT user_id, card FROM contact_cards WHERE card NOT LIKE 'px1:%'";
pub(crate) const LEGACY_POSITIONS: &str = "SELECT p.share_id, s.user_id, p.position FROM location_positions p JOIN location_shares s ON s.id = p.share_id WHERE p.position NOT LIKE 'px1:%'";
pub(crate) const LEGACY_POSITION_SEAL: &str =
    "UPDATE location_positions SET position = ?2 WHERE share_id = ?1";

pub(crate) const FAMILY_REAUTH: &str = "UPDATE token_families SET reauth_at = ?2 WHERE id = ?1";
pub(crate) const FAMILY_REAUTH_GET: &str = "SELECT reauth_at FROM token_families WHERE id = ?1";
pub(crate) const ERASE_KEEP_REFRESH: &str = "INSERT INTO erased_tokens (token_hash, erased_at) SELECT token_hash, ?2 FROM refresh_tokens WHERE user_id = ?1 ON CONFLICT (token_hash) DO NOTHING";
pub(crate) const ERASE_KEEP_ACCESS: &str = "INSERT INTO erased_tokens (token_hash, erased_at) SELECT token_hash, ?2 FROM access_tokens WHERE user_id = ?1 ON CONFLICT (token_hash) DO NOTHING";
pub(crate) const ERASED_TOKEN: &str = "SELECT 1 FROM erased_tokens WHERE token_hash = ?1";
pub(crate) const ERASED_PURGE: &str = "DELETE FROM erased_tokens WHERE erased_at < ?1";
pub(crate) const MEMBERSHIPS_ROLES: &str =
    "SELECT org_id, role FROM org_members WHERE user_id = ?1";
pub(crate) const MEMBER_COUNT: &str = "SELECT COUNT(*) FROM org_members WHERE org_id = ?1";
pub(crate) const OLDEST_OTHER_MEMBER: &str = "SELECT user_id FROM org_members WHERE org_id = ?1 AND user_id <> ?2 ORDER BY joined_at, user_id LIMIT 1";
pub(crate) const ORG_DELETE: &str = "DELETE FROM orgs WHERE id = ?1";
pub(crate) const SCOPE_RECORDS_DELETE: &str = "DELETE FROM sync_records WHERE scope = ?1";
pub(crate) const SCOPE_DELETE: &str = "DELETE FROM sync_scopes WHERE scope = ?1";
pub(crate) const MUTATIONS_DELETE_USER: &str = "DELETE FROM sync_mutations WHERE user_id = ?1";
pub(crate) const RATE_DELETE_USER: &str = "DELETE FROM rate_limits WHERE bucket LIKE ?1";
pub(crate) const INVITATIONS_FORGET_USER: &str =
    "UPDATE contact_invitations SET used_by = NULL WHERE used_by = ?1";
pub(crate) const JOIN_CODES_FORGET_USER: &str =
    "UPDATE join_codes SET used_by = NULL WHERE used_by = ?1";
pub(crate) const JOIN_CODES_DELETE_BY: &str = "DELETE FROM join_codes WHERE created_by = ?1";
pub(crate) const SHARES_FORGET_FORWARDER: &str =
    "UPDATE contact_shares SET forwarded_by = NULL WHERE forwarded_by = ?1";
pub(crate) const USER_DELETE: &str = "DELETE FROM users WHERE id = ?1";

pub(crate) const USER_RESTRICTED: &str = "SELECT restricted_at FROM users WHERE id = ?1";
/// The same, holding the account's row until commit: a restriction set
/// meanwhile waits for the transaction that checked it.
pub(crate) const USER_RESTRICTED_LOCKED: &str =
    "SELECT restricted_at FROM users WHERE id = ?1 /*FOR UPDATE*/";
pub(crate) const USER_SET_RESTRICTED: &str = "UPDATE users SET restricted_at = ?2 WHERE id = ?1";
pub(crate) const ORG_SETTINGS: &str = "SELECT settings FROM orgs WHERE id = ?1 /*FOR UPDATE*/";
pub(crate) const ORG_SET_SETTINGS: &str =
    "UPDATE orgs SET settings = ?2, updated_at = ?3 WHERE id = ?1";
pub(crate) const MEMBERS_LOCATION: &str =
    "SELECT user_id, location_enabled FROM org_members WHERE org_id = ?1";
pub(crate) const MEMBER_LOCATION: &str =
    "SELECT location_enabled FROM org_members WHERE org_id = ?1 AND user_id = ?2";
pub(crate) const MEMBER_SET_LOCATION: &str =
    "UPDATE org_members SET location_enabled = ?3 WHERE org_id = ?1 AND user_id = ?2";
pub(crate) const POLICY_CHANGE_INSERT: &str = "INSERT INTO org_policy_changes (id, org_id, actor_id, member_id, change, changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
pub(crate) const POLICY_CHANGES: &str = "SELECT actor_id, member_id, change, changed_at FROM org_policy_changes WHERE org_id = ?1 ORDER BY changed_at, id";
pub(crate) const CONSENT_POLICIES: &str = "SELECT purpose, version FROM consent_policies";
pub(crate) const CONSENT_POLICY_PUBLISH: &str = "INSERT INTO consent_policies (purpose, version, published_at) VALUES (?1, ?2, ?3) ON CONFLICT (purpose) DO UPDATE SET version = ?2, published_at = ?3 WHERE consent_policies.version < ?2";
/// The consent ledger of a scope, with when the server received each entry.
pub(crate) const SCOPE_CONSENTS: &str = "SELECT record_id, fields, updated_at FROM sync_records WHERE scope = ?1 AND collection = 'consents' AND deleted IS NULL";
pub(crate) const SCOPE_COLLECTION: &str = "SELECT record_id, fields FROM sync_records WHERE scope = ?1 AND collection = ?2 AND deleted IS NULL";
pub(crate) const SCOPE_COLLECTION_RECORDS: &str = "SELECT collection, record_id, seq, fields, deleted FROM sync_records WHERE scope = ?1 AND collection = ?2 AND deleted IS NULL ORDER BY seq";
pub(crate) const SHARE_INSERT: &str =
    "INSERT INTO location_shares (id, user_id, started_at, expires_at) VALUES (?1, ?2, ?3, ?4)";
pub(crate) const SHARE_RECIPIENT_INSERT: &str =
    "INSERT INTO location_share_recipients (share_id, user_id) VALUES (?1, ?2)";
pub(crate) const SHARE_GET: &str =
    "SELECT user_id, started_at, expires_at FROM location_shares WHERE id = ?1 /*FOR UPDATE*/";
pub(crate) const SHARES_OF_USER: &str = "SELECT id, started_at, expires_at FROM location_shares WHERE user_id = ?1 ORDER BY started_at, id";
pub(crate) const SHARE_RECIPIENTS: &str =
    "SELECT user_id FROM location_share_recipients WHERE share_id = ?1 ORDER BY user_id";
pub(crate) const SHARE_DELETE: &str = "DELETE FROM location_shares WHERE id = ?1";
pub(crate) const SHARES_DELETE_OF_USER: &str = "DELETE FROM location_shares WHERE user_id = ?1";
pub(crate) const SHARES_DELETE_EXPIRED: &str = "DELETE FROM location_shares WHERE expires_at <= ?1";
/// Shares others run with ?1 that have not ended and whose sharer still
/// shares an organisation with ?1 (checked on every read, not only when
/// the share started).
pub(crate) const SHARES_WITH_USER: &str = "SELECT s.id, s.user_id, u.sealed, s.expires_at, p.position FROM location_share_recipients r JOIN location_shares s ON s.id = r.share_id JOIN users u ON u.id = s.user_id LEFT JOIN location_positions p ON p.share_id = s.id WHERE r.user_id = ?1 AND s.expires_at > ?2 AND EXISTS (SELECT 1 FROM org_members a JOIN org_members b ON a.org_id = b.org_id WHERE a.user_id = s.user_id AND b.user_id = ?1) ORDER BY s.started_at, s.id";
/// Drops the recipients of ?1's shares who no longer share an
/// organisation with ?1.
pub(crate) const SHARE_RECIPIENTS_PRUNE_OF_SHARER: &str = "DELETE FROM location_share_recipients WHERE share_id IN (SELECT id FROM location_shares WHERE user_id = ?1) AND NOT EXISTS (SELECT 1 FROM org_members a JOIN org_members b ON a.org_id = b.org_id WHERE a.user_id = ?1 AND b.user_id = location_share_recipients.user_id)";
/// Drops ?1 from the shares of sharers who no longer share an organisation
/// with ?1.
pub(crate) const SHARE_RECIPIENTS_PRUNE_OF_RECIPIENT: &str = "DELETE FROM location_share_recipients WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM location_shares s JOIN org_members a ON a.user_id = s.user_id JOIN org_members b ON b.org_id = a.org_id WHERE s.id = location_share_recipients.share_id AND b.user_id = ?1)";
/// Ends the shares left with nobody to receive them (positions go too).
pub(crate) const SHARES_DELETE_EMPTY: &str = "DELETE FROM location_shares WHERE NOT EXISTS (SELECT 1 FROM location_share_recipients r WHERE r.share_id = location_shares.id)";
/// The same, for the shares of ?1 only (the position-write path).
pub(crate) const SHARES_DELETE_EMPTY_OF_USER: &str = "DELETE FROM location_shares WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM location_share_recipients r WHERE r.share_id = location_shares.id)";
pub(crate) const POSITION_PUT: &str = "INSERT INTO location_positions (share_id, position, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (share_id) DO UPDATE SET position = ?2, updated_at = ?3";
pub(crate) const SHARE_COMEMBER: &str = "SELECT 1 FROM org_members a JOIN org_members b ON a.org_id = b.org_id WHERE a.user_id = ?1 AND b.user_id = ?2 LIMIT 1";
pub(crate) const VISIT_FIXES_EXPIRED: &str = "SELECT scope, record_id, fields FROM sync_records WHERE collection = 'visit_events' AND deleted IS NULL AND updated_at < ?1";

pub(crate) const EPOCH_INIT: &str = "INSERT INTO sync_meta (meta_key, meta_value) VALUES ('epoch', ?1) ON CONFLICT (meta_key) DO NOTHING";
pub(crate) const EPOCH_GET: &str = "SELECT meta_value FROM sync_meta WHERE meta_key = 'epoch'";
/// Takes the next sequence number of a scope, locking its row until commit.
pub(crate) const SCOPE_NEXT: &str = "INSERT INTO sync_scopes (scope, seq) VALUES (?1, 1) ON CONFLICT (scope) DO UPDATE SET seq = sync_scopes.seq + 1 RETURNING seq";
/// Sets a scope's sequence after a batch numbered its changes itself
/// (its row is locked since the batch's first `SCOPE_NEXT`).
pub(crate) const SCOPE_SET: &str = "UPDATE sync_scopes SET seq = ?2 WHERE scope = ?1";
/// The stored answers of a device in a range of its sequence numbers.
pub(crate) const MUTATIONS_RANGE: &str = "SELECT client_seq, result FROM sync_mutations WHERE user_id = ?1 AND client_id = ?2 AND client_seq BETWEEN ?3 AND ?4";
pub(crate) const SCOPE_GET: &str = "SELECT seq, pruned_below FROM sync_scopes WHERE scope = ?1";
pub(crate) const RECORD_GET: &str = "SELECT scope, seq, fields, deleted FROM sync_records WHERE collection = ?1 AND record_id = ?2 /*FOR UPDATE*/";
/// Never changes a record of another scope: two users racing to create the
/// same id cannot end up writing into each other's record (0 rows changed).
pub(crate) const RECORD_UPSERT: &str = "INSERT INTO sync_records (collection, record_id, scope, seq, fields, deleted, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (collection, record_id) DO UPDATE SET seq = ?4, fields = ?5, deleted = ?6, updated_at = ?7 WHERE sync_records.scope = ?3";
pub(crate) const RECORDS_SINCE: &str = "SELECT collection, record_id, seq, fields, deleted FROM sync_records WHERE scope = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
pub(crate) const MUTATION_PUT: &str = "INSERT INTO sync_mutations (user_id, client_id, client_seq, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
pub(crate) const TOMBSTONES_PRUNABLE: &str = "SELECT scope, MAX(seq) FROM sync_records WHERE deleted IS NOT NULL AND updated_at < ?1 GROUP BY scope";
pub(crate) const TOMBSTONES_PRUNE: &str =
    "DELETE FROM sync_records WHERE deleted IS NOT NULL AND updated_at < ?1";
pub(crate) const SCOPE_PRUNED: &str =
    "UPDATE sync_scopes SET pruned_below = ?2 WHERE scope = ?1 AND pruned_below < ?2";
pub(crate) const MUTATIONS_PRUNE: &str = "DELETE FROM sync_mutations WHERE created_at < ?1";

pub(crate) const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";
pub(crate) const MIGRATION_VERSIONS: &str =
    "SELECT version FROM schema_migrations ORDER BY version";
pub(crate) const MIGRATION_RECORD: &str =
    "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)";
pub(crate) const PG_MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7468201)";

pub(crate) const PING: &str = "SELECT 1";

pub(crate) const USER_INSERT: &str = "INSERT INTO users (id, email_index, password_hash, sealed, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
pub(crate) const USER_CREDENTIALS: &str =
    "SELECT id, password_hash FROM users WHERE email_index = ?1";
pub(crate) const USER_BY_ID: &str =
    "SELECT id, sealed, created_at, updated_at FROM users WHERE id = ?1";
/// The same, locking the row until commit (read-modify-write of the profile).
pub(crate) const USER_BY_ID_LOCKED: &str =
    "SELECT id, sealed, created_at, updated_at FROM users WHERE id = ?1 /*FOR UPDATE*/";
pub(crate) const USER_UPDATE: &str =
    "UPDATE users SET email_index = ?2, sealed = ?3, updated_at = ?4 WHERE id = ?1";

/// Counts one more failure; a streak older than `?3` starts over.
pub(crate) const THROTTLE_FAIL: &str = "INSERT INTO login_throttle (throttle_key, failures, last_failure_at) VALUES (?1, 1, ?2) ON CONFLICT (throttle_key) DO UPDATE SET failures = CASE WHEN login_throttle.last_failure_at < ?3 THEN 1 ELSE login_throttle.failures + 1 END, last_failure_at = ?2";
pub(crate) const THROTTLE_CLEAR: &str = "DELETE FROM login_throttle WHERE throttle_key = ?1";
/// Streaks whose last failure is older than the reset (and reservation
/// rows that never counted a failure).
pub(crate) const THROTTLE_PURGE: &str = "DELETE FROM login_throttle WHERE last_failure_at < ?1";
/// Rate-limit windows that started before ?1 (every window is shorter).
pub(crate) const RATE_PURGE: &str = "DELETE FROM rate_limits WHERE window_start < ?1";
/// Gives back one reserved attempt whose password was never checked.
pub(crate) const THROTTLE_REFUND: &str =
    "UPDATE login_throttle SET failures = failures - 1 WHERE throttle_key = ?1 AND failures > 0";
/// Makes sure the key has a row to lock (no failure counted yet).
pub(crate) const THROTTLE_ENSURE: &str = "INSERT INTO login_throttle (throttle_key, failures, last_failure_at) VALUES (?1, 0, 0) ON CONFLICT (throttle_key) DO NOTHING";
pub(crate) const THROTTLE_GET_LOCKED: &str =
    "SELECT failures, last_failure_at FROM login_throttle WHERE throttle_key = ?1 /*FOR UPDATE*/";

pub(crate) const FAMILY_INSERT: &str =
    "INSERT INTO token_families (id, user_id, created_at) VALUES (?1, ?2, ?3)";
/// Ends every session of ?1 but the family ?2 (the caller's own).
pub(crate) const FAMILIES_REVOKE_OTHERS: &str = "UPDATE token_families SET revoked_at = ?3 WHERE user_id = ?1 AND id <> ?2 AND revoked_at IS NULL";
pub(crate) const FAMILY_REVOKE: &str =
    "UPDATE token_families SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";
pub(crate) const ACCESS_INSERT: &str = "INSERT INTO access_tokens (token_hash, family_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)";
pub(crate) const ACCESS_DELETE_FAMILY: &str = "DELETE FROM access_tokens WHERE family_id = ?1";
pub(crate) const ACCESS_LOOKUP: &str = "SELECT a.user_id, a.family_id FROM access_tokens a JOIN token_families f ON f.id = a.family_id WHERE a.token_hash = ?1 AND a.expires_at > ?2 AND f.revoked_at IS NULL";
pub(crate) const REFRESH_INSERT: &str = "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)";
pub(crate) const REFRESH_LOOKUP: &str = "SELECT r.family_id, r.user_id, r.expires_at, r.used_at, f.revoked_at FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id WHERE r.token_hash = ?1 /*FOR UPDATE*/";
pub(crate) const REFRESH_SPEND: &str =
    "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL";

pub(crate) const ORG_INSERT: &str =
    "INSERT INTO orgs (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)";
pub(crate) const ORG_LOCK: &str = "SELECT id FROM orgs WHERE id = ?1 /*FOR UPDATE*/";
pub(crate) const ORG_RENAME: &str = "UPDATE orgs SET name = ?2, updated_at = ?3 WHERE id = ?1";
pub(crate) const ORGS_OF_USER: &str = "SELECT o.id, o.name, m.role, o.created_at FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?1 ORDER BY o.created_at, o.id";
pub(crate) const ORG_OF_MEMBER: &str = "SELECT o.id, o.name, m.role, o.created_at FROM org_members m JOIN orgs o ON o.id = m.org_id WHERE m.user_id = ?1 AND m.org_id = ?2";
pub(crate) const MEMBER_INSERT: &str =
    "INSERT INTO org_members (org_id, user_id, role, joined_at) VALUES (?1, ?2, ?3, ?4)";
pub(crate) const MEMBER_ROLE: &str =
    "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2";
pub(crate) const MEMBER_SET_ROLE: &str =
    "UPDATE org_members SET role = ?3 WHERE org_id = ?1 AND user_id = ?2";
pub(crate) const MEMBER_DELETE: &str = "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2";
pub(crate) const ADMIN_COUNT: &str =
    "SELECT COUNT(*) FROM org_members WHERE org_id = ?1 AND role = 'admin'";
pub(crate) const MEMBERS_OF_ORG: &str = "SELECT m.user_id, u.sealed, m.role, m.joined_at FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 ORDER BY m.joined_at, m.user_id";
pub(crate) const JOIN_CODE_INSERT: &str = "INSERT INTO join_codes (code_hash, org_id, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)";
pub(crate) const JOIN_CODE_LOOKUP: &str = "SELECT org_id, expires_at, used_at, created_by FROM join_codes WHERE code_hash = ?1 /*FOR UPDATE*/";
/// An organisation's open codes (unused, not expired).
pub(crate) const JOIN_CODES_OPEN: &str = "SELECT code_hash, created_by, created_at, expires_at FROM join_codes WHERE org_id = ?1 AND used_at IS NULL AND expires_at > ?2 ORDER BY created_at, code_hash";
pub(crate) const JOIN_CODE_REVOKE: &str =
    "DELETE FROM join_codes WHERE org_id = ?1 AND code_hash = ?2 AND used_at IS NULL";
/// The open codes ?2 made for ?1 die with ?2's admin role there.
pub(crate) const JOIN_CODES_DROP_OF_ADMIN: &str =
    "DELETE FROM join_codes WHERE org_id = ?1 AND created_by = ?2 AND used_at IS NULL";
pub(crate) const JOIN_CODE_SPEND: &str =
    "UPDATE join_codes SET used_by = ?2, used_at = ?3 WHERE code_hash = ?1 AND used_at IS NULL";
