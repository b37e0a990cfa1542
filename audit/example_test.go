package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// printStore is a Store that prints the entries it is given.
type printStore struct{}

func (printStore) InsertEntries(_ context.Context, entries []audit.Entry) error {
	for _, e := range entries {
		fmt.Printf("%s chat=%s at=%s %s\n", e.Type, e.ChatID, audit.FormatTime(e.CreatedAt), e.Metadata)
	}
	return nil
}

func (printStore) Close() error { return nil }

func ExampleLogger() {
	clock := func() time.Time { return time.Date(2026, 12, 4, 19, 16, 50, 123_000_000, time.UTC) }
	logger := audit.New(printStore{}, audit.WithClock(clock))

	// The chat ID travels in the context, so call signatures stay as they are.
	ctx := audit.WithChatID(context.Background(), "chat-42")

	_ = logger.Log(ctx, &audit.LLMCall{
		Provider:   "openai",
		Model:      "gpt-4o-mini",
		DurationMs: 812,
		Status:     audit.StatusSuccess,
		Usage: audit.Usage{
			Available:        true,
			PromptTokens:     audit.Int64(120),
			CompletionTokens: audit.Int64(30),
			TotalTokens:      audit.Int64(150),
		},
	})
	_ = logger.Log(ctx, &audit.ToolExecution{
		ToolName:   "get_weather",
		Status:     audit.StatusSuccess,
		DurationMs: 40,
		Input:      json.RawMessage(`{"city": "Paris"}`),
	})

	// Close writes what is queued before it returns.
	if err := logger.Close(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%+v\n", logger.Stats())

	// Output:
	// llm_call chat=chat-42 at=2026-12-04T19:16:50.123Z {"provider":"openai","model":"gpt-4o-mini","usageAvailable":true,"promptTokens":120,"completionTokens":30,"totalTokens":150,"cachedInputTokens":null,"cacheWriteInputTokens":null,"reasoningTokens":null,"durationMs":812,"status":"success","stream":false}
	// tool_execution chat=chat-42 at=2026-12-04T19:16:50.123Z {"toolName":"get_weather","status":"success","inputSummary":"{\"city\":\"Paris\"}","inputBytes":16,"durationMs":40}
	// {Queued:0 Written:2 Spooled:0 Replayed:0 DeadLettered:0 Dropped:0 Failed:0 Invalid:0 Retries:0}
}
