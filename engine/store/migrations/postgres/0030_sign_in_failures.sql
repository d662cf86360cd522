-- Failed sign-ins (issue 14), shared by every node that uses this database, so that the limits
-- per username and per client address hold however the attempts are spread over the nodes.
-- `key` is `user:<username>` or `addr:<address>`; rows older than the window are deleted as new
-- ones come.
CREATE TABLE sign_in_failures (
    key  TEXT   NOT NULL,
    at   BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at);
CREATE INDEX sign_in_failures_by_age ON sign_in_failures (at);
