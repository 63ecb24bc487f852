-- Version 13: visit records held after an erasure by purpose.
--
-- * `held_visit_events`: the visit events (check-in or check-out, time,
--   inside or not, distance; never the raw fix) of a user who erased
--   their location data while an organisation of theirs states a
--   retention for visit records (`visit_records_days` in its location
--   policy: a legal or contractual obligation such as billing). Sealed
--   under the user's key; removed from sync and from every device;
--   restricted: read only by the user's export, deleted by the retention
--   job at `held_until`, and with the account.
CREATE TABLE held_visit_events (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    record_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    held_until BIGINT NOT NULL,
    PRIMARY KEY (user_id, record_id)
);
CREATE INDEX held_visit_events_until ON held_visit_events(held_until);
