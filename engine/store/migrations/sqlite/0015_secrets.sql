-- Sluice schema 15 (SQLite). Keep the sqlite/ and postgres/ files in step.

-- Secrets for connectors (`{{ secrets.NAME }}` in connector inputs), set by admins. The value is
-- sealed by the server with SLUICE_SECRET_KEY (AES-256-GCM, the associated data naming the
-- secret): this table never holds one in plain text.
CREATE TABLE secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
