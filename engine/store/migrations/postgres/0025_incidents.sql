-- Open incidents as rows of their own (issue 16, incidents at a glance): one row per incident a
-- running Request has open, written with the step that raised it and deleted with the step that
-- resolved it (or finished the Request), so that `GET /api/v1/incidents` lists them across
-- Requests by process, element, code and age without reading any Request's state. `incident` is
-- the incident's number within its Request. Incidents opened before this schema are indexed by
-- the worker at start (`Engine::index_open_incidents`), dated by their Request's last change.
CREATE TABLE incidents (
    request_id  TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    incident    BIGINT  NOT NULL,
    process_key TEXT    NOT NULL,
    element_id  TEXT    NOT NULL,
    token       BIGINT  NOT NULL,
    code        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (request_id, incident)
);
CREATE INDEX incidents_newest ON incidents (created_at DESC, request_id DESC, incident DESC);
CREATE INDEX incidents_by_process ON incidents (process_key, created_at DESC);
