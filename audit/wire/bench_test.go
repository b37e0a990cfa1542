package wire

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// benchWriteSize is the size of each Write in the benchmark, the size of a
// bufio.Reader's default buffer, as a body read through one would arrive.
const benchWriteSize = 4096

// BenchmarkStreamParser measures a StreamParser on a recorded chat stream
// and a recorded Anthropic stream. One op is one whole stream; the
// per-event metrics divide by the number of SSE events. The sdkcompare
// package runs the same streams through the official SDKs for comparison.
func BenchmarkStreamParser(b *testing.B) {
	streams := []struct {
		name string
		api  API
		file string
	}{
		{"chat", ChatCompletions, "deepseek/chat-stream-reasoner.response.sse"},
		{"anthropic", AnthropicMessages, "anthropic/messages-stream-tool-use-roundtrip.1.response.sse"},
	}
	for _, s := range streams {
		body := fixtures.Read(b, s.file)
		events := countEvents(body)

		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var completion *int64
			for b.Loop() {
				p := NewStreamParser(s.api)
				for rest := body; len(rest) > 0; {
					n := min(benchWriteSize, len(rest))
					p.Write(rest[:n])
					rest = rest[n:]
				}
				completion = p.Result().Usage.CompletionTokens
			}
			runtime.ReadMemStats(&after)

			if completion == nil || *completion == 0 {
				b.Fatalf("CompletionTokens = %s, want the recorded count", ptr(completion))
			}
			total := float64(b.N * events)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/event")
		})
	}
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
