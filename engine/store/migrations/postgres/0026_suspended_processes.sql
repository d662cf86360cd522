-- Suspended processes (issue 16, process lifecycle): a process key listed here starts no Request,
-- by the API, a message, a signal, a timer or a call activity; its running Requests go on.
-- The group-commit writer reads it with the latest versions of the keys a batch creates
-- Requests of, in the same query, so a suspension is honoured by every node from its commit on.
CREATE TABLE suspended_processes (
    process_key  TEXT   NOT NULL PRIMARY KEY,
    suspended_at BIGINT NOT NULL,
    suspended_by TEXT
);
