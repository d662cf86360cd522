-- Suspended Requests (issue 16): a suspended Request takes no input but resume and cancel; its
-- jobs wait. `requests.suspended` keeps messages from correlating to it; `jobs.held_due` is the
-- due time a held job had (its `due_at` is pushed to the far future meanwhile), given back at
-- resume, so a timer that came due while suspended fires right after.
ALTER TABLE requests ADD COLUMN suspended BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN held_due BIGINT;
