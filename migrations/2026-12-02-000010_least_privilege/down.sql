ALTER TABLE agents DROP COLUMN open_to_tokens;
ALTER TABLE agents DROP COLUMN open_to_mcp;
ALTER TABLE agents DROP COLUMN open_to_chat;
ALTER TABLE api_tokens DROP COLUMN expires_at;
ALTER TABLE api_tokens DROP COLUMN scopes;
