package replay_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/agentaudit/agentaudit/llm/replay"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newServer starts a Server and closes it, and the client's idle
// connections, when the test ends.
func newServer(t *testing.T, responses ...replay.Response) (*replay.Server, *http.Client) {
	t.Helper()
	srv, err := replay.NewServer(responses...)
	if err != nil {
		t.Fatalf("NewServer() = %v, want nil", err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return srv, client
}

func post(t *testing.T, client *http.Client, url, body string) (int, http.Header, string) {
	t.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of POST %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestServerOrder(t *testing.T) {
	srv, client := newServer(t,
		replay.JSON(200, `{"n":1}`),
		replay.JSON(429, `{"n":2}`),
		replay.Response{Body: []byte(`{"n":3}`)},
	)

	want := []struct {
		status int
		body   string
	}{{200, `{"n":1}`}, {429, `{"n":2}`}, {200, `{"n":3}`}}
	for i, w := range want {
		path := fmt.Sprintf("/v1/call/%d?x=%d", i, i)
		status, _, body := post(t, client, srv.URL()+path, fmt.Sprintf(`{"req":%d}`, i))
		if status != w.status {
			t.Errorf("call %d: status = %d, want %d", i, status, w.status)
		}
		if body != w.body {
			t.Errorf("call %d: body = %q, want %q", i, body, w.body)
		}
	}

	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("Requests() has %d entries, want 3", len(reqs))
	}
	for i, r := range reqs {
		if got, want := r.Path, fmt.Sprintf("/v1/call/%d?x=%d", i, i); got != want {
			t.Errorf("Requests()[%d].Path = %q, want %q", i, got, want)
		}
		if got, want := string(r.Body), fmt.Sprintf(`{"req":%d}`, i); got != want {
			t.Errorf("Requests()[%d].Body = %q, want %q", i, got, want)
		}
		if got, want := r.Method, http.MethodPost; got != want {
			t.Errorf("Requests()[%d].Method = %q, want %q", i, got, want)
		}
		if got, want := r.Header.Get("Content-Type"), "application/json"; got != want {
			t.Errorf("Requests()[%d] Content-Type = %q, want %q", i, got, want)
		}
	}
	if got, want := srv.Served(), 3; got != want {
		t.Errorf("Served() = %d, want %d", got, want)
	}
}

func TestServerExhausted(t *testing.T) {
	srv, client := newServer(t, replay.JSON(200, `{}`))

	post(t, client, srv.URL()+"/v1/chat/completions", `{}`)
	status, header, body := post(t, client, srv.URL()+"/v1/chat/completions", `{}`)

	if status != http.StatusInternalServerError {
		t.Errorf("status after the last response = %d, want 500", status)
	}
	if got, want := body, `{"error":{"message":"replay: no more recorded responses (served 1)"}}`; got != want {
		t.Errorf("body after the last response = %s, want %s", got, want)
	}
	if got, want := header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type after the last response = %q, want %q", got, want)
	}
	if got, want := len(srv.Requests()), 2; got != want {
		t.Errorf("len(Requests()) = %d, want %d", got, want)
	}
}

func TestServerRejectsGet(t *testing.T) {
	srv, client := newServer(t, replay.JSON(200, `{"ok":true}`))

	resp, err := client.Get(srv.URL() + "/v1/models")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status = %d, want 405", resp.StatusCode)
	}

	// The GET must not have used the recorded response.
	status, _, body := post(t, client, srv.URL()+"/v1/x", `{}`)
	if status != 200 || body != `{"ok":true}` {
		t.Errorf("POST after GET = %d %s, want 200 {\"ok\":true}", status, body)
	}
}

func TestServerRecordedHeaders(t *testing.T) {
	resp := replay.JSON(200, `{}`)
	resp.Header = http.Header{"X-Request-Id": {"req_1"}, "Retry-After": {"3"}}
	srv, client := newServer(t, resp)

	_, header, _ := post(t, client, srv.URL()+"/", `{}`)
	if got, want := header.Get("X-Request-Id"), "req_1"; got != want {
		t.Errorf("X-Request-Id = %q, want %q", got, want)
	}
	if got, want := header.Get("Retry-After"), "3"; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	if got, want := header.Get("Content-Length"), "2"; got != want {
		t.Errorf("Content-Length = %q, want %q", got, want)
	}
}

// TestServerStreamsEvents reads the raw HTTP/1.1 response so that it can
// see the chunk boundaries: each SSE event must arrive as its own chunk,
// which is what a flush after each event produces.
func TestServerStreamsEvents(t *testing.T) {
	events := []string{
		"event: message_start\ndata: {\"a\":1}\n\n",
		": comment line\n\n",
		"data: {\"b\":2}\r\n\r\n",
		"data: [DONE]\n\n",
	}
	srv, _ := newServer(t, replay.Response{ContentType: replay.ContentTypeSSE, Body: []byte(strings.Join(events, ""))})

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL(), "http://"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/messages HTTP/1.1\r\nHost: replay\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")

	r := bufio.NewReader(conn)
	tp := textproto.NewReader(r)
	statusLine, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("read status line: %v", err)
	}
	if !strings.HasPrefix(statusLine, "HTTP/1.1 200") {
		t.Fatalf("status line = %q, want HTTP/1.1 200", statusLine)
	}
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	if got, want := header.Get("Content-Type"), "text/event-stream"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got, want := header.Get("Transfer-Encoding"), "chunked"; got != want {
		t.Fatalf("Transfer-Encoding = %q, want %q", got, want)
	}

	var chunks []string
	for {
		sizeLine, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("read chunk size: %v", err)
		}
		size, err := strconv.ParseInt(sizeLine, 16, 64)
		if err != nil {
			t.Fatalf("chunk size %q: %v", sizeLine, err)
		}
		if size == 0 {
			break
		}
		chunk := make([]byte, size+2) // the chunk and its CRLF
		if _, err := io.ReadFull(r, chunk); err != nil {
			t.Fatalf("read chunk: %v", err)
		}
		chunks = append(chunks, string(chunk[:size]))
	}
	if len(chunks) != len(events) {
		t.Fatalf("got %d chunks %q, want one per event: %q", len(chunks), chunks, events)
	}
	for i := range events {
		if chunks[i] != events[i] {
			t.Errorf("chunk %d = %q, want %q", i, chunks[i], events[i])
		}
	}
}

func TestServerCloseIdempotent(t *testing.T) {
	srv, err := replay.NewServer()
	if err != nil {
		t.Fatalf("NewServer() = %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("first Close() = %v, want nil", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := http.Post(srv.URL()+"/", "application/json", strings.NewReader("{}")); err == nil {
		t.Error("POST after Close() succeeded, want a connection error")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFileContentType(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name        string
		content     string
		contentType string
		body        string
	}{
		{"a.response.json", `{"id":1}`, "application/json", `{"id":1}`},
		{"b.response.sse", "data: {}\n\n", "text/event-stream", "data: {}\n\n"},
		{
			"c.response.chunks.jsonl",
			"{\"type\":\"a\"}\n\n  {\"type\":\"b\"}  \n{\"type\":\"c\"}",
			"text/event-stream",
			"data: {\"type\":\"a\"}\n\ndata: {\"type\":\"b\"}\n\ndata: {\"type\":\"c\"}\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := replay.LoadFile(writeFile(t, dir, tt.name, tt.content))
			if err != nil {
				t.Fatalf("LoadFile() = %v, want nil", err)
			}
			if resp.ContentType != tt.contentType {
				t.Errorf("ContentType = %q, want %q", resp.ContentType, tt.contentType)
			}
			if string(resp.Body) != tt.body {
				t.Errorf("Body = %q, want %q", resp.Body, tt.body)
			}
			if resp.Status != 200 {
				t.Errorf("Status = %d, want 200 without a meta file", resp.Status)
			}
		})
	}
}

func TestLoadFileChunksFixture(t *testing.T) {
	name := "openai/responses-stream-error-insufficient-quota.response.chunks.jsonl"
	raw := fixtures.Read(t, name)
	resp, err := replay.LoadFile(fixtures.Path(t, name))
	if err != nil {
		t.Fatalf("LoadFile(%s) = %v", name, err)
	}

	var lines int
	for line := range bytes.Lines(raw) {
		if len(bytes.TrimSpace(line)) > 0 {
			lines++
		}
	}
	events := strings.Split(strings.TrimSuffix(string(resp.Body), "\n\n"), "\n\n")
	if len(events) != lines {
		t.Fatalf("framed %d events, want %d (one per line)", len(events), lines)
	}
	for i, e := range events {
		if !strings.HasPrefix(e, "data: {") {
			t.Errorf("event %d = %.40q, want a data: line with a JSON object", i, e)
		}
	}
	// The recording has no status, so the default applies.
	if resp.Status != 200 {
		t.Errorf("Status = %d, want 200", resp.Status)
	}
}

func TestLoadFileMetaStatus(t *testing.T) {
	tests := []struct {
		file      string
		status    int
		requestID string
	}{
		{"openai/error-429-insufficient-quota.response.json", 429, ""},
		{"openai/error-400-invalid-image-url.response.json", 400, "req_7c57fbccf7204078932188550872a1f9"},
		{"anthropic/error-529-overloaded.response.json", 529, ""},
		{"anthropic/error-400-invalid-request.response.derived.json", 400, ""},
		{"openai/chat-basic.response.json", 200, "req_7997c69c86b744538a2884c8d777754b"},
		{"openai/chat-tool-call-roundtrip.2.response.json", 200, "req_ed82ddd09b52482fbaa51e7138991c8e"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			resp, err := replay.LoadFile(fixtures.Path(t, tt.file))
			if err != nil {
				t.Fatalf("LoadFile() = %v, want nil", err)
			}
			if resp.Status != tt.status {
				t.Errorf("Status = %d, want %d", resp.Status, tt.status)
			}
			if got := resp.Header.Get("X-Request-Id"); got != tt.requestID {
				t.Errorf("X-Request-Id = %q, want %q", got, tt.requestID)
			}
			for _, h := range []string{"Content-Length", "Content-Type", "Transfer-Encoding"} {
				if got := resp.Header.Get(h); got != "" {
					t.Errorf("recorded %s = %q replayed, want it dropped", h, got)
				}
			}
		})
	}
}

func TestLoadFileMetaIndex(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "case.meta.yaml", `
exchanges:
- response:
    status: 200
- response:
    status: 503
    headers:
      Retry-After: '7'
      Vary: [Origin, Referer]
- response:
    status: null
`)
	tests := []struct {
		file   string
		status int
	}{
		{"case.1.response.json", 200},
		{"case.2.response.json", 503},
		{"case.3.response.json", 200},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			resp, err := replay.LoadFile(writeFile(t, dir, tt.file, `{}`))
			if err != nil {
				t.Fatalf("LoadFile() = %v, want nil", err)
			}
			if resp.Status != tt.status {
				t.Errorf("Status = %d, want %d", resp.Status, tt.status)
			}
		})
	}

	resp, err := replay.LoadFile(filepath.Join(dir, "case.2.response.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Header.Get("Retry-After"), "7"; got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	if got, want := resp.Header.Values("Vary"), []string{"Origin", "Referer"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Vary = %q, want %q", got, want)
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "short.meta.yaml", "exchanges:\n- response:\n    status: 200\n")
	writeFile(t, dir, "bad.meta.yaml", "exchanges: [")
	tests := []struct {
		name    string
		path    string
		wantSub []string
	}{
		{"missing", filepath.Join(dir, "nope.response.json"), []string{"replay:", "nope.response.json", "no such file"}},
		{"empty", writeFile(t, dir, "empty.response.json", " \n"), []string{"replay:", "empty.response.json", "is empty"}},
		{"extension", writeFile(t, dir, "x.response.txt", "hi"), []string{"x.response.txt", "unknown extension", ".json, .sse or .chunks.jsonl"}},
		{"no exchange", writeFile(t, dir, "short.2.response.json", "{}"), []string{"short.meta.yaml", "lists 1 exchanges", "call 2"}},
		{"bad meta", writeFile(t, dir, "bad.response.json", "{}"), []string{"decode meta file", "bad.meta.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := replay.LoadFile(tt.path)
			if err == nil {
				t.Fatal("LoadFile() = nil, want an error")
			}
			for _, sub := range tt.wantSub {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("LoadFile() = %q, want it to contain %q", err, sub)
				}
			}
		})
	}
}
