-- Reminders are schedules of the `notify` agent derived from a task's due date or an event's
-- occurrences (kind `reminder`, spec = lead times like `1d,10m`), or one-off snoozes (kind
-- `once`). `source` names what they remind of: `task:12`, `event:5`, `event:5@<start ms>` for
-- one occurrence, `waiting` for the weekly follow-up. Schedules written by a person have none.
--
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt the documented way
-- (https://sqlite.org/lang_altertable.html#otheralter): with foreign keys off (so dropping the
-- old table leaves the runs that refer to it alone; this migration runs outside diesel's
-- transaction for that, see metadata.toml), in one transaction, checked before commit.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE schedules_new (
    id              INTEGER PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    agent           TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('once', 'cron', 'interval', 'reminder')),
    -- once: the instant (RFC 3339, UTC); cron: the expression; interval: the period (`1h30m`);
    -- reminder: lead times (`1d,10m`, `default`, `none`).
    spec            TEXT NOT NULL,
    tz              TEXT NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 2,
    active          BOOLEAN NOT NULL DEFAULT 1,
    misfire         TEXT NOT NULL DEFAULT 'once' CHECK (misfire IN ('once', 'skip', 'all')),
    retry_attempts  INTEGER NOT NULL DEFAULT 5,
    retry_base_secs INTEGER NOT NULL DEFAULT 30,
    until_at        BIGINT,
    max_count       INTEGER,
    fired_count     INTEGER NOT NULL DEFAULT 0,
    anchor_at       BIGINT NOT NULL,
    next_fire_at    BIGINT,
    failure_streak  INTEGER NOT NULL DEFAULT 0,
    note            TEXT,
    created_by      TEXT NOT NULL DEFAULT 'person',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deleted_at      BIGINT,
    conversation_id INTEGER REFERENCES conversations (id),
    created_in      INTEGER REFERENCES conversations (id),
    source          TEXT
);
INSERT INTO schedules_new (id, name, prompt, agent, kind, spec, tz, priority, active, misfire,
    retry_attempts, retry_base_secs, until_at, max_count, fired_count, anchor_at, next_fire_at,
    failure_streak, note, created_by, created_at, updated_at, deleted_at, conversation_id, created_in)
SELECT id, name, prompt, agent, kind, spec, tz, priority, active, misfire,
    retry_attempts, retry_base_secs, until_at, max_count, fired_count, anchor_at, next_fire_at,
    failure_streak, note, created_by, created_at, updated_at, deleted_at, conversation_id, created_in
FROM schedules;
DROP TABLE schedules;
ALTER TABLE schedules_new RENAME TO schedules;
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE active AND deleted_at IS NULL AND next_fire_at IS NOT NULL;
CREATE INDEX schedules_by_source ON schedules (source) WHERE source IS NOT NULL;

-- What a notification is about (the same keys), so it can offer Done / Snooze / Open, and
-- whether it is urgent (it then ignores quiet hours).
ALTER TABLE notifications ADD COLUMN subject TEXT;
ALTER TABLE notifications ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT 0;

COMMIT;
PRAGMA foreign_keys = ON;
