package httpaudit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// streamServer serves body as an SSE stream at every path.
func streamServer(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func postJSON(t testing.TB, ctx context.Context, client *http.Client, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("Do() error = %v, want nil", err)
	}
	return resp
}

func TestBodyClosedEarly(t *testing.T) {
	body := fixtures.Read(t, "anthropic/messages-stream-basic.response.sse")
	srv := streamServer(t, body)
	tr := newTrail(t)
	client := &http.Client{Transport: Transport(tr.logger, nil)}

	resp := postJSON(t, context.Background(), client, srv.URL+"/v1/messages",
		`{"model":"claude-3-opus-20240229","stream":true,"max_tokens":10,"messages":[]}`)
	// Read past message_start, which carries the input tokens, and stop.
	buf := make([]byte, bytes.Index(body, []byte("content_block_start")))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Errorf("Body.Close() = %v, want nil", err)
	}

	got := tr.one(t)
	want := map[string]any{
		"status":        "error",
		"error":         errStreamClosed,
		"stream":        true,
		"model":         "claude-3-opus-20240229",
		"responseModel": "claude-3-opus-20240229",
		"promptTokens":  float64(15),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}

	// A second Close logs nothing more.
	if err := resp.Body.Close(); err != nil {
		t.Errorf("second Body.Close() = %v, want nil", err)
	}
	if n := len(tr.entries(t)); n != 1 {
		t.Errorf("store holds %d entries after a second Close, want 1", n)
	}
}

// TestBodyClosedAfterDone checks that a stream closed after its final event
// but before the server ends the body is a success, because SSE clients
// stop reading at [DONE].
func TestBodyClosedAfterDone(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-stream-include-usage.response.sse")
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(body)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr := newTrail(t)
	client := &http.Client{Transport: Transport(tr.logger, nil)}

	resp := postJSON(t, context.Background(), client, srv.URL+"/v1/chat/completions",
		`{"model":"gpt-3.5-turbo","stream":true}`)
	if _, err := io.ReadFull(resp.Body, make([]byte, len(body))); err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Errorf("Body.Close() = %v, want nil", err)
	}

	got := tr.one(t)
	if got["status"] != "success" {
		t.Errorf("status = %v (error %v), want success", got["status"], got["error"])
	}
	if got["totalTokens"] != float64(27) {
		t.Errorf("totalTokens = %v, want 27", got["totalTokens"])
	}
}

// TestBodyDecoderLeavesNewline checks that a JSON body closed after
// json.Decoder read it is a success, although the decoder leaves the
// trailing newline unread.
func TestBodyDecoderLeavesNewline(t *testing.T) {
	tests := []struct {
		name    string
		chunked bool
	}{
		{"content length", false},
		{"chunked", true},
	}
	body := fixtures.Read(t, "openai/chat-basic.response.json")
	body = append(bytes.TrimSpace(body), '\n')
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if !tt.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				}
				_, _ = w.Write(body[:len(body)-1])
				w.(http.Flusher).Flush()
				_, _ = w.Write(body[len(body)-1:])
			}))
			defer srv.Close()
			tr := newTrail(t)
			client := &http.Client{Transport: Transport(tr.logger, nil)}

			resp := postJSON(t, context.Background(), client, srv.URL+"/v1/chat/completions", `{"model":"gpt-3.5-turbo"}`)
			var v map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
				t.Fatalf("Decode() = %v, want nil", err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Errorf("Body.Close() = %v, want nil", err)
			}

			got := tr.one(t)
			if got["status"] != "success" {
				t.Errorf("status = %v (error %v), want success", got["status"], got["error"])
			}
			if got["totalTokens"] != float64(44) {
				t.Errorf("totalTokens = %v, want 44", got["totalTokens"])
			}
		})
	}
}

// cutServer sends the headers of a long SSE response and the first cut
// bytes of body, then drops the connection.
func cutServer(t *testing.T, body []byte, cut int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack() = %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n", len(body))
		buf.Write(body[:cut])
		if err := buf.Flush(); err != nil {
			t.Errorf("write response: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBodyConnectionLost(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		path     string
		cutAfter string
		want     map[string]any
	}{
		{
			name:     "anthropic after message_start",
			file:     "anthropic/messages-stream-basic.response.sse",
			path:     "/v1/messages",
			cutAfter: "content_block_delta",
			want: map[string]any{
				"responseModel":  "claude-3-opus-20240229",
				"usageAvailable": true,
				"promptTokens":   float64(15),
			},
		},
		{
			name:     "responses after in_progress",
			file:     "openai/responses-stream-gpt5.response.sse",
			path:     "/v1/responses",
			cutAfter: "response.output_item.added",
			want: map[string]any{
				"responseModel":  "gpt-5-2025-08-07",
				"usageAvailable": false,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fixtures.Read(t, tt.file)
			srv := cutServer(t, body, bytes.Index(body, []byte(tt.cutAfter)))
			tr := newTrail(t)
			client := &http.Client{Transport: Transport(tr.logger, nil)}

			resp := postJSON(t, context.Background(), client, srv.URL+tt.path, `{"model":"m","stream":true}`)
			_, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatal("ReadAll() error = nil, want the lost connection's error")
			}
			resp.Body.Close()

			got := tr.one(t)
			if got["status"] != "error" {
				t.Errorf("status = %v, want error", got["status"])
			}
			if msg, _ := got["error"].(string); !strings.Contains(msg, err.Error()) {
				t.Errorf("error = %q, want it to contain the read error %q", msg, err.Error())
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
		})
	}
}

func TestTransportErrorRedactsQuery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now, so the dial is refused

	tr := newTrail(t)
	client := &http.Client{Transport: Transport(tr.logger, nil)}
	req, err := http.NewRequest(http.MethodPost,
		"http://"+addr+"/v1beta/models/gemini-2.5-flash:generateContent?key=SECRET-KEY", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if _, err := client.Do(req); err == nil {
		t.Fatal("Do() error = nil, want a dial error")
	}

	got := tr.one(t)
	if got["status"] != "error" {
		t.Errorf("status = %v, want error", got["status"])
	}
	msg, _ := got["error"].(string)
	if msg == "" || strings.Contains(msg, "SECRET-KEY") {
		t.Errorf("error = %q, want the dial error without the query", msg)
	}
	if got["model"] != "gemini-2.5-flash" {
		t.Errorf("model = %v, want gemini-2.5-flash", got["model"])
	}
	if _, ok := got["httpStatus"]; ok {
		t.Errorf("httpStatus = %v, want none", got["httpStatus"])
	}
}

func TestUnknownEndpointPassesThrough(t *testing.T) {
	var received []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received, _ = io.ReadAll(r.Body)
		_, _ = w.Write([]byte(`{"data":[]}`))
	}))
	defer srv.Close()
	tr := newTrail(t)

	var sawBody io.ReadCloser
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		sawBody = req.Body
		return http.DefaultTransport.RoundTrip(req)
	})
	client := &http.Client{Transport: Transport(tr.logger, base)}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/files", strings.NewReader(`{"model":"e"}`))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	body := req.Body
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("Do() error = %v, want nil", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if string(got) != `{"data":[]}` || string(received) != `{"model":"e"}` {
		t.Errorf("exchange = %q for %q, want it unchanged", got, received)
	}
	if sawBody != body {
		t.Error("transport got a replaced request body, want the caller's")
	}
	if _, ok := resp.Body.(*watchedBody); ok {
		t.Error("response body is watched, want the transport's own")
	}
	if entries := tr.entries(t); len(entries) != 0 {
		t.Errorf("store holds %s, want no entry", describe(entries))
	}
}

// onlyReader hides every method of an io.Reader but Read, so that
// http.NewRequest sets no GetBody.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestEmbeddingsDeploymentModel checks an Azure OpenAI embeddings call
// whose body names no model: the deployment in the path is the requested
// model, and the usage has input tokens only.
func TestEmbeddingsDeploymentModel(t *testing.T) {
	const body = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	tr := newTrail(t)
	client := &http.Client{Transport: Transport(tr.logger, nil, WithProvider("azure-openai"))}

	resp := postJSON(t, context.Background(), client,
		srv.URL+"/openai/deployments/embed-prod/embeddings?api-version=2024-10-21", `{"input":"hello"}`)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()

	want := map[string]any{
		"provider":              "azure-openai",
		"api":                   "embeddings",
		"model":                 "embed-prod",
		"responseModel":         "text-embedding-3-small",
		"status":                "success",
		"httpStatus":            float64(200),
		"stream":                false,
		"usageAvailable":        true,
		"promptTokens":          float64(8),
		"completionTokens":      nil,
		"totalTokens":           nil,
		"cachedInputTokens":     nil,
		"cacheWriteInputTokens": nil,
		"reasoningTokens":       nil,
		"providerTotalTokens":   float64(8),
	}
	for _, d := range diffMetadata(tr.one(t), want) {
		t.Error(d)
	}
}

func TestRequestBodyForwardedIntact(t *testing.T) {
	history := strings.Repeat(`{"role":"user","content":"`+strings.Repeat("x", 1000)+`"},`, 200)
	large := `{"messages":[` + strings.TrimSuffix(history, ",") + `],"model":"gpt-4o-mini","stream":false}`
	small := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		body    string
		getBody bool
		shared  bool // GetBody rewinds and returns the reader Body reads
	}{
		{"small with GetBody", small, true, false},
		{"small without GetBody", small, false, false},
		{"small with shared GetBody", small, true, true},
		{"large with GetBody", large, true, false},
		{"large without GetBody", large, false, false},
		{"large with shared GetBody", large, true, true},
	}
	response := fixtures.Read(t, "openai/chat-basic.response.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var received []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				received, _ = io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(response)
			}))
			defer srv.Close()
			tr := newTrail(t)
			client := &http.Client{Transport: Transport(tr.logger, nil)}

			var body io.Reader = strings.NewReader(tt.body)
			if !tt.getBody {
				body = onlyReader{body}
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", body)
			if err != nil {
				t.Fatalf("new request: %v", err)
			}
			if tt.shared {
				// openai-go sets up a *bytes.Reader body this way.
				shared := bytes.NewReader([]byte(tt.body))
				req.GetBody = func() (io.ReadCloser, error) {
					_, err := shared.Seek(0, io.SeekStart)
					return io.NopCloser(shared), err
				}
				req.Body, _ = req.GetBody()
			}
			if got := req.GetBody != nil; got != tt.getBody {
				t.Fatalf("request has GetBody = %v, want %v", got, tt.getBody)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("Do() error = %v, want nil", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			if string(received) != tt.body {
				t.Errorf("server received %d bytes, want the %d sent", len(received), len(tt.body))
			}
			got := tr.one(t)
			if got["model"] != "gpt-4o-mini" {
				t.Errorf("model = %v, want gpt-4o-mini", got["model"])
			}
			if got["stream"] != false {
				t.Errorf("stream = %v, want false", got["stream"])
			}
		})
	}
}

func TestChatIDFromContext(t *testing.T) {
	srv := streamServer(t, fixtures.Read(t, "openai/chat-stream-include-usage.response.sse"))
	tr := newTrail(t)
	client := &http.Client{Transport: Transport(tr.logger, nil)}

	ctx := audit.WithChatID(context.Background(), "chat-42")
	resp := postJSON(t, ctx, client, srv.URL+"/v1/chat/completions", `{"model":"gpt-3.5-turbo","stream":true}`)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	entries := tr.entries(t)
	if len(entries) != 1 {
		t.Fatalf("store holds %d entries, want 1", len(entries))
	}
	if got, want := entries[0].ChatID, "chat-42"; got != want {
		t.Errorf("entry chat ID = %q, want %q", got, want)
	}
}

// TestBodyReadCloseConcurrently closes the body while another goroutine
// reads it; run with -race.
func TestBodyReadCloseConcurrently(t *testing.T) {
	frame := []byte(`data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n")
	for i := 0; i < 20; i++ {
		tr := newTrail(t)
		base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return sseResponse(req, &endlessReader{frame: frame}), nil
		})
		client := &http.Client{Transport: Transport(tr.logger, base)}
		resp := postJSON(t, context.Background(), client, "http://127.0.0.1/v1/chat/completions", `{"model":"m","stream":true}`)

		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					return
				}
			}
		}()
		resp.Body.Close()
		wg.Wait()

		got := tr.one(t)
		if got["status"] != "error" {
			t.Fatalf("status = %v, want error", got["status"])
		}
	}
}

// TestBodyNeverClosedIsBounded reads a long stream through the interceptor
// without reaching its end or closing it. The memory the body keeps must
// not grow with the bytes that passed.
func TestBodyNeverClosedIsBounded(t *testing.T) {
	frame := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hello there "},"finish_reason":null}],"usage":null}` + "\n\n")
	const total = 20 << 20
	tr := newTrail(t)
	source := &endlessReader{frame: frame}
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return sseResponse(req, source), nil
	})
	client := &http.Client{Transport: Transport(tr.logger, base)}
	resp := postJSON(t, context.Background(), client, "http://127.0.0.1/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true}`)
	wb, ok := resp.Body.(*watchedBody)
	if !ok {
		t.Fatalf("response body is %T, want *watchedBody", resp.Body)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf := make([]byte, 4096)
	for read := 0; read < total; {
		n, err := resp.Body.Read(buf)
		if err != nil {
			t.Fatalf("Read() error = %v after %d bytes, want nil", err, read)
		}
		read += n
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Errorf("live heap grew by %d bytes while %d bytes passed, want under 1 MiB", grown, total)
	}
	wb.mu.Lock()
	if wb.buf != nil {
		t.Errorf("stream body keeps a %d-byte buffer, want none", len(wb.buf))
	}
	if wb.parser == nil {
		t.Error("stream body has no parser before its end, want one")
	}
	wb.mu.Unlock()
	if n := len(tr.entries(t)); n != 0 {
		t.Errorf("store holds %d entries before the body ended, want 0", n)
	}

	resp.Body.Close()
	wb.mu.Lock()
	if wb.parser != nil || wb.buf != nil {
		t.Error("closed body still keeps its parsing state, want none")
	}
	wb.mu.Unlock()
	if got := tr.one(t); got["error"] != errStreamClosed {
		t.Errorf("error = %v, want %q", got["error"], errStreamClosed)
	}
	runtime.KeepAlive(resp)
}

// endlessReader repeats frame until it is closed.
type endlessReader struct {
	frame  []byte
	off    int
	closed atomic.Bool
}

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.closed.Load() {
		return 0, net.ErrClosed
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.frame[r.off:])
		n += c
		r.off = (r.off + c) % len(r.frame)
	}
	return n, nil
}

func (r *endlessReader) Close() error {
	r.closed.Store(true)
	return nil
}

// sseResponse returns a 200 event-stream response to req reading body.
func sseResponse(req *http.Request, body io.ReadCloser) *http.Response {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"text/event-stream"}},
		Body:          body,
		ContentLength: -1,
		Request:       req,
	}
}

func TestNoBodyResponseLogsAtOnce(t *testing.T) {
	tr := newTrail(t)
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusNoContent, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
	})
	client := &http.Client{Transport: Transport(tr.logger, base)}
	resp := postJSON(t, context.Background(), client, "http://127.0.0.1/v1/chat/completions", `{"model":"m"}`)
	if resp.Body != http.NoBody {
		t.Errorf("response body = %T, want http.NoBody", resp.Body)
	}
	got := tr.one(t)
	if got["status"] != "success" || got["httpStatus"] != float64(http.StatusNoContent) {
		t.Errorf("entry = %v, want success with httpStatus 204", got)
	}
}

func TestEncodedBodyIsNotParsed(t *testing.T) {
	tr := newTrail(t)
	base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp := sseResponse(req, io.NopCloser(strings.NewReader("\x1f\x8b compressed bytes")))
		resp.Header.Set("Content-Type", "application/json")
		resp.Header.Set("Content-Encoding", "gzip")
		return resp, nil
	})
	client := &http.Client{Transport: Transport(tr.logger, base)}
	resp := postJSON(t, context.Background(), client, "http://127.0.0.1/v1/chat/completions", `{"model":"m"}`)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "\x1f\x8b compressed bytes" {
		t.Errorf("body = %q, want the encoded bytes unchanged", got)
	}
	entry := tr.one(t)
	if entry["status"] != "success" || entry["usageAvailable"] != false {
		t.Errorf("entry = %v, want success with unknown usage", entry)
	}
}

// TestFeedRecoversParserPanic checks that a parser that panics stops the
// parsing of its body instead of the caller's read; a nil parser panics.
func TestFeedRecoversParserPanic(t *testing.T) {
	b := &watchedBody{rc: io.NopCloser(strings.NewReader("")), mode: modeStream, ex: &exchange{}}
	b.mu.Lock()
	b.feed([]byte("data: {}\n\n"))
	b.mu.Unlock()
	if b.mode != modeOpaque {
		t.Errorf("mode after a parser panic = %d, want modeOpaque", b.mode)
	}
}

func TestLongModelIsCut(t *testing.T) {
	longModel := strings.Repeat("m", 2800)
	longResponseModel := strings.Repeat("é", 2000)
	body := `{"id":"x","object":"chat.completion","model":"` + longResponseModel + `","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	tr := newTrail(t)
	client := &http.Client{Transport: Transport(tr.logger, nil)}

	resp := postJSON(t, context.Background(), client, srv.URL+"/v1/chat/completions",
		`{"model":"`+longModel+`","messages":[{"role":"user","content":"hi"}]}`)
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()

	got := tr.one(t)
	if got, want := got["model"], longModel[:audit.MaxNameBytes]; got != want {
		t.Errorf("model = %.40q..., want the first %d bytes of the request's model", got, audit.MaxNameBytes)
	}
	responseModel, _ := got["responseModel"].(string)
	if got, want := len(responseModel), audit.MaxNameBytes; got != want {
		t.Errorf("len(responseModel) = %d, want %d", got, want)
	}
	if !utf8.ValidString(responseModel) {
		t.Errorf("responseModel = %q, want valid UTF-8 cut at a character boundary", responseModel)
	}
	if got, want := tr.logger.Stats().Invalid, uint64(0); got != want {
		t.Errorf("Stats().Invalid = %d, want %d", got, want)
	}
}
