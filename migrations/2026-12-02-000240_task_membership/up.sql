-- Which tasks carry a context or a project, one row per (name, task), so "open tasks with
-- @waiting" is a range of an index instead of a LIKE over every open task (a bound LIKE
-- pattern cannot use an index). Kept in step by the tasks service's one write path
-- (src/tasks/service.rs): a task's rows are replaced whenever its line is written. Rows of
-- soft-deleted tasks stay (queries join `tasks` and test `deleted_at`, so a restore needs
-- nothing); a purged task's go with it. NOCASE: the LIKE it replaces ignored ASCII case.
CREATE TABLE task_contexts (
    context TEXT NOT NULL COLLATE NOCASE,
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (context, task_id)
) WITHOUT ROWID;
CREATE INDEX task_contexts_by_task ON task_contexts (task_id);

CREATE TABLE task_projects (
    project TEXT NOT NULL COLLATE NOCASE,
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (project, task_id)
) WITHOUT ROWID;
CREATE INDEX task_projects_by_task ON task_projects (task_id);

-- Backfill: `contexts` and `projects` hold the names space-separated and padded
-- (" work phone "); split them word by word.
INSERT OR IGNORE INTO task_contexts (context, task_id)
WITH RECURSIVE words (task_id, word, rest) AS (
    SELECT id, '', ltrim(contexts) FROM tasks
    UNION ALL
    SELECT task_id, substr(rest, 1, instr(rest || ' ', ' ') - 1), ltrim(substr(rest, instr(rest || ' ', ' ')))
    FROM words WHERE rest <> ''
)
SELECT word, task_id FROM words WHERE word <> '';

INSERT OR IGNORE INTO task_projects (project, task_id)
WITH RECURSIVE words (task_id, word, rest) AS (
    SELECT id, '', ltrim(projects) FROM tasks
    UNION ALL
    SELECT task_id, substr(rest, 1, instr(rest || ' ', ' ') - 1), ltrim(substr(rest, instr(rest || ' ', ' ')))
    FROM words WHERE rest <> ''
)
SELECT word, task_id FROM words WHERE word <> '';

-- Superseded by task_contexts (it let the @waiting LIKE count read the index only).
DROP INDEX tasks_by_contexts_open;

-- Today's and the briefings' counts and slices read only these indexes. `deleted_at` is the
-- indexes' own condition, yet SQLite reads each row to test it unless the column is in the
-- index; with it (and `threshold` for the priority list) every term is answered by the index.
DROP INDEX tasks_by_due;
CREATE INDEX tasks_by_due ON tasks (done, due_date, due_at, coalesce(priority, '~'), id, deleted_at) WHERE deleted_at IS NULL;
DROP INDEX tasks_by_priority;
CREATE INDEX tasks_by_priority ON tasks (done, priority, due_date, threshold, id, deleted_at) WHERE deleted_at IS NULL;
DROP INDEX tasks_by_completion;
CREATE INDEX tasks_by_completion ON tasks (done, completed_at, id, completed_on, deleted_at) WHERE deleted_at IS NULL;

-- Open tasks per project and each project's last change (Today's chart, stalled projects):
-- grouped from this index alone instead of reading every task. Also serves the filter menu's
-- distinct projects, as the index it replaces did.
DROP INDEX tasks_by_projects;
CREATE INDEX tasks_by_projects ON tasks (projects, done, updated_at, deleted_at) WHERE deleted_at IS NULL;
-- Today's context selector lists the distinct contexts in use: from this index alone.
DROP INDEX tasks_by_contexts;
CREATE INDEX tasks_by_contexts ON tasks (contexts, deleted_at) WHERE deleted_at IS NULL;
