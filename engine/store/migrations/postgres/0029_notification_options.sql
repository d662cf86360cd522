-- Notification options per process (issue 14): whether a task meant for one person is also (or
-- only) sent to them as a direct message, and a message template per event over the Request's
-- data. A JSON object; `{}` keeps the earlier behaviour.
ALTER TABLE notification_settings ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
