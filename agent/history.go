package agent

import (
	"context"

	"github.com/agentaudit/agentaudit/llm"
)

// HistoryStore keeps each chat's messages in order. Implementations must be
// safe for concurrent use.
type HistoryStore interface {
	// AppendMessages adds msgs after the chat's last message.
	AppendMessages(ctx context.Context, chatID string, msgs []llm.Message) error
	// LoadMessages returns the chat's messages in order; none for a new chat.
	LoadMessages(ctx context.Context, chatID string) ([]llm.Message, error)
}
