-- Version 14: objections to processing that rests on legitimate interest
-- (GDPR Art. 21).
--
-- * `objections`: one row per (user, basis) the user objects to, the
--   bases being those `docs/processing-register.json` lists under
--   `legitimate_interests`. Withdrawing the objection deletes the row; the
--   account's erasure deletes them all.
CREATE TABLE objections (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    basis TEXT NOT NULL,
    objected_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, basis)
);
