ALTER TABLE events DROP COLUMN reminders;
ALTER TABLE calendars DROP COLUMN reminders;
