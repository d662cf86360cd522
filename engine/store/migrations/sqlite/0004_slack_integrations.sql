-- Sluice schema 4 (SQLite). Keep this file and postgres/0004_slack_integrations.sql in step.
-- Every secret column holds AEAD ciphertext made by the server with SLUICE_SECRET_KEY (see
-- modeler-api/src/secret_key.rs); the store never sees a token or secret in plain text.

-- The Slack app used for OAuth installs (one row).
CREATE TABLE slack_app (
    id             INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    client_id      TEXT    NOT NULL,
    client_secret  BLOB    NOT NULL,
    signing_secret BLOB,
    updated_at     INTEGER NOT NULL
);

-- Connected Slack workspaces, by alias.
CREATE TABLE slack_integrations (
    id               TEXT    NOT NULL PRIMARY KEY,
    alias            TEXT    NOT NULL UNIQUE,
    team_id          TEXT    NOT NULL,
    team_name        TEXT    NOT NULL,
    bot_user_id      TEXT,
    scope            TEXT,
    -- `oauth` or `token`
    source           TEXT    NOT NULL,
    bot_token        BLOB    NOT NULL,
    -- With token rotation: the single-use refresh token and when the bot token expires (ms).
    refresh_token    BLOB,
    token_expires_at INTEGER,
    installed_at     INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- Pending OAuth installs: the SHA-256 of each state's nonce, single use.
CREATE TABLE slack_oauth_states (
    nonce_hash TEXT    NOT NULL PRIMARY KEY,
    alias      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
