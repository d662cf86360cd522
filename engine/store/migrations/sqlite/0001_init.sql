-- Sluice schema 1 (SQLite). Timestamps are unix milliseconds (INTEGER), ids are UUIDv7 text,
-- JSON is text. Keep this file and postgres/0001_init.sql in step: same tables, columns, indexes.

-- One row per deployed version of a process. The identical XML again is the same version.
CREATE TABLE process_versions (
    process_key  TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    name         TEXT,
    xml          TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    deployed_at  INTEGER NOT NULL,
    PRIMARY KEY (process_key, version)
);

-- One row per Request: the runtime's serialized Instance plus what listing needs.
CREATE TABLE requests (
    id                TEXT    NOT NULL PRIMARY KEY,
    process_key       TEXT    NOT NULL,
    process_version   INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'completed', 'canceled', 'error')),
    parent_request_id TEXT    REFERENCES requests (id) ON DELETE SET NULL,
    parent_token      INTEGER,
    state             TEXT    NOT NULL,
    data              TEXT    NOT NULL,
    revision          INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER,
    lease_owner       TEXT,
    lease_until       INTEGER,
    FOREIGN KEY (process_key, process_version) REFERENCES process_versions (process_key, version)
);
CREATE INDEX requests_newest ON requests (created_at DESC, id DESC);
CREATE INDEX requests_by_process ON requests (process_key, created_at DESC, id DESC);
CREATE INDEX requests_by_status ON requests (status, created_at DESC, id DESC);
CREATE INDEX requests_finished ON requests (completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX requests_by_parent ON requests (parent_request_id) WHERE parent_request_id IS NOT NULL;

-- User and manual tasks. At most one active task per token.
CREATE TABLE tasks (
    id           TEXT    NOT NULL PRIMARY KEY,
    request_id   TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    token        INTEGER NOT NULL,
    element_id   TEXT    NOT NULL,
    name         TEXT,
    status       TEXT    NOT NULL CHECK (status IN ('active', 'completed', 'canceled')),
    created_at   INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX tasks_by_request ON tasks (request_id, status);
CREATE INDEX tasks_by_status ON tasks (status, created_at);
CREATE UNIQUE INDEX tasks_active_token ON tasks (request_id, token) WHERE status = 'active';

-- The outbox: work for the worker, committed with the state change that produced it.
CREATE TABLE jobs (
    id           TEXT    NOT NULL PRIMARY KEY,
    request_id   TEXT    REFERENCES requests (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    subscription INTEGER,
    token        INTEGER,
    element_id   TEXT,
    due_at       INTEGER NOT NULL,
    payload      TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    locked_by    TEXT,
    locked_until INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (due_at, id);
CREATE INDEX jobs_by_request ON jobs (request_id, kind);

-- Open message and signal subscriptions (timers live in jobs), for correlation across Requests.
CREATE TABLE subscriptions (
    request_id      TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    subscription    INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('message', 'signal')),
    element_id      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    correlation_key TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (request_id, subscription)
);
CREATE INDEX subscriptions_correlation ON subscriptions (kind, name, correlation_key);

-- History: every event of every Request, ordered by (revision, seq) within a Request.
CREATE TABLE events (
    id         TEXT    NOT NULL PRIMARY KEY,
    request_id TEXT    NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    revision   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    element_id TEXT,
    payload    TEXT    NOT NULL
);
CREATE UNIQUE INDEX events_by_request ON events (request_id, revision, seq);
