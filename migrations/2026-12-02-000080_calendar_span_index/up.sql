-- Range queries over events (`occurrences`) read only the rows whose [start_at, last_end_at]
-- can overlap the range: calendar_id first (SQLite prefers an equality, and would otherwise pick
-- events_uid and read every row of the calendar), then start_at for the range, with
-- last_end_at and recurrence_id in the index so that the other terms are tested before a row
-- is read.
CREATE INDEX events_by_span ON events (calendar_id, start_at, last_end_at, recurrence_id) WHERE deleted_at IS NULL;
