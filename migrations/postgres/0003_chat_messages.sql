-- chat_messages: each chat's history, in order. message is one llm.Message
-- as JSON text.
CREATE TABLE IF NOT EXISTS chat_messages (
  chat_id TEXT COLLATE "C" NOT NULL,
  seq INTEGER NOT NULL,
  message TEXT NOT NULL,
  created_at TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (chat_id, seq)
);
