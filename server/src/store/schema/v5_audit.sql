-- Version 5: the audit log.
--
-- * `audit_log`: security events, hash-chained (`prev_hash`, `hash`);
--   accounts and organisations by id only, details without personal data.
-- * `audit_head`: one row (`id = 1`): the newest sequence and hash, locked
--   by every append, and the chain's start after retention purges
--   (`base_seq`, `base_hash`).
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
