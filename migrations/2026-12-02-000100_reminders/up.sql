-- Reminders are schedules of the `notify` agent derived from a task's due date or an event's
-- occurrences (kind `reminder`, spec = lead times like `1d,10m`), or one-off snoozes (kind
-- `once`). `source` names what they remind of: `task:12`, `event:5`, `event:5@<start ms>` for
-- one occurrence, `waiting` for the weekly follow-up. Schedules written by a person have none.
ALTER TABLE schedules ADD COLUMN source TEXT;
CREATE INDEX schedules_by_source ON schedules (source) WHERE source IS NOT NULL;

-- What a notification is about (the same keys), so it can offer Done / Snooze / Open, and
-- whether it is urgent (it then ignores quiet hours).
ALTER TABLE notifications ADD COLUMN subject TEXT;
ALTER TABLE notifications ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT 0;
