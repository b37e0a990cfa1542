package postgres

import (
	"fmt"
	"time"
)

// DefaultCopyThreshold is the batch size, in entries, from which
// InsertEntries switches from one INSERT of unnested arrays to COPY into a
// temporary table. Below it the INSERT was faster in this project's
// benchmark. From about this size the two insert at the same rate, and COPY
// streams the rows instead of building five arrays in memory. The figures
// are in bench/README.md.
const DefaultCopyThreshold = 4096

// DefaultConnectTimeout bounds one connection attempt when the connection
// string sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// Option configures Open.
type Option func(*options)

type options struct {
	autoMigrate    bool
	maxConns       int32
	copyThreshold  int
	connectTimeout time.Duration
}

func defaultOptions() options {
	return options{
		autoMigrate:    true,
		copyThreshold:  DefaultCopyThreshold,
		connectTimeout: DefaultConnectTimeout,
	}
}

func (o options) validate() error {
	if o.maxConns < 0 {
		return fmt.Errorf("max connections %d is negative; pass at least 1, or 0 for the default", o.maxConns)
	}
	if o.copyThreshold < 1 {
		return fmt.Errorf("copy threshold %d is below 1; pass a batch size of at least 1", o.copyThreshold)
	}
	if o.connectTimeout <= 0 {
		return fmt.Errorf("connect timeout %v is not positive; pass a duration such as 10s", o.connectTimeout)
	}
	return nil
}

// WithAutoMigrate sets whether Open applies the embedded migrations. The
// default is true; with false, Open only checks that the server accepts a
// connection, and the caller runs Migrate before use.
func WithAutoMigrate(on bool) Option {
	return func(o *options) { o.autoMigrate = on }
}

// WithMaxConns sets the size of the connection pool. It overrides the
// connection string's pool_max_conns. The default is pgx's: the larger of 4
// and the number of CPUs.
func WithMaxConns(n int32) Option {
	return func(o *options) { o.maxConns = n }
}

// WithCopyThreshold sets the batch size, in entries, from which
// InsertEntries uses COPY. The default is DefaultCopyThreshold.
func WithCopyThreshold(n int) Option {
	return func(o *options) { o.copyThreshold = n }
}

// WithConnectTimeout bounds one connection attempt when the connection
// string sets no connect_timeout. The default is DefaultConnectTimeout.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}
