-- Sluice schema 16 (PostgreSQL). Keep the sqlite/ and postgres/ files in step.

-- OpenID Connect sign-in. A sign-in that went to the provider and has not come back yet: found
-- by the SHA-256 of its `state`, used once, short-lived. `nonce` and `verifier` (PKCE) are checked
-- against the ID token and sent to the token endpoint when the browser comes back.
CREATE TABLE oidc_logins (
    state_hash TEXT    NOT NULL PRIMARY KEY,
    nonce      TEXT    NOT NULL,
    verifier   TEXT    NOT NULL,
    next_path  TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- Which user a provider's subject (`iss`, `sub`) signs in as: set at their first sign-in, so a
-- later token with the same username claim but another subject is refused.
CREATE TABLE oidc_links (
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_links_by_user ON oidc_links (user_id);
