-- Version 6: erasure.
--
-- * `token_families.reauth_at`: when the password was last re-entered in
--   this login (erasure needs it within the last five minutes).
-- * `erased_tokens`: SHA-256 hashes of an erased account's tokens, so a
--   device that comes back (even after a week offline) is told to wipe
--   itself; purged after 60 days.
ALTER TABLE token_families ADD COLUMN reauth_at BIGINT;
CREATE TABLE erased_tokens (
    token_hash BLOB PRIMARY KEY,
    erased_at BIGINT NOT NULL
);
