-- Least privilege (issue 12).
--
-- API tokens get scopes (a comma-separated list of read, write, mcp, feed, admin) and an
-- optional expiry. Tokens made before scopes existed could do everything; they become `admin`
-- so that nothing breaks silently, and the Settings page suggests narrowing them.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;

-- Who else, besides the person, may send prompts to an agent: the chat agent, MCP clients,
-- API tokens that are not `admin`. Agents that run programs or call out to other systems
-- (command, webhook) start closed, existing ones too; models (llm, letta) start open.
ALTER TABLE agents ADD COLUMN open_to_chat BOOLEAN NOT NULL DEFAULT 1;
ALTER TABLE agents ADD COLUMN open_to_mcp BOOLEAN NOT NULL DEFAULT 1;
ALTER TABLE agents ADD COLUMN open_to_tokens BOOLEAN NOT NULL DEFAULT 1;
UPDATE agents SET open_to_chat = 0, open_to_mcp = 0, open_to_tokens = 0
    WHERE kind IN ('command', 'webhook');
