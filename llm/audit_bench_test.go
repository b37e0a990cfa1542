package llm_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/openai"
	"github.com/agentaudit/agentaudit/llm/replay"
)

// discardStore is an audit.Store that accepts every batch at once, so that
// the benchmarks measure the wrapper and the Logger alone.
type discardStore struct{}

func (discardStore) InsertEntries(context.Context, []audit.Entry) error { return nil }
func (discardStore) Close() error                                       { return nil }

// benchFlushEvery is how many calls run between flushes done outside the
// timer, so that the Logger's queue never fills and drops an entry.
const benchFlushEvery = 1 << 12

// runGenerate calls model.Generate b.N times. With a logger it flushes the
// queue outside the timer every benchFlushEvery calls and reports the
// entries the Logger dropped as drops/op, which must stay 0.
func runGenerate(b *testing.B, model llm.Model, logger *audit.Logger) {
	ctx := llm.WithStep(audit.WithChatID(context.Background(), "chat_7f3a9c"), 1)
	req := llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello"}}}

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := model.Generate(ctx, req); err != nil {
			b.Fatalf("Generate() = %v", err)
		}
		if logger != nil && i%benchFlushEvery == benchFlushEvery-1 {
			b.StopTimer()
			if err := logger.Flush(ctx); err != nil {
				b.Fatalf("Flush() = %v", err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()

	if logger != nil {
		if err := logger.Close(context.Background()); err != nil {
			b.Fatalf("Close() = %v", err)
		}
		stats := logger.Stats()
		b.ReportMetric(float64(stats.Dropped+stats.Failed+stats.Invalid)/float64(b.N), "drops/op")
	}
}

func newBenchLogger() *audit.Logger {
	return audit.New(discardStore{}, audit.WithQueueSize(4*benchFlushEvery))
}

// BenchmarkGenerateStub measures a model that returns at once, bare and
// wrapped by Audit, so that the difference is the wrapper's own cost.
func BenchmarkGenerateStub(b *testing.B) {
	stub := &stubModel{resp: successResponse()}
	b.Run("bare", func(b *testing.B) {
		runGenerate(b, stub, nil)
	})
	b.Run("audited", func(b *testing.B) {
		logger := newBenchLogger()
		runGenerate(b, llm.Audit(stub, logger), logger)
	})
}

// BenchmarkGenerateOpenAIReplay measures the OpenAI adapter sending a real
// request to a loopback replay server and parsing a recorded response,
// bare and wrapped by Audit.
func BenchmarkGenerateOpenAIReplay(b *testing.B) {
	body := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18",
"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help?"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":1200,"completion_tokens":85,"total_tokens":1285,
"prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":0}}}`

	run := func(b *testing.B, audited bool) {
		responses := make([]replay.Response, b.N)
		for i := range responses {
			responses[i] = replay.JSON(200, body)
		}
		srv, err := replay.NewServer(responses...)
		if err != nil {
			b.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{}}
		defer func() {
			client.CloseIdleConnections()
			srv.Close()
		}()

		var model llm.Model = openai.New(openai.WithBaseURL(srv.URL()+"/v1"), openai.WithAPIKey("k"),
			openai.WithHTTPClient(client), openai.WithMaxRetries(0))
		var logger *audit.Logger
		if audited {
			logger = newBenchLogger()
			model = llm.Audit(model, logger)
		}
		runGenerate(b, model, logger)
	}
	b.Run("bare", func(b *testing.B) { run(b, false) })
	b.Run("audited", func(b *testing.B) { run(b, true) })
}
