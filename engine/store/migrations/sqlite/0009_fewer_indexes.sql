-- Sluice schema 9 (SQLite). Keep the sqlite/ and postgres/ files in step.

-- Two indexes every Request paid for on each write and that other indexes now serve:
-- * jobs_due: every job was in it. Due jobs are found through jobs_free_due (free ones, in due
--   order) and jobs_claim_end (claimed ones, by the end of their claim), and the queries that
--   walked jobs_due now walk those two (a handed-off job is only ever in the second).
-- * requests_by_lease_owner: a node's leases are found through requests_lease_end, which holds
--   only the leased Requests (those being worked on), so walking it is short.
DROP INDEX jobs_due;
DROP INDEX requests_by_lease_owner;
