-- Version 10: background wake-ups.
--
-- * `push_tokens`: the platform push token (FCM or APNs) of one sign-in,
--   that is one token family, sealed under the user's key. A new token
--   from the same sign-in replaces it; logout or revocation of the family
--   deletes it, and so does erasure (with the account).
-- * `push_outbox`: wake-ups waiting for the push gateway, at most one row
--   per sign-in: a change committed while a row waits only bumps
--   `changes`, so a burst coalesces into one wake-up. Rows are written in
--   the transaction of the change and delivered by a worker off the
--   request path; a delivery that fails is retried with backoff, then
--   dropped. `due_at` doubles as the delivering replica's lease.
CREATE TABLE push_tokens (
    family_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX push_tokens_user ON push_tokens(user_id);
CREATE TABLE push_outbox (
    family_id TEXT PRIMARY KEY REFERENCES push_tokens(family_id) ON DELETE CASCADE,
    due_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    changes BIGINT NOT NULL
);
CREATE INDEX push_outbox_due ON push_outbox(due_at);
