DROP INDEX tasks_by_contexts_open;
DROP TABLE briefings;
DROP TABLE projects;
