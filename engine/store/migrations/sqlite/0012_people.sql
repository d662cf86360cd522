-- Sluice schema 12 (SQLite). Keep the sqlite/ and postgres/ files in step.

-- People: users with roles and groups, their API tokens and web sessions, and the audit log.
-- A deleted user keeps its row (`deleted_at`), so its username is never given to someone else
-- (Requests record who started them by username).
CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    email          TEXT    NOT NULL,
    -- argon2id, PHC string format; NULL: the user cannot sign in with a password (tokens only).
    password_hash  TEXT,
    -- JSON array of role names (admin, designer, operator, participant, worker).
    roles          TEXT    NOT NULL,
    -- JSON object: Slack integration alias -> Slack user id.
    slack_user_ids TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    deleted_at     INTEGER
);

CREATE TABLE user_groups (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    PRIMARY KEY (user_id, group_name)
);
CREATE INDEX user_groups_by_group ON user_groups (group_name, user_id);

-- The built-in administrator. It owns the token of SLUICE_API_TOKEN (never stored), the token
-- generated at first start and every token stored before users existed.
INSERT INTO users (id, username, name, email, password_hash, roles, slack_user_ids, created_at, updated_at)
VALUES ('00000000-0000-7000-8000-000000000001', 'admin', 'Administrator', '', NULL, '["admin"]', '{}',
        CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- API tokens belong to users and may expire. `startup`: the token generated at first start (and
-- the tokens of earlier schemas), accepted only while SLUICE_API_TOKEN is not set, as before.
ALTER TABLE api_tokens ADD COLUMN user_id TEXT REFERENCES users (id);
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN startup INTEGER NOT NULL DEFAULT 0;
UPDATE api_tokens SET user_id = '00000000-0000-7000-8000-000000000001', startup = 1;
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

-- Signed-in web app sessions: only the SHA-256 of the session cookie is kept.
CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client     TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Who did what, when, from where. Never a password, token or secret.
CREATE TABLE audit_log (
    id      TEXT    NOT NULL PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT,
    action  TEXT    NOT NULL,
    target  TEXT,
    client  TEXT,
    -- JSON object of further details.
    details TEXT    NOT NULL
);
CREATE INDEX audit_newest ON audit_log (at, id);
CREATE INDEX audit_by_actor ON audit_log (actor, at, id);
CREATE INDEX audit_by_action ON audit_log (action, at, id);

-- Who started a Request (a username; NULL for Requests started by the engine: timers, messages,
-- signals, call activities, and those of earlier schemas) and who completed a task.
ALTER TABLE requests ADD COLUMN started_by TEXT;
CREATE INDEX requests_by_starter ON requests (started_by, created_at, id) WHERE started_by IS NOT NULL;
ALTER TABLE tasks ADD COLUMN completed_by TEXT;
CREATE INDEX tasks_by_completer ON tasks (completed_by, request_id) WHERE completed_by IS NOT NULL;
