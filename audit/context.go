package audit

import "context"

type chatIDKey struct{}

// WithChatID returns a context that carries chatID; every entry logged with
// it, or with a context derived from it, is tied to that chat.
func WithChatID(ctx context.Context, chatID string) context.Context {
	return context.WithValue(ctx, chatIDKey{}, chatID)
}

// ChatID returns the chat ID carried by ctx, or "" when there is none.
func ChatID(ctx context.Context) string {
	id, _ := ctx.Value(chatIDKey{}).(string)
	return id
}
