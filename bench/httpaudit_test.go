package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/httpaudit"
)

// streamBytes is the size of the streamed response the interceptor
// benchmarks read, about 20 MB of chat completion chunks.
const streamBytes = 20 << 20

// chatStream returns a Chat Completions SSE body of about size bytes: one
// content delta per event, shaped like gpt-4o-mini's, then the finish
// chunk, the usage chunk and [DONE]. It returns the number of events too.
func chatStream(size int) ([]byte, int) {
	const head = `data: {"id":"chatcmpl-DuLdRJdgsTDkaWQbovITznUPevjfI","object":"chat.completion.chunk","created":1782321905,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_51b9c32e14","choices":[{"index":0,"delta":{"content":"`
	const tail = `"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"yxX80dGA"}` + "\n\n"
	words := []string{" The", " weather", " in", " Florence", " is", " sunny", " today", "."}
	var b bytes.Buffer
	events := 0
	for b.Len() < size {
		b.WriteString(head)
		b.WriteString(words[events%len(words)])
		b.WriteString(tail)
		events++
	}
	b.WriteString(`data: {"id":"chatcmpl-DuLdRJdgsTDkaWQbovITznUPevjfI","object":"chat.completion.chunk","created":1782321905,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(`data: {"id":"chatcmpl-DuLdRJdgsTDkaWQbovITznUPevjfI","object":"chat.completion.chunk","created":1782321905,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":61,"completion_tokens":` + fmt.Sprint(events) + `,"total_tokens":` + fmt.Sprint(61+events) + `,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes(), events + 3
}

// messagesStream returns an Anthropic Messages SSE body of about size
// bytes: message_start, one text delta per event, message_delta with the
// usage and message_stop. It returns the number of events too.
func messagesStream(size int) ([]byte, int) {
	const delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" sunny\"}}\n\n"
	var b bytes.Buffer
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":15,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	events := 2
	for b.Len() < size {
		b.WriteString(delta)
		events++
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":" + fmt.Sprint(events) + "}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.Bytes(), events + 3
}

// discardStore accepts every batch and keeps nothing.
type discardStore struct{}

func (discardStore) InsertEntries(context.Context, []audit.Entry) error { return nil }
func (discardStore) Close() error                                       { return nil }

// memoryBody serves data in pieces of the caller's buffer size, like a
// network body. It has no WriteTo, so io.Copy cannot skip the reads.
type memoryBody struct {
	data []byte
	off  int
}

func (m *memoryBody) Read(p []byte) (int, error) {
	if m.off == len(m.data) {
		return 0, io.EOF
	}
	n := copy(p, m.data[m.off:])
	m.off += n
	return n, nil
}

func (m *memoryBody) Close() error { return nil }

// memoryTransport returns body as a 200 event-stream response to every
// request, without a network.
func memoryTransport(body []byte) http.RoundTripper {
	return roundTrip(func(req *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode:    http.StatusOK,
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        http.Header{"Content-Type": {"text/event-stream"}},
			Body:          &memoryBody{data: body},
			ContentLength: int64(len(body)),
			Request:       req,
		}, nil
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// readStream posts a streaming request through client and reads the body
// 4,096 bytes at a time, the read size of the SDKs' SSE decoders.
func readStream(b *testing.B, client *http.Client, url, path string, buf []byte) {
	req, err := http.NewRequest(http.MethodPost, url+path,
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	for {
		_, err := resp.Body.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	resp.Body.Close()
}

// reportPerEvent adds allocations per streamed event, measured over the
// benchmark's iterations.
func reportPerEvent(b *testing.B, events int, run func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/float64(events), "allocs/event")
}

// BenchmarkInterceptorStream reads a 20 MB chat completion stream through
// a plain client and through the interceptor, in the same process. The
// memory case serves the body from memory, so it shows the interceptor's
// own cost. The memory-anthropic case does the same with an Anthropic
// Messages stream, whose text deltas the parser skips by event name. The
// loopback case serves the chat stream from an httptest server. The sdk
// case reads it with openai-go's stream decoder over loopback, as an agent
// does.
func BenchmarkInterceptorStream(b *testing.B) {
	body, events := chatStream(streamBytes)
	logger := audit.New(discardStore{})
	b.Cleanup(func() { logger.Close(context.Background()) })

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	loopback := srv.Client().Transport

	faces := []struct {
		name string
		wrap func(http.RoundTripper) http.RoundTripper
	}{
		{"plain", func(rt http.RoundTripper) http.RoundTripper { return rt }},
		{"interceptor", func(rt http.RoundTripper) http.RoundTripper {
			return httpaudit.Transport(logger, rt, httpaudit.WithProvider("openai"))
		}},
	}
	for _, face := range faces {
		b.Run("memory/"+face.name, func(b *testing.B) {
			client := &http.Client{Transport: face.wrap(memoryTransport(body))}
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(body)))
			reportPerEvent(b, events, func() { readStream(b, client, "http://127.0.0.1", "/v1/chat/completions", buf) })
		})
	}
	messages, messageEvents := messagesStream(streamBytes)
	for _, face := range faces {
		b.Run("memory-anthropic/"+face.name, func(b *testing.B) {
			client := &http.Client{Transport: face.wrap(memoryTransport(messages))}
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(messages)))
			reportPerEvent(b, messageEvents, func() { readStream(b, client, "http://127.0.0.1", "/v1/messages", buf) })
		})
	}
	for _, face := range faces {
		b.Run("loopback/"+face.name, func(b *testing.B) {
			client := &http.Client{Transport: face.wrap(loopback)}
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(body)))
			reportPerEvent(b, events, func() { readStream(b, client, srv.URL, "/v1/chat/completions", buf) })
		})
	}
	for _, face := range faces {
		b.Run("sdk/"+face.name, func(b *testing.B) {
			client := openai.NewClient(
				option.WithBaseURL(srv.URL+"/v1/"),
				option.WithAPIKey("bench-key"),
				option.WithHTTPClient(&http.Client{Transport: face.wrap(loopback)}),
			)
			b.SetBytes(int64(len(body)))
			reportPerEvent(b, events, func() {
				stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
					Model:         "gpt-4o-mini",
					Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather?")},
					StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
				})
				for stream.Next() {
				}
				if err := stream.Err(); err != nil {
					b.Fatal(err)
				}
				stream.Close()
			})
		})
	}
}
