package audit

import (
	"log/slog"
	"time"
)

// Defaults of the Logger's options.
const (
	// DefaultQueueSize is the number of entries the queue holds before Log
	// drops new ones.
	DefaultQueueSize = 2048
	// DefaultBatchSize is the number of entries written in one
	// Store.InsertEntries call at most.
	DefaultBatchSize = 128
	// DefaultFlushInterval is the longest time an entry waits in the queue
	// before the writer writes a partial batch.
	DefaultFlushInterval = time.Second
	// DefaultMaxRetries is the number of times a batch is retried after a
	// transient store error before its entries are dropped.
	DefaultMaxRetries = 5
	// DefaultRetryBackoff is the wait before the first retry. Each retry
	// doubles it, up to DefaultMaxRetryBackoff, and adds jitter.
	DefaultRetryBackoff = 100 * time.Millisecond
	// DefaultMaxRetryBackoff caps the wait between two retries.
	DefaultMaxRetryBackoff = 5 * time.Second
	// DefaultWriteTimeout bounds one Store.InsertEntries call.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultErrorReportInterval is the shortest time between two reports
	// of the same kind of error to the error handler and the slog.Logger.
	DefaultErrorReportInterval = 10 * time.Second
	// DefaultSpoolBlock is how long Log waits for room, with a spool and
	// without WithBlock, when both the queue and the spiller's queue are
	// full: it makes a caller that logs faster than the disk takes entries
	// wait for it, instead of losing entries.
	DefaultSpoolBlock = time.Second
)

// Option configures a Logger in New.
type Option func(*config)

type config struct {
	queueSize           int
	batchSize           int
	flushInterval       time.Duration
	maxRetries          int
	retryBackoff        time.Duration
	maxRetryBackoff     time.Duration
	writeTimeout        time.Duration
	blockTimeout        time.Duration
	sync                bool
	errorHandler        func(error)
	logger              *slog.Logger
	spool               Spool
	now                 func() time.Time
	errorReportInterval time.Duration
}

func newConfig(opts []Option) config {
	cfg := config{
		queueSize:           DefaultQueueSize,
		batchSize:           DefaultBatchSize,
		flushInterval:       DefaultFlushInterval,
		maxRetries:          DefaultMaxRetries,
		retryBackoff:        DefaultRetryBackoff,
		maxRetryBackoff:     DefaultMaxRetryBackoff,
		writeTimeout:        DefaultWriteTimeout,
		logger:              slog.New(slog.DiscardHandler),
		now:                 time.Now,
		errorReportInterval: DefaultErrorReportInterval,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	cfg.batchSize = min(cfg.batchSize, cfg.queueSize)
	cfg.maxRetryBackoff = max(cfg.maxRetryBackoff, cfg.retryBackoff)
	return cfg
}

// WithQueueSize sets the number of entries the queue holds, waiting to be
// written. When it is full, Log drops the entry and returns ErrQueueFull,
// or waits as WithBlock sets. The default is DefaultQueueSize; n < 1 keeps
// it. New allocates the queue at once, about 500 bytes an entry on 64-bit
// platforms, so about 1 MB for the default.
func WithQueueSize(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.queueSize = n
		}
	}
}

// WithBatchSize sets the number of entries written in one
// Store.InsertEntries call at most. The writer writes as soon as the queue
// holds a full batch. The default is DefaultBatchSize; n < 1 keeps it, and
// a size larger than the queue becomes the queue size.
func WithBatchSize(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.batchSize = n
		}
	}
}

// WithFlushInterval sets the longest time an entry waits in the queue
// before the writer writes a partial batch. The default is
// DefaultFlushInterval; d <= 0 keeps it.
func WithFlushInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.flushInterval = d
		}
	}
}

// WithMaxRetries sets the number of times a batch is retried after a
// transient store error before its entries are dropped; 0 disables
// retries. Errors that IsPermanent reports are never retried. The default
// is DefaultMaxRetries; n < 0 keeps it.
func WithMaxRetries(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.maxRetries = n
		}
	}
}

// WithRetryBackoff sets the wait before the first retry and the cap on the
// wait between two retries. The wait doubles with each retry, and jitter
// picks it from [wait/2, wait]. The defaults are DefaultRetryBackoff and
// DefaultMaxRetryBackoff; a value <= 0 keeps its default, and a cap below
// the first wait becomes the first wait.
func WithRetryBackoff(first, maxWait time.Duration) Option {
	return func(c *config) {
		if first > 0 {
			c.retryBackoff = first
		}
		if maxWait > 0 {
			c.maxRetryBackoff = maxWait
		}
	}
}

// WithWriteTimeout bounds one Store.InsertEntries call; an insert that
// times out counts as a transient error and is retried. The default is
// DefaultWriteTimeout; d <= 0 keeps it.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.writeTimeout = d
		}
	}
}

// WithBlock makes Log wait up to d for room when the queue is full, instead
// of dropping the entry at once. Log still returns ErrQueueFull, having
// dropped the entry, when d passes or its context ends first. By default
// Log does not wait, or with a spool waits up to DefaultSpoolBlock; d <= 0
// keeps that.
func WithBlock(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.blockTimeout = d
		}
	}
}

// WithSync makes Log return only after its entry is written or has failed
// for good, or after its context ends. It suits short command-line runs;
// an agent serving requests should keep the default, which returns as soon
// as the entry is queued.
func WithSync() Option {
	return func(c *config) { c.sync = true }
}

// WithErrorHandler sets the function that receives the errors through which
// entries were lost: entries dropped or failed, with their count and cause.
// Errors of one kind are reported at most once per
// DefaultErrorReportInterval, with the counts of the ones held back added
// up; Close reports what is still held back. The handler runs on the
// Logger's writer goroutine, so it must not block, and it must not call
// Flush or Close. By default there is no handler; a nil f keeps that.
func WithErrorHandler(f func(error)) Option {
	return func(c *config) { c.errorHandler = f }
}

// WithLogger sets the logger for the Logger's own events: lost entries at
// level Error and retries at level Warn, both rate-limited like the error
// handler. By default nothing is logged; a nil l keeps that.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithSpool makes the Logger keep on local disk, in s, the entries it
// would otherwise drop, and write them to the store later. Without a
// spool, a transient store error is retried in memory (see WithMaxRetries)
// and the batch is dropped when the retries run out. With one:
//
//   - a transient store error moves the batch to the spool at once, and the
//     Logger enters an outage. During it, every following batch goes to the
//     spool without a store call. After each backoff (see WithRetryBackoff)
//     the writer probes the store with the oldest spooled batch, until an
//     insert succeeds;
//   - an entry that finds the queue full goes to a second queue of the same
//     size, which a goroutine owned by the Logger appends to the spool;
//     when that queue is full too, Log waits for room up to the block
//     timeout (see WithBlock and DefaultSpoolBlock), so a caller that logs
//     faster than the disk takes entries is slowed down, not robbed; Log
//     itself never reads or writes a file;
//   - the writer goroutine writes the spooled entries to the store, oldest
//     first, once the store takes entries again, and at start for the
//     entries an earlier process left in the spool;
//   - entries the store refuses for good are counted as Failed and kept in
//     the spool's dead-letter file;
//   - entries are dropped, counted and reported only when the spool cannot
//     take them, because it is full or its disk fails.
//
// The Logger closes s in Close. By default there is no spool; a nil s
// keeps that.
func WithSpool(s Spool) Option {
	return func(c *config) { c.spool = s }
}

// WithClock sets the clock that stamps entries (Entry.CreatedAt and the
// time in the id) and times error reports. The default is time.Now; a nil
// now keeps it.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}
