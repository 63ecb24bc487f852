-- Version 15: the post-mortem directive.
--
-- * `post_mortem_directives`: what the user wants done with their data
--   after their death (erase, or hand the export to a person they chose,
--   with a message), sealed under the user's key. Without a row the
--   default is erasure. Deleted with the account (the operator's
--   `admin deceased` applies it, then erases).
CREATE TABLE post_mortem_directives (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    sealed TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
