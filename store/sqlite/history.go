package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
)

// AppendMessages adds msgs after the last message of chatID. It numbers
// them from the chat's highest seq plus one inside one write transaction.
// So concurrent appends to one chat, from this process or another, never
// share a number, and each append's messages stay contiguous.
func (s *Store) AppendMessages(ctx context.Context, chatID string, msgs []llm.Message) error {
	if err := s.checkWrite("append messages"); err != nil {
		return err
	}
	if chatID == "" {
		return errors.New("sqlite: append messages: chat id is empty; pass the chat's id")
	}
	if len(msgs) == 0 {
		return nil
	}

	// Encode before taking the write lock, so that a message that cannot be
	// encoded fails without a transaction.
	encoded := make([]string, len(msgs))
	for i, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("sqlite: append messages to chat %q: encode message %d: %w", chatID, i, err)
		}
		encoded[i] = string(b)
	}
	op := fmt.Sprintf("append messages to chat %q", chatID)
	now := audit.FormatTime(time.Now())
	if err := s.checkFile(); err != nil {
		return err
	}

	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return dbError(s.path, op, err)
	}
	defer tx.Rollback() // a no-op after Commit

	var last int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM chat_messages WHERE chat_id = ?", chatID).Scan(&last); err != nil {
		return dbError(s.path, op, err)
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO chat_messages (chat_id, seq, message, created_at) VALUES (?, ?, ?, ?)")
	if err != nil {
		return dbError(s.path, op, err)
	}
	defer stmt.Close()
	for i, m := range encoded {
		if _, err := stmt.ExecContext(ctx, chatID, last+1+int64(i), m, now); err != nil {
			return dbError(s.path, op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dbError(s.path, op, err)
	}
	return nil
}

// LoadMessages returns the messages of chatID in seq order; none for a chat
// without messages.
func (s *Store) LoadMessages(ctx context.Context, chatID string) ([]llm.Message, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.reader.QueryContext(ctx, "SELECT seq, message FROM chat_messages WHERE chat_id = ? ORDER BY seq", chatID)
	if err != nil {
		return nil, dbError(s.path, fmt.Sprintf("load messages of chat %q", chatID), err)
	}
	defer rows.Close()

	var msgs []llm.Message
	for rows.Next() {
		var (
			seq  int64
			text string
			m    llm.Message
		)
		if err := rows.Scan(&seq, &text); err != nil {
			return nil, dbError(s.path, fmt.Sprintf("load messages of chat %q", chatID), err)
		}
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			return nil, fmt.Errorf("sqlite: load messages of chat %q: message %d is not valid JSON: %w", chatID, seq, err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(s.path, fmt.Sprintf("load messages of chat %q", chatID), err)
	}
	return msgs, nil
}
