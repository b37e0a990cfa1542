package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/openai"
	"github.com/agentaudit/agentaudit/llm/replay"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// okBody is a minimal successful chat completion.
const okBody = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06",
"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`

// start serves responses on a replay server and returns a Model pointed at
// it with retries off, so that one response is one call.
func start(t *testing.T, responses []replay.Response, opts ...openai.Option) (*openai.Model, *replay.Server) {
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
	base := []openai.Option{
		openai.WithBaseURL(srv.URL() + "/v1"),
		openai.WithAPIKey("test-key"),
		openai.WithHTTPClient(client),
		openai.WithMaxRetries(0),
	}
	return openai.New(append(base, opts...)...), srv
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
		Model: "gpt-4o",
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are terse."},
			{Role: llm.RoleUser, Content: "What is 15 * 4?"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "calculator", Arguments: `{"expr":"15 * 4"}`},
				{ID: "call_2", Name: "calculator", Arguments: "15 * 4"},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_1", ToolName: "calculator", Content: "60"},
			{Role: llm.RoleTool, ToolCallID: "call_2", ToolName: "calculator", Content: "invalid input", IsError: true},
			{Role: llm.RoleAssistant, Content: "60."},
		},
		Tools: []llm.ToolSpec{{
			Name:        "calculator",
			Description: "Evaluates an arithmetic expression.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"expr":{"type":"string","maxLength":12345678901234567}},"required":["expr"]}`),
		}, {
			Name: "now",
		}},
		MaxTokens: 50,
	}
	if _, err := model.Generate(context.Background(), req); err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}

	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server received %d requests, want 1", len(reqs))
	}
	if got, want := reqs[0].Path, "/v1/chat/completions"; got != want {
		t.Errorf("request path = %q, want %q", got, want)
	}
	if got, want := reqs[0].Header.Get("Authorization"), "Bearer test-key"; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	want := `{
		"model": "gpt-4o",
		"max_completion_tokens": 50,
		"messages": [
			{"role": "system", "content": "You are terse."},
			{"role": "user", "content": "What is 15 * 4?"},
			{"role": "assistant", "tool_calls": [
				{"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{\"expr\":\"15 * 4\"}"}},
				{"id": "call_2", "type": "function", "function": {"name": "calculator", "arguments": "15 * 4"}}
			]},
			{"role": "tool", "tool_call_id": "call_1", "content": "60"},
			{"role": "tool", "tool_call_id": "call_2", "content": "invalid input"},
			{"role": "assistant", "content": "60."}
		],
		"tools": [
			{"type": "function", "function": {
				"name": "calculator",
				"description": "Evaluates an arithmetic expression.",
				"parameters": {"type": "object", "properties": {"expr": {"type": "string", "maxLength": 12345678901234567}}, "required": ["expr"]}
			}},
			{"type": "function", "function": {"name": "now"}}
		]
	}`
	if !jsonEqual(t, reqs[0].Body, []byte(want)) {
		t.Errorf("request body =\n%s\nwant\n%s", reqs[0].Body, want)
	}
	// The schema's large integer must keep every digit.
	if !strings.Contains(string(reqs[0].Body), "12345678901234567") {
		t.Errorf("request body %s lost the digits of maxLength 12345678901234567", reqs[0].Body)
	}
}

func TestGenerateRecordedRequest(t *testing.T) {
	// The second call of the recorded tool loop, rebuilt from llm types,
	// must send what the recorded client sent.
	model, srv := start(t, []replay.Response{load(t, "openai/chat-tool-call-roundtrip-gpt5.2.response.json")})
	req := llm.Request{
		Model:     "gpt-5",
		MaxTokens: 4000,
		Messages: []llm.Message{
			{Role: llm.RoleSystem, Content: "You are a helpful assistant"},
			{Role: llm.RoleUser, Content: "What's the weather in Florence,Italy?"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_CbLGG8FesyHec5bdp4w9isPp", Name: "weather", Arguments: `{"location":"Florence, Italy"}`}}},
			{Role: llm.RoleTool, ToolCallID: "call_CbLGG8FesyHec5bdp4w9isPp", Content: "40 C"},
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
	if err := json.Unmarshal(fixtures.Read(t, "openai/chat-tool-call-roundtrip-gpt5.2.request.json"), &recorded); err != nil {
		t.Fatal(err)
	}
	// The recording also set tool_choice and strict, which llm.Request
	// does not carry.
	delete(recorded, "tool_choice")
	for _, tool := range recorded["tools"].([]any) {
		delete(tool.(map[string]any)["function"].(map[string]any), "strict")
	}
	want, _ := json.Marshal(recorded)
	if got := srv.Requests()[0].Body; !jsonEqual(t, got, want) {
		t.Errorf("request body =\n%s\nwant the recorded one\n%s", got, want)
	}
}

func TestGenerateToolCalls(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "openai/chat-tool-call-roundtrip.1.response.json")})

	resp, err := model.Generate(context.Background(), llm.Request{
		Model:    "gpt-4o",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "What is 15 multiplied by 4?"}},
	})
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	want := []llm.ToolCall{{ID: "call_sgvhmmuASadOaDtd93TmrUsY", Name: "calculator", Arguments: `{"__arg1":"15 * 4"}`}}
	if !reflect.DeepEqual(resp.Message.ToolCalls, want) {
		t.Errorf("ToolCalls = %+v, want %+v", resp.Message.ToolCalls, want)
	}
	if got, want := resp.Message.Role, llm.RoleAssistant; got != want {
		t.Errorf("Role = %q, want %q", got, want)
	}
	if got := resp.Message.Content; got != "" {
		t.Errorf("Content = %q, want empty for a null content", got)
	}
	if got, want := resp.FinishReason, "tool_calls"; got != want {
		t.Errorf("FinishReason = %q, want %q", got, want)
	}
	if got, want := resp.Model, "gpt-4o-2024-08-06"; got != want {
		t.Errorf("Model = %q, want %q", got, want)
	}
	if got, want := resp.HTTPStatus, 200; got != want {
		t.Errorf("HTTPStatus = %d, want %d", got, want)
	}
}

func TestGenerateText(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "openai/chat-basic.response.json")})

	resp, err := model.Generate(context.Background(), llm.Request{
		Model:    "gpt-3.5-turbo",
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello, how are you?"}},
	})
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	if !strings.HasPrefix(resp.Message.Content, "Hello!") {
		t.Errorf("Content = %q, want the recorded answer", resp.Message.Content)
	}
	if len(resp.Message.ToolCalls) != 0 {
		t.Errorf("ToolCalls = %+v, want none", resp.Message.ToolCalls)
	}
	if got, want := resp.FinishReason, "stop"; got != want {
		t.Errorf("FinishReason = %q, want %q", got, want)
	}
}

func TestGenerateCachedTokens(t *testing.T) {
	body := `{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-4o-mini",
"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":1000,"completion_tokens":20,"total_tokens":1020,
"prompt_tokens_details":{"cached_tokens":400},"completion_tokens_details":{"reasoning_tokens":0}}}`
	model, _ := start(t, []replay.Response{replay.JSON(200, body)})

	resp, err := model.Generate(context.Background(), llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
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
		{"PromptTokens", u.PromptTokens, 1000},
		{"CachedInputTokens", u.CachedInputTokens, 400},
		{"CompletionTokens", u.CompletionTokens, 20},
		{"TotalTokens", u.TotalTokens, 1020},
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
		{
			name:    "429 insufficient quota",
			resp:    load(t, "openai/error-429-insufficient-quota.response.json"),
			status:  429,
			message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
		},
		{
			name:    "400 unsupported parameter",
			resp:    load(t, "openai/error-400-unsupported-parameter.response.json"),
			status:  400,
			message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
		},
		{
			name:    "502 HTML body",
			resp:    replay.Response{Status: 502, ContentType: "text/html", Body: []byte("<html>bad gateway</html>")},
			status:  502,
			message: "Bad Gateway",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, srv := start(t, []replay.Response{tt.resp}, openai.WithProvider("gateway"))

			resp, err := model.Generate(context.Background(), llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
			if resp != nil {
				t.Errorf("Generate() response = %+v, want nil", resp)
			}
			var apiErr *llm.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("Generate() error = %v (%T), want *llm.APIError", err, err)
			}
			if apiErr.Provider != "gateway" {
				t.Errorf("APIError.Provider = %q, want %q", apiErr.Provider, "gateway")
			}
			if apiErr.StatusCode != tt.status {
				t.Errorf("APIError.StatusCode = %d, want %d", apiErr.StatusCode, tt.status)
			}
			if apiErr.Message != tt.message {
				t.Errorf("APIError.Message = %q, want %q", apiErr.Message, tt.message)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("server received %d requests, want 1 with retries off", n)
			}
		})
	}
}

func TestGenerateAPIErrorUnwraps(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "openai/error-400-invalid-image-url.response.json")})

	_, err := model.Generate(context.Background(), llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	var sdkErr *sdk.Error
	if !errors.As(err, &sdkErr) {
		t.Fatalf("Generate() error = %v, want it to wrap *openai.Error", err)
	}
	if got, want := sdkErr.StatusCode, 400; got != want {
		t.Errorf("openai.Error.StatusCode = %d, want %d", got, want)
	}
	// The body was read for its message and must still be readable.
	if dump := string(sdkErr.DumpResponse(true)); !strings.Contains(dump, "invalid_image_url") {
		t.Errorf("DumpResponse() = %q, want it to contain the error body", dump)
	}
}

func TestGenerateTransportError(t *testing.T) {
	model, srv := start(t, nil)
	url := srv.URL()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	_, err := model.Generate(context.Background(), llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	if err == nil {
		t.Fatalf("Generate() against closed server %s = nil, want an error", url)
	}
	var apiErr *llm.APIError
	if errors.As(err, &apiErr) {
		t.Errorf("Generate() error = %v, want a transport error, not *llm.APIError", err)
	}
	if !strings.HasPrefix(err.Error(), `openai: chat completion for model "gpt-4o": `) {
		t.Errorf("Generate() error = %q, want the openai prefix and the model", err)
	}
}

func TestGenerateCanceled(t *testing.T) {
	model, _ := start(t, []replay.Response{replay.JSON(200, okBody)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := model.Generate(ctx, llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate() with a canceled context = %v, want context.Canceled", err)
	}
}

func TestGenerateExhaustedReplay(t *testing.T) {
	model, _ := start(t, []replay.Response{replay.JSON(200, okBody)})
	req := llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}
	if _, err := model.Generate(context.Background(), req); err != nil {
		t.Fatalf("first Generate() = %v", err)
	}

	_, err := model.Generate(context.Background(), req)
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("second Generate() = %v, want *llm.APIError", err)
	}
	if got, want := apiErr.Message, "replay: no more recorded responses (served 1)"; got != want {
		t.Errorf("APIError.Message = %q, want %q", got, want)
	}
	if got, want := apiErr.StatusCode, 500; got != want {
		t.Errorf("APIError.StatusCode = %d, want %d", got, want)
	}
}

func TestGenerateEnvironmentDefaults(t *testing.T) {
	srv, err := replay.NewServer(replay.JSON(200, okBody))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv("OPENAI_BASE_URL", srv.URL()+"/custom/v1")
	t.Setenv("OPENAI_API_KEY", "env-key")

	model := openai.New(openai.WithMaxRetries(0))
	if _, err := model.Generate(context.Background(), llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}}); err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	r := srv.Requests()[0]
	if got, want := r.Path, "/custom/v1/chat/completions"; got != want {
		t.Errorf("request path = %q, want %q from OPENAI_BASE_URL", got, want)
	}
	if got, want := r.Header.Get("Authorization"), "Bearer env-key"; got != want {
		t.Errorf("Authorization = %q, want %q from OPENAI_API_KEY", got, want)
	}
	if got, want := model.Provider(), "openai"; got != want {
		t.Errorf("Provider() = %q, want %q", got, want)
	}
	if got, want := model.API(), "chat_completions"; got != want {
		t.Errorf("API() = %q, want %q", got, want)
	}
}

func TestGenerateInvalidInput(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Content: "x"}}
	tests := []struct {
		name    string
		opts    []openai.Option
		req     llm.Request
		wantSub []string
	}{
		{"base URL", []openai.Option{openai.WithBaseURL("localhost:8080")}, llm.Request{Model: "m", Messages: user}, []string{`invalid base URL "localhost:8080"`, "http://"}},
		{"max retries", []openai.Option{openai.WithMaxRetries(-1)}, llm.Request{Model: "m", Messages: user}, []string{"invalid max retries -1", "0 or more"}},
		{"provider", []openai.Option{openai.WithProvider("")}, llm.Request{Model: "m", Messages: user}, []string{"provider name is empty"}},
		{"HTTP client", []openai.Option{openai.WithHTTPClient(nil)}, llm.Request{Model: "m", Messages: user}, []string{"HTTP client is nil"}},
		{"model", nil, llm.Request{Messages: user}, []string{"request has no model", "Request.Model"}},
		{"max tokens", nil, llm.Request{Model: "m", Messages: user, MaxTokens: -5}, []string{"invalid MaxTokens -5"}},
		{"role", nil, llm.Request{Model: "m", Messages: []llm.Message{{Role: "robot"}}}, []string{"message 0", `unknown role "robot"`}},
		{"tool call ID", nil, llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleTool, Content: "1"}}}, []string{"message 0", "no ToolCallID"}},
		{"assistant tool call", nil, llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "f"}}}}}, []string{"message 0", "tool call 0", `ID ""`}},
		{"tool name", nil, llm.Request{Model: "m", Messages: user, Tools: []llm.ToolSpec{{}}}, []string{"tool has no name"}},
		{"schema", nil, llm.Request{Model: "m", Messages: user, Tools: []llm.ToolSpec{{Name: "f", InputSchema: json.RawMessage(`[1]`)}}}, []string{`tool "f"`, "not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, srv := start(t, []replay.Response{replay.JSON(200, okBody)}, tt.opts...)

			_, err := model.Generate(context.Background(), tt.req)
			if err == nil {
				t.Fatal("Generate() = nil, want an error")
			}
			if !strings.HasPrefix(err.Error(), "openai: ") {
				t.Errorf("Generate() = %q, want the openai: prefix", err)
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
		{"anthropic message", `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}`},
		{"empty object", `{}`},
		{"null choices", `{"id":"x","object":"chat.completion","model":"m","choices":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model, _ := start(t, []replay.Response{replay.JSON(200, tt.body)})

			resp, err := model.Generate(context.Background(), llm.Request{Model: "gpt-4o", Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
			if err == nil || !strings.Contains(err.Error(), `is not a Chat Completions response: it has no "choices" array`) {
				t.Errorf("Generate() error = %v, want one saying the reply is not a Chat Completions response", err)
			}
			if resp == nil || resp.HTTPStatus != 200 {
				t.Errorf("Generate() response = %+v, want a partial response with HTTPStatus 200", resp)
			}
		})
	}
}
