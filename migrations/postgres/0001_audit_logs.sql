-- audit_logs: one row per LLM call or tool execution.
--
-- The columns match the SQLite and D1 table, with metadata as jsonb. Text
-- columns that are compared or ordered use the "C" collation, so that id
-- order is byte order on every server, whatever the database's locale, and
-- comparisons skip the locale's rules.
CREATE TABLE IF NOT EXISTS audit_logs (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('llm_call', 'tool_execution')),
  chat_id TEXT COLLATE "C" NOT NULL DEFAULT '',
  created_at TEXT COLLATE "C" NOT NULL,
  metadata JSONB NOT NULL
);

-- A chat's trail in logging order.
CREATE INDEX IF NOT EXISTS idx_audit_logs_chat_id ON audit_logs (chat_id, id);
-- Entries of one type over a time range.
CREATE INDEX IF NOT EXISTS idx_audit_logs_type_created_at ON audit_logs (type, created_at);
-- Token usage by model over time; queries must filter on type = 'llm_call'
-- and use the expression metadata->>'model' to match it.
CREATE INDEX IF NOT EXISTS idx_audit_logs_model_created_at
  ON audit_logs ((metadata->>'model'), created_at) WHERE type = 'llm_call';
