-- Connector calls whose answer was lost (issue 17, Slack under its 2025 history limits): a job
-- given back after a call that may have taken effect (a timeout, a broken connection, a 5xx)
-- says so, durably, so that the next run, on any node, checks before doing it again (and only
-- then: a run after a plain failure does not). Runs cut short by a crash are known already
-- (`attempts` - `ended`).
ALTER TABLE jobs ADD COLUMN unconfirmed BIGINT NOT NULL DEFAULT 0;
