-- pending_approvals: high-risk tool calls waiting for a human decision.
--
-- input is the tool's arguments as text, not jsonb, because the model may
-- send invalid JSON and the approver must see exactly what it sent.
CREATE TABLE IF NOT EXISTS pending_approvals (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  chat_id TEXT COLLATE "C" NOT NULL,
  tool_name TEXT NOT NULL,
  tool_call_id TEXT NOT NULL,
  input TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
  reason TEXT NOT NULL DEFAULT '',
  created_at TEXT COLLATE "C" NOT NULL,
  decided_at TEXT COLLATE "C"
);

CREATE INDEX IF NOT EXISTS idx_pending_approvals_status ON pending_approvals (status, created_at);
CREATE INDEX IF NOT EXISTS idx_pending_approvals_chat_id ON pending_approvals (chat_id, created_at);
