-- Sluice schema 7. Keep the sqlite/ and postgres/ files in step.

-- History is written as one row per state change: its events, in order, as a JSON array (each
-- with its id, seq, at, type, element_id and payload). A step used to insert one `events` row per
-- event, each with three index entries; now it is one entry. `part` numbers the rows of one
-- revision (a step's events are part 0; notifications recorded later at the same revision take
-- the next parts). `n` is the number of events in the row. Rows of `events` written before this
-- version stay there and are read with these.
CREATE TABLE event_batches (
    request_id TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    part       INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    events     TEXT    NOT NULL,
    PRIMARY KEY (request_id, revision, part)
) WITHOUT ROWID;

-- The worker's claim: free jobs in due order, claims by the time they run out, and Request leases
-- by the time they run out (a claimer whose lease lapsed gives its jobs up), so that jobs claimed
-- and running are never walked by a claim.
CREATE INDEX jobs_free_due ON jobs (due_at, id) WHERE locked_by IS NULL;
CREATE INDEX jobs_claim_end ON jobs (locked_until) WHERE locked_by IS NOT NULL;
CREATE INDEX requests_lease_end ON requests (lease_until) WHERE lease_owner IS NOT NULL;
