-- Sluice schema 10 (postgres). Keep the sqlite/ and postgres/ files in step.

-- How many of a job's attempts ended (with an error, given back for a retry). A job's attempts
-- that did not end (attempts - ended, minus the one running) are runs the process did not survive:
-- after a few of those the job is not run again but becomes an incident (the crash-loop guard).
ALTER TABLE jobs ADD COLUMN ended BIGINT NOT NULL DEFAULT 0;
