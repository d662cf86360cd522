-- Sluice schema 6. Keep the sqlite/ and postgres/ files in step.

-- Message correlation looks up the oldest subscription of a name with one exact correlation key
-- (and, separately, the oldest without a key): an index that is also in that order answers each
-- with one index step, however many Requests wait on the same message name.
DROP INDEX subscriptions_correlation;
CREATE INDEX subscriptions_correlation ON subscriptions (kind, name, correlation_key, created_at, request_id, subscription);
