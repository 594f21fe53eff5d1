-- Scheduled prompts. Instants in these tables are whole milliseconds since the Unix epoch (UTC):
-- exact, compact, and compared as plain integers by the scheduler's indexes.

-- Where prompts go. `config` is the kind's JSON settings (URL, model, key, argv, ...).
CREATE TABLE agents (
    id          INTEGER PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('llm', 'letta', 'webhook', 'command', 'notify')),
    config      TEXT NOT NULL DEFAULT '{}',
    concurrency INTEGER NOT NULL DEFAULT 1 CHECK (concurrency >= 1),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE schedules (
    id              INTEGER PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    agent           TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('once', 'cron', 'interval')),
    -- once: the instant (RFC 3339, UTC); cron: the expression; interval: the period (`1h30m`).
    spec            TEXT NOT NULL,
    tz              TEXT NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 2,  -- 0 critical, 1 high, 2 normal, 3 low, 4 deferred
    active          BOOLEAN NOT NULL DEFAULT 1,
    misfire         TEXT NOT NULL DEFAULT 'once' CHECK (misfire IN ('once', 'skip', 'all')),
    retry_attempts  INTEGER NOT NULL DEFAULT 5,
    retry_base_secs INTEGER NOT NULL DEFAULT 30,
    until_at        BIGINT,
    max_count       INTEGER,
    fired_count     INTEGER NOT NULL DEFAULT 0,
    -- Intervals count from here (elapsed time, so DST cannot move them).
    anchor_at       BIGINT NOT NULL,
    -- The next firing; NULL once the schedule has ended (a fired `once`, `until`, `count`).
    next_fire_at    BIGINT,
    failure_streak  INTEGER NOT NULL DEFAULT 0,
    -- Why the schedule paused itself or ended, in words for the person.
    note            TEXT,
    created_by      TEXT NOT NULL DEFAULT 'person',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deleted_at      BIGINT
);
-- The scheduler's only question: what is due first. One index range, O(log n).
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE active AND deleted_at IS NULL AND next_fire_at IS NOT NULL;

-- One row per firing. (schedule_id, scheduled_for) is unique: claiming a firing twice is a no-op.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY NOT NULL,
    schedule_id     INTEGER REFERENCES schedules (id),
    idempotency_key TEXT NOT NULL UNIQUE,
    agent           TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    scheduled_for   BIGINT NOT NULL,
    -- queued (waiting, perhaps for a retry at not_before), running, succeeded, failed, cancelled.
    state           TEXT NOT NULL DEFAULT 'queued',
    trigger         TEXT NOT NULL DEFAULT 'schedule',
    attempt         INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    retry_base_secs INTEGER NOT NULL,
    not_before      BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    started_at      BIGINT,
    finished_at     BIGINT,
    output          TEXT,
    error           TEXT,
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX runs_firing ON runs (schedule_id, scheduled_for);
CREATE INDEX runs_ready ON runs (priority, scheduled_for, id) WHERE state = 'queued';
CREATE INDEX runs_running ON runs (lease_until) WHERE state = 'running';
CREATE INDEX runs_by_schedule ON runs (schedule_id, id);
CREATE INDEX runs_by_state ON runs (state, id);

-- Every delivery attempt of a run, with its own error.
CREATE TABLE run_attempts (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    error       TEXT,
    PRIMARY KEY (run_id, attempt)
);

-- In-app notifications: `notify` runs, failed runs, schedules that paused themselves.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    level       TEXT NOT NULL DEFAULT 'info' CHECK (level IN ('info', 'error')),
    run_id      INTEGER,
    schedule_id INTEGER,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT
);
CREATE INDEX notifications_unread ON notifications (id) WHERE read_at IS NULL;
