-- Sluice schema 8 (SQLite). Keep the sqlite/ and postgres/ files in step.

-- History rows are stored in the order they are written (a rowid table) and found through a
-- unique index on (request_id, revision, part). As a table keyed by (request_id, revision, part),
-- each step of a Request wrote its row beside the Request's earlier rows: a group commit of a few
-- hundred steps rewrote as many scattered pages, each a whole page in the write-ahead log. Now the
-- rows go at the end, and only the small index entries land between older ones.
CREATE TABLE event_batches_v8 (
    request_id TEXT    NOT NULL,
    revision   INTEGER NOT NULL,
    part       INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    events     TEXT    NOT NULL
);
INSERT INTO event_batches_v8 (request_id, revision, part, n, events)
    SELECT request_id, revision, part, n, events FROM event_batches ORDER BY request_id, revision, part;
DROP TABLE event_batches;
ALTER TABLE event_batches_v8 RENAME TO event_batches;
CREATE UNIQUE INDEX event_batches_key ON event_batches (request_id, revision, part);

-- The listing indexes in ascending order (a scan backwards serves "newest first" as well).
-- Descending, every new Request went in at the left edge of each, where a full page splits in
-- two half-empty ones; ascending, it goes at the right edge, where pages fill up.
DROP INDEX requests_newest;
DROP INDEX requests_by_process;
DROP INDEX requests_by_status;
CREATE INDEX requests_newest ON requests (created_at, id);
CREATE INDEX requests_by_process ON requests (process_key, created_at, id);
CREATE INDEX requests_by_status ON requests (status, created_at, id);
