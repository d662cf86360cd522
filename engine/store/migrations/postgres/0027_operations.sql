-- Background operations on many Requests (issue 16): migrate, retry or cancel every Request a
-- filter matches, one Request per transaction, with progress. `cursor` is the id of the last
-- Request handled (Requests are taken in id order, created up to `created_at`), written after
-- each one, so a node that takes the operation over after a crash goes on from there; an
-- action done again is a no-op (a Request already migrated, without incidents, finished).
-- `page`: the ids of the page of Requests being handled (JSON), written before the first of
-- them is: a node that takes over finishes that page by id, even the Requests the action took out
-- of the filter before it could record them (a migration moves them off the filtered version).
-- `owner` / `owner_until`: the node running it, and until when its claim holds.
CREATE TABLE operations (
    id          TEXT   NOT NULL PRIMARY KEY,
    kind        TEXT   NOT NULL CHECK (kind IN ('migrate', 'retry', 'cancel')),
    status      TEXT   NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    filter      TEXT   NOT NULL,
    params      TEXT   NOT NULL,
    total       BIGINT NOT NULL,
    done        BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    failures    TEXT   NOT NULL DEFAULT '[]',
    cursor      TEXT,
    page        TEXT   NOT NULL DEFAULT '[]',
    error       TEXT,
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    finished_at BIGINT,
    owner       TEXT,
    owner_until BIGINT
);
CREATE INDEX operations_running ON operations (status) WHERE status = 'running';
