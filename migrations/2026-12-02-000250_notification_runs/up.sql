-- Pruning a run unlinks the notifications about it (src/retention.rs): without this index each
-- batch would walk every notification.
CREATE INDEX notifications_by_run ON notifications (run_id) WHERE run_id IS NOT NULL;
