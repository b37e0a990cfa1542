package d1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
)

// appendMessageSQL inserts one message after the chat's last one. The seq
// is computed inside the statement, so that appends from several processes
// never compute it from a stale read.
const appendMessageSQL = `INSERT INTO chat_messages (chat_id, seq, message, created_at)
SELECT ?, coalesce(max(seq), 0) + 1, ?, ? FROM chat_messages WHERE chat_id = ?`

// messagesPageSize is the number of messages one SELECT of LoadMessages
// returns.
const messagesPageSize = 500

// AppendMessages adds msgs after the last message of chatID in one batch
// request, which D1 runs as one transaction and one write at a time, so
// concurrent appends to one chat never share a seq and each append stays
// contiguous. The request is retried only on failures that show it did not
// run, so a message is never appended twice.
func (s *Store) AppendMessages(ctx context.Context, chatID string, msgs []llm.Message) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if chatID == "" {
		return errors.New("d1: append messages: chat id is empty; pass the chat's id")
	}
	if len(msgs) == 0 {
		return nil
	}

	now := audit.FormatTime(time.Now())
	stmts := make([]Statement, len(msgs))
	for i, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("d1: append messages to chat %q: encode message %d: %w", chatID, i, err)
		}
		if size := len(b) + len(chatID) + len(now); size > s.cfg.maxRowBytes {
			return fmt.Errorf("d1: append messages to chat %q: message %d is %d bytes, over D1's limit of %d bytes per row; shorten its content", chatID, i, size, MaxRowBytes)
		}
		stmts[i] = Statement{SQL: appendMessageSQL, Params: []any{chatID, string(b), now, chatID}}
	}

	if _, err := s.client.batch(ctx, stmts, retryUnsent); err != nil {
		return fmt.Errorf("d1: append %d messages to chat %q in %s: %w", len(msgs), chatID, s.DSN(), err)
	}
	return nil
}

// LoadMessages returns the messages of chatID in seq order; none for a chat
// without messages.
func (s *Store) LoadMessages(ctx context.Context, chatID string) ([]llm.Message, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}

	var msgs []llm.Message
	var after int64
	for {
		res, err := s.client.Query(ctx,
			"SELECT seq, message FROM chat_messages WHERE chat_id = ? AND seq > ? ORDER BY seq LIMIT ?",
			chatID, after, messagesPageSize)
		if err != nil {
			return nil, fmt.Errorf("d1: load messages of chat %q from %s: %w", chatID, s.DSN(), err)
		}
		var rows []struct {
			Seq     int64  `json:"seq"`
			Message string `json:"message"`
		}
		if err := res.Decode(&rows); err != nil {
			return nil, fmt.Errorf("d1: load messages of chat %q from %s: %w", chatID, s.DSN(), err)
		}
		for _, r := range rows {
			var m llm.Message
			if err := json.Unmarshal([]byte(r.Message), &m); err != nil {
				return nil, fmt.Errorf("d1: load messages of chat %q: message %d is not valid JSON: %w", chatID, r.Seq, err)
			}
			msgs = append(msgs, m)
		}
		if len(rows) < messagesPageSize {
			return msgs, nil
		}
		after = rows[len(rows)-1].Seq
	}
}
