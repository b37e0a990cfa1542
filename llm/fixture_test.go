package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/anthropic"
	"github.com/agentaudit/agentaudit/llm/openai"
	"github.com/agentaudit/agentaudit/llm/replay"
)

// TestFixtureRecords replays recorded non-streaming responses through the
// real adapter and the audit wrapper, and checks the logged llm_call entry
// against the record the transcript must produce. It covers every Chat
// Completions response, from OpenAI and from OpenAI-compatible providers,
// every Anthropic Messages response, and the bare OpenAI error bodies.
func TestFixtureRecords(t *testing.T) {
	var cases int
	for _, c := range fixtures.Expected(t) {
		if c.Stream || !replayable(c) {
			continue
		}
		cases++
		t.Run(c.File, func(t *testing.T) {
			testFixtureRecord(t, c)
		})
	}
	// The transcripts hold 11 such OpenAI, 7 such Anthropic and 5 such
	// OpenAI-compatible responses.
	if cases < 23 {
		t.Errorf("replayed %d fixture cases, want at least 23", cases)
	}
}

// replayable reports whether an adapter here speaks the API of c.
func replayable(c fixtures.Case) bool {
	switch {
	case c.API == "chat_completions", c.API == "anthropic_messages":
		return true
	case strings.HasPrefix(c.File, "openai/") && c.Status == "error" && c.RequestModel == nil:
		// OpenAI sends error bodies of one shape from Chat Completions and
		// Responses, so the Chat Completions adapter reads either.
		return true
	}
	return false
}

func testFixtureRecord(t *testing.T, c fixtures.Case) {
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

	// Build the request from the recorded one when there is one.
	var (
		model llm.Model
		req   llm.Request
	)
	requestFile := fixtures.RequestFile(t, c.File)
	switch c.Provider {
	case "anthropic":
		model = anthropic.New(anthropic.WithBaseURL(srv.URL()), anthropic.WithAPIKey("test-key"),
			anthropic.WithHTTPClient(client), anthropic.WithMaxRetries(0))
		req = llm.Request{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello"}}}
		if requestFile != "" {
			req = anthropicRequest(t, fixtures.Read(t, requestFile))
		}
	default:
		model = openai.New(openai.WithBaseURL(srv.URL()+"/v1"), openai.WithAPIKey("test-key"),
			openai.WithHTTPClient(client), openai.WithMaxRetries(0), openai.WithProvider(c.Provider))
		req = llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello"}}}
		if requestFile != "" {
			req = openAIRequest(t, fixtures.Read(t, requestFile))
		}
	}
	if c.RequestModel != nil {
		req.Model = *c.RequestModel
	}

	logger, store := newLogger(t)
	_, genErr := llm.Audit(model, logger).Generate(context.Background(), req)

	// The adapter returns a provider error reply as an *llm.APIError.
	var apiErr *llm.APIError
	if c.Status == "error" {
		if !errors.As(genErr, &apiErr) {
			t.Errorf("Generate() error = %v (%T), want *llm.APIError", genErr, genErr)
		}
	} else if genErr != nil {
		t.Errorf("Generate() = %v, want nil", genErr)
	}

	// The adapter sent one request, for the requested model.
	sent := srv.Requests()
	if len(sent) != 1 {
		t.Fatalf("server received %d requests, want 1", len(sent))
	}
	var sentBody struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(sent[0].Body, &sentBody); err != nil {
		t.Fatalf("decode sent request %s: %v", sent[0].Body, err)
	}
	if sentBody.Model != req.Model {
		t.Errorf("sent model = %q, want %q", sentBody.Model, req.Model)
	}

	_, records := flushedCalls(t, logger, store)
	if len(records) != 1 {
		t.Fatalf("logged %d entries, want 1", len(records))
	}
	got := records[0]
	wantAPI := c.API
	if c.Provider == "openai" && c.API != "chat_completions" {
		wantAPI = "chat_completions"
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"provider", got.Provider, c.Provider},
		{"api", got.API, wantAPI},
		{"model", got.Model, req.Model},
		{"responseModel", deref(got.ResponseModel), deref(c.ResponseModel)},
		{"status", got.Status, c.Status},
		{"httpStatus", deref(got.HTTPStatus), deref(c.HTTPStatus)},
		{"error", deref(got.Error), deref(c.ErrorMessage)},
		{"finishReason", deref(got.FinishReason), deref(c.FinishReason)},
		{"stream", deref(got.Stream), false},
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
	if got.DurationMs < 1 {
		t.Errorf("durationMs = %d, want 1 or more", got.DurationMs)
	}
}

// openAIRequest rebuilds an llm.Request from a recorded Chat Completions
// request body. Content parts other than text are left out.
func openAIRequest(t *testing.T, body []byte) llm.Request {
	t.Helper()
	var recorded struct {
		Model    string `json:"model"`
		Messages []struct {
			Role      string          `json:"role"`
			Content   json.RawMessage `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
		MaxCompletionTokens int `json:"max_completion_tokens"`
		MaxTokens           int `json:"max_tokens"`
	}
	if err := json.Unmarshal(body, &recorded); err != nil {
		t.Fatalf("decode recorded request: %v", err)
	}

	req := llm.Request{Model: recorded.Model, MaxTokens: recorded.MaxCompletionTokens}
	if req.MaxTokens == 0 {
		req.MaxTokens = recorded.MaxTokens
	}
	for _, m := range recorded.Messages {
		msg := llm.Message{Role: llm.Role(m.Role), Content: textOf(t, m.Content), ToolCallID: m.ToolCallID}
		for _, call := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: call.ID, Name: call.Function.Name, Arguments: call.Function.Arguments})
		}
		req.Messages = append(req.Messages, msg)
	}
	for _, tool := range recorded.Tools {
		req.Tools = append(req.Tools, llm.ToolSpec{
			Name:        tool.Function.Name,
			Description: tool.Function.Description,
			InputSchema: tool.Function.Parameters,
		})
	}
	return req
}

// anthropicRequest rebuilds an llm.Request from a recorded Messages API
// request body. Blocks other than text, tool_use and tool_result are left
// out.
func anthropicRequest(t *testing.T, body []byte) llm.Request {
	t.Helper()
	var recorded struct {
		Model     string          `json:"model"`
		MaxTokens int             `json:"max_tokens"`
		System    json.RawMessage `json:"system"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &recorded); err != nil {
		t.Fatalf("decode recorded request: %v", err)
	}

	req := llm.Request{Model: recorded.Model, MaxTokens: recorded.MaxTokens}
	if system := textOf(t, recorded.System); system != "" {
		req.Messages = append(req.Messages, llm.Message{Role: llm.RoleSystem, Content: system})
	}
	for _, m := range recorded.Messages {
		msg := llm.Message{Role: llm.Role(m.Role)}
		var blocks []struct {
			Type      string          `json:"type"`
			Text      string          `json:"text"`
			ID        string          `json:"id"`
			Name      string          `json:"name"`
			Input     json.RawMessage `json:"input"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
			IsError   bool            `json:"is_error"`
		}
		if err := json.Unmarshal(m.Content, &blocks); err != nil {
			msg.Content = textOf(t, m.Content)
			req.Messages = append(req.Messages, msg)
			continue
		}
		for _, b := range blocks {
			switch b.Type {
			case "text":
				msg.Content += b.Text
			case "tool_use":
				msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: string(b.Input)})
			case "tool_result":
				req.Messages = append(req.Messages, llm.Message{Role: llm.RoleTool, ToolCallID: b.ToolUseID, Content: textOf(t, b.Content), IsError: b.IsError})
			}
		}
		if msg.Content != "" || len(msg.ToolCalls) > 0 {
			req.Messages = append(req.Messages, msg)
		}
	}
	for _, tool := range recorded.Tools {
		req.Tools = append(req.Tools, llm.ToolSpec{Name: tool.Name, Description: tool.Description, InputSchema: tool.InputSchema})
	}
	return req
}

// textOf returns the text of a content value: a string, or the joined
// text of an array of content parts. Null and absent are "".
func textOf(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		t.Fatalf("content %s is neither a string nor an array of parts: %v", raw, err)
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}
