package anthropic_test

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
	"github.com/agentaudit/agentaudit/llm/anthropic"
	"github.com/agentaudit/agentaudit/llm/replay"
)

// weatherRequest is the first request of the recorded streaming tool use.
var weatherRequest = llm.Request{
	Model:    "claude-sonnet-4-20250514",
	Messages: []llm.Message{{Role: llm.RoleUser, Content: "What's the weather in Florence,Italy?"}},
	Tools:    []llm.ToolSpec{{Name: "weather", Description: "Get weather information for a location", InputSchema: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}`)}},
}

func TestGenerateStreamToolUse(t *testing.T) {
	model, srv := start(t, []replay.Response{load(t, "anthropic/messages-stream-tool-use-roundtrip.1.response.sse")}, anthropic.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	want := []llm.ToolCall{{ID: "toolu_01N2eM4V43kGCDkq2Lw7ChWQ", Name: "weather", Arguments: `{"location": "Florence,Italy"}`}}
	if !reflect.DeepEqual(resp.Message.ToolCalls, want) {
		t.Errorf("ToolCalls = %+v, want %+v", resp.Message.ToolCalls, want)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"Content", resp.Message.Content, "I'll get the weather information for Florence, Italy for you."},
		{"Stream", resp.Stream, true},
		{"FinishReason", resp.FinishReason, "tool_use"},
		{"Model", resp.Model, "claude-sonnet-4-20250514"},
		{"HTTPStatus", resp.HTTPStatus, 200},
		{"Usage.Available", resp.Usage.Available, true},
		{"Usage.PromptTokens", deref(resp.Usage.PromptTokens), int64(394)},
		{"Usage.CompletionTokens", deref(resp.Usage.CompletionTokens), int64(67)},
		{"Usage.TotalTokens", deref(resp.Usage.TotalTokens), int64(461)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}

	var sent struct {
		Stream bool `json:"stream"`
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &sent); err != nil {
		t.Fatalf("decode sent request: %v", err)
	}
	if !sent.Stream {
		t.Error("sent stream = false, want true")
	}
}

func TestGenerateStreamText(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "anthropic/messages-stream-tool-use-roundtrip.2.response.sse")}, anthropic.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	if err != nil {
		t.Fatalf("Generate() = %v, want nil", err)
	}
	if !strings.HasPrefix(resp.Message.Content, "The current weather in Florence, Italy shows a temperature of 40°C") {
		t.Errorf("Content = %q, want the streamed answer", resp.Message.Content)
	}
	if got, want := resp.FinishReason, "end_turn"; got != want {
		t.Errorf("FinishReason = %q, want %q", got, want)
	}
	if got, want := deref(resp.Usage.TotalTokens), int64(522); got != want {
		t.Errorf("Usage.TotalTokens = %v, want %v", got, want)
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
	full := load(t, "anthropic/messages-stream-tool-use-roundtrip.1.response.sse")
	cut := full
	cut.Body = cutAfter(t, full.Body, 5)
	model, _ := start(t, []replay.Response{cut}, anthropic.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Generate() error = %v, want io.ErrUnexpectedEOF", err)
	}
	if resp == nil || !resp.Stream {
		t.Fatalf("Generate() response = %+v, want a partial response with Stream set", resp)
	}
	// message_start reported the input tokens and the first output tokens.
	if got, want := deref(resp.Usage.PromptTokens), int64(394); got != want {
		t.Errorf("Usage.PromptTokens = %v, want %v seen before the cut", got, want)
	}
	if got, want := deref(resp.Usage.CompletionTokens), int64(6); got != want {
		t.Errorf("Usage.CompletionTokens = %v, want %v seen before the cut", got, want)
	}
}

func TestGenerateStreamErrorEvent(t *testing.T) {
	full := load(t, "anthropic/messages-stream-tool-use-roundtrip.2.response.sse")
	broken := full
	broken.Body = append(cutAfter(t, full.Body, 4), []byte("event: error\n"+`data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`+"\n\n")...)
	model, _ := start(t, []replay.Response{broken}, anthropic.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Generate() error = %v (%T), want *llm.APIError", err, err)
	}
	if got, want := apiErr.Message, "Overloaded"; got != want {
		t.Errorf("APIError.Message = %q, want %q", got, want)
	}
	if got, want := apiErr.StatusCode, 200; got != want {
		t.Errorf("APIError.StatusCode = %d, want %d", got, want)
	}
	if resp == nil || !resp.Stream {
		t.Fatalf("Generate() response = %+v, want a partial response with Stream set", resp)
	}
	if got, want := deref(resp.Usage.PromptTokens), int64(476); got != want {
		t.Errorf("Usage.PromptTokens = %v, want %v seen before the error", got, want)
	}
}

func TestGenerateStreamHTTPError(t *testing.T) {
	model, _ := start(t, []replay.Response{load(t, "anthropic/error-529-overloaded.response.json")}, anthropic.WithStream(true))

	resp, err := model.Generate(context.Background(), weatherRequest)
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Generate() error = %v (%T), want *llm.APIError", err, err)
	}
	if got, want := apiErr.StatusCode, 529; got != want {
		t.Errorf("APIError.StatusCode = %d, want %d", got, want)
	}
	if resp == nil || !resp.Stream || resp.HTTPStatus != 529 {
		t.Errorf("Generate() response = %+v, want Stream set and HTTPStatus 529", resp)
	}
}

func TestGenerateStreamJSONReply(t *testing.T) {
	model, _ := start(t, []replay.Response{replay.JSON(200, okBody)}, anthropic.WithStream(true))

	_, err := model.Generate(context.Background(), weatherRequest)
	if err == nil || !strings.Contains(err.Error(), `is not an event stream (Content-Type "application/json")`) {
		t.Errorf("Generate() error = %v, want one saying the reply is not an event stream", err)
	}
}
