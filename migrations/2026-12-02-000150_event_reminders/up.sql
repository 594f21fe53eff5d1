-- Event reminders. A calendar's default lead times before its events start (JSON list of
-- `10m`, `1d`, ...; `[]` = none); an event's own list (NULL = its VALARMs, else the calendar's
-- default; `[]` = none). The reminder itself is a schedule (kind `reminder`, source `event:<id>`).
ALTER TABLE calendars ADD COLUMN reminders TEXT NOT NULL DEFAULT '["10m"]';
ALTER TABLE events ADD COLUMN reminders TEXT;
-- Subscribed calendars say nothing unless their feed carries alarms (a holiday feed would
-- otherwise remind of every holiday); the person can set a default in the calendar's settings.
UPDATE calendars SET reminders = '[]' WHERE source_url IS NOT NULL;
