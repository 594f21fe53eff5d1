DROP TABLE notifications;
DROP TABLE run_attempts;
DROP TABLE runs;
DROP TABLE schedules;
DROP TABLE agents;
