-- Signed one-click action links (Done, Snooze) are single use: a link's id (the SHA-256 of
-- its signed payload) is written here when it is used. Links expire after 7 days, so older
-- rows are pruned.
CREATE TABLE action_links_used (
    id TEXT PRIMARY KEY NOT NULL,
    notification_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    used_at BIGINT NOT NULL
);
CREATE INDEX action_links_used_at ON action_links_used (used_at);
