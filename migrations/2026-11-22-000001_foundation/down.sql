DROP TABLE tasks;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE settings;
