-- When the session's person last typed the password (login or a re-authentication): sensitive
-- actions ask again when it is older than 10 minutes. Existing sessions count from their login.
ALTER TABLE sessions ADD COLUMN authenticated_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE sessions SET authenticated_at = created_at;
-- "Remember this device": a persistent cookie, and no idle timeout (only the absolute one).
ALTER TABLE sessions ADD COLUMN remembered BOOLEAN NOT NULL DEFAULT 0;

-- Every password entry (login or re-authentication), good or bad; kept bounded (the newest
-- 1,000 within 90 days) by auth::login_history::record.
CREATE TABLE login_history (
    id           INTEGER PRIMARY KEY NOT NULL,
    at           TIMESTAMP NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    -- The device cookie's id when the browser sent a valid one (a known device), else NULL.
    device_id    TEXT,
    -- success | wrong_password | locked | reauth | reauth_failed
    outcome      TEXT NOT NULL
);
CREATE INDEX login_history_at ON login_history (at);
