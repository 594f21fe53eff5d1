-- Today's "top priority" list and "what next" candidates: open tasks by priority, without a
-- scan of every task. No WHERE on `done` (queries bind it as a parameter, which a partial
-- index's condition cannot be matched against).
CREATE INDEX tasks_by_priority ON tasks (done, priority, due_date, id) WHERE deleted_at IS NULL;
