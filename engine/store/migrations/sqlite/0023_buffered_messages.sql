-- Messages as Camunda 8 users know them (issue 16). A published message that nobody waits for
-- and no message start event takes is kept until `expires_at` (its time to live) when it has
-- one, and handed to the first matching subscription that opens within it: the worker turns a
-- kept message with a matching subscription into a `message` job (deleting the row in the same
-- transaction), and that job keeps it again when the subscription went away meanwhile.
CREATE TABLE buffered_messages (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    correlation_key TEXT,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX buffered_messages_by_name ON buffered_messages (name, created_at);
CREATE INDEX buffered_messages_by_expiry ON buffered_messages (expires_at);
-- A publish with a `message_id` is done once: the id is remembered (per message name) for the
-- message's time to live, and at least an hour, so a retried publish is not delivered twice.
CREATE TABLE message_ids (
    name TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (name, message_id)
);
CREATE INDEX message_ids_by_expiry ON message_ids (expires_at);
