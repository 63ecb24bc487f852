-- Version 11: sessions as signed-in devices, and remote wipe.
--
-- * `token_families.device`: the device name given at login, sealed under
--   the user's key (a name like "Jeanne's phone" is personal); NULL when
--   none was given.
-- * `token_families.platform`: android, ios, cli or other (not personal).
-- * `token_families.last_used_at`: the login or the last refresh, so at
--   most one access-token lifetime old while the device is in use (a
--   write per refresh, not per request).
-- * `token_families.wipe`: 1 when the session was ended from another
--   device with "sign out and wipe": its refresh token is then answered
--   `session_wiped` until it would have expired, and the device deletes
--   its local data when it hears it.
ALTER TABLE token_families ADD COLUMN device TEXT;
ALTER TABLE token_families ADD COLUMN platform TEXT;
ALTER TABLE token_families ADD COLUMN last_used_at BIGINT;
ALTER TABLE token_families ADD COLUMN wipe BIGINT NOT NULL DEFAULT 0;
UPDATE token_families SET last_used_at = created_at;
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);
