package d1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/agentaudit/agentaudit/audit"
)

// maxReplyBytes caps the reply body a Client reads. D1 caps a query result
// at 50 MB; the envelope adds little.
const maxReplyBytes = 64 << 20

// MaxRetryAfter is the longest wait a Client honours from a Retry-After
// header. A longer Retry-After waits MaxRetryAfter and then retries, so that
// one reply cannot stop the client for hours. A request that succeeds ends
// the wait for every other request at once.
const MaxRetryAfter = 60 * time.Second

// Client sends SQL statements to one D1 database through Cloudflare's REST
// API: POST {base}/accounts/{account}/d1/database/{database}/query with a
// bearer token. It waits for its turn under a rate limit, retries transient
// failures with backoff, and honours Retry-After. Its methods are safe for
// concurrent use; the rate limit is shared by all of them.
type Client struct {
	account  string
	database string
	endpoint string
	token    string
	hc       *http.Client
	ownHTTP  bool
	limiter  *rate.Limiter
	cfg      config

	mu sync.Mutex
	// resumeAt is when the API accepts requests again after an HTTP 429
	// with Retry-After; every request waits for it. pause is cancelled, by
	// endPause, when a request succeeds before resumeAt, which wakes the
	// waiting requests. Both are nil while there is no pause.
	resumeAt time.Time
	pause    context.Context
	endPause context.CancelFunc
	// authReported is set once a rejected token is logged, and cleared by
	// the next success, so that an expired token is logged once.
	authReported bool
}

// Statement is one SQL statement with its bound parameters, which D1 binds
// to the ? placeholders in order. Parameters are strings, numbers, booleans
// or nil, as JSON carries them.
type Statement struct {
	SQL    string `json:"sql"`
	Params []any  `json:"params"`
}

// Result is the outcome of one statement.
type Result struct {
	// Rows is the JSON array of the rows the statement returned, each an
	// object keyed by column name.
	Rows    json.RawMessage `json:"results"`
	Success bool            `json:"success"`
	Meta    Meta            `json:"meta"`
}

// Decode unmarshals the rows of r into dst, a pointer to a slice.
func (r *Result) Decode(dst any) error {
	if len(r.Rows) == 0 || bytes.Equal(r.Rows, []byte("null")) {
		return json.Unmarshal([]byte("[]"), dst)
	}
	if err := json.Unmarshal(r.Rows, dst); err != nil {
		return fmt.Errorf("d1: decode result rows: %w", err)
	}
	return nil
}

// Meta is the statistics D1 reports for one statement. Fields the API adds
// later are ignored.
type Meta struct {
	// Changes is the number of rows the statement inserted, updated or
	// deleted.
	Changes     int64 `json:"changes"`
	LastRowID   int64 `json:"last_row_id"`
	ChangedDB   bool  `json:"changed_db"`
	RowsRead    int64 `json:"rows_read"`
	RowsWritten int64 `json:"rows_written"`
	SizeAfter   int64 `json:"size_after"`
	// Duration is the time D1 spent on the statement, in milliseconds.
	Duration float64 `json:"duration"`
}

// NewClient returns a Client for database of account, both ids as the
// Cloudflare dashboard and `wrangler d1 list` show them. The token comes
// from WithToken or CLOUDFLARE_API_TOKEN, and the base URL from WithBaseURL,
// AGENTAUDIT_D1_BASE_URL or DefaultBaseURL.
func NewClient(account, database string, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	return newClient(account, database, cfg)
}

func newClient(account, database string, cfg config) (*Client, error) {
	if err := checkIDs(account, database); err != nil {
		return nil, err
	}
	if cfg.token == "" {
		cfg.token = os.Getenv(TokenEnv)
	}
	if cfg.token == "" {
		return nil, fmt.Errorf("d1: no API token; create a Cloudflare API token with D1 edit permission and set %s", TokenEnv)
	}
	if cfg.baseURL == "" {
		cfg.baseURL = os.Getenv(BaseURLEnv)
	}
	if cfg.baseURL == "" {
		cfg.baseURL = DefaultBaseURL
	}
	base, err := checkBaseURL(cfg.baseURL)
	if err != nil {
		return nil, err
	}

	c := &Client{
		account:  account,
		database: database,
		endpoint: base + "/accounts/" + url.PathEscape(account) + "/d1/database/" + url.PathEscape(database) + "/query",
		token:    cfg.token,
		hc:       cfg.httpClient,
		cfg:      cfg,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: cfg.requestTimeout}
		c.ownHTTP = true
	}
	if cfg.requestsPerSec > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.requestsPerSec), cfg.burst)
	} else {
		c.limiter = rate.NewLimiter(rate.Inf, 1)
	}
	return c, nil
}

// Query runs one statement and returns its result. Transient failures are
// retried, so a write that Query retries may have run once already. Use it
// for reads and for idempotent writes such as INSERT ... ON CONFLICT DO
// NOTHING.
func (c *Client) Query(ctx context.Context, sql string, params ...any) (*Result, error) {
	results, err := c.Batch(ctx, []Statement{{SQL: sql, Params: params}})
	if err != nil {
		return nil, err
	}
	return &results[0], nil
}

// Batch runs stmts in one request as one transaction: D1 runs them in
// order and rolls all of them back when one fails. It returns one result
// per statement. Transient failures are retried like Query's, with the
// same caution for writes that are not idempotent.
//
// NOTE: Cloudflare documents the Worker binding's batch() as a transaction.
// That the REST batch form is one too is checked here only against the
// local engine, whose Worker serves it with batch().
func (c *Client) Batch(ctx context.Context, stmts []Statement) ([]Result, error) {
	return c.batch(ctx, stmts, retryAll)
}

// Close closes the idle connections of the client's own HTTP client. The
// Client stays usable.
func (c *Client) Close() {
	if c.ownHTTP {
		c.hc.CloseIdleConnections()
	}
}

// retryPolicy selects the transient failures a request may be retried on.
type retryPolicy int

const (
	// retryAll retries every transient failure; for reads and idempotent
	// writes.
	retryAll retryPolicy = iota
	// retryUnsent retries only failures that show the statements did not
	// run, such as HTTP 429 or a refused connection. It is for writes that
	// must not run twice.
	retryUnsent
)

func (c *Client) batch(ctx context.Context, stmts []Statement, policy retryPolicy) ([]Result, error) {
	if len(stmts) == 0 {
		return nil, nil
	}
	body, err := encodeBatch(stmts)
	if err != nil {
		return nil, err
	}
	results, err := c.send(ctx, body, policy)
	if err != nil {
		return nil, err
	}
	// A statement whose SQL holds several statements gets a result for
	// each, so only too few results are an error.
	if len(results) < len(stmts) {
		return nil, fmt.Errorf("d1: database %s returned %d results for %d statements", c.database, len(results), len(stmts))
	}
	return results, nil
}

// encodeBatch returns the request body for stmts: the single form
// {"sql","params"} for one statement, the batch form {"batch":[...]} for
// more.
func encodeBatch(stmts []Statement) ([]byte, error) {
	if len(stmts) == 1 {
		st := stmts[0]
		if st.Params == nil {
			st.Params = []any{}
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(st); err != nil {
			return nil, fmt.Errorf("d1: encode statement: %w", err)
		}
		return buf.Bytes(), nil
	}
	var b batchBody
	for _, st := range stmts {
		if err := b.add(st); err != nil {
			return nil, err
		}
	}
	return b.bytes(), nil
}

// batchBody builds a request body one statement at a time, so that the
// store can keep a request under a size while filling it.
type batchBody struct {
	buf   bytes.Buffer
	enc   *json.Encoder
	count int
}

func (b *batchBody) add(st Statement) error {
	if b.enc == nil {
		b.buf.WriteString(`{"batch":[`)
		b.enc = json.NewEncoder(&b.buf)
		b.enc.SetEscapeHTML(false)
	}
	if st.Params == nil {
		st.Params = []any{}
	}
	if b.count > 0 {
		b.buf.WriteByte(',')
	}
	if err := b.enc.Encode(st); err != nil {
		return fmt.Errorf("d1: encode statement %d: %w", b.count, err)
	}
	b.count++
	return nil
}

// size returns the body's length in bytes once closed.
func (b *batchBody) size() int { return b.buf.Len() + 2 }

func (b *batchBody) bytes() []byte {
	out := make([]byte, 0, b.size())
	out = append(out, b.buf.Bytes()...)
	return append(out, ']', '}')
}

// send posts body, waiting for the rate limit, and retries it on the
// transient failures policy allows, up to the configured attempts.
func (c *Client) send(ctx context.Context, body []byte, policy retryPolicy) ([]Result, error) {
	for attempt := 1; ; attempt++ {
		if err := c.waitTurn(ctx); err != nil {
			return nil, err
		}

		results, err := c.post(ctx, body)
		if err == nil {
			c.noteSuccess()
			return results, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("d1: query database %s: %w", c.database, ctxErr)
		}

		kind := classify(err)
		switch {
		case kind == kindAuth:
			return nil, c.authError(ctx, err)
		case kind == kindUnknown && policy == retryUnsent:
			return nil, fmt.Errorf("d1: query database %s: the request may have run, so it is not retried; check the data before running it again: %w", c.database, err)
		case !kind.transient():
			return nil, classified(kind, err)
		case attempt >= c.cfg.maxAttempts:
			return nil, fmt.Errorf("d1: query database %s: gave up after %d attempts: %w", c.database, attempt, err)
		}

		wait := c.backoff(attempt)
		ra := retryAfter(err)
		if ra > 0 {
			wait = ra
		}
		if deadline, ok := ctx.Deadline(); ok && c.cfg.now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("d1: query database %s: the retry in %v would pass the deadline: %w", c.database, wait.Round(time.Millisecond), err)
		}
		c.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "d1: retrying request",
			slog.String("database", c.database),
			slog.Int("attempt", attempt),
			slog.Duration("wait", wait),
			slog.String("error", err.Error()))
		if ra > 0 {
			// waitTurn waits out the pause, or less when another request
			// succeeds first.
			c.pauseUntil(c.cfg.now().Add(ra))
			continue
		}
		if err := c.cfg.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("d1: query database %s: %w", c.database, err)
		}
	}
}

// waitTurn waits until a Retry-After pause is over, or a request succeeds,
// and the rate limiter lets one more request through. It returns an error
// at once when the pause would outlast ctx's deadline.
func (c *Client) waitTurn(ctx context.Context) error {
	for {
		c.mu.Lock()
		resumeAt, pause := c.resumeAt, c.pause
		c.mu.Unlock()
		wait := resumeAt.Sub(c.cfg.now())
		if pause == nil || wait <= 0 {
			break
		}
		if deadline, ok := ctx.Deadline(); ok && c.cfg.now().Add(wait).After(deadline) {
			return fmt.Errorf("d1: query database %s: the API asked to wait %v (Retry-After), which would pass the deadline; retry later", c.database, wait.Round(time.Millisecond))
		}

		sleepCtx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(pause, cancel)
		err := c.cfg.sleep(sleepCtx, wait)
		stop()
		cancel()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("d1: query database %s: waiting %v for the rate limit to reset: %w", c.database, wait.Round(time.Millisecond), ctxErr)
		}
		if err != nil && pause.Err() == nil {
			return fmt.Errorf("d1: query database %s: waiting %v for the rate limit to reset: %w", c.database, wait.Round(time.Millisecond), err)
		}
		// The pause is over, or a success ended it early; check again in
		// case another 429 started a new one.
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("d1: query database %s: waiting for the client's rate limit (%v requests/s): %w", c.database, c.cfg.requestsPerSec, err)
	}
	return nil
}

// pauseUntil makes every request wait until t, unless a pause already
// lasts longer.
func (c *Client) pauseUntil(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pause == nil {
		c.pause, c.endPause = context.WithCancel(context.Background())
	}
	if t.After(c.resumeAt) {
		c.resumeAt = t
	}
}

// noteSuccess records a successful request: it ends a Retry-After pause,
// waking the requests that wait for it, and re-arms the rejected-token log.
func (c *Client) noteSuccess() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.authReported = false
	if c.endPause != nil {
		c.endPause()
	}
	c.pause, c.endPause, c.resumeAt = nil, nil, time.Time{}
}

// authError returns the permanent error for a rejected token, and logs it
// the first time since the last success.
func (c *Client) authError(ctx context.Context, err error) error {
	var apiErr *APIError
	status := 0
	if errors.As(err, &apiErr) {
		status = apiErr.StatusCode
	}
	var msg string
	if status == http.StatusForbidden {
		msg = fmt.Sprintf("d1: the API token may not use database %s of account %s (HTTP 403); give the token D1 edit permission on that account and set %s", c.database, c.account, TokenEnv)
	} else {
		msg = fmt.Sprintf("d1: the API token was rejected (HTTP %d); create a token with D1 edit permission and set %s", status, TokenEnv)
	}
	authErr := audit.Permanent(fmt.Errorf("%s: %w", msg, err))

	c.mu.Lock()
	first := !c.authReported
	c.authReported = true
	c.mu.Unlock()
	if first {
		c.cfg.logger.LogAttrs(ctx, slog.LevelError, "d1: API token rejected",
			slog.String("database", c.database),
			slog.Int("status", status),
			slog.String("error", authErr.Error()))
	}
	return authErr
}

// post sends one attempt and decodes the reply.
func (c *Client) post(ctx context.Context, body []byte) ([]Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("d1: build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &transportError{err: c.redactErr(err), unsent: isDialError(err)}
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("read reply (HTTP %d): %w", resp.StatusCode, c.redactErr(err))}
	}
	if len(reply) > maxReplyBytes {
		return nil, &APIError{StatusCode: resp.StatusCode, Errors: []ErrorDetail{{Message: fmt.Sprintf("reply is larger than %d bytes; select fewer rows", maxReplyBytes)}}}
	}

	var env envelope
	decodeErr := json.Unmarshal(reply, &env)
	if decodeErr != nil && resp.StatusCode/100 == 2 {
		// A 2xx reply that is not the API's JSON comes from something in
		// between, such as a proxy, so the statements may or may not have run.
		return nil, &transportError{err: fmt.Errorf("reply (HTTP %d) is not the API's JSON: %s", resp.StatusCode, c.redact(snippet(reply)))}
	}
	success := decodeErr == nil && env.Success != nil && *env.Success
	if resp.StatusCode/100 == 2 && success {
		results, err := env.results()
		if err != nil {
			return nil, &transportError{err: fmt.Errorf("decode reply: %w", err)}
		}
		return results, nil
	}

	apiErr := &APIError{StatusCode: resp.StatusCode}
	if decodeErr == nil {
		for _, e := range env.Errors {
			apiErr.Errors = append(apiErr.Errors, ErrorDetail{Code: e.Code, Message: c.redact(e.Message)})
		}
	}
	if len(apiErr.Errors) == 0 {
		apiErr.Errors = []ErrorDetail{{Message: c.redact(snippet(reply))}}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		apiErr.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.cfg.now())
	}
	return nil, apiErr
}

// envelope is the REST API's reply: {success, errors, messages, result}.
type envelope struct {
	Success *bool           `json:"success"`
	Errors  []ErrorDetail   `json:"errors"`
	Result  json.RawMessage `json:"result"`
}

// results decodes the result array; a single object is taken as an array
// of one.
func (e *envelope) results() ([]Result, error) {
	raw := bytes.TrimSpace(e.Result)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return nil, nil
	case raw[0] == '{':
		var r Result
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, err
		}
		return []Result{r}, nil
	}
	var rs []Result
	if err := json.Unmarshal(raw, &rs); err != nil {
		return nil, err
	}
	return rs, nil
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.retryBackoff
	for i := 1; i < attempt && d < c.cfg.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, max(c.cfg.maxBackoff, c.cfg.retryBackoff))
	return d/2 + rand.N(d/2+1)
}

// redact replaces the token in text from the server or the transport, in
// case a proxy or server echoes the Authorization header.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[REDACTED]")
}

func (c *Client) redactErr(err error) error {
	if msg := err.Error(); strings.Contains(msg, c.token) {
		return errors.New(c.redact(msg))
	}
	return err
}

// parseRetryAfter reads a Retry-After header, in seconds or as an HTTP
// date, capped at MaxRetryAfter. It returns 0 when the header is absent or
// invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter)
	}
	return 0
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// snippet returns the start of a reply body that is not the API's JSON,
// such as a proxy's error page.
func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "empty reply"
	}
	if len(s) > n {
		s = s[:n] + "..."
	}
	return "unexpected reply: " + strings.ToValidUTF8(s, "?")
}

// checkBaseURL returns u without a trailing slash. It returns an error
// naming u when u is not an http or https URL, or when u is plain http to a
// host other than loopback, which would send the token unencrypted.
func checkBaseURL(u string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" || (parsed.Scheme != "http" && parsed.Scheme != "https") {
		return "", fmt.Errorf("d1: base URL %q is not an http or https URL; pass one like %q, or unset %s", u, DefaultBaseURL, BaseURLEnv)
	}
	if parsed.Scheme == "http" && !isLoopback(parsed.Hostname()) {
		return "", fmt.Errorf("d1: base URL %q uses plain http to a host that is not loopback, which would send the API token unencrypted; use https", u)
	}
	if parsed.RawQuery != "" || parsed.Fragment != "" {
		return "", fmt.Errorf("d1: base URL %q has a query or fragment; pass the base only, such as %q", u, DefaultBaseURL)
	}
	return strings.TrimRight(u, "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
