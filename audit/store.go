package audit

import (
	"context"
	"time"
)

// Store persists audit entries. The Logger calls InsertEntries from a single
// goroutine, so an implementation need not be safe for concurrent use by one
// Logger, but it must be safe to share between Loggers and readers.
//
// InsertEntries writes all entries or returns an error. It must be
// idempotent on Entry.ID (INSERT ... ON CONFLICT DO NOTHING), because the
// Logger retries a batch whose outcome it does not know. It must not retain
// the slice after it returns. When the store rejects some entries for good
// and wrote the others, it returns a *RejectedError listing them.
type Store interface {
	InsertEntries(ctx context.Context, entries []Entry) error
	Close() error
}

// Filter selects entries for a Reader. Zero fields do not filter.
type Filter struct {
	ChatID string
	Type   EntryType
	Since  time.Time
	Until  time.Time
	// Limit caps the number of entries returned; 0 means no limit.
	Limit int
	// Newest selects the last Limit matching entries instead of the first,
	// as tail does. They are still returned in id order. Without a Limit
	// it changes nothing.
	Newest bool
}

// Reader reads entries back in id order, which is the order they were
// logged in within one process.
type Reader interface {
	Entries(ctx context.Context, f Filter) ([]Entry, error)
}
