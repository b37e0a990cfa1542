package sdkcompare

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"testing"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicstream "github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/openai/openai-go/v3"
	openaistream "github.com/openai/openai-go/v3/packages/ssestream"
)

// writeSize is the size of each StreamParser.Write, the size of a
// bufio.Reader's default buffer, as a body read through one would arrive.
const writeSize = 4096

// BenchmarkStreamDecode reads a recorded chat stream and a recorded
// Anthropic stream with wire.StreamParser and with the SDK's stream decoder.
// One op is one whole stream; the per-event metrics divide by the number of
// SSE events.
func BenchmarkStreamDecode(b *testing.B) {
	streams := []struct {
		name string
		api  wire.API
		file string
		sdk  func(body []byte) int64
	}{
		{"chat", wire.ChatCompletions, "deepseek/chat-stream-reasoner.response.sse", openaiChat},
		{"anthropic", wire.AnthropicMessages, "anthropic/messages-stream-tool-use-roundtrip.1.response.sse", anthropicMessages},
	}
	for _, s := range streams {
		body := fixtures.Read(b, s.file)
		events := countEvents(body)

		b.Run(s.name+"/wire", func(b *testing.B) {
			var completion int64
			measure(b, len(body), events, func() {
				p := wire.NewStreamParser(s.api)
				for rest := body; len(rest) > 0; {
					n := min(writeSize, len(rest))
					p.Write(rest[:n])
					rest = rest[n:]
				}
				completion = *p.Result().Usage.CompletionTokens
			})
			if completion == 0 {
				b.Fatal("CompletionTokens = 0, want the recorded count")
			}
		})
		b.Run(s.name+"/sdk", func(b *testing.B) {
			var completion int64
			measure(b, len(body), events, func() { completion = s.sdk(body) })
			if completion == 0 {
				b.Fatal("SDK output tokens = 0, want the recorded count")
			}
		})
	}
}

// measure runs op b.N times and reports bytes per second and the time and
// allocations per SSE event.
func measure(b *testing.B, size, events int, op func()) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		op()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)

	total := float64(b.N * events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/event")
}

// eventStream wraps body as the response the SDK decoders read.
func eventStream(body []byte) *http.Response {
	return &http.Response{
		Header: http.Header{"Content-Type": []string{"text/event-stream"}},
		Body:   io.NopCloser(bytes.NewReader(body)),
	}
}

// openaiChat decodes a chat stream with openai-go and returns the
// completion tokens of its usage chunk.
func openaiChat(body []byte) int64 {
	s := openaistream.NewStream[openai.ChatCompletionChunk](openaistream.NewDecoder(eventStream(body)), nil)
	var completion int64
	for s.Next() {
		if u := s.Current().Usage; u.CompletionTokens > 0 {
			completion = u.CompletionTokens
		}
	}
	return completion
}

// anthropicMessages decodes an Anthropic stream with anthropic-sdk-go and
// returns the output tokens of its message_delta event.
func anthropicMessages(body []byte) int64 {
	s := anthropicstream.NewStream[anthropic.MessageStreamEventUnion](anthropicstream.NewDecoder(eventStream(body)), nil)
	var completion int64
	for s.Next() {
		if e := s.Current(); e.Type == "message_delta" {
			completion = e.Usage.OutputTokens
		}
	}
	return completion
}

// countEvents returns the number of SSE data: lines in body, one per event
// in the recorded streams.
func countEvents(body []byte) int {
	n := bytes.Count(body, []byte("\ndata:"))
	if bytes.HasPrefix(body, []byte("data:")) {
		n++
	}
	return n
}
