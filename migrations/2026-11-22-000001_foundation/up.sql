-- Key/value settings: the password hash, the person's time zone, ...
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Browser sessions. Only a SHA-256 of the cookie token is stored.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT ''
);

-- API bearer tokens, shown once at creation; only a SHA-256 is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL UNIQUE,
    hint         TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);

-- Tasks. `body` (with `priority`, `done`, `created_on`, `completed_on`) is the todo.txt line and
-- the source of truth; the columns below it are derived from it on every write, for filtering
-- and sorting.
CREATE TABLE tasks (
    id           INTEGER PRIMARY KEY NOT NULL,
    body         TEXT NOT NULL,
    priority     TEXT,
    done         BOOLEAN NOT NULL DEFAULT 0,
    created_on   DATE,
    completed_on DATE,
    title        TEXT NOT NULL,
    projects     TEXT NOT NULL DEFAULT ' ',
    contexts     TEXT NOT NULL DEFAULT ' ',
    due_date     DATE,
    due_at       TIMESTAMP,
    threshold    DATE,
    recurrence   TEXT,
    created_by   TEXT NOT NULL DEFAULT 'person',
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    deleted_at   TIMESTAMP
);
-- The Tasks page's groups are ranges of these indexes, already in display order, so a
-- slice of 50 reads 50 entries and counting a group reads only the index.
CREATE INDEX tasks_by_due ON tasks (done, due_date, due_at, coalesce(priority, '~'), id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_by_completion ON tasks (done, completed_at, id) WHERE deleted_at IS NULL;
-- The filter menus' distinct projects and contexts.
CREATE INDEX tasks_by_projects ON tasks (projects) WHERE deleted_at IS NULL;
CREATE INDEX tasks_by_contexts ON tasks (contexts) WHERE deleted_at IS NULL;
