ALTER TABLE notifications DROP COLUMN urgent;
ALTER TABLE notifications DROP COLUMN subject;
DROP INDEX schedules_by_source;
ALTER TABLE schedules DROP COLUMN source;
