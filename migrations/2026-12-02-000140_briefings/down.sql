DROP TABLE briefings;
DROP TABLE projects;
