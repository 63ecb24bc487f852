-- Version 1: accounts, sessions, login throttling, organisations.
--
-- * `users`: one row per account. `email` is the normalised address and
--   unique; `password_hash` is an argon2id PHC string.
-- * `token_families`: one per login; every access and refresh token
--   descends from one, and revoking the family ends them all (logout,
--   refresh-token reuse).
-- * `access_tokens`, `refresh_tokens`: SHA-256 hashes of opaque tokens
--   only; a refresh token is spent when `used_at` is set.
-- * `login_throttle`: consecutive failures per hashed email key (unknown
--   emails are throttled alike, so the throttle reveals nothing).
-- * `orgs`, `org_members`, `join_codes`: organisations, their members with
--   a role, and single-use join codes stored as hashes. `orgs.settings` is
--   a JSON object for organisation-wide settings (location policy, later).
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
