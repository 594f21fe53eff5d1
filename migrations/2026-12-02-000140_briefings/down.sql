DROP INDEX tasks_by_contexts_open;
DROP INDEX tasks_by_priority;
DROP TABLE briefings;
DROP TABLE projects;
