-- Job workers (issue 17): a service task whose type no built-in connector handles writes a `worker`
-- job (with the step that reaches it, in the same transaction) that external workers activate over
-- HTTP. Its `due_at` is the parked time, so the node's own outbox claims never see it; these
-- columns are the worker side: the job's type, the retries the workers have left it, when it may
-- be activated next (a failure's back-off). `locked_by` is `worker:<name>` while a worker holds it
-- until `locked_until`, and `attempts` numbers the activations: the key a worker gets is the job's
-- id with that number, so a completion by a worker whose lock was taken over is refused.
ALTER TABLE jobs ADD COLUMN job_type TEXT;
ALTER TABLE jobs ADD COLUMN retries BIGINT;
ALTER TABLE jobs ADD COLUMN available_at BIGINT;
CREATE INDEX jobs_worker_available ON jobs (job_type, available_at) WHERE job_type IS NOT NULL;
