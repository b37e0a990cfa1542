package sqlite

import (
	"fmt"
	"runtime"
	"time"
)

// DefaultBusyTimeout is how long a write waits for another connection's
// lock, in this process or another, before it fails with SQLITE_BUSY.
const DefaultBusyTimeout = 10 * time.Second

// DefaultMaxReadConns is the minimum size of the read connection pool; the
// default is the larger of it and GOMAXPROCS.
const DefaultMaxReadConns = 4

// Synchronous is an SQLite synchronous setting for the writer connection.
type Synchronous string

// The synchronous settings a Store accepts. See the package documentation
// for what each one keeps after a power loss.
const (
	// SynchronousNormal syncs the WAL at each checkpoint, not at each commit.
	SynchronousNormal Synchronous = "NORMAL"
	// SynchronousFull syncs the WAL at each commit, so a committed
	// transaction survives a power loss, at the cost of one fsync per batch.
	SynchronousFull Synchronous = "FULL"
)

// Option configures Open.
type Option func(*options)

type options struct {
	busyTimeout  time.Duration
	autoMigrate  bool
	create       bool
	readOnly     bool
	synchronous  Synchronous
	maxReadConns int
}

func defaultOptions() options {
	return options{
		busyTimeout:  DefaultBusyTimeout,
		autoMigrate:  true,
		create:       true,
		synchronous:  SynchronousNormal,
		maxReadConns: max(DefaultMaxReadConns, runtime.GOMAXPROCS(0)),
	}
}

func (o options) validate() error {
	if o.busyTimeout < time.Millisecond {
		return fmt.Errorf("busy timeout %v is below 1ms; pass at least a millisecond", o.busyTimeout)
	}
	switch o.synchronous {
	case SynchronousNormal, SynchronousFull:
	default:
		return fmt.Errorf("synchronous %q is not supported; use SynchronousNormal or SynchronousFull", o.synchronous)
	}
	if o.maxReadConns < 1 {
		return fmt.Errorf("max read connections %d is below 1; pass at least 1", o.maxReadConns)
	}
	return nil
}

// WithBusyTimeout sets how long a write waits for a lock held by another
// connection before it fails with SQLITE_BUSY, at millisecond precision.
// The default is DefaultBusyTimeout.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithAutoMigrate sets whether Open applies the embedded migrations. The
// default is true; with false, call Migrate or run
// `wrangler d1 migrations apply` on the file before use.
func WithAutoMigrate(on bool) Option {
	return func(o *options) { o.autoMigrate = on }
}

// WithCreate sets whether Open creates the database file when it does not
// exist. The default is true. With false, Open of a missing file returns an
// error that wraps an *fs.PathError for fs.ErrNotExist, so that a reader
// given a mistyped path fails instead of reading a new, empty database.
func WithCreate(on bool) Option {
	return func(o *options) { o.create = on }
}

// WithReadOnly sets whether Open opens the database for reading only. The
// default is false. With true, Open needs only read access to the file,
// never creates it and applies no migrations: it returns an error when the
// file is missing or its schema lacks a migration this package has, which
// `agentaudit migrate` applies. Every method that writes returns an error
// wrapping ErrReadOnly.
//
// A database whose write-ahead log was not removed on close, or whose
// directory this process cannot write, needs its -wal and -shm files
// readable. Where neither exists and the directory is read-only, as on a
// read-only mount, Open opens the file as immutable, so that a write by
// another process while the Store is open may go unseen.
func WithReadOnly(on bool) Option {
	return func(o *options) { o.readOnly = on }
}

// WithSynchronous sets the writer's synchronous mode. The default is
// SynchronousNormal.
func WithSynchronous(mode Synchronous) Option {
	return func(o *options) { o.synchronous = mode }
}

// WithMaxReadConns sets the size of the read connection pool. The default
// is the larger of DefaultMaxReadConns and GOMAXPROCS.
func WithMaxReadConns(n int) Option {
	return func(o *options) { o.maxReadConns = n }
}
