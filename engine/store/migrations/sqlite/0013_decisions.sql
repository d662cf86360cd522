-- Sluice schema 13 (SQLite). Keep this file and postgres/0013_decisions.sql in step.

-- One row per deployed version of a DMN decision. A `.dmn` file holds one or more decisions;
-- each is versioned by its own id, every version keeping the whole file (its decisions may
-- require each other). The same file content again is the same version.
CREATE TABLE decision_versions (
    decision_id    TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    name           TEXT,
    version_tag    TEXT,
    definitions_id TEXT    NOT NULL,
    file_name      TEXT    NOT NULL,
    xml            TEXT    NOT NULL,
    content_hash   TEXT    NOT NULL,
    deployed_at    INTEGER NOT NULL,
    PRIMARY KEY (decision_id, version)
);
CREATE INDEX decision_versions_by_tag ON decision_versions (decision_id, version_tag) WHERE version_tag IS NOT NULL;
