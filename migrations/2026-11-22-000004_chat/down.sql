ALTER TABLE tasks DROP COLUMN created_in;
ALTER TABLE schedules DROP COLUMN created_in;
ALTER TABLE schedules DROP COLUMN conversation_id;
DROP TABLE messages;
DROP TABLE conversations;
