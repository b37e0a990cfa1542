package d1

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// Environment variables that NewClient and Open read.
const (
	// TokenEnv names the variable that holds the Cloudflare API token, used
	// when WithToken is not given. The token needs the D1 edit permission.
	TokenEnv = "CLOUDFLARE_API_TOKEN"
	// BaseURLEnv names the variable that overrides DefaultBaseURL, used when
	// WithBaseURL is not given; tests point it at a local D1 engine.
	BaseURLEnv = "AGENTAUDIT_D1_BASE_URL"
)

// DefaultBaseURL is the Cloudflare API's base URL.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4"

// Defaults of the client's options.
const (
	// DefaultRequestsPerSecond is the rate at which a Client sends requests
	// at most. Cloudflare allows 1,200 API requests per five minutes per
	// token, which is 4 per second.
	DefaultRequestsPerSecond = 4.0
	// DefaultBurst is the number of requests a Client may send at once
	// after an idle period, above DefaultRequestsPerSecond.
	DefaultBurst = 2
	// DefaultMaxAttempts is the number of times a request is sent at most,
	// the first attempt included, while it fails with a transient error.
	DefaultMaxAttempts = 5
	// DefaultRetryBackoff is the wait before the first retry. Each retry
	// doubles it, up to DefaultMaxRetryBackoff, and jitter picks the wait
	// from [wait/2, wait].
	DefaultRetryBackoff = 250 * time.Millisecond
	// DefaultMaxRetryBackoff caps the wait between two retries when the
	// reply has no Retry-After header.
	DefaultMaxRetryBackoff = 8 * time.Second
	// DefaultRequestTimeout bounds one HTTP request, reply included.
	DefaultRequestTimeout = 30 * time.Second
)

// Settings for an audit.Logger that writes to D1, which LoggerOptions
// returns as options. At 1,000 entries per second they keep the Logger under
// DefaultRequestsPerSecond: a full batch every half second is one HTTP
// request of 25 INSERT statements of RowsPerInsert rows, and the flush
// interval adds one partial batch every two seconds.
const (
	// RecommendedBatchSize is the audit.WithBatchSize value for D1.
	RecommendedBatchSize = 500
	// RecommendedFlushInterval is the audit.WithFlushInterval value for D1.
	RecommendedFlushInterval = 2 * time.Second
	// RecommendedQueueSize is the audit.WithQueueSize value for D1: room for
	// eight seconds at 1,000 entries per second while a request is retried.
	RecommendedQueueSize = 8192
)

// LoggerOptions returns the audit.Logger options for a Logger that writes
// to a D1 Store: RecommendedBatchSize, RecommendedFlushInterval and
// RecommendedQueueSize.
func LoggerOptions() []audit.Option {
	return []audit.Option{
		audit.WithBatchSize(RecommendedBatchSize),
		audit.WithFlushInterval(RecommendedFlushInterval),
		audit.WithQueueSize(RecommendedQueueSize),
	}
}

// Option configures NewClient and Open.
type Option func(*config)

type config struct {
	baseURL        string
	token          string
	httpClient     *http.Client
	requestsPerSec float64
	burst          int
	maxAttempts    int
	retryBackoff   time.Duration
	maxBackoff     time.Duration
	requestTimeout time.Duration
	logger         *slog.Logger
	autoMigrate    bool

	// now and sleep are the clock of retries and Retry-After; tests
	// replace them so that no test waits for real.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	// maxRowBytes is maxRowBytes unless a test lowers or raises it.
	maxRowBytes int
}

func defaultConfig() config {
	return config{
		requestsPerSec: DefaultRequestsPerSecond,
		burst:          DefaultBurst,
		maxAttempts:    DefaultMaxAttempts,
		retryBackoff:   DefaultRetryBackoff,
		maxBackoff:     DefaultMaxRetryBackoff,
		requestTimeout: DefaultRequestTimeout,
		logger:         slog.New(slog.DiscardHandler),
		autoMigrate:    true,
		now:            time.Now,
		sleep:          sleepContext,
		maxRowBytes:    maxRowBytes,
	}
}

// WithBaseURL sets the API's base URL, such as a local D1 engine's
// "http://127.0.0.1:8787/client/v4". The default is the value of
// AGENTAUDIT_D1_BASE_URL, or DefaultBaseURL when that is empty.
func WithBaseURL(u string) Option {
	return func(c *config) { c.baseURL = u }
}

// WithToken sets the API token. The default is the value of
// CLOUDFLARE_API_TOKEN. The token is sent in the Authorization header only;
// it appears in no error and no log record.
func WithToken(token string) Option {
	return func(c *config) { c.token = token }
}

// WithHTTPClient sets the HTTP client that sends requests. The default is
// a client of its own with DefaultRequestTimeout; a nil hc keeps it.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithRateLimit sets the rate at which the client sends requests at most,
// retries included, and the burst above it after an idle period. Requests
// wait for their turn, or fail when their context would end first. The
// defaults are DefaultRequestsPerSecond and DefaultBurst; perSecond <= 0
// removes the limit, and burst < 1 becomes 1.
func WithRateLimit(perSecond float64, burst int) Option {
	return func(c *config) {
		c.requestsPerSec = perSecond
		c.burst = max(burst, 1)
	}
}

// WithMaxAttempts sets the number of times a request is sent at most while
// it fails with a transient error: HTTP 429 and 5xx, a lost connection, or
// one of D1's transient errors. The default is DefaultMaxAttempts; n < 1
// becomes 1, which disables retries.
func WithMaxAttempts(n int) Option {
	return func(c *config) { c.maxAttempts = max(n, 1) }
}

// WithRetryBackoff sets the wait before the first retry and the cap on the
// wait between two retries; a Retry-After header overrides both. The
// defaults are DefaultRetryBackoff and DefaultMaxRetryBackoff; a value <= 0
// keeps its default, and a cap below the first wait becomes the first wait.
func WithRetryBackoff(first, maxWait time.Duration) Option {
	return func(c *config) {
		if first > 0 {
			c.retryBackoff = first
		}
		if maxWait > 0 {
			c.maxBackoff = maxWait
		}
	}
}

// WithRequestTimeout bounds one HTTP request of the default HTTP client,
// reply included; a request that times out is retried. The default is
// DefaultRequestTimeout; d <= 0 keeps it. It does not apply to a client
// given with WithHTTPClient.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.requestTimeout = d
		}
	}
}

// WithLogger sets the logger for retries (level Warn) and a rejected token
// (level Error, once until a request succeeds again). By default nothing is
// logged; a nil l keeps that.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithAutoMigrate sets whether Open applies the embedded migrations. The
// default is true; with false, call Migrate or run
// `wrangler d1 migrations apply` on the database before use. NewClient
// ignores it.
func WithAutoMigrate(on bool) Option {
	return func(c *config) { c.autoMigrate = on }
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
