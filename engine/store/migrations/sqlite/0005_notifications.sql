-- Sluice schema 5 (SQLite). Keep this file and postgres/0005_notifications.sql in step.

-- Notification settings per process key (all versions): which Slack integration posts, and the
-- channels of each event (`request_started`, `request_completed`, `request_error`,
-- `task_waiting`) as a JSON object of arrays of channel ids.
CREATE TABLE notification_settings (
    process_key TEXT    NOT NULL PRIMARY KEY,
    integration TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);
