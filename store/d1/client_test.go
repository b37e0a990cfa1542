package d1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

const (
	testAccount  = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"
	testDatabase = "11111111-1111-4111-8111-111111111111"
	testToken    = "secret-token-5f2c9a61d4e8"
)

// fakeClock is a clock whose sleeps advance it at once, recording each.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 4, 19, 16, 50, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

func (c *fakeClock) options() []Option {
	return []Option{
		func(cfg *config) { cfg.now = c.now; cfg.sleep = c.sleep },
	}
}

// apiServer is a loopback server speaking the REST API's shape. reply
// writes the response to the n-th request, counting from 1.
type apiServer struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	bodies   []string
}

func newAPIServer(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, n int)) *apiServer {
	t.Helper()
	s := &apiServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1))
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(body))
		s.mu.Unlock()
		reply(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) count() int { return int(s.requests.Load()) }

// newTestClient returns a Client of s without a rate limit, on clk.
func newTestClient(t *testing.T, s *apiServer, clk *fakeClock, opts ...Option) *Client {
	t.Helper()
	all := append([]Option{
		WithBaseURL(s.URL + "/client/v4"),
		WithToken(testToken),
		WithRateLimit(0, 1),
	}, clk.options()...)
	c, err := NewClient(testAccount, testDatabase, append(all, opts...)...)
	if err != nil {
		t.Fatalf("NewClient() = %v, want nil", err)
	}
	t.Cleanup(c.Close)
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

const okReply = `{"success":true,"errors":[],"messages":[],"result":[{"results":[{"n":1}],"success":true,"meta":{"changes":0,"duration":0.2,"served_by":"v3-prod","some_future_field":{"x":1}}}]}`

func TestClientSendsQueryShape(t *testing.T) {
	var gotPath, gotAuth, gotType string
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		gotPath, gotAuth, gotType = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		writeJSON(w, 200, okReply)
	})
	c := newTestClient(t, srv, newFakeClock())

	res, err := c.Query(context.Background(), "SELECT ? AS n", 1)
	if err != nil {
		t.Fatalf("Query() = %v, want nil", err)
	}
	var rows []struct{ N int }
	if err := res.Decode(&rows); err != nil {
		t.Fatalf("Decode() = %v, want nil", err)
	}
	if len(rows) != 1 || rows[0].N != 1 {
		t.Errorf("rows = %+v, want [{N:1}]", rows)
	}
	if want := "/client/v4/accounts/" + testAccount + "/d1/database/" + testDatabase + "/query"; gotPath != want {
		t.Errorf("path = %q, want %q", gotPath, want)
	}
	if gotAuth != "Bearer "+testToken {
		t.Errorf("Authorization = %q, want the bearer token", gotAuth)
	}
	if gotType != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", gotType)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(srv.bodies[0]), &body); err != nil {
		t.Fatalf("request body %q is not JSON: %v", srv.bodies[0], err)
	}
	if body["sql"] != "SELECT ? AS n" {
		t.Errorf("body sql = %v, want the statement", body["sql"])
	}
	if params, _ := body["params"].([]any); len(params) != 1 || params[0] != float64(1) {
		t.Errorf("body params = %v, want [1]", body["params"])
	}
}

func TestClientSendsBatchShape(t *testing.T) {
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, `{"success":true,"errors":[],"messages":[],"result":[
			{"results":[],"success":true,"meta":{"changes":1}},
			{"results":[{"name":"a"}],"success":true,"meta":{"changes":0}}]}`)
	})
	c := newTestClient(t, srv, newFakeClock())

	results, err := c.Batch(context.Background(), []Statement{
		{SQL: "INSERT INTO t (name) VALUES (?)", Params: []any{"a"}},
		{SQL: "SELECT name FROM t"},
	})
	if err != nil {
		t.Fatalf("Batch() = %v, want nil", err)
	}
	if len(results) != 2 {
		t.Fatalf("Batch() = %d results, want 2", len(results))
	}
	if results[0].Meta.Changes != 1 {
		t.Errorf("Batch()[0].Meta.Changes = %d, want 1", results[0].Meta.Changes)
	}
	var body struct {
		Batch []struct {
			SQL    string `json:"sql"`
			Params []any  `json:"params"`
		} `json:"batch"`
	}
	if err := json.Unmarshal([]byte(srv.bodies[0]), &body); err != nil {
		t.Fatalf("request body %q is not JSON: %v", srv.bodies[0], err)
	}
	if len(body.Batch) != 2 {
		t.Fatalf("request body = %s, want a batch of 2", srv.bodies[0])
	}
	if body.Batch[1].SQL != "SELECT name FROM t" {
		t.Errorf("batch[1].sql = %q, want the second statement", body.Batch[1].SQL)
	}
	if body.Batch[1].Params == nil {
		t.Errorf("batch[1].params is missing, want an empty array")
	}
}

func TestClientHonoursRetryAfter(t *testing.T) {
	clk := newFakeClock()
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "3", 3 * time.Second},
		{"http date", clk.now().Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", tt.retryAfter)
					writeJSON(w, http.StatusTooManyRequests, `{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}],"messages":[],"result":null}`)
					return
				}
				writeJSON(w, 200, okReply)
			})
			c := newTestClient(t, srv, clk)

			if _, err := c.Query(context.Background(), "SELECT 1"); err != nil {
				t.Fatalf("Query() = %v, want nil after the 429", err)
			}
			if got := srv.count(); got != 2 {
				t.Errorf("requests = %d, want 2", got)
			}
			var total time.Duration
			for _, w := range clk.recorded() {
				total += w
			}
			if total != tt.want {
				t.Errorf("waited %v in all (%v), want %v as Retry-After says", total, clk.recorded(), tt.want)
			}
		})
	}
}

func TestClientRetryAfterPastDeadline(t *testing.T) {
	// The rate limiter reads the real clock, so this clock starts at the
	// real time.
	clk := &fakeClock{t: time.Now()}
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "120")
		writeJSON(w, http.StatusTooManyRequests, `{"success":false,"errors":[{"code":971,"message":"rate limited"}]}`)
	})
	c := newTestClient(t, srv, clk)
	ctx, cancel := context.WithDeadline(context.Background(), clk.now().Add(5*time.Second))
	defer cancel()

	_, err := c.Query(ctx, "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), "would pass the deadline") {
		t.Fatalf("Query() = %v, want an error saying the retry would pass the deadline", err)
	}
	if got := srv.count(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
	if got := clk.recorded(); len(got) != 0 {
		t.Errorf("waits = %v, want none", got)
	}
}

func TestClientRetriesTransientFailures(t *testing.T) {
	tests := []struct {
		name  string
		first func(w http.ResponseWriter)
	}{
		{"HTTP 500", func(w http.ResponseWriter) {
			writeJSON(w, 500, `{"success":false,"errors":[{"code":7500,"message":"Internal error"}]}`)
		}},
		{"HTTP 200 proxy page", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>Checking your browser</body></html>")
		}},
		{"HTTP 502 HTML page", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html><body>Bad gateway</body></html>")
		}},
		{"success false with transient D1 error", func(w http.ResponseWriter) {
			writeJSON(w, 200, `{"success":false,"errors":[{"code":7500,"message":"D1_ERROR: Network connection lost."}],"messages":[],"result":[]}`)
		}},
		{"HTTP 400 storage reset", func(w http.ResponseWriter) {
			writeJSON(w, 400, `{"success":false,"errors":[{"code":7500,"message":"D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset."}]}`)
		}},
		{"reply cut off mid-body", func(w http.ResponseWriter) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"success\":true,\"result\":[{\"res")
			buf.Flush()
			conn.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					tt.first(w)
					return
				}
				writeJSON(w, 200, okReply)
			})
			c := newTestClient(t, srv, clk)

			if _, err := c.Query(context.Background(), "SELECT 1"); err != nil {
				t.Fatalf("Query() = %v, want nil after one retry", err)
			}
			if got := srv.count(); got != 2 {
				t.Errorf("requests = %d, want 2", got)
			}
			waits := clk.recorded()
			if len(waits) != 1 || waits[0] < DefaultRetryBackoff/2 || waits[0] > DefaultRetryBackoff {
				t.Errorf("waits = %v, want one backoff in [%v, %v]", waits, DefaultRetryBackoff/2, DefaultRetryBackoff)
			}
		})
	}
}

func TestClientDoesNotRetryRejectedStatement(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"success false constraint", 200, `{"success":false,"errors":[{"code":7500,"message":"CHECK constraint failed: type IN ('llm_call','tool_execution'): SQLITE_CONSTRAINT"}],"messages":[],"result":[]}`},
		{"HTTP 400 no such table", 400, `{"success":false,"errors":[{"code":7500,"message":"no such table: audit_logs: SQLITE_ERROR"}],"messages":[],"result":[]}`},
		{"HTTP 404", 404, `{"success":false,"errors":[{"code":7404,"message":"The database could not be found"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, tt.status, tt.body)
			})
			c := newTestClient(t, srv, newFakeClock())

			_, err := c.Query(context.Background(), "INSERT INTO audit_logs VALUES (1)")
			if !audit.IsPermanent(err) {
				t.Fatalf("Query() = %v, want a permanent error", err)
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status {
				t.Errorf("Query() = %v, want an *APIError with status %d", err, tt.status)
			}
			if got := srv.count(); got != 1 {
				t.Errorf("requests = %d, want 1", got)
			}
		})
	}
}

func TestClientGivesUpAfterMaxAttempts(t *testing.T) {
	clk := newFakeClock()
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 503, `{"success":false,"errors":[{"code":7500,"message":"Service unavailable"}]}`)
	})
	c := newTestClient(t, srv, clk, WithMaxAttempts(3))

	_, err := c.Query(context.Background(), "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Query() = %v, want an error saying it gave up after 3 attempts", err)
	}
	if audit.IsPermanent(err) {
		t.Errorf("Query() = %v, want a transient error the Logger may retry", err)
	}
	if got := srv.count(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
	waits := clk.recorded()
	if len(waits) != 2 || waits[1] < DefaultRetryBackoff || waits[1] > 2*DefaultRetryBackoff {
		t.Errorf("waits = %v, want 2 with the second doubled into [%v, %v]", waits, DefaultRetryBackoff, 2*DefaultRetryBackoff)
	}
}

func TestClientRetryUnsentOnly(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		wantRequests int
	}{
		{"500 may have run", 500, 1},
		{"429 did not run", 429, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					writeJSON(w, tt.status, `{"success":false,"errors":[{"code":1,"message":"failed"}]}`)
					return
				}
				writeJSON(w, 200, okReply)
			})
			c := newTestClient(t, srv, newFakeClock())

			_, err := c.batch(context.Background(), []Statement{{SQL: "UPDATE t SET a = 1"}}, retryUnsent)
			if got := srv.count(); got != tt.wantRequests {
				t.Errorf("requests = %d, want %d (err %v)", got, tt.wantRequests, err)
			}
			if tt.wantRequests == 1 && (err == nil || !strings.Contains(err.Error(), "may have run")) {
				t.Errorf("batch() = %v, want an error saying the request may have run", err)
			}
		})
	}
}

func TestClientRetriesRefusedConnection(t *testing.T) {
	// A listener that is closed at once gives a port that refuses
	// connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	clk := newFakeClock()
	c, err := NewClient(testAccount, testDatabase, append(clk.options(),
		WithBaseURL("http://"+addr+"/client/v4"), WithToken(testToken), WithRateLimit(0, 1), WithMaxAttempts(2))...)
	if err != nil {
		t.Fatalf("NewClient() = %v, want nil", err)
	}
	defer c.Close()

	_, err = c.batch(context.Background(), []Statement{{SQL: "SELECT 1"}}, retryUnsent)
	if err == nil || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("batch() = %v, want an error after 2 attempts, as a refused connection did not run", err)
	}
}

func TestClientTokenRejected(t *testing.T) {
	tests := []struct {
		name string
		body func(r *http.Request) string
	}{
		{"cloudflare body", func(*http.Request) string {
			return `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}`
		}},
		{"server echoes the header", func(r *http.Request) string {
			msg, _ := json.Marshal("invalid token in header: " + r.Header.Get("Authorization"))
			return `{"success":false,"errors":[{"code":10000,"message":` + string(msg) + `}]}`
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeJSON(w, http.StatusUnauthorized, tt.body(r))
			})
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			c := newTestClient(t, srv, newFakeClock(), WithLogger(logger))

			var errs []error
			for range 3 {
				_, err := c.Query(context.Background(), "SELECT 1")
				errs = append(errs, err)
			}

			if got := srv.count(); got != 3 {
				t.Errorf("requests = %d, want 3: one per call, none retried", got)
			}
			for i, err := range errs {
				if !audit.IsPermanent(err) {
					t.Errorf("call %d: Query() = %v, want a permanent error", i, err)
					continue
				}
				want := "d1: the API token was rejected (HTTP 401); create a token with D1 edit permission and set CLOUDFLARE_API_TOKEN"
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("call %d: Query() = %q, want it to start with %q", i, err, want)
				}
				if strings.Contains(err.Error(), testToken) {
					t.Errorf("call %d: error %q contains the token", i, err)
				}
			}
			if strings.Contains(logs.String(), testToken) {
				t.Errorf("log contains the token: %s", logs.String())
			}
			if got := strings.Count(logs.String(), `"level":"ERROR"`); got != 1 {
				t.Errorf("error records = %d, want 1 for three rejected calls; log: %s", got, logs.String())
			}
		})
	}
}

func TestClientReportsTokenAgainAfterSuccess(t *testing.T) {
	var reject atomic.Bool
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if reject.Load() {
			writeJSON(w, 401, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`)
			return
		}
		writeJSON(w, 200, okReply)
	})
	var logs bytes.Buffer
	c := newTestClient(t, srv, newFakeClock(), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	for _, rejected := range []bool{true, true, false, true} {
		reject.Store(rejected)
		c.Query(context.Background(), "SELECT 1")
	}
	if got := strings.Count(logs.String(), "level=ERROR"); got != 2 {
		t.Errorf("error records = %d, want 2: one per run of rejections; log: %s", got, logs.String())
	}
}

func TestClientForbidden(t *testing.T) {
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 403, `{"success":false,"errors":[{"code":7403,"message":"The given account is not valid or is not authorized to access this service"}]}`)
	})
	c := newTestClient(t, srv, newFakeClock())

	_, err := c.Query(context.Background(), "SELECT 1")
	if !audit.IsPermanent(err) {
		t.Errorf("Query() = %v, want a permanent error", err)
	}
	if err == nil || !strings.Contains(err.Error(), "may not use database "+testDatabase+" of account "+testAccount+" (HTTP 403)") {
		t.Errorf("Query() = %v, want an error naming HTTP 403, the database and the account", err)
	}
	if got := srv.count(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestNewClientRejectsBadSettings(t *testing.T) {
	t.Setenv(TokenEnv, "")
	t.Setenv(BaseURLEnv, "")
	tests := []struct {
		name     string
		account  string
		database string
		opts     []Option
		want     string
	}{
		{"no token", testAccount, testDatabase, nil, "set CLOUDFLARE_API_TOKEN"},
		{"base URL not http", testAccount, testDatabase, []Option{WithToken("x"), WithBaseURL("ftp://example.test/v4")}, `base URL "ftp://example.test/v4" is not an http or https URL`},
		{"plain http off loopback", testAccount, testDatabase, []Option{WithToken("x"), WithBaseURL("http://example.test/client/v4")}, "use https"},
		{"swapped ids", testDatabase, testAccount, []Option{WithToken("x")}, "is not 32 hexadecimal digits"},
		{"database name for id", testAccount, "agentaudit", []Option{WithToken("x")}, `database id "agentaudit" is not a UUID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.account, tt.database, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewClient() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewClientReadsEnvironment(t *testing.T) {
	t.Setenv(TokenEnv, "env-token")
	t.Setenv(BaseURLEnv, "http://127.0.0.1:1/client/v4/")
	c, err := NewClient(testAccount, testDatabase)
	if err != nil {
		t.Fatalf("NewClient() = %v, want nil", err)
	}
	defer c.Close()
	if c.token != "env-token" {
		t.Errorf("token = %q, want the value of %s", c.token, TokenEnv)
	}
	if want := "http://127.0.0.1:1/client/v4/accounts/" + testAccount + "/d1/database/" + testDatabase + "/query"; c.endpoint != want {
		t.Errorf("endpoint = %q, want %q", c.endpoint, want)
	}
	if got := float64(c.limiter.Limit()); got != DefaultRequestsPerSecond {
		t.Errorf("rate limit = %v requests/s, want %v", got, DefaultRequestsPerSecond)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 19, 16, 50, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"12", 12 * time.Second},
		{"12abc", 0},
		{now.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"999999999999999", MaxRetryAfter},
		{"86400", MaxRetryAfter},
		{"60", MaxRetryAfter},
		{"61", MaxRetryAfter},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestLoggerStopsOnRejectedToken(t *testing.T) {
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, http.StatusUnauthorized, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}`)
	})
	var logs bytes.Buffer
	clk := newFakeClock()
	s, err := Open(context.Background(), "d1://"+testAccount+"/"+testDatabase, append(clk.options(),
		WithBaseURL(srv.URL+"/client/v4"), WithToken(testToken), WithRateLimit(0, 1), WithAutoMigrate(false),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))...)
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	var handled []error
	var mu sync.Mutex
	logger := audit.New(s, audit.WithBatchSize(10), audit.WithFlushInterval(time.Hour),
		audit.WithErrorHandler(func(err error) {
			mu.Lock()
			handled = append(handled, err)
			mu.Unlock()
		}))
	ctx := context.Background()

	for i := range 30 {
		if err := logger.Log(ctx, &audit.LLMCall{Provider: "openai", Model: "m", Status: audit.StatusSuccess, DurationMs: int64(i)}); err != nil {
			t.Fatalf("Log() = %v, want nil", err)
		}
	}
	if err := logger.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}
	st := logger.Stats()
	if err := logger.Close(ctx); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	if got := srv.count(); got != 3 {
		t.Errorf("requests = %d, want 3: one per batch of 10, none retried", got)
	}
	if st.Failed != 30 || st.Retries != 0 {
		t.Errorf("Stats() = %+v, want 30 failed and no retries", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) == 0 {
		t.Fatal("error handler received nothing, want the rejected token reported")
	}
	for _, err := range handled {
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("handled error %q contains the token", err)
		}
	}
	if !strings.Contains(handled[0].Error(), "the API token was rejected (HTTP 401)") {
		t.Errorf("handled error = %q, want it to say the token was rejected", handled[0])
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("client log contains the token: %s", logs.String())
	}
}

func TestClientCapsRetryAfter(t *testing.T) {
	clk := newFakeClock()
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "86400")
			writeJSON(w, http.StatusTooManyRequests, `{"success":false,"errors":[{"code":971,"message":"rate limited"}]}`)
			return
		}
		writeJSON(w, 200, okReply)
	})
	c := newTestClient(t, srv, clk)

	if _, err := c.Query(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("Query() = %v, want nil after the 429", err)
	}
	if got, want := srv.count(), 2; got != want {
		t.Errorf("requests = %d, want %d", got, want)
	}
	var total time.Duration
	for _, w := range clk.recorded() {
		total += w
	}
	if total != MaxRetryAfter {
		t.Errorf("waited %v in all (%v), want MaxRetryAfter (%v)", total, clk.recorded(), MaxRetryAfter)
	}
}

func TestClientPauseRespectsDeadline(t *testing.T) {
	// The rate limiter reads the real clock, so this clock starts at the
	// real time.
	clk := &fakeClock{t: time.Now()}
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, okReply)
	})
	c := newTestClient(t, srv, clk)
	c.pauseUntil(clk.now().Add(MaxRetryAfter)) // as an HTTP 429 with Retry-After does
	ctx, cancel := context.WithDeadline(context.Background(), clk.now().Add(5*time.Second))
	defer cancel()

	_, err := c.Query(ctx, "SELECT 1")
	if err == nil || !strings.Contains(err.Error(), "would pass the deadline") {
		t.Fatalf("Query() = %v, want an error saying the wait would pass the deadline", err)
	}
	if got := clk.recorded(); len(got) != 0 {
		t.Errorf("waits = %v, want none", got)
	}
	if got := srv.count(); got != 0 {
		t.Errorf("requests = %d, want 0", got)
	}
}

func TestClientPauseEndsOnSuccess(t *testing.T) {
	release := make(chan struct{})
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-release
		}
		writeJSON(w, 200, okReply)
	})
	clk := newFakeClock()
	sleeping := make(chan time.Duration, 1)
	// blockingSleep waits for ctx, so the pause ends only when a success
	// cancels it.
	blockingSleep := func(ctx context.Context, d time.Duration) error {
		sleeping <- d
		<-ctx.Done()
		return ctx.Err()
	}
	c := newTestClient(t, srv, clk, func(cfg *config) { cfg.sleep = blockingSleep })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The first request is in flight when a 429 pauses the client.
	firstDone := make(chan error, 1)
	go func() {
		_, err := c.Query(ctx, "SELECT 1")
		firstDone <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for srv.count() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first request did not reach the server within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	c.pauseUntil(clk.now().Add(MaxRetryAfter))

	secondDone := make(chan error, 1)
	go func() {
		_, err := c.Query(ctx, "SELECT 2")
		secondDone <- err
	}()
	select {
	case d := <-sleeping:
		if d != MaxRetryAfter {
			t.Errorf("second request waits %v, want %v", d, MaxRetryAfter)
		}
	case <-ctx.Done():
		t.Fatal("the second request did not wait for the pause")
	}

	close(release)
	for name, done := range map[string]chan error{"first": firstDone, "second": secondDone} {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s Query() = %v, want nil", name, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s Query() still waits 30s after the first request succeeded", name)
		}
	}
	if got, want := srv.count(), 2; got != want {
		t.Errorf("requests = %d, want %d", got, want)
	}
}
