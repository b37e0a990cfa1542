package httpaudit_test

import (
	"context"
	"log"
	"net/http"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/httpaudit"
	"github.com/agentaudit/agentaudit/store/sqlite"
)

func ExampleMiddleware() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "agentaudit.db")
	if err != nil {
		log.Fatal(err)
	}
	logger := audit.New(store)
	defer logger.Close(ctx)

	// Every call the client makes, each retry included, becomes one
	// llm_call entry of the chat that the call's context carries.
	client := openai.NewClient(option.WithMiddleware(httpaudit.Middleware(logger)))
	ctx = audit.WithChatID(ctx, "chat-42")
	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
	})
	if err != nil {
		log.Print(err)
	}
}

func ExampleTransport() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "agentaudit.db")
	if err != nil {
		log.Fatal(err)
	}
	logger := audit.New(store)
	defer logger.Close(ctx)

	// Any *http.Client: requests to LLM APIs are logged, others pass
	// through untouched.
	client := &http.Client{Transport: httpaudit.Transport(logger, http.DefaultTransport)}
	_ = client
}
