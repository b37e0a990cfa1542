package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/anthropic"
	"github.com/agentaudit/agentaudit/llm/replay"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// okBody is a minimal successful message.
const okBody = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514",
"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,
"usage":{"input_tokens":3,"output_tokens":1}}`

// start serves responses on a replay server and returns a Model pointed at
// it with retries off, so that one response is one call.
func start(t *testing.T, responses []replay.Response, opts ...anthropic.Option) (*anthropic.Model, *replay.Server) {
	t.Helper()
	srv, err := replay.NewServer(responses...)
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
	base := []anthropic.Option{
		anthropic.WithBaseURL(srv.URL()),
		anthropic.WithAPIKey("test-key"),
		anthropic.WithHTTPClient(client),
		anthropic.WithMaxRetries(0),
	}
	return anthropic.New(append(base, opts...)...), srv
}

func load(t *testing.T, name string) replay.Response {
	t.Helper()
	resp, err := replay.LoadFile(fixtures.Path(t, name))
	if err != nil {
		t.Fatalf("replay.LoadFile(%s) = %v", name, err)
	}
	return resp
}

// jsonEqual reports whether two JSON texts encode the same value.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("decode %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func TestGenerateRequestBody(t *testing.T) {
	model, srv := start(t, []replay.Response{replay.JSON(200, okBody)})

	req := llm.Request{
		Model: "claude-sonnet-4-20250514",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are terse."},
			{Role: llm.RoleSystem, Content: ""},
			{Role: llm.RoleSystem, Content: "Answer in English."},
			{Role: llm.RoleUser, Content: "Weather in Florence and Rome?"},
			{Role: llm.RoleAssistant, Content: "Checking.", ToolCalls: []llm.ToolCall{
				{ID: "toolu_1", Name: "weather", Arguments: `{"location":"Florence","days":12345678901234567}`},
			}},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "toolu_2", Name: "weather", Arguments: ""},
			}},
			{Role: llm.RoleTool, ToolCallID: "toolu_1", ToolName: "weather", Content: "40 C"},
			{Role: llm.RoleTool, ToolCallID: "toolu_2", ToolName: "weather", Content: "unknown city", IsError: true},
			{Role: llm.RoleUser, Content: "Thanks."},
		},
		Tools: []llm.ToolSpec{{
			Name:        "weather",
			Description: "Get weather information for a location",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string","maxLength":12345678901234567}},"required":["location"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`),
		}, {
			Name: "now",
		}},
	}
	if _, err := model.Generate(context.Background(), req); err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}

	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server received %d requests, want 1", len(reqs))
	}
	if got, want := reqs[0].Path, "/v1/messages"; got != want {
		t.Errorf("request path = %q, want %q", got, want)
	}
	// SDK v2.17.0 sends the API key as a bearer token.
	if got, want := reqs[0].Header.Get("Authorization"), "Bearer test-key"; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	want := `{
		"model": "claude-sonnet-4-20250514",
		"max_tokens": 1024,
		"system": [
			{"type": "text", "text": "You are terse."},
			{"type": "text", "text": "Answer in English."}
		],
		"messages": [
			{"role": "user", "content": [{"type": "text", "text": "Weather in Florence and Rome?"}]},
			{"role": "assistant", "content": [
				{"type": "text", "text": "Checking."},
				{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"location": "Florence", "days": 12345678901234567}},
				{"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}}
			]},
			{"role": "user", "content": [
				{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "40 C"}]},
				{"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "unknown city"}], "is_error": true},
				{"type": "text", "text": "Thanks."}
			]}
		],
		"tools": [
			{"name": "weather", "description": "Get weather information for a location",
			 "input_schema": {"type": "object", "properties": {"location": {"type": "string", "maxLength": 12345678901234567}}, "required": ["location"], "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"}},
			{"name": "now", "input_schema": {"type": "object", "properties": {}}}
		]
	}`
	if !jsonEqual(t, reqs[0].Body, []byte(want)) {
		t.Errorf("request body =\n%s\nwant\n%s", reqs[0].Body, want)
	}
	if n := strings.Count(string(reqs[0].Body), "12345678901234567"); n != 2 {
		t.Errorf("request body %s keeps 12345678901234567 in %d places, want 2", reqs[0].Body, n)
	}
}

func TestGenerateMaxTokens(t *testing.T) {
	model, srv := start(t, []replay.Response{replay.JSON(200, okBody)})

	_, err := model.Generate(context.Background(), llm.Request{Model: "m", MaxTokens: 4000, Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	if err != nil {
		t.Fatalf("Generate() = %v", err)
	}
	var body struct {
		MaxTokens int `json:"max_tokens"`
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.MaxTokens != 4000 {
		t.Errorf("max_tokens = %d, want 4000", body.MaxTokens)
	}
}

func TestGenerateLargeMaxTokens(t *testing.T) {
	req := llm.Request{Model: "m", MaxTokens: 30000, Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}

	model, srv := start(t, []replay.Response{replay.JSON(200, okBody)})
	if _, err := model.Generate(context.Background(), req); err == nil || !strings.Contains(err.Error(), "streaming is required") {
		t.Errorf("Generate() with MaxTokens 30000 = %v, want the SDK's streaming error", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("server received %d requests, want 0", n)
	}

	model, srv = start(t, []replay.Response{replay.JSON(200, okBody)}, anthropic.WithRequestOptions(option.WithRequestTimeout(time.Minute)))
	if _, err := model.Generate(context.Background(), req); err != nil {
		t.Errorf("Generate() with MaxTokens 30000 and a request timeout = %v, want nil", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("server received %d requests, want 1", n)
	}
}

func TestGenerateRecordedRequest(t *testing.T) {
	// The second call of the recorded tool loop, rebuilt from llm types,
	// must send what the recorded client sent.
	model, srv := start(t, []replay.Response{load(t, "anthropic/messages-tool-use-roundtrip.2.response.json")})
	req := llm.Request{
		Model:     "claude-sonnet-4-20250514",
		MaxTokens: 4000,
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are a helpful assistant"},
			{Role: llm.RoleUser, Content: "What's the weather in Florence,Italy?"},
			{Role: llm.RoleAssistant, Content: "I'll check the weather in Florence, Italy for you.", ToolCalls: []llm.ToolCall{
				{ID: "toolu_01XLb9pzgfLa2EMyqWot6Ezt", Name: "weather", Arguments: `{"location":"Florence,Italy"}`},
			}},
			{Role: llm.RoleTool, ToolCallID: "toolu_01XLb9pzgfLa2EMyqWot6Ezt", Content: "40 C"},
		},
		Tools: []llm.ToolSpec{{
			Name:        "weather",
			Description: "Get weather information for a location",
			InputSchema: json.RawMessage(`{"properties":{"location":{"description":"the city","type":"string"}},"required":["location"],"type":"object"}`),
		}},
	}
	if _, err := model.Generate(context.Background(), req); err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}

	var recorded map[string]any
	if err := json.Unmarshal(fixtures.Read(t, "anthropic/messages-tool-use-roundtrip.2.request.json"), &recorded); err != nil {
		t.Fatal(err)
	}
	// The recording also set tool_choice, which llm.Request does not carry.
	delete(recorded, "tool_choice")
	want, _ := json.Marshal(recorded)
	if got := srv.Requests()[0].Body; !jsonEqual(t, got, want) {
		t.Errorf("request body =\n%s\nwant the recorded one\n%s", got, want)
	}
}

func TestGenerateToolUse(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "anthropic/messages-tool-use-roundtrip.1.response.json")})

	resp, err := model.Generate(context.Background(), llm.Request{
		Model:    "claude-sonnet-4-20250514",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "What's the weather in Florence,Italy?"}},
	})
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	want := []llm.ToolCall{{ID: "toolu_01XLb9pzgfLa2EMyqWot6Ezt", Name: "weather", Arguments: `{"location":"Florence,Italy"}`}}
	if !reflect.DeepEqual(resp.Message.ToolCalls, want) {
		t.Errorf("ToolCalls = %+v, want %+v", resp.Message.ToolCalls, want)
	}
	if got, want := resp.Message.Content, "I'll check the weather in Florence, Italy for you."; got != want {
		t.Errorf("Content = %q, want %q", got, want)
	}
	if got, want := resp.Message.Role, llm.RoleAssistant; got != want {
		t.Errorf("Role = %q, want %q", got, want)
	}
	if got, want := resp.FinishReason, "tool_use"; got != want {
		t.Errorf("FinishReason = %q, want %q", got, want)
	}
	if got, want := resp.Model, "claude-sonnet-4-20250514"; got != want {
		t.Errorf("Model = %q, want %q", got, want)
	}
	if got, want := resp.HTTPStatus, 200; got != want {
		t.Errorf("HTTPStatus = %d, want %d", got, want)
	}
}

func TestGenerateCacheTokens(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "anthropic/messages-prompt-cache.2.response.derived.json")})

	resp, err := model.Generate(context.Background(), llm.Request{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	u := resp.Usage
	if !u.Available {
		t.Fatal("Usage.Available = false, want true")
	}
	checks := []struct {
		name string
		got  *int64
		want int64
	}{
		{"PromptTokens", u.PromptTokens, 1532},
		{"CachedInputTokens", u.CachedInputTokens, 1111},
		{"CacheWriteInputTokens", u.CacheWriteInputTokens, 418},
		{"CompletionTokens", u.CompletionTokens, 33},
		{"TotalTokens", u.TotalTokens, 1565},
	}
	for _, c := range checks {
		if c.got == nil || *c.got != c.want {
			t.Errorf("Usage.%s = %v, want %d", c.name, deref(c.got), c.want)
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestGenerateAPIError(t *testing.T) {
	tests := []struct {
		name    string
		resp    replay.Response
		status  int
		message string
	}{
		{"400 invalid request", load(t, "anthropic/error-400-invalid-request.response.derived.json"), 400,
			"This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium."},
		{"529 overloaded", load(t, "anthropic/error-529-overloaded.response.json"), 529, "Overloaded"},
		{"502 HTML body", replay.Response{Status: 502, ContentType: "text/html", Body: []byte("<html>bad gateway</html>")}, 502, "Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, srv := start(t, []replay.Response{tt.resp})

			resp, err := model.Generate(context.Background(), llm.Request{Model: "claude-opus-4-6", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
			if resp != nil {
				t.Errorf("Generate() response = %+v, want nil", resp)
			}
			var apiErr *llm.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("Generate() error = %v (%T), want *llm.APIError", err, err)
			}
			if apiErr.Provider != "anthropic" {
				t.Errorf("APIError.Provider = %q, want %q", apiErr.Provider, "anthropic")
			}
			if apiErr.StatusCode != tt.status {
				t.Errorf("APIError.StatusCode = %d, want %d", apiErr.StatusCode, tt.status)
			}
			if apiErr.Message != tt.message {
				t.Errorf("APIError.Message = %q, want %q", apiErr.Message, tt.message)
			}
			var sdkErr *sdk.Error
			if !errors.As(err, &sdkErr) {
				t.Errorf("Generate() error = %v, want it to wrap *anthropic.Error", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("server received %d requests, want 1 with retries off", n)
			}
		})
	}
}

func TestGenerateTransportError(t *testing.T) {
	model, srv := start(t, nil)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	_, err := model.Generate(context.Background(), llm.Request{Model: "claude-x", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	if err == nil {
		t.Fatal("Generate() against a closed server = nil, want an error")
	}
	var apiErr *llm.APIError
	if errors.As(err, &apiErr) {
		t.Errorf("Generate() error = %v, want a transport error, not *llm.APIError", err)
	}
	if !strings.HasPrefix(err.Error(), `anthropic: messages request for model "claude-x": `) {
		t.Errorf("Generate() error = %q, want the anthropic prefix and the model", err)
	}
}

func TestGenerateCanceled(t *testing.T) {
	model, _ := start(t, []replay.Response{replay.JSON(200, okBody)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := model.Generate(ctx, llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate() with a canceled context = %v, want context.Canceled", err)
	}
}

func TestGenerateEnvironmentDefaults(t *testing.T) {
	srv, err := replay.NewServer(replay.JSON(200, okBody))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv("ANTHROPIC_BASE_URL", srv.URL()+"/proxy")
	t.Setenv("ANTHROPIC_API_KEY", "env-key")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "")

	model := anthropic.New(anthropic.WithMaxRetries(0))
	if _, err := model.Generate(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}); err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	r := srv.Requests()[0]
	if got, want := r.Path, "/proxy/v1/messages"; got != want {
		t.Errorf("request path = %q, want %q from ANTHROPIC_BASE_URL", got, want)
	}
	if got, want := r.Header.Get("Authorization"), "Bearer env-key"; got != want {
		t.Errorf("Authorization = %q, want %q from ANTHROPIC_API_KEY", got, want)
	}
	if got, want := model.Provider(), "anthropic"; got != want {
		t.Errorf("Provider() = %q, want %q", got, want)
	}
	if got, want := model.API(), "anthropic_messages"; got != want {
		t.Errorf("API() = %q, want %q", got, want)
	}
}

func TestGenerateInvalidInput(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Content: "x"}}
	tests := []struct {
		name    string
		opts    []anthropic.Option
		req     llm.Request
		wantSub []string
	}{
		{"base URL", []anthropic.Option{anthropic.WithBaseURL("://x")}, llm.Request{Model: "m", Messages: user}, []string{`invalid base URL "://x"`}},
		{"max retries", []anthropic.Option{anthropic.WithMaxRetries(-2)}, llm.Request{Model: "m", Messages: user}, []string{"invalid max retries -2"}},
		{"provider", []anthropic.Option{anthropic.WithProvider("")}, llm.Request{Model: "m", Messages: user}, []string{"provider name is empty"}},
		{"HTTP client", []anthropic.Option{anthropic.WithHTTPClient(nil)}, llm.Request{Model: "m", Messages: user}, []string{"HTTP client is nil"}},
		{"model", nil, llm.Request{Messages: user}, []string{"request has no model"}},
		{"max tokens", nil, llm.Request{Model: "m", Messages: user, MaxTokens: -1}, []string{"invalid MaxTokens -1"}},
		{"role", nil, llm.Request{Model: "m", Messages: []llm.Message{{Role: "robot"}}}, []string{"message 0", `unknown role "robot"`}},
		{"tool call ID", nil, llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool}}}, []string{"message 0", "no ToolCallID"}},
		{"arguments", nil, llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "t1", Name: "calc", Arguments: "15 * 4"}}}}}, []string{"message 0", `tool call "t1"`, "not a JSON object"}},
		{"tool name", nil, llm.Request{Model: "m", Messages: user, Tools: []llm.ToolSpec{{}}}, []string{"tool has no name"}},
		{"schema", nil, llm.Request{Model: "m", Messages: user, Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`"x"`)}}}, []string{`tool "f"`, "not a JSON object"}},
		{"schema type", nil, llm.Request{Model: "m", Messages: user, Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`{"type":"string"}`)}}}, []string{`tool "f"`, `type is "string"`, `requires "object"`}},
		{"schema required", nil, llm.Request{Model: "m", Messages: user, Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`{"required":"a"}`)}}}, []string{`"required" is "a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, srv := start(t, []replay.Response{replay.JSON(200, okBody)}, tt.opts...)

			_, err := model.Generate(context.Background(), tt.req)
			if err == nil {
				t.Fatal("Generate() = nil, want an error")
			}
			if !strings.HasPrefix(err.Error(), "anthropic: ") {
				t.Errorf("Generate() = %q, want the anthropic: prefix", err)
			}
			for _, sub := range tt.wantSub {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("Generate() = %q, want it to contain %q", err, sub)
				}
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("server received %d requests, want 0 for invalid input", n)
			}
		})
	}
}

func TestGenerateRejectsOtherAPIs(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"chat completion", `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`},
		{"empty object", `{}`},
		{"wrong type", `{"id":"msg_1","type":"completion","role":"assistant","content":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, _ := start(t, []replay.Response{replay.JSON(200, tt.body)})

			resp, err := model.Generate(context.Background(), llm.Request{Model: "claude-sonnet-4-5", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
			if err == nil || !strings.Contains(err.Error(), "is not an Anthropic Messages response") {
				t.Errorf("Generate() error = %v, want one saying the reply is not an Anthropic Messages response", err)
			}
			if resp == nil || resp.HTTPStatus != 200 {
				t.Errorf("Generate() response = %+v, want a partial response with HTTPStatus 200", resp)
			}
		})
	}
}
