package spool

import (
	"fmt"
	"log/slog"
	"time"
)

// SyncMode says when a Spool commits what it appended to stable storage
// with fsync. Every mode writes each Append to the operating system before
// Append returns, so a crash or kill of the process loses nothing that
// Append took. The modes differ in what an operating system crash or power
// loss can lose.
type SyncMode int

const (
	// SyncInterval commits appended records every sync interval (see
	// WithSyncInterval), from a goroutine the Spool owns. An operating
	// system crash loses at most the records appended in the last
	// interval. It is the default.
	SyncInterval SyncMode = iota
	// SyncAlways commits every Append before it returns. An operating
	// system crash loses nothing Append took; each Append costs an fsync.
	SyncAlways
	// SyncNone leaves committing to the operating system, which on Linux
	// writes dirty pages back within about 30 seconds by default
	// (vm.dirty_expire_centisecs). An operating system crash may lose any
	// record appended since then.
	SyncNone
)

func (m SyncMode) String() string {
	switch m {
	case SyncInterval:
		return "interval"
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode returns the mode named "interval", "always" or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "interval":
		return SyncInterval, nil
	case "always":
		return SyncAlways, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("spool: invalid sync mode %q; use interval, always or none", s)
}

// Defaults of the Spool's options.
const (
	// DefaultMaxBytes is the most disk space a spool folder takes: its
	// segments and its dead-letter file.
	DefaultMaxBytes = 1 << 30
	// DefaultSegmentSize is the size at which the Spool starts a new
	// segment file.
	DefaultSegmentSize = 64 << 20
	// DefaultSyncInterval is the time between two commits in SyncInterval
	// mode.
	DefaultSyncInterval = 100 * time.Millisecond
)

// Option configures a Spool in Open.
type Option func(*config)

type config struct {
	maxBytes     int64
	segmentSize  int64
	mode         SyncMode
	syncInterval time.Duration
	fs           FS
	logger       *slog.Logger
}

func newConfig(opts []Option) config {
	c := config{
		maxBytes:     DefaultMaxBytes,
		segmentSize:  DefaultSegmentSize,
		mode:         SyncInterval,
		syncInterval: DefaultSyncInterval,
		fs:           OS,
		logger:       slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	c.segmentSize = min(c.segmentSize, c.maxBytes)
	return c
}

// WithMaxBytes sets the most disk space the spool folder takes, in bytes:
// segments and the dead-letter file together. Append takes no entry past
// it. The default is DefaultMaxBytes; n < 1 keeps it.
func WithMaxBytes(n int64) Option {
	return func(c *config) {
		if n >= 1 {
			c.maxBytes = n
		}
	}
}

// WithSegmentSize sets the size in bytes at which the Spool closes a
// segment file and starts the next. Acknowledged segments are deleted
// whole, so smaller segments free space sooner. The default is
// DefaultSegmentSize; n < 1 keeps it, and a size above the max bytes
// becomes the max bytes.
func WithSegmentSize(n int64) Option {
	return func(c *config) {
		if n >= 1 {
			c.segmentSize = n
		}
	}
}

// WithSyncMode sets when appended records are committed to stable
// storage. The default is SyncInterval.
func WithSyncMode(m SyncMode) Option {
	return func(c *config) { c.mode = m }
}

// WithSyncInterval sets the time between two commits in SyncInterval
// mode. The default is DefaultSyncInterval; d <= 0 keeps it.
func WithSyncInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.syncInterval = d
		}
	}
}

// WithFS sets the file system the Spool works on. The default is OS; a nil
// fsys keeps it.
func WithFS(fsys FS) Option {
	return func(c *config) {
		if fsys != nil {
			c.fs = fsys
		}
	}
}

// WithLogger sets the logger for errors that no call returns: a failed
// commit in SyncInterval mode. By default nothing is logged; a nil l keeps
// that.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
