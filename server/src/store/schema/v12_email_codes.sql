-- Version 12: email verification and password reset.
--
-- * `users.email_verified_at`: when the user proved the address with a
--   mailed code (NULL: not proved; a change of address clears it).
-- * `email_codes`: the one live code per account and purpose (`verify`,
--   `reset`), as a keyed hash (HMAC under a server key, bound to the
--   account and purpose: a database dump does not let anyone try codes
--   offline). `attempts` counts wrong tries; a code dies after five, on
--   use, or at `expires_at` (15 minutes for a reset, 24 hours for a
--   verification); the retention job deletes expired ones.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE TABLE email_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    attempts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, purpose)
);
CREATE INDEX email_codes_expiry ON email_codes(expires_at);
