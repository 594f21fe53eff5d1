-- Projects: what a person says about a `+project` beyond its tasks (a one-line outcome, a
-- target date) and whether it is archived. Keyed by the project's name as written in tasks
-- (without the `+`); a project with no row here has none of these. Instants are UTC ms.
CREATE TABLE projects (
    name        TEXT PRIMARY KEY NOT NULL,
    outcome     TEXT,
    target_date DATE,
    archived_at BIGINT,
    updated_at  BIGINT NOT NULL
);

-- Briefings (morning, evening, weekly): each is a schedule of the built-in `system` agent
-- (prompt `briefing <name>`, made when first turned on), plus what is not a schedule's: the
-- agent that writes it (none: the facts alone), the channels it goes to (empty: every channel
-- receiving `briefings`), the sections of its fact block, the instructions sent with them,
-- and the conversation it is posted into.
CREATE TABLE briefings (
    name            TEXT PRIMARY KEY NOT NULL,
    schedule_id     INTEGER REFERENCES schedules (id),
    agent           TEXT,
    channels        TEXT NOT NULL DEFAULT '',
    sections        TEXT NOT NULL,
    instructions    TEXT NOT NULL,
    conversation_id INTEGER,
    updated_at      BIGINT NOT NULL
);

-- The briefings' "top-priority open tasks" use `tasks_by_priority` (done, priority, ...), made
-- by the Today page's migration just before.

-- Counting the `@waiting` tasks (a LIKE on contexts) from the index alone, without reading
-- each open task's row.
CREATE INDEX tasks_by_contexts_open ON tasks (contexts, done) WHERE deleted_at IS NULL;
