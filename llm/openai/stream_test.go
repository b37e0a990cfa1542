package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/openai"
	"github.com/agentaudit/agentaudit/llm/replay"
)

// weatherRequest is the first request of the recorded streaming tool call.
var weatherRequest = llm.Request{
	Model:    "gpt-4o-mini",
	Messages: []llm.Message{{Role: llm.RoleUser, Content: "What's the weather in Florence, Italy?"}},
	Tools:    []llm.ToolSpec{{Name: "weather", Description: "Get weather information for a location", InputSchema: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)}},
}

func TestGenerateStreamToolCall(t *testing.T) {
	model, srv := start(t, []replay.Response{load(t, "openai/chat-stream-tool-call-roundtrip.1.response.sse")}, openai.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	want := []llm.ToolCall{{ID: "call_qLFv8oQOs68qRuEVmG8TuEJp", Name: "weather", Arguments: `{"location":"Florence,Italy"}`}}
	if !reflect.DeepEqual(resp.Message.ToolCalls, want) {
		t.Errorf("ToolCalls = %+v, want %+v", resp.Message.ToolCalls, want)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"Stream", resp.Stream, true},
		{"FinishReason", resp.FinishReason, "tool_calls"},
		{"Model", resp.Model, "gpt-4o-mini-2024-07-18"},
		{"HTTPStatus", resp.HTTPStatus, 200},
		{"Usage.Available", resp.Usage.Available, true},
		{"Usage.PromptTokens", deref(resp.Usage.PromptTokens), int64(61)},
		{"Usage.CompletionTokens", deref(resp.Usage.CompletionTokens), int64(16)},
		{"Usage.TotalTokens", deref(resp.Usage.TotalTokens), int64(77)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}

	// The request asks for a stream with a usage chunk.
	var sent struct {
		Stream        bool `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &sent); err != nil {
		t.Fatalf("decode sent request: %v", err)
	}
	if !sent.Stream {
		t.Error("sent stream = false, want true")
	}
	if !sent.StreamOptions.IncludeUsage {
		t.Error("sent stream_options.include_usage = false, want true")
	}
}

func TestGenerateStreamText(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "openai/chat-stream-tool-call-roundtrip.2.response.sse")}, openai.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	if got, want := resp.Message.Content, "The current temperature in Florence, Italy is 40°C."; got != want {
		t.Errorf("Content = %q, want %q", got, want)
	}
	if len(resp.Message.ToolCalls) != 0 {
		t.Errorf("ToolCalls = %+v, want none", resp.Message.ToolCalls)
	}
	if got, want := resp.FinishReason, "stop"; got != want {
		t.Errorf("FinishReason = %q, want %q", got, want)
	}
	if got, want := deref(resp.Usage.TotalTokens), int64(99); got != want {
		t.Errorf("Usage.TotalTokens = %v, want %v", got, want)
	}
}

func TestGenerateStreamNoUsage(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "openai/chat-stream-no-usage.response.sse")}, openai.WithStream(true))

	resp, err := model.Generate(context.Background(), llm.Request{Model: "gpt-3.5-turbo", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Tell me a joke"}}})
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	if resp.Usage.Available {
		t.Error("Usage.Available = true, want false for a stream without a usage chunk")
	}
	if resp.Usage.PromptTokens != nil {
		t.Errorf("Usage.PromptTokens = %d, want nil (unknown, not 0)", *resp.Usage.PromptTokens)
	}
	if !strings.HasPrefix(resp.Message.Content, "Why did the op") {
		t.Errorf("Content = %q, want the streamed joke", resp.Message.Content)
	}
}

// cutAfter returns the first n events of an event-stream body.
func cutAfter(t *testing.T, body []byte, n int) []byte {
	t.Helper()
	events := bytes.SplitAfter(body, []byte("\n\n"))
	if len(events) < n {
		t.Fatalf("body has %d events, want at least %d", len(events), n)
	}
	return bytes.Join(events[:n], nil)
}

func TestGenerateStreamEndsEarly(t *testing.T) {
	full := load(t, "openai/chat-stream-tool-call-roundtrip.1.response.sse")
	cut := full
	cut.Body = cutAfter(t, full.Body, 5)
	model, _ := start(t, []replay.Response{cut}, openai.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Generate() error = %v, want io.ErrUnexpectedEOF", err)
	}
	if !strings.Contains(err.Error(), "without [DONE] or a finish reason") {
		t.Errorf("Generate() error = %q, want it to name the missing end", err)
	}
	if resp == nil || !resp.Stream {
		t.Fatalf("Generate() response = %+v, want a partial response with Stream set", resp)
	}
	if resp.Usage.Available {
		t.Error("Usage.Available = true, want false before the usage chunk")
	}
}

func TestGenerateStreamErrorEvent(t *testing.T) {
	full := load(t, "openai/chat-stream-tool-call-roundtrip.2.response.sse")
	broken := full
	broken.Body = append(cutAfter(t, full.Body, 3), []byte(`data: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`+"\n\n")...)
	model, _ := start(t, []replay.Response{broken}, openai.WithStream(true), openai.WithProvider("gateway"))

	resp, err := model.Generate(context.Background(), weatherRequest)
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Generate() error = %v (%T), want *llm.APIError", err, err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"APIError.Provider", apiErr.Provider, "gateway"},
		{"APIError.StatusCode", apiErr.StatusCode, 200},
		{"APIError.Message", apiErr.Message, "The server had an error while processing your request."},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if resp == nil || !resp.Stream {
		t.Errorf("Generate() response = %+v, want a partial response with Stream set", resp)
	}
}

func TestGenerateStreamHTTPError(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "openai/error-429-insufficient-quota.response.json")}, openai.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Generate() error = %v (%T), want *llm.APIError", err, err)
	}
	if got, want := apiErr.StatusCode, 429; got != want {
		t.Errorf("APIError.StatusCode = %d, want %d", got, want)
	}
	if !strings.HasPrefix(apiErr.Message, "You exceeded your current quota") {
		t.Errorf("APIError.Message = %q, want the provider's message", apiErr.Message)
	}
	if resp == nil || !resp.Stream || resp.HTTPStatus != 429 {
		t.Errorf("Generate() response = %+v, want Stream set and HTTPStatus 429", resp)
	}
}

func TestGenerateStreamJSONReply(t *testing.T) {
	model, _ := start(t, []replay.Response{replay.JSON(200, okBody)}, openai.WithStream(true))

	_, err := model.Generate(context.Background(), weatherRequest)
	if err == nil || !strings.Contains(err.Error(), `is not an event stream (Content-Type "application/json")`) {
		t.Errorf("Generate() error = %v, want one saying the reply is not an event stream", err)
	}
}

func TestGenerateEventStreamWithoutStreaming(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "openai/chat-stream-tool-call-roundtrip.1.response.sse")})

	_, err := model.Generate(context.Background(), weatherRequest)
	if err == nil || !strings.Contains(err.Error(), "turn streaming on with WithStream(true)") {
		t.Errorf("Generate() error = %v, want one that points to WithStream(true)", err)
	}
}
