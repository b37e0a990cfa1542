package openai_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/llm/openai"
)

// memoryTransport returns body as an event stream for every request,
// without a network, so that a benchmark measures the client side alone.
type memoryTransport struct{ body []byte }

func (m memoryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": []string{"text/event-stream"}},
		Body:       io.NopCloser(bytes.NewReader(m.body)),
		Request:    req,
	}, nil
}

// longStream returns a recorded Chat Completions stream with one of its
// content chunks repeated, so that the stream has chunks content chunks.
func longStream(b *testing.B, chunks int) []byte {
	b.Helper()
	events := bytes.SplitAfter(fixtures.Read(b, "openai/chat-stream-tool-call-roundtrip.2.response.sse"), []byte("\n\n"))
	// The recording is a role chunk, content chunks, a finish chunk, a
	// usage chunk and [DONE].
	var out bytes.Buffer
	out.Write(events[0])
	for range chunks {
		out.Write(events[1])
	}
	for _, e := range events[len(events)-4:] {
		out.Write(e)
	}
	return out.Bytes()
}

// BenchmarkStreamGenerate compares the SDK's streaming call with its
// accumulator alone against the adapter's streaming Generate, which adds
// the wire parser fed from the raw body.
func BenchmarkStreamGenerate(b *testing.B) {
	body := longStream(b, 500)
	client := &http.Client{Transport: memoryTransport{body: body}}
	req := llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello"}}}
	ctx := context.Background()

	b.Run("sdk", func(b *testing.B) {
		sdkClient := sdk.NewClient(option.WithBaseURL("http://127.0.0.1:1/v1"), option.WithAPIKey("bench-key"),
			option.WithHTTPClient(client), option.WithMaxRetries(0))
		params := sdk.ChatCompletionNewParams{
			Model:         "gpt-4o-mini",
			Messages:      []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("Hello")},
			StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			stream := sdkClient.Chat.Completions.NewStreaming(ctx, params)
			var acc sdk.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				b.Fatal(err)
			}
			stream.Close()
		}
	})

	b.Run("adapter", func(b *testing.B) {
		model := openai.New(openai.WithBaseURL("http://127.0.0.1:1/v1"), openai.WithAPIKey("bench-key"),
			openai.WithHTTPClient(client), openai.WithMaxRetries(0), openai.WithStream(true))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			resp, err := model.Generate(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if !resp.Usage.Available {
				b.Fatal("usage not available")
			}
		}
	})
}
