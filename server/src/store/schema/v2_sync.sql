-- Version 2: sync.
--
-- * `sync_meta`: the server's sync epoch (random, set once): a cursor from
--   another epoch (a reset or restored database) forces a full resync.
-- * `sync_scopes`: per scope (`u:<user>`; later `o:<org>`), the last
--   change sequence and the sequence below which tombstones were pruned.
--   Writers lock their scope's row, so within a scope commit order is
--   sequence order and a pull never skips a change.
-- * `sync_records`: one row per record; `seq` is the scope sequence of its
--   last change (its version); `fields` is JSON `{name: {v, t}}`;
--   `deleted` the tombstone HLC.
-- * `sync_mutations`: the answer given to each (user, client, client_seq),
--   replayed verbatim for a retried push (exactly-once application).
CREATE TABLE sync_meta (
    meta_key TEXT PRIMARY KEY,
    meta_value TEXT NOT NULL
);
CREATE TABLE sync_scopes (
    scope TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    pruned_below BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE sync_records (
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    seq BIGINT NOT NULL,
    fields TEXT NOT NULL,
    deleted TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (collection, record_id)
);
CREATE INDEX sync_records_scope_seq ON sync_records (scope, seq);
CREATE TABLE sync_mutations (
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_seq BIGINT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, client_seq)
);
