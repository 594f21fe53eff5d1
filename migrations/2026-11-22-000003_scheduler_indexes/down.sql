DROP INDEX runs_queued;
DROP INDEX runs_retry;
CREATE INDEX runs_ready ON runs (priority, scheduled_for, id) WHERE state = 'queued';
