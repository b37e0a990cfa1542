package llm_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/anthropic"
	"github.com/agentaudit/agentaudit/llm/openai"
	"github.com/agentaudit/agentaudit/llm/replay"
)

// TestStreamFixtureRecords replays recorded streams through the streaming
// adapters and the audit wrapper, and checks the logged llm_call entry
// against the record the transcript must produce.
func TestStreamFixtureRecords(t *testing.T) {
	var cases int
	for _, c := range fixtures.Expected(t) {
		if !c.Stream || (c.API != "chat_completions" && c.API != "anthropic_messages") {
			continue
		}
		if c.API == "anthropic_messages" && strings.HasSuffix(c.File, ".chunks.jsonl") {
			// A .chunks.jsonl recording lost the event: lines, and the
			// Anthropic SDK skips every event without one.
			continue
		}
		cases++
		t.Run(c.File, func(t *testing.T) {
			testStreamFixtureRecord(t, c)
		})
	}
	// The transcripts hold 10 such Chat Completions and 3 such Anthropic
	// streams.
	if cases < 13 {
		t.Errorf("replayed %d stream fixture cases, want at least 13", cases)
	}
}

func testStreamFixtureRecord(t *testing.T, c fixtures.Case) {
	resp, err := replay.LoadFile(fixtures.Path(t, c.File))
	if err != nil {
		t.Fatalf("replay.LoadFile() = %v", err)
	}
	srv, err := replay.NewServer(resp)
	if err != nil {
		t.Fatalf("replay.NewServer() = %v", err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		if err := srv.Close(); err != nil {
			t.Errorf("replay server Close() = %v", err)
		}
	})

	var model llm.Model
	req := llm.Request{Model: "model", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello"}}}
	switch c.API {
	case "anthropic_messages":
		model = anthropic.New(anthropic.WithBaseURL(srv.URL()), anthropic.WithAPIKey("test-key"),
			anthropic.WithHTTPClient(client), anthropic.WithMaxRetries(0), anthropic.WithStream(true))
	default:
		model = openai.New(openai.WithBaseURL(srv.URL()+"/v1"), openai.WithAPIKey("test-key"),
			openai.WithHTTPClient(client), openai.WithMaxRetries(0), openai.WithProvider(c.Provider), openai.WithStream(true))
	}
	if c.RequestModel != nil {
		req.Model = *c.RequestModel
	}

	logger, store := newLogger(t)
	if _, err := llm.Audit(model, logger).Generate(context.Background(), req); err != nil {
		t.Errorf("Generate() = %v, want nil", err)
	}

	_, records := flushedCalls(t, logger, store)
	if len(records) != 1 {
		t.Fatalf("logged %d entries, want 1", len(records))
	}
	got := records[0]
	wantStatus := deref(c.HTTPStatus)
	if wantStatus == nil {
		// A .chunks.jsonl recording has no status; the replay sends 200.
		wantStatus = 200
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"provider", got.Provider, c.Provider},
		{"api", got.API, c.API},
		{"model", got.Model, req.Model},
		{"responseModel", deref(got.ResponseModel), deref(c.ResponseModel)},
		{"status", got.Status, c.Status},
		{"httpStatus", deref(got.HTTPStatus), wantStatus},
		{"finishReason", deref(got.FinishReason), deref(c.FinishReason)},
		{"stream", deref(got.Stream), true},
		{"usageAvailable", got.UsageAvailable, c.UsageAvailable},
		{"promptTokens", deref(got.PromptTokens), deref(c.PromptTokens)},
		{"completionTokens", deref(got.CompletionTokens), deref(c.CompletionTokens)},
		{"totalTokens", deref(got.TotalTokens), deref(c.TotalTokens)},
		{"cachedInputTokens", deref(got.CachedInputTokens), deref(c.CachedInputTokens)},
		{"cacheWriteInputTokens", deref(got.CacheWriteInputTokens), deref(c.CacheWriteInputTokens)},
		{"reasoningTokens", deref(got.ReasoningTokens), deref(c.ReasoningTokens)},
	}
	for _, check := range checks {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.field, check.got, check.want)
		}
	}
}
