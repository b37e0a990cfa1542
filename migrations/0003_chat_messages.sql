-- Migration number: 0003 	 chat_messages: each chat's history, in order.
CREATE TABLE IF NOT EXISTS chat_messages (
  chat_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  message TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (chat_id, seq)
);
