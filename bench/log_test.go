package bench

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
)

// The entries of one agent step: a typical model call and the tool call it
// asked for.
var (
	stepCall = &audit.LLMCall{
		Provider:      "openai",
		API:           "chat_completions",
		Model:         "gpt-4o-mini",
		ResponseModel: "gpt-4o-mini-2024-07-18",
		Usage: audit.Usage{
			Available:         true,
			PromptTokens:      audit.Int64(1200),
			CompletionTokens:  audit.Int64(85),
			TotalTokens:       audit.Int64(1285),
			CachedInputTokens: audit.Int64(1024),
			ReasoningTokens:   audit.Int64(0),
		},
		DurationMs:   812,
		Status:       audit.StatusSuccess,
		FinishReason: "tool_calls",
		Step:         1,
	}
	stepArguments = json.RawMessage(`{"city": "Paris", "units": "metric", "days": 3}`)
	stepTool      = &audit.ToolExecution{
		ToolName:   "get_weather",
		ToolCallID: "call_Qx7d2VbN0pLk",
		Status:     audit.StatusSuccess,
		DurationMs: 41,
		Risk:       "low",
		Input:      stepArguments,
	}
)

// discardStore is a Store that accepts every batch at once, so that the
// benchmark measures the Logger alone.
type discardStore struct{}

func (discardStore) InsertEntries(context.Context, []audit.Entry) error { return nil }
func (discardStore) Close() error                                       { return nil }

// BenchmarkLog measures one agent step's audit cost on the caller's
// goroutine: Log of an LLMCall and Log of a ToolExecution, while the
// Logger's writer drains the queue on another core. The queue is flushed
// outside the timer before it can fill, and drops/op shows that no Log
// took the drop path.
func BenchmarkLog(b *testing.B) {
	const flushEvery = 1 << 13 // steps; two entries each fit the queue below
	logger := audit.New(discardStore{}, audit.WithQueueSize(4*flushEvery))
	ctx := audit.WithChatID(context.Background(), "chat_7f3a9c")

	var drops int
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if logger.Log(ctx, stepCall) != nil {
			drops++
		}
		if logger.Log(ctx, stepTool) != nil {
			drops++
		}
		if i%flushEvery == flushEvery-1 {
			b.StopTimer()
			if err := logger.Flush(ctx); err != nil {
				b.Fatalf("Flush() = %v, want nil", err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()

	if err := logger.Close(ctx); err != nil {
		b.Fatalf("Close() = %v, want nil", err)
	}
	b.ReportMetric(float64(drops)/float64(b.N), "drops/op")
}

// BenchmarkSlogLogAttrs writes the same two records as BenchmarkLog with
// log/slog's JSON handler to io.Discard, with the same fields as attributes.
// The tool record carries the arguments as they came, so slog does no
// summary work.
func BenchmarkSlogLogAttrs(b *testing.B) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx := context.Background()
	c, e := stepCall, stepTool

	b.ReportAllocs()
	for b.Loop() {
		logger.LogAttrs(ctx, slog.LevelInfo, "llm_call",
			slog.String("chatId", "chat_7f3a9c"),
			slog.String("provider", c.Provider),
			slog.String("api", c.API),
			slog.String("model", c.Model),
			slog.String("responseModel", c.ResponseModel),
			slog.Bool("usageAvailable", c.Available),
			slog.Int64("promptTokens", *c.PromptTokens),
			slog.Int64("completionTokens", *c.CompletionTokens),
			slog.Int64("totalTokens", *c.TotalTokens),
			slog.Int64("cachedInputTokens", *c.CachedInputTokens),
			slog.Any("cacheWriteInputTokens", nil),
			slog.Int64("reasoningTokens", *c.ReasoningTokens),
			slog.Int64("durationMs", c.DurationMs),
			slog.String("status", string(c.Status)),
			slog.String("finishReason", c.FinishReason),
			slog.Bool("stream", c.Stream),
			slog.Int("step", c.Step),
		)
		logger.LogAttrs(ctx, slog.LevelInfo, "tool_execution",
			slog.String("chatId", "chat_7f3a9c"),
			slog.String("toolName", e.ToolName),
			slog.String("toolCallId", e.ToolCallID),
			slog.String("status", string(e.Status)),
			slog.String("inputSummary", string(stepArguments)),
			slog.Int("inputBytes", len(stepArguments)),
			slog.Int64("durationMs", e.DurationMs),
			slog.String("risk", e.Risk),
		)
	}
}
