-- Version 3: consent, organisation location policy, live sharing.
--
-- * `users.restricted_at`: set while processing is restricted (Art. 18).
-- * `org_members.location_enabled`: 0 when an admin switched location off
--   for this member; the organisation's policy itself is JSON in
--   `orgs.settings` under `location`.
-- * `org_policy_changes`: who changed which location setting, and when.
-- * `consent_policies`: the published policy version per purpose; a
--   higher version makes earlier consent stop counting.
-- * `location_shares` (+ recipients, + the one latest position as JSON):
--   live sharing. Stopping or expiring a share deletes its row, and the
--   position and recipients go with it.
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
