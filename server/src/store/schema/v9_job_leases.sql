-- Version 9: job leases.
--
-- Replicas of the server share one database, and each runs the retention
-- jobs on a timer; the jobs must run once per period, not once per
-- replica. A replica takes a period by moving the job's `due_at` forward
-- in one conditional UPDATE (`WHERE due_at <= now`): the database lets
-- exactly one of several concurrent updates change the row, and only the
-- replica whose update changed it runs the jobs. Portable (no advisory
-- locks), and nothing is held while the jobs run: a replica that dies
-- mid-run leaves the next period to whichever replica comes first.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    due_at BIGINT NOT NULL
);
