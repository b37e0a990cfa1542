package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
)

// historyLockClass is the first key of the advisory locks that serialize
// appends to one chat; the second key is the hash of the chat ID.
const historyLockClass int32 = 0x61676e74 // ASCII "agnt"

// appendMessagesSQL numbers the messages of $2 after the chat's last one,
// from 1 for a new chat.
const appendMessagesSQL = `INSERT INTO chat_messages (chat_id, seq, message, created_at)
SELECT $1::text, last.seq + m.ord, m.message, $3::text
FROM unnest($2::text[]) WITH ORDINALITY AS m(message, ord),
	(SELECT coalesce(max(seq), 0) AS seq FROM chat_messages WHERE chat_id = $1) AS last`

// AppendMessages adds msgs after the chat's last message, in one
// transaction. Concurrent appends to one chat, from any process, each land
// as a contiguous run: a transaction-level advisory lock on the chat ID
// serializes them. Text is made storable as the package documentation
// describes.
func (s *Store) AppendMessages(ctx context.Context, chatID string, msgs []llm.Message) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if chatID == "" {
		return errors.New("postgres: append messages: chat id is empty; pass the chat's id")
	}
	if len(msgs) == 0 {
		return nil
	}
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("postgres: append messages to chat %q: encode message %d: %w", chatID, i, err)
		}
		texts[i] = storableText(string(b))
	}
	chat := storableText(chatID)

	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", historyLockClass, chat); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, appendMessagesSQL, chat, texts, audit.FormatTime(time.Now()))
		return err
	})
	if err != nil {
		return s.wrapError(fmt.Sprintf("append messages to chat %q", chatID), err)
	}
	return nil
}

// LoadMessages returns the chat's messages in the order they were
// appended; none for a new chat.
func (s *Store) LoadMessages(ctx context.Context, chatID string) ([]llm.Message, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	op := fmt.Sprintf("load messages of chat %q", chatID)
	rows, err := s.pool.Query(ctx, "SELECT seq, message FROM chat_messages WHERE chat_id = $1 ORDER BY seq", storableText(chatID))
	if err != nil {
		return nil, s.wrapError(op, err)
	}
	defer rows.Close()

	var out []llm.Message
	for rows.Next() {
		var (
			seq  int64
			text string
		)
		if err := rows.Scan(&seq, &text); err != nil {
			return nil, s.wrapError(op, err)
		}
		var m llm.Message
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			return nil, fmt.Errorf("postgres: %s: message %d is not a JSON message: %w", op, seq, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrapError(op, err)
	}
	return out, nil
}
