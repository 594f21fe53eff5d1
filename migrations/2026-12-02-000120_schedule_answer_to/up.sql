-- The channels a schedule's answers go to (issue 14): a JSON list of channel names.
ALTER TABLE schedules ADD COLUMN answer_to TEXT NOT NULL DEFAULT '[]';
