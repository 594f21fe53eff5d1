ALTER TABLE schedules DROP COLUMN answer_to;
