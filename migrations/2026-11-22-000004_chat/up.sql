-- Chat with the agent. A conversation keeps its whole history; what is sent upstream is trimmed
-- to a budget at request time. Instants are milliseconds since the epoch (UTC), as for runs.
CREATE TABLE conversations (
    id          INTEGER PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    -- The agent that answers (an `llm` or `letta` agent's name).
    agent       TEXT NOT NULL,
    -- The schedule whose runs post here when it has no conversation of its own choosing.
    schedule_id INTEGER REFERENCES schedules (id),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);
CREATE INDEX conversations_recent ON conversations (updated_at) WHERE deleted_at IS NULL;

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- user, assistant, tool (a tool's result, answering `tool_call_id`), or notice (an error
    -- or a note shown in the conversation, never sent upstream).
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool', 'notice')),
    content         TEXT NOT NULL DEFAULT '',
    -- assistant: the tool calls it asked for, as JSON [{"id","name","arguments"}].
    tool_calls      TEXT,
    tool_call_id    TEXT,
    -- tool: the tool's name, and whether it failed.
    tool_name       TEXT,
    -- streaming (being written), done, stopped (by the person), failed.
    state           TEXT NOT NULL DEFAULT 'done'
                    CHECK (state IN ('streaming', 'done', 'stopped', 'failed')),
    error           TEXT,
    -- The scheduled run that posted it.
    run_id          INTEGER REFERENCES runs (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_streaming ON messages (state) WHERE state = 'streaming';
CREATE INDEX messages_by_run ON messages (run_id);

-- A schedule may post its runs into a conversation (and a wake-up always does).
ALTER TABLE schedules ADD COLUMN conversation_id INTEGER REFERENCES conversations (id);
-- Which conversation an agent was in when it created a task or a schedule.
ALTER TABLE schedules ADD COLUMN created_in INTEGER REFERENCES conversations (id);
ALTER TABLE tasks ADD COLUMN created_in INTEGER REFERENCES conversations (id);
