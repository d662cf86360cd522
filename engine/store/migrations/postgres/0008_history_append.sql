-- Sluice schema 8 (PostgreSQL). Keep the sqlite/ and postgres/ files in step.

-- SQLite's `event_batches` became a table in write order with a unique index on (request_id,
-- revision, part). A PostgreSQL table is already stored in write order (a heap) with its primary
-- key as a separate index, so that part has nothing to do here.

-- The listing indexes in ascending order (a scan backwards serves "newest first" as well).
-- Descending, every new Request went in at the left edge of each, where a full page splits in
-- two half-empty ones; ascending, it goes at the right edge, where pages fill up.
DROP INDEX requests_newest;
DROP INDEX requests_by_process;
DROP INDEX requests_by_status;
CREATE INDEX requests_newest ON requests (created_at, id);
CREATE INDEX requests_by_process ON requests (process_key, created_at, id);
CREATE INDEX requests_by_status ON requests (status, created_at, id);
