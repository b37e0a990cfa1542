package wire

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// TestStreamParserExpected runs every recorded stream through a
// StreamParser in one write and compares the record with the expected one.
func TestStreamParserExpected(t *testing.T) {
	for _, c := range fixtures.Expected(t) {
		if !c.Stream {
			continue
		}
		t.Run(c.File, func(t *testing.T) {
			p := NewStreamParser(API(c.API))
			body := streamBody(t, c.File)

			n, err := p.Write(body)
			if n != len(body) || err != nil {
				t.Fatalf("Write(%d bytes) = %d, %v, want %d, nil", len(body), n, err, len(body))
			}
			checkCase(t, c, p.Result())

			if got := p.Skipped(); got != 0 {
				t.Errorf("Skipped() = %d, want 0", got)
			}
			// A verbatim SSE recording ends the way the provider ends a
			// stream; the .chunks.jsonl recorder dropped [DONE] lines.
			if strings.HasSuffix(c.File, ".sse") && !p.Done() {
				t.Error("Done() = false after the whole recorded stream, want true")
			}
		})
	}
}

// TestStreamParserSplits feeds every recorded stream in 1-byte writes and
// in random splits and expects the result of a single write.
func TestStreamParserSplits(t *testing.T) {
	for _, c := range fixtures.Expected(t) {
		if !c.Stream {
			continue
		}
		t.Run(c.File, func(t *testing.T) {
			body := streamBody(t, c.File)
			whole := NewStreamParser(API(c.API))
			whole.Write(body)
			want := whole.Result()

			splits := map[string][]int{"1-byte": split(len(body), nil)}
			for seed := range uint64(5) {
				rng := rand.New(rand.NewPCG(seed, 0x5eed))
				splits[fmt.Sprintf("seed %d", seed)] = split(len(body), rng)
			}
			for name, sizes := range splits {
				p := NewStreamParser(API(c.API))
				writeScrambled(p, body, sizes)
				if got := p.Result(); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: Result() = %+v, want %+v", name, got, want)
				}
				if p.Done() != whole.Done() {
					t.Errorf("%s: Done() = %v, want %v", name, p.Done(), whole.Done())
				}
				if p.Skipped() != whole.Skipped() {
					t.Errorf("%s: Skipped() = %d, want %d", name, p.Skipped(), whole.Skipped())
				}
			}
		})
	}
}

// split returns the sizes of writes that cut a body of n bytes: single
// bytes when rng is nil, else random sizes from 1 to 64 bytes.
func split(n int, rng *rand.Rand) []int {
	var sizes []int
	for n > 0 {
		size := 1
		if rng != nil {
			size = 1 + rng.IntN(64)
		}
		size = min(size, n)
		sizes = append(sizes, size)
		n -= size
	}
	return sizes
}

// writeScrambled writes body to p in writes of the given sizes through one
// scratch buffer, which it overwrites after each write, so that a parser
// that retained a written slice would read garbage.
func writeScrambled(p *StreamParser, body []byte, sizes []int) {
	var scratch []byte
	if len(sizes) > 0 {
		scratch = make([]byte, slices.Max(sizes))
	}
	for _, size := range sizes {
		chunk := scratch[:size]
		copy(chunk, body)
		p.Write(chunk)
		for i := range chunk {
			chunk[i] = 0xff
		}
		body = body[size:]
	}
}

func TestStreamParserFraming(t *testing.T) {
	const chunk = `{"model":"m","choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}}`
	stop := "stop"
	want := Result{
		ResponseModel: "m",
		FinishReason:  stop,
		Usage: audit.Usage{
			Available:           true,
			PromptTokens:        audit.Int64(2),
			CompletionTokens:    audit.Int64(3),
			TotalTokens:         audit.Int64(5),
			ProviderTotalTokens: audit.Int64(5),
		},
	}
	tests := []struct {
		name     string
		body     string
		wantDone bool
	}{
		{"LF", "data: " + chunk + "\n\ndata: [DONE]\n\n", true},
		{"CRLF", "data: " + chunk + "\r\n\r\ndata: [DONE]\r\n\r\n", true},
		{"CR", "data: " + chunk + "\r\rdata: [DONE]\r\r", true},
		{"no space after colon", "data:" + chunk + "\n\ndata:[DONE]\n\n", true},
		{"comment lines", ": OPENROUTER PROCESSING\n\n: ping\ndata: " + chunk + "\n\n", false},
		{"id and retry fields", "id: 1\nretry: 10\nevent: chunk\ndata: " + chunk + "\n\n", false},
		{"data over lines", "data: {\"model\":\"m\",\ndata: \"choices\":[{\"finish_reason\":\"stop\"}],\ndata: \"usage\":{\"prompt_tokens\":2,\"completion_tokens\":3,\"total_tokens\":5}}\n\n", false},
		{"trailing spaces", "data: " + chunk + "   \n\n", false},
		{"done with spaces", "data: " + chunk + "\n\ndata:  [DONE] \n\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewStreamParser(ChatCompletions)
			p.Write([]byte(tt.body))
			if got := p.Result(); !reflect.DeepEqual(got, want) {
				t.Errorf("Result() = %+v, want %+v", got, want)
			}
			if got := p.Done(); got != tt.wantDone {
				t.Errorf("Done() = %v, want %v", got, tt.wantDone)
			}
			if got := p.Skipped(); got != 0 {
				t.Errorf("Skipped() = %d, want 0", got)
			}
		})
	}
}

func TestStreamParserUnfinishedEvent(t *testing.T) {
	p := NewStreamParser(ChatCompletions)
	p.Write([]byte(`data: {"model":"m","usage":{"prompt_tokens":1}}` + "\n"))

	if got := p.Result(); got.ResponseModel != "" || got.Usage.Available {
		t.Errorf("Result() before the blank line = %+v, want the zero Result", got)
	}
	p.Write([]byte("\n"))
	if got := p.Result().ResponseModel; got != "m" {
		t.Errorf("ResponseModel after the blank line = %q, want %q", got, "m")
	}
}

func TestStreamParserSkips(t *testing.T) {
	const valid = `data: {"model":"m","choices":[{"finish_reason":"stop"}]}` + "\n\n"
	big := strings.Repeat("x", 100)
	tests := []struct {
		name        string
		body        string
		wantSkipped int
	}{
		{"malformed payload", "data: {\"model\":\n\n" + valid, 1},
		{"oversized line", "data: \"" + big + "\"\n\n" + valid, 1},
		{"oversized comment", ": " + big + "\n\n" + valid, 1},
		{"growing event names", "event: " + big[:40] + "\n" + valid + "event: " + big[:55] + "\n" + valid, 0},
		{"oversized data over lines", strings.Repeat("data: "+big[:40]+"\n", 3) + "\n" + valid, 1},
		{"oversized unterminated line", "data: " + big + big + big, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *StreamParser
			for _, sizes := range [][]int{{len(tt.body)}, split(len(tt.body), nil)} {
				p = NewStreamParser(ChatCompletions, WithMaxEventBytes(64))
				writeScrambled(p, []byte(tt.body), sizes)
				if got := p.Skipped(); got != tt.wantSkipped {
					t.Errorf("Skipped() = %d, want %d", got, tt.wantSkipped)
				}
				if got := cap(p.line); got > 64 {
					t.Errorf("cap(line) = %d, want <= 64", got)
				}
				if got := cap(p.data); got > 64 {
					t.Errorf("cap(data) = %d, want <= 64", got)
				}
				if got := cap(p.event); got > 64 {
					t.Errorf("cap(event) = %d, want <= 64", got)
				}
			}
			if tt.wantSkipped > 0 && p.Result().FinishReason != "stop" {
				t.Errorf("FinishReason after the skipped event = %q, want %q", p.Result().FinishReason, "stop")
			}
		})
	}
}

func TestStreamParserEvents(t *testing.T) {
	overloaded := "Overloaded"
	tests := []struct {
		name         string
		api          API
		body         string
		wantFailed   bool
		wantMessage  string
		wantFinish   string
		wantModel    string
		wantDone     bool
		wantSkipped  int
		wantPrompt   *int64
		wantComplete *int64
	}{
		{
			name: "anthropic error event",
			api:  AnthropicMessages,
			body: "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
				"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"" + overloaded + "\"}}\n\n",
			wantFailed: true, wantMessage: overloaded, wantModel: "claude",
			wantPrompt: audit.Int64(5), wantComplete: audit.Int64(1),
		},
		{
			name: "anthropic named delta not decoded",
			api:  AnthropicMessages,
			body: "event: content_block_delta\ndata: {not json\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":9}}\n\n" +
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			wantFinish: "max_tokens", wantDone: true, wantComplete: audit.Int64(9),
		},
		{
			name:       "responses error event with top-level message",
			api:        Responses,
			body:       "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"boom\",\"param\":null}\n\n",
			wantFailed: true, wantMessage: "boom",
		},
		{
			name: "responses incomplete",
			api:  Responses,
			body: "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\",\"status\":\"in_progress\",\"usage\":null}}\n\n" +
				"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hi\"}\n\n" +
				"event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"model\":\"gpt-5\",\"status\":\"incomplete\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4,\"total_tokens\":7}}}\n\n",
			wantFinish: "incomplete", wantModel: "gpt-5", wantDone: true,
			wantPrompt: audit.Int64(3), wantComplete: audit.Int64(4),
		},
		{
			name:       "responses failed without error event",
			api:        Responses,
			body:       "data: {\"type\":\"response.failed\",\"response\":{\"model\":\"gpt-5\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"went wrong\"}}}\n\n",
			wantFailed: true, wantMessage: "went wrong", wantFinish: "failed", wantModel: "gpt-5", wantDone: true,
		},
		{
			name: "chat error payload",
			api:  ChatCompletions,
			body: "data: {\"model\":\"m\",\"choices\":[{\"finish_reason\":null}]}\n\n" +
				"data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n",
			wantFailed: true, wantMessage: "The server had an error", wantModel: "m",
		},
		{
			name:       "gemini error chunk",
			api:        GeminiGenerateContent,
			body:       "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n",
			wantFailed: true, wantMessage: "The model is overloaded.",
		},
		{
			name: "gemini finish ends stream",
			api:  GeminiGenerateContent,
			body: "data: {\"candidates\":[{\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n" +
				"data: {\"candidates\":[{\"finishReason\":\"MAX_TOKENS\"}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":8},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n",
			wantFinish: "MAX_TOKENS", wantModel: "gemini-2.5-flash", wantDone: true,
			wantPrompt: audit.Int64(4), wantComplete: audit.Int64(8),
		},
		{
			name:     "embeddings reads only done",
			api:      Embeddings,
			body:     "data: {\"model\":\"m\"}\n\ndata: [DONE]\n\n",
			wantDone: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewStreamParser(tt.api)
			p.Write([]byte(tt.body))
			got := p.Result()

			if got.Failed != tt.wantFailed {
				t.Errorf("Failed = %v, want %v", got.Failed, tt.wantFailed)
			}
			if got.ErrorMessage != tt.wantMessage {
				t.Errorf("ErrorMessage = %q, want %q", got.ErrorMessage, tt.wantMessage)
			}
			if got.FinishReason != tt.wantFinish {
				t.Errorf("FinishReason = %q, want %q", got.FinishReason, tt.wantFinish)
			}
			if got.ResponseModel != tt.wantModel {
				t.Errorf("ResponseModel = %q, want %q", got.ResponseModel, tt.wantModel)
			}
			if p.Done() != tt.wantDone {
				t.Errorf("Done() = %v, want %v", p.Done(), tt.wantDone)
			}
			if p.Skipped() != tt.wantSkipped {
				t.Errorf("Skipped() = %d, want %d", p.Skipped(), tt.wantSkipped)
			}
			if g, w := ptr(got.Usage.PromptTokens), ptr(tt.wantPrompt); g != w {
				t.Errorf("PromptTokens = %s, want %s", g, w)
			}
			if g, w := ptr(got.Usage.CompletionTokens), ptr(tt.wantComplete); g != w {
				t.Errorf("CompletionTokens = %s, want %s", g, w)
			}
		})
	}
}

// TestParseStreamResultIndependent checks that a Result shares no counts
// with the parser, so a caller may keep it while the stream goes on.
func TestParseStreamResultIndependent(t *testing.T) {
	p := NewStreamParser(ChatCompletions)
	p.Write([]byte("data: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\n"))
	first := p.Result()
	*first.Usage.PromptTokens = 100

	if got := *p.Result().Usage.PromptTokens; got != 1 {
		t.Errorf("PromptTokens after changing an earlier Result = %d, want 1", got)
	}
	if got := ParseStream(ChatCompletions, []byte("data: {\"model\":\"m\"}\n\n")).ResponseModel; got != "m" {
		t.Errorf("ParseStream().ResponseModel = %q, want %q", got, "m")
	}
}
