DROP INDEX tasks_by_priority;
