DROP TABLE login_history;
ALTER TABLE sessions DROP COLUMN remembered;
ALTER TABLE sessions DROP COLUMN authenticated_at;
