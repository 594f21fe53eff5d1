ALTER TABLE notifications DROP COLUMN urgent;
ALTER TABLE notifications DROP COLUMN subject;
DELETE FROM schedules WHERE kind = 'reminder';
DROP INDEX schedules_by_source;
ALTER TABLE schedules DROP COLUMN source;
