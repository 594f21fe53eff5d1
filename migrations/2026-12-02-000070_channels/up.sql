-- Notification channels: where notifications go besides the app (ntfy, Telegram, Discord,
-- email, webhook). `config` holds the kind's settings as JSON, without the secret; `secret`
-- holds the one write-only setting (ntfy token, bot token, SMTP password, webhook secret).
-- `receives` is a JSON list of topics. Instants are UTC milliseconds.
CREATE TABLE channels (
    id          INTEGER PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    config      TEXT NOT NULL,
    secret      TEXT,
    receives    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One notification's trip to one channel: queued (due at not_before), sending (leased by the
-- scheduler), sent or failed, with the attempts made and the last error. The scheduler picks
-- up queued rows that are due; a crash leaves rows `sending`, queued again at start-up.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY NOT NULL,
    notification_id INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    not_before      BIGINT NOT NULL,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE INDEX deliveries_due ON deliveries (state, not_before);
