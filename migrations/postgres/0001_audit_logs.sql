-- audit_logs: one row per LLM call or tool execution.
CREATE TABLE IF NOT EXISTS audit_logs (
  id TEXT PRIMARY KEY NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('llm_call', 'tool_execution')),
  chat_id TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  metadata JSONB NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_audit_logs_chat_id ON audit_logs (chat_id, id);
CREATE INDEX IF NOT EXISTS idx_audit_logs_type_created_at ON audit_logs (type, created_at);
CREATE INDEX IF NOT EXISTS idx_audit_logs_model ON audit_logs ((metadata->>'model'), created_at) WHERE type = 'llm_call';
