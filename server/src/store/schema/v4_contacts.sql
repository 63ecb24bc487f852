-- Version 4: contact sharing.
--
-- * `server_keys`: the server's own keys (the Ed25519 key that signs
--   invitation codes), created once.
-- * `contact_cards`: each practitioner's card (JSON).
-- * `contact_invitations`: single-use, expiring; only a SHA-256 of the
--   code's secret is kept.
-- * `contact_shares`: who holds whose card, which fields, whether they
--   may forward it, and who forwarded it. A connection between two people
--   is a share in either direction.
-- * `contact_blocks`: invitations and forwards from a blocked person are
--   refused.
-- * `rate_limits`: fixed-window counters per account and action.
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
