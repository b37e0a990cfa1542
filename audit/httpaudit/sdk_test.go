package httpaudit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	openaioption "github.com/openai/openai-go/v3/option"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// expectedCase returns the EXPECTED.json case of file.
func expectedCase(t *testing.T, file string) fixtures.Case {
	t.Helper()
	for _, c := range fixtures.Expected(t) {
		if c.File == file {
			return c
		}
	}
	t.Fatalf("EXPECTED.json has no case %s", file)
	return fixtures.Case{}
}

// sdkServer serves the recorded response of file at the API paths.
func sdkServer(t *testing.T, file string) (*httptest.Server, fixtures.Case) {
	t.Helper()
	c := expectedCase(t, file)
	call := loadCall(t, c)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/v1/messages" {
			t.Errorf("server got %s, want an API path", r.URL.Path)
		}
		call.serve(w)
	}))
	t.Cleanup(srv.Close)
	return srv, c
}

func TestOpenAIStreamAccumulator(t *testing.T) {
	srv, c := sdkServer(t, "openai/chat-stream-tool-call-roundtrip.1.response.sse")
	tr := newTrail(t)
	client := openai.NewClient(
		openaioption.WithBaseURL(srv.URL+"/v1/"),
		openaioption.WithAPIKey("test-key"),
		openaioption.WithHTTPClient(srv.Client()),
		openaioption.WithMiddleware(Middleware(tr.logger, WithProvider("openai"))),
	)

	ctx := audit.WithChatID(context.Background(), "chat-openai")
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "gpt-4o-mini",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What's the weather in Florence,Italy?")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream.Err() = %v, want nil", err)
	}
	if err := stream.Close(); err != nil {
		t.Errorf("stream.Close() = %v, want nil", err)
	}

	if len(acc.Choices) != 1 || len(acc.Choices[0].Message.ToolCalls) != 1 {
		t.Fatalf("accumulated choices = %+v, want one choice with one tool call", acc.Choices)
	}
	call := acc.Choices[0].Message.ToolCalls[0]
	if got, want := call.Function.Name, "weather"; got != want {
		t.Errorf("tool call name = %q, want %q", got, want)
	}
	if got, want := acc.Usage.TotalTokens, int64(77); got != want {
		t.Errorf("accumulated total tokens = %d, want %d", got, want)
	}

	entries := tr.entries(t)
	if len(entries) != 1 {
		t.Fatalf("store holds %d entries, want 1: %s", len(entries), describe(entries))
	}
	if got, want := entries[0].ChatID, "chat-openai"; got != want {
		t.Errorf("entry chat ID = %q, want %q", got, want)
	}
	for _, d := range diffMetadata(metadata(t, entries[0]), wantMetadata(c, http.StatusOK)) {
		t.Error(d)
	}
}

func TestAnthropicStreamAccumulate(t *testing.T) {
	srv, c := sdkServer(t, "anthropic/messages-stream-tool-use-roundtrip.1.response.sse")
	tr := newTrail(t)
	client := anthropic.NewClient(
		anthropicoption.WithBaseURL(srv.URL),
		anthropicoption.WithAPIKey("test-key"),
		anthropicoption.WithHTTPClient(srv.Client()),
		anthropicoption.WithMiddleware(Middleware(tr.logger, WithProvider("anthropic"))),
	)

	ctx := audit.WithChatID(context.Background(), "chat-anthropic")
	stream := client.Messages.NewStreaming(ctx, anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-20250514",
		MaxTokens: 4000,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What's the weather in Florence,Italy?"))},
	})
	var message anthropic.Message
	for stream.Next() {
		if err := message.Accumulate(stream.Current()); err != nil {
			t.Fatalf("Accumulate() = %v, want nil", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream.Err() = %v, want nil", err)
	}
	if err := stream.Close(); err != nil {
		t.Errorf("stream.Close() = %v, want nil", err)
	}

	if got, want := string(message.StopReason), "tool_use"; got != want {
		t.Errorf("accumulated stop reason = %q, want %q", got, want)
	}
	var toolUses int
	for _, block := range message.Content {
		if block.Type == "tool_use" {
			toolUses++
		}
	}
	if toolUses != 1 {
		t.Errorf("accumulated tool_use blocks = %d, want 1", toolUses)
	}

	entries := tr.entries(t)
	if len(entries) != 1 {
		t.Fatalf("store holds %d entries, want 1: %s", len(entries), describe(entries))
	}
	if got, want := entries[0].ChatID, "chat-anthropic"; got != want {
		t.Errorf("entry chat ID = %q, want %q", got, want)
	}
	for _, d := range diffMetadata(metadata(t, entries[0]), wantMetadata(c, http.StatusOK)) {
		t.Error(d)
	}
}

// retryServer responds to the first request with a 500 and to later ones
// with the recorded response of file.
func retryServer(t *testing.T, file string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	call := loadCall(t, expectedCase(t, file))
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			// A short server-directed delay keeps the SDK's backoff brief.
			w.Header().Set("Retry-After-Ms", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"message":"The server had an error","type":"server_error"}}`))
			return
		}
		call.serve(w)
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestSDKRetryLogsEachAttempt(t *testing.T) {
	tests := []struct {
		name string
		file string
		call func(t *testing.T, base string, mw func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error), client *http.Client)
	}{
		{
			name: "openai",
			file: "openai/chat-basic.response.json",
			call: func(t *testing.T, base string, mw func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error), hc *http.Client) {
				client := openai.NewClient(
					openaioption.WithBaseURL(base+"/v1/"),
					openaioption.WithAPIKey("test-key"),
					openaioption.WithHTTPClient(hc),
					openaioption.WithMaxRetries(1),
					openaioption.WithMiddleware(mw),
				)
				_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
					Model:    "gpt-3.5-turbo",
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
				})
				if err != nil {
					t.Fatalf("Chat.Completions.New() error = %v, want nil", err)
				}
			},
		},
		{
			name: "anthropic",
			file: "anthropic/messages-basic.response.json",
			call: func(t *testing.T, base string, mw func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error), hc *http.Client) {
				client := anthropic.NewClient(
					anthropicoption.WithBaseURL(base),
					anthropicoption.WithAPIKey("test-key"),
					anthropicoption.WithHTTPClient(hc),
					anthropicoption.WithMaxRetries(1),
					anthropicoption.WithMiddleware(mw),
				)
				_, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{
					Model:     "claude-3-opus-20240229",
					MaxTokens: 1024,
					Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
				})
				if err != nil {
					t.Fatalf("Messages.New() error = %v, want nil", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, requests := retryServer(t, tt.file)
			tr := newTrail(t)
			tt.call(t, srv.URL, Middleware(tr.logger), srv.Client())

			if got := requests.Load(); got != 2 {
				t.Fatalf("server answered %d requests, want 2", got)
			}
			entries := tr.entries(t)
			if len(entries) != 2 {
				t.Fatalf("store holds %d entries, want 2: %s", len(entries), describe(entries))
			}
			first, second := metadata(t, entries[0]), metadata(t, entries[1])
			if got, want := first["status"], "error"; got != want {
				t.Errorf("first attempt status = %v, want %v", got, want)
			}
			if got, want := first["httpStatus"], float64(500); got != want {
				t.Errorf("first attempt httpStatus = %v, want %v", got, want)
			}
			if got, want := second["status"], "success"; got != want {
				t.Errorf("second attempt status = %v, want %v", got, want)
			}
			if got, want := second["usageAvailable"], true; got != want {
				t.Errorf("second attempt usageAvailable = %v, want %v", got, want)
			}
			if first["model"] == "" || first["model"] != second["model"] {
				t.Errorf("attempt models = %v and %v, want the requested model twice", first["model"], second["model"])
			}
		})
	}
}
