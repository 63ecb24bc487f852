-- Version 7: encryption at rest (see `store::vault`).
--
-- * `user_keys`: each account's data key, wrapped by a master key from
--   configuration. Deleting the row crypto-shreds everything sealed under
--   it, so it has no foreign key: erasure deletes it explicitly.
-- * `users.email` becomes `email_index`, the keyed blind index of the
--   address; the profile moves into `users.sealed`, encrypted under the
--   user's key. The profile columns are dropped by version 8, after the
--   rows were sealed (`Store::seal_legacy`).
-- * Server keys written before this version were stored in clear: they
--   are dropped and made again, wrapped (open invitation codes signed
--   with the old key stop verifying).
CREATE TABLE user_keys (
    user_id TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
DELETE FROM server_keys;
ALTER TABLE users RENAME COLUMN email TO email_index;
ALTER TABLE users ADD COLUMN sealed TEXT;
