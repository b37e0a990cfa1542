package llm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/audittest"
	"github.com/agentaudit/agentaudit/llm"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// llmCallRecord is the stored llm_call metadata as a reader decodes it.
// Pointers tell a JSON null or a missing key from a zero value.
type llmCallRecord struct {
	Provider              string  `json:"provider"`
	API                   string  `json:"api"`
	Model                 string  `json:"model"`
	ResponseModel         *string `json:"responseModel"`
	UsageAvailable        bool    `json:"usageAvailable"`
	PromptTokens          *int64  `json:"promptTokens"`
	CompletionTokens      *int64  `json:"completionTokens"`
	TotalTokens           *int64  `json:"totalTokens"`
	CachedInputTokens     *int64  `json:"cachedInputTokens"`
	CacheWriteInputTokens *int64  `json:"cacheWriteInputTokens"`
	ReasoningTokens       *int64  `json:"reasoningTokens"`
	DurationMs            int64   `json:"durationMs"`
	Status                string  `json:"status"`
	Error                 *string `json:"error"`
	HTTPStatus            *int    `json:"httpStatus"`
	FinishReason          *string `json:"finishReason"`
	Stream                *bool   `json:"stream"`
	Step                  int     `json:"step"`
}

// newLogger returns a Logger on an audittest.Store and closes it when the
// test ends.
func newLogger(t *testing.T) (*audit.Logger, *audittest.Store) {
	t.Helper()
	return audittest.NewLogger(t)
}

// flushedCalls flushes logger and returns the llm_call entries in store.
func flushedCalls(t *testing.T, logger *audit.Logger, store *audittest.Store) ([]audit.Entry, []llmCallRecord) {
	t.Helper()
	entries := store.Flushed(t, logger)
	records := make([]llmCallRecord, len(entries))
	for i, e := range entries {
		if e.Type != audit.TypeLLMCall {
			t.Fatalf("entry %d type = %q, want %q", i, e.Type, audit.TypeLLMCall)
		}
		if err := audittest.DecodeMetadata(e, &records[i]); err != nil {
			t.Fatalf("decode metadata %s: %v", e.Metadata, err)
		}
	}
	return entries, records
}

// stubModel returns a fixed result, or panics with panicValue when set.
type stubModel struct {
	resp       *llm.Response
	err        error
	panicValue any
	calls      int
	mu         sync.Mutex
}

func (m *stubModel) Provider() string { return "stub" }
func (m *stubModel) API() string      { return "chat_completions" }

func (m *stubModel) Generate(ctx context.Context, req llm.Request) (*llm.Response, error) {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
	if m.panicValue != nil {
		panic(m.panicValue)
	}
	return m.resp, m.err
}

func successResponse() *llm.Response {
	return &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, Content: "hi"},
		FinishReason: "stop",
		Model:        "stub-model-2025",
		HTTPStatus:   200,
		Usage: audit.Usage{
			Available:         true,
			PromptTokens:      audit.Int64(1000),
			CompletionTokens:  audit.Int64(20),
			TotalTokens:       audit.Int64(1020),
			CachedInputTokens: audit.Int64(400),
			ReasoningTokens:   audit.Int64(0),
		},
	}
}

func TestAuditReturnsModelResult(t *testing.T) {
	apiErr := fmt.Errorf("wrapped: %w", &llm.APIError{Provider: "stub", StatusCode: 429, Message: "slow down"})
	partial := &llm.Response{Model: "x"}
	tests := []struct {
		name string
		resp *llm.Response
		err  error
	}{
		{"success", successResponse(), nil},
		{"error", nil, apiErr},
		{"response and error", partial, errors.New("cut short")},
		{"nil and nil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := newLogger(t)
			model := llm.Audit(&stubModel{resp: tt.resp, err: tt.err}, logger)

			resp, err := model.Generate(context.Background(), llm.Request{Model: "stub-model"})
			if resp != tt.resp {
				t.Errorf("Generate() response = %p, want the model's %p", resp, tt.resp)
			}
			if err != tt.err {
				t.Errorf("Generate() error = %v, want the model's %v", err, tt.err)
			}
		})
	}
}

func TestAuditLogsSuccess(t *testing.T) {
	logger, store := newLogger(t)
	model := llm.Audit(&stubModel{resp: successResponse()}, logger)
	ctx := llm.WithStep(audit.WithChatID(context.Background(), "chat-1"), 3)

	if _, err := model.Generate(ctx, llm.Request{Model: "stub-model"}); err != nil {
		t.Fatalf("Generate() = %v", err)
	}

	entries, records := flushedCalls(t, logger, store)
	if len(records) != 1 {
		t.Fatalf("logged %d entries, want 1", len(records))
	}
	if got, want := entries[0].ChatID, "chat-1"; got != want {
		t.Errorf("ChatID = %q, want %q", got, want)
	}
	got := records[0]
	checks := []struct {
		field     string
		got, want any
	}{
		{"provider", got.Provider, "stub"},
		{"api", got.API, "chat_completions"},
		{"model", got.Model, "stub-model"},
		{"responseModel", deref(got.ResponseModel), "stub-model-2025"},
		{"status", got.Status, "success"},
		{"error", deref(got.Error), nil},
		{"httpStatus", deref(got.HTTPStatus), 200},
		{"finishReason", deref(got.FinishReason), "stop"},
		{"stream", deref(got.Stream), false},
		{"step", got.Step, 3},
		{"usageAvailable", got.UsageAvailable, true},
		{"promptTokens", deref(got.PromptTokens), int64(1000)},
		{"completionTokens", deref(got.CompletionTokens), int64(20)},
		{"totalTokens", deref(got.TotalTokens), int64(1020)},
		{"cachedInputTokens", deref(got.CachedInputTokens), int64(400)},
		{"cacheWriteInputTokens", deref(got.CacheWriteInputTokens), nil},
		{"reasoningTokens", deref(got.ReasoningTokens), int64(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if got.DurationMs < 1 {
		t.Errorf("durationMs = %d, want 1 or more", got.DurationMs)
	}
}

func TestAuditLogsErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		message    string
		httpStatus any
	}{
		{"API error", fmt.Errorf("call: %w", &llm.APIError{Provider: "stub", StatusCode: 400, Message: "Unsupported parameter: 'max_tokens'"}), "Unsupported parameter: 'max_tokens'", 400},
		{"API error without message", &llm.APIError{Provider: "stub", StatusCode: 503}, "stub: HTTP 503: ", 503},
		{"API error with odd status", &llm.APIError{Provider: "stub", StatusCode: 999, Message: "odd"}, "odd", nil},
		{"transport error", errors.New("openai: dial tcp 127.0.0.1:1: connection refused"), "openai: dial tcp 127.0.0.1:1: connection refused", nil},
		{"context", context.DeadlineExceeded, "context deadline exceeded", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, store := newLogger(t)
			model := llm.Audit(&stubModel{err: tt.err}, logger)

			if _, err := model.Generate(context.Background(), llm.Request{Model: "stub-model"}); err != tt.err {
				t.Fatalf("Generate() = %v, want %v", err, tt.err)
			}

			_, records := flushedCalls(t, logger, store)
			if len(records) != 1 {
				t.Fatalf("logged %d entries, want 1", len(records))
			}
			got := records[0]
			if got.Status != "error" {
				t.Errorf("status = %q, want error", got.Status)
			}
			if deref(got.Error) != tt.message {
				t.Errorf("error = %v, want %q", deref(got.Error), tt.message)
			}
			if deref(got.HTTPStatus) != tt.httpStatus {
				t.Errorf("httpStatus = %v, want %v", deref(got.HTTPStatus), tt.httpStatus)
			}
			if got.UsageAvailable || got.PromptTokens != nil {
				t.Errorf("usage = %v/%v, want unavailable and null", got.UsageAvailable, deref(got.PromptTokens))
			}
			if got.Model != "stub-model" {
				t.Errorf("model = %q, want %q", got.Model, "stub-model")
			}
		})
	}
}

func TestAuditLogsStream(t *testing.T) {
	streamed := successResponse()
	streamed.Stream = true
	broken := &llm.Response{
		Stream:     true,
		HTTPStatus: 200,
		Usage:      audit.Usage{Available: true, PromptTokens: audit.Int64(394), CompletionTokens: audit.Int64(6), TotalTokens: audit.Int64(400)},
	}
	tests := []struct {
		name       string
		resp       *llm.Response
		err        error
		wantStatus string
		wantPrompt any
	}{
		{"complete stream", streamed, nil, "success", int64(1000)},
		{"stream cut short", broken, errors.New("stream ended early"), "error", int64(394)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, store := newLogger(t)
			model := llm.Audit(&stubModel{resp: tt.resp, err: tt.err}, logger)

			_, _ = model.Generate(context.Background(), llm.Request{Model: "stub-model"})

			_, records := flushedCalls(t, logger, store)
			if len(records) != 1 {
				t.Fatalf("logged %d entries, want 1", len(records))
			}
			got := records[0]
			if deref(got.Stream) != true {
				t.Errorf("stream = %v, want true", deref(got.Stream))
			}
			if got.Status != tt.wantStatus {
				t.Errorf("status = %q, want %q", got.Status, tt.wantStatus)
			}
			if deref(got.PromptTokens) != tt.wantPrompt {
				t.Errorf("promptTokens = %v, want %v", deref(got.PromptTokens), tt.wantPrompt)
			}
		})
	}
}

func TestAuditLogsCanceledCall(t *testing.T) {
	logger, store := newLogger(t)
	ctx, cancel := context.WithCancel(audit.WithChatID(context.Background(), "chat-2"))
	cancel()
	model := llm.Audit(&stubModel{err: fmt.Errorf("openai: chat completion: %w", context.Canceled)}, logger)

	if _, err := model.Generate(ctx, llm.Request{Model: "m"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate() = %v, want context.Canceled", err)
	}

	// The canceled context must not keep the call out of the audit trail.
	entries, records := flushedCalls(t, logger, store)
	if len(records) != 1 {
		t.Fatalf("logged %d entries, want 1", len(records))
	}
	if got, want := entries[0].ChatID, "chat-2"; got != want {
		t.Errorf("ChatID = %q, want %q", got, want)
	}
	if got, want := deref(records[0].Error), "openai: chat completion: context canceled"; got != want {
		t.Errorf("error = %v, want %q", got, want)
	}
}

func TestAuditHidesLoggerErrors(t *testing.T) {
	t.Run("closed logger", func(t *testing.T) {
		store := audittest.NewStore()
		logger := audit.New(store)
		if err := logger.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The Logger now rejects every entry with ErrClosed.
		if err := logger.Log(context.Background(), &audit.LLMCall{Provider: "p", Model: "m", Status: audit.StatusSuccess}); !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("Log() after Close = %v, want ErrClosed", err)
		}

		want := successResponse()
		resp, err := llm.Audit(&stubModel{resp: want}, logger).Generate(context.Background(), llm.Request{Model: "m"})
		if err != nil {
			t.Errorf("Generate() = %v, want nil although the logger is closed", err)
		}
		if resp != want {
			t.Errorf("Generate() response = %p, want the model's %p", resp, want)
		}
	})

	t.Run("invalid entry", func(t *testing.T) {
		logger, _ := newLogger(t)
		// Counts without usageAvailable fail the entry's validation.
		bad := &llm.Response{Usage: audit.Usage{PromptTokens: audit.Int64(1)}}
		resp, err := llm.Audit(&stubModel{resp: bad}, logger).Generate(context.Background(), llm.Request{Model: "m"})
		if err != nil {
			t.Errorf("Generate() = %v, want nil although the entry is invalid", err)
		}
		if resp != bad {
			t.Errorf("Generate() response = %p, want the model's %p", resp, bad)
		}
		if got := logger.Stats().Invalid; got != 1 {
			t.Errorf("Stats().Invalid = %d, want 1", got)
		}
	})
}

func TestAuditModelFallback(t *testing.T) {
	tests := []struct {
		name string
		resp *llm.Response
		want string
	}{
		{"response model", &llm.Response{Model: "gpt-4o-2024-08-06"}, "gpt-4o-2024-08-06"},
		{"no model", nil, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, store := newLogger(t)
			model := llm.Audit(&stubModel{resp: tt.resp, err: errors.New("openai: request has no model")}, logger)

			model.Generate(context.Background(), llm.Request{})

			_, records := flushedCalls(t, logger, store)
			if len(records) != 1 {
				t.Fatalf("logged %d entries, want 1", len(records))
			}
			if records[0].Model != tt.want {
				t.Errorf("model = %q, want %q", records[0].Model, tt.want)
			}
		})
	}
}

func TestAuditLogsPanic(t *testing.T) {
	logger, store := newLogger(t)
	model := llm.Audit(&stubModel{panicValue: "boom"}, logger)

	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the model's panic value boom", r)
			}
		}()
		model.Generate(context.Background(), llm.Request{Model: "m"})
		t.Error("Generate() returned, want the model's panic to go on")
	}()

	_, records := flushedCalls(t, logger, store)
	if len(records) != 1 {
		t.Fatalf("logged %d entries, want 1", len(records))
	}
	if got := records[0]; got.Status != "error" || deref(got.Error) != "llm: model panicked: boom" {
		t.Errorf("entry = %s %v, want error %q", got.Status, deref(got.Error), "llm: model panicked: boom")
	}
}

func TestAuditConcurrent(t *testing.T) {
	logger, store := newLogger(t)
	stub := &stubModel{resp: successResponse()}
	model := llm.Audit(stub, logger)

	const calls = 50
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			ctx := llm.WithStep(context.Background(), i+1)
			if _, err := model.Generate(ctx, llm.Request{Model: "m"}); err != nil {
				t.Errorf("Generate() = %v", err)
			}
		})
	}
	wg.Wait()

	_, records := flushedCalls(t, logger, store)
	if len(records) != calls {
		t.Fatalf("logged %d entries, want %d", len(records), calls)
	}
	steps := map[int]bool{}
	for _, r := range records {
		steps[r.Step] = true
	}
	if len(steps) != calls {
		t.Errorf("logged %d distinct steps, want %d", len(steps), calls)
	}
}

func TestAuditNilArguments(t *testing.T) {
	stub := &stubModel{}
	if got := llm.Audit(stub, nil); got != stub {
		t.Errorf("Audit(m, nil) = %v, want m itself", got)
	}

	defer func() {
		if r := recover(); r == nil {
			t.Error("Audit(nil, logger) did not panic")
		}
	}()
	logger, _ := newLogger(t)
	llm.Audit(nil, logger)
}

func TestAuditForwardsNames(t *testing.T) {
	logger, _ := newLogger(t)
	model := llm.Audit(&stubModel{}, logger)
	if got, want := model.Provider(), "stub"; got != want {
		t.Errorf("Provider() = %q, want %q", got, want)
	}
	if got, want := model.API(), "chat_completions"; got != want {
		t.Errorf("API() = %q, want %q", got, want)
	}
}

func TestStep(t *testing.T) {
	if got := llm.Step(context.Background()); got != 0 {
		t.Errorf("Step(background) = %d, want 0", got)
	}
	ctx := llm.WithStep(context.Background(), 2)
	if got := llm.Step(ctx); got != 2 {
		t.Errorf("Step(WithStep(ctx, 2)) = %d, want 2", got)
	}
	if got := llm.Step(llm.WithStep(ctx, 5)); got != 5 {
		t.Errorf("Step after a second WithStep = %d, want 5", got)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
