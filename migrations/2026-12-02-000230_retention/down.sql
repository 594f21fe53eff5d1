DROP INDEX runs_by_schedule_state;
DROP INDEX notifications_created;
DROP INDEX runs_finished;
