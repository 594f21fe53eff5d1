-- What the agent, MCP clients and API tokens changed, with the state before and after (JSON),
-- so the person can see it on the Activity page and undo it. Instants are UTC milliseconds.
CREATE TABLE activity (
    id              INTEGER PRIMARY KEY NOT NULL,
    created_at      BIGINT NOT NULL,
    -- agent (chat or MCP) or api.
    actor           TEXT NOT NULL,
    -- The chat conversation the agent acted from, or the API token (MCP clients and programs).
    conversation_id INTEGER,
    token_id        INTEGER,
    -- task, schedule (event later): what was changed, and its id.
    kind            TEXT NOT NULL,
    target_id       INTEGER NOT NULL,
    -- create, update, complete, reopen, delete, restore, pause, resume.
    action          TEXT NOT NULL,
    -- One line in words: "Completed task “Buy milk”".
    summary         TEXT NOT NULL,
    before          TEXT,
    after           TEXT,
    undone_at       BIGINT
);
CREATE INDEX activity_target ON activity (kind, target_id);
CREATE INDEX activity_conversation ON activity (conversation_id) WHERE conversation_id IS NOT NULL;

-- Tool calls from MCP clients held for the person's confirmation (Notifications page).
CREATE TABLE confirmations (
    id          INTEGER PRIMARY KEY NOT NULL,
    tool        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    -- What the call asks for and why it waits, in words.
    summary     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    token_id    INTEGER,
    -- pending, confirmed (and done), failed (confirmed, and the tool failed), declined.
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'confirmed', 'failed', 'declined')),
    result      TEXT,
    created_at  BIGINT NOT NULL,
    decided_at  BIGINT
);
CREATE INDEX confirmations_pending ON confirmations (id) WHERE state = 'pending';

-- Confirmation of far-reaching tool calls is on by default now, for existing installs too.
INSERT INTO settings (key, value) VALUES ('chat.confirm_destructive', 'true')
    ON CONFLICT (key) DO UPDATE SET value = 'true';
