-- The open Requests (active, or active with an incident: `error`) of one process version, for the
-- per-element counts of tokens and incidents on a process's page (Store::element_counts): the
-- aggregate reads only these rows, whatever the number of finished Requests.
CREATE INDEX requests_open_by_version ON requests (process_key, process_version) WHERE status IN ('active', 'error');
