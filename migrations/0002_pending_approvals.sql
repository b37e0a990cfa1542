-- Migration number: 0002 	 pending_approvals: high-risk tool calls waiting for a human decision.
CREATE TABLE IF NOT EXISTS pending_approvals (
  id TEXT PRIMARY KEY NOT NULL,
  chat_id TEXT NOT NULL,
  tool_name TEXT NOT NULL,
  tool_call_id TEXT NOT NULL,
  input TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
  reason TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  decided_at TEXT
);

CREATE INDEX IF NOT EXISTS idx_pending_approvals_status ON pending_approvals (status, created_at);
CREATE INDEX IF NOT EXISTS idx_pending_approvals_chat_id ON pending_approvals (chat_id, created_at);
