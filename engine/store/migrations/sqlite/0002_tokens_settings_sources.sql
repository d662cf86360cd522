-- Sluice schema 2 (SQLite). Keep this file and postgres/0002_tokens_settings_sources.sql in step.

-- API tokens: only a hash of each token is kept.
CREATE TABLE api_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    label      TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Node-wide settings (key/value text), e.g. secrets generated at first start.
CREATE TABLE settings (
    key        TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The deployed file's original bytes (any encoding the importer reads); `xml` keeps the decoded
-- text for the API. NULL for versions deployed before schema 2: their `xml` is the file (UTF-8).
ALTER TABLE process_versions ADD COLUMN xml_bytes BLOB;

-- Renewing and releasing a node's Request leases.
CREATE INDEX requests_by_lease_owner ON requests (lease_owner) WHERE lease_owner IS NOT NULL;
