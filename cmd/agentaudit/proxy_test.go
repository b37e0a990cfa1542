package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/audittest"
	"github.com/agentaudit/agentaudit/audit/httpaudit"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// newMemoryLogger returns a Logger whose interval is long enough that an
// entry reaches the store only through Flush or Close.
func newMemoryLogger(t *testing.T) (*audit.Logger, *audittest.Store) {
	t.Helper()
	return audittest.NewLogger(t, audit.WithFlushInterval(time.Hour))
}

// gatedUpstream serves body as an SSE stream: the first event, then, once
// release is closed, the rest. It records the chat ID header it received.
type gatedUpstream struct {
	body        []byte
	release     chan struct{}
	releaseOnce sync.Once

	mu         sync.Mutex
	chatHeader []string
}

func (u *gatedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.chatHeader = append(u.chatHeader, r.Header.Get(chatIDHeader))
	u.mu.Unlock()

	first := bytes.Index(u.body, []byte("\n\n")) + 2
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	_, _ = w.Write(u.body[:first])
	w.(http.Flusher).Flush()
	select {
	case <-u.release:
	case <-r.Context().Done():
		return
	}
	_, _ = w.Write(u.body[first:])
}

func newGatedUpstream(t *testing.T, body []byte) (*gatedUpstream, *url.URL) {
	t.Helper()
	up := &gatedUpstream{body: body, release: make(chan struct{})}
	srv := httptest.NewServer(up)
	// Cleanups run last in, first out: release the handler before Close
	// waits for it.
	t.Cleanup(srv.Close)
	t.Cleanup(up.open)
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("parse %s: %v", srv.URL, err)
	}
	return up, target
}

// open releases the rest of the stream; it may be called more than once.
func (u *gatedUpstream) open() {
	u.releaseOnce.Do(func() { close(u.release) })
}

// postStream sends a streaming Chat Completions request for chatID.
func postStream(t *testing.T, ctx context.Context, base, chatID string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-3.5-turbo","stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(chatIDHeader, chatID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Do() error = %v, want nil", err)
	}
	return resp
}

// discardLog returns a logger for the proxy that tests do not read.
func discardLog() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func TestProxyStreamsThrough(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-stream-include-usage.response.sse")
	up, target := newGatedUpstream(t, body)
	logger, store := newMemoryLogger(t)
	proxy := httptest.NewServer(newProxyHandler(target, logger, discardLog(), nil, httpaudit.WithProvider("openai")))
	defer proxy.Close()

	resp := postStream(t, context.Background(), proxy.URL, "chat-7")
	defer resp.Body.Close()
	if got, want := resp.Header.Get("Content-Type"), "text/event-stream; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}

	// The first event arrives while the upstream still holds the rest.
	reader := bufio.NewReader(resp.Body)
	first := bytes.Index(body, []byte("\n\n")) + 2
	got := make([]byte, first)
	if _, err := io.ReadFull(reader, got); err != nil {
		t.Fatalf("read first event: %v", err)
	}
	if !bytes.Equal(got, body[:first]) {
		t.Errorf("first event = %q, want %q", got, body[:first])
	}

	up.open()
	rest, err := io.ReadAll(reader)
	if err != nil {
		t.Fatalf("read rest: %v", err)
	}
	if !bytes.Equal(append(got, rest...), body) {
		t.Errorf("client received %d bytes that differ from the upstream's %d", first+len(rest), len(body))
	}
	resp.Body.Close()

	up.mu.Lock()
	if len(up.chatHeader) != 1 || up.chatHeader[0] != "" {
		t.Errorf("upstream saw chat ID headers %q, want one request without it", up.chatHeader)
	}
	up.mu.Unlock()

	// The proxy logs the call when its handler closes the upstream body,
	// which may be after the client has read the end.
	entries := waitStored(t, logger, store, 1)
	if got, want := entries[0].ChatID, "chat-7"; got != want {
		t.Errorf("entry chat ID = %q, want %q", got, want)
	}
	var call audit.LLMCall
	if err := json.Unmarshal(entries[0].Metadata, &call); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if call.Status != audit.StatusSuccess || call.Provider != "openai" || call.Model != "gpt-3.5-turbo" {
		t.Errorf("entry = %s, want a success of openai gpt-3.5-turbo", entries[0].Metadata)
	}
	if call.TotalTokens == nil || *call.TotalTokens != 27 || !call.Stream {
		t.Errorf("entry = %s, want a stream of 27 tokens", entries[0].Metadata)
	}
}

// waitStored flushes logger until store holds n entries, failing t after a
// deadline.
func waitStored(t *testing.T, logger *audit.Logger, store *audittest.Store, n int) []audit.Entry {
	t.Helper()
	return store.Wait(t, logger, n)
}

// TestProxyDecompressesForTheTrail checks that a client's Accept-Encoding
// does not leave the interceptor with a compressed body to parse.
func TestProxyDecompressesForTheTrail(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-basic.response.json")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			_, _ = w.Write(body)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(body)
		_ = zw.Close()
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	logger, store := newMemoryLogger(t)
	proxy := httptest.NewServer(newProxyHandler(target, logger, discardLog(), nil))
	defer proxy.Close()

	req, err := http.NewRequest(http.MethodPost, proxy.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-3.5-turbo"}`))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	// Set by hand, Accept-Encoding turns off the client's own decompression.
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Do() error = %v, want nil", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("client received %d bytes (%v), want the %d uncompressed bytes", len(got), err, len(body))
	}

	entries := waitStored(t, logger, store, 1)
	var call audit.LLMCall
	if err := json.Unmarshal(entries[0].Metadata, &call); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if !call.Usage.Available || call.TotalTokens == nil || *call.TotalTokens != 44 {
		t.Errorf("entry = %s, want the usage of 44 tokens", entries[0].Metadata)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	target, _ := url.Parse("http://" + ln.Addr().String())
	ln.Close() // nothing listens there now, so the dial is refused

	logger, store := newMemoryLogger(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	proxy := httptest.NewServer(newProxyHandler(target, logger, log, nil))
	defer proxy.Close()

	resp := postStream(t, context.Background(), proxy.URL, "chat-8")
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusBadGateway; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}

	entries := waitStored(t, logger, store, 1)
	var call audit.LLMCall
	if err := json.Unmarshal(entries[0].Metadata, &call); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if call.Status != audit.StatusError || call.Error == "" || call.HTTPStatus != 0 {
		t.Errorf("entry = %s, want an error without an HTTP status", entries[0].Metadata)
	}
	if !strings.Contains(logs.String(), "upstream call failed") || !strings.Contains(logs.String(), "chat-8") {
		t.Errorf("proxy log = %q, want the failed call with its chat ID", logs.String())
	}
}

func TestProxyRejectsLongChatID(t *testing.T) {
	tests := []struct {
		name       string
		chatBytes  int
		wantStatus int
	}{
		{"at limit", audit.MaxChatIDBytes, http.StatusOK},
		{"one byte over", audit.MaxChatIDBytes + 1, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := fixtures.Read(t, "openai/chat-basic.response.json")
			var upstreamCalls atomic.Int32
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				upstreamCalls.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(reply)
			}))
			defer upstream.Close()
			target, _ := url.Parse(upstream.URL)
			logger, store := newMemoryLogger(t)
			proxy := httptest.NewServer(newProxyHandler(target, logger, discardLog(), nil))
			defer proxy.Close()

			req, err := http.NewRequest(http.MethodPost, proxy.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatalf("new request: %v", err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(chatIDHeader, strings.Repeat("c", tt.chatBytes))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("Do() error = %v, want nil", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			if got, want := resp.StatusCode, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d; body %s", got, want, body)
			}
			if tt.wantStatus == http.StatusOK {
				waitStored(t, logger, store, 1)
				return
			}
			var apiErr struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &apiErr); err != nil {
				t.Fatalf("decode body %q: %v", body, err)
			}
			for _, want := range []string{chatIDHeader, "1025 bytes", "at most 1024"} {
				if !strings.Contains(apiErr.Error.Message, want) {
					t.Errorf("error message = %q, want it to contain %q", apiErr.Error.Message, want)
				}
			}
			if got, want := upstreamCalls.Load(), int32(0); got != want {
				t.Errorf("upstream calls = %d, want %d", got, want)
			}
		})
	}
}

// startProxy serves a proxy to target on a loopback listener until ctx
// ends, and returns its URL and the channel serve's error arrives on.
func startProxy(t *testing.T, ctx context.Context, target *url.URL, logger *audit.Logger, timeout time.Duration) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ps := &proxyServer{
		handler:         newProxyHandler(target, logger, discardLog(), nil),
		logger:          logger,
		log:             discardLog(),
		upstream:        target,
		shutdownTimeout: timeout,
	}
	done := make(chan error, 1)
	go func() { done <- ps.serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), done
}

// waitDone returns serve's error, failing t when serve runs on after a
// deadline.
func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("proxy still serving 30s after its context ended")
		return nil
	}
}

func TestProxyShutdownFinishesOpenCall(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-stream-include-usage.response.sse")
	up, target := newGatedUpstream(t, body)
	logger, store := newMemoryLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startProxy(t, ctx, target, logger, 30*time.Second)

	resp := postStream(t, context.Background(), base, "chat-9")
	defer resp.Body.Close()
	reader := bufio.NewReader(resp.Body)
	if _, err := reader.ReadBytes('\n'); err != nil {
		t.Fatalf("read first event: %v", err)
	}

	// Stop the proxy while the call is open; it waits for the call to end.
	cancel()
	up.open()
	rest, err := io.ReadAll(reader)
	if err != nil {
		t.Fatalf("read rest after shutdown began: %v", err)
	}
	if !bytes.HasSuffix(rest, []byte("data: [DONE]\n\n")) {
		t.Errorf("stream after shutdown began ends with %q, want the whole stream", tail(rest))
	}
	resp.Body.Close()
	if err := waitDone(t, done); err != nil {
		t.Fatalf("serve() = %v, want nil", err)
	}

	// serve flushed: the entry is in the store without another Flush.
	entries := store.Entries()
	if len(entries) != 1 {
		t.Fatalf("store holds %d entries after serve returned, want 1", len(entries))
	}
	if !strings.Contains(string(entries[0].Metadata), `"status":"success"`) || entries[0].ChatID != "chat-9" {
		t.Errorf("entry = %s for chat %q, want a success for chat-9", entries[0].Metadata, entries[0].ChatID)
	}
}

func TestProxyShutdownTimeoutClosesCall(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-stream-include-usage.response.sse")
	_, target := newGatedUpstream(t, body)
	logger, store := newMemoryLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, done := startProxy(t, ctx, target, logger, 50*time.Millisecond)

	resp := postStream(t, context.Background(), base, "chat-10")
	defer resp.Body.Close()
	reader := bufio.NewReader(resp.Body)
	if _, err := reader.ReadBytes('\n'); err != nil {
		t.Fatalf("read first event: %v", err)
	}

	// The upstream never finishes, so the proxy closes the call.
	cancel()
	if err := waitDone(t, done); err != nil {
		t.Fatalf("serve() = %v, want nil", err)
	}
	if _, err := io.ReadAll(reader); err == nil {
		t.Error("reading the cut stream succeeded, want an error")
	}

	entries := store.Entries()
	if len(entries) != 1 {
		t.Fatalf("store holds %d entries after serve returned, want 1", len(entries))
	}
	var call audit.LLMCall
	if err := json.Unmarshal(entries[0].Metadata, &call); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if call.Status != audit.StatusError || call.Error == "" {
		t.Errorf("entry = %s, want an error", entries[0].Metadata)
	}
}

func tail(b []byte) string {
	if len(b) > 40 {
		b = b[len(b)-40:]
	}
	return string(b)
}

var listenLine = regexp.MustCompile(`listen=(127\.0\.0\.1:\d+)`)

func TestProxyCommand(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-stream-include-usage.response.sse")
	up, target := newGatedUpstream(t, body)
	up.open()
	dsn, path := tempDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var stdout bytes.Buffer
	stderr := &syncWriter{w: &bytes.Buffer{}}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--db", dsn, "proxy", "--listen", "127.0.0.1:0", "--upstream", target.String(), "--provider", "openai"}, &stdout, stderr)
	}()

	// The start line names the port the proxy listens on.
	var base string
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for base == "" {
		stderr.mu.Lock()
		m := listenLine.FindStringSubmatch(stderr.w.(*bytes.Buffer).String())
		logs := stderr.w.(*bytes.Buffer).String()
		stderr.mu.Unlock()
		if m != nil {
			base = "http://" + m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start line 10s after starting the proxy; stderr:\n%s", logs)
		}
		select {
		case c := <-code:
			t.Fatalf("proxy exited with code %d before serving; stderr:\n%s", c, logs)
		case <-tick.C:
		}
	}

	resp := postStream(t, context.Background(), base, "chat-11")
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("proxied body = %d bytes, %v; want the upstream's %d bytes", len(got), err, len(body))
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("proxy exit code = %d, want 0", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("proxy still running 30s after its context ended")
	}

	calls, _ := splitEntries(t, readEntries(t, path, "chat-11"))
	if len(calls) != 1 {
		t.Fatalf("database holds %d llm_call rows for chat-11, want 1", len(calls))
	}
	if calls[0].Provider != "openai" || calls[0].Status != audit.StatusSuccess || calls[0].TotalTokens == nil || *calls[0].TotalTokens != 27 {
		t.Errorf("row = %+v, want a success of openai with 27 tokens", calls[0])
	}
}

func TestProxyInvalidFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing upstream", []string{"proxy"}, "missing --upstream"},
		{"relative upstream", []string{"proxy", "--upstream", "api.openai.com"}, `invalid --upstream "api.openai.com"`},
		{"bad scheme", []string{"proxy", "--upstream", "ftp://example.test"}, `invalid --upstream "ftp://example.test"`},
		{"zero timeout", []string{"proxy", "--upstream", "http://127.0.0.1:1", "--shutdown-timeout", "0s"}, "invalid --shutdown-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, _ := tempDB(t)
			r := runCLI(t, append([]string{"--db", dsn}, tt.args...)...)
			if r.code != 2 {
				t.Errorf("exit code = %d, want 2", r.code)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
		})
	}
}

func TestProxyListenFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	dsn, _ := tempDB(t)

	r := runCLI(t, "--db", dsn, "proxy", "--listen", ln.Addr().String(), "--upstream", "http://127.0.0.1:1")
	if r.code != 1 {
		t.Errorf("exit code = %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "choose a free address with --listen") {
		t.Errorf("stderr = %q, want the listen error and its fix", r.stderr)
	}
}
