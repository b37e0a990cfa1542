// Package audittest provides an in-memory audit.Store for tests of code
// that writes an audit trail. It is meant for tests only.
package audittest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// waitTimeout is the time limit of Flushed and Wait.
const waitTimeout = 10 * time.Second

// Store is an audit.Store that keeps entries in memory, in write order.
// Like a real store it keeps one entry per ID, so a batch sent again adds
// nothing. The zero value is ready to use and safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	entries []audit.Entry
	seen    map[string]bool
	closed  bool
}

var _ audit.Store = (*Store)(nil)

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{}
}

// NewLogger returns a Logger over a new Store, built with opts, and closes
// the Logger when t ends, failing t if Close fails.
func NewLogger(t testing.TB, opts ...audit.Option) (*audit.Logger, *Store) {
	t.Helper()
	store := NewStore()
	logger := audit.New(store, opts...)
	t.Cleanup(func() {
		if err := logger.Close(context.Background()); err != nil {
			t.Errorf("Logger.Close() = %v, want nil", err)
		}
	})
	return logger, store
}

// InsertEntries keeps the entries whose ID it has not seen, with a copy of
// their metadata.
func (s *Store) InsertEntries(_ context.Context, entries []audit.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, e := range entries {
		if s.seen[e.ID] {
			continue
		}
		s.seen[e.ID] = true
		e.Metadata = append(json.RawMessage(nil), e.Metadata...)
		s.entries = append(s.entries, e)
	}
	return nil
}

// Close marks the store closed; entries stay readable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Closed reports whether Close has been called.
func (s *Store) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Entries returns the entries written so far, in write order.
func (s *Store) Entries() []audit.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]audit.Entry(nil), s.entries...)
}

// Flushed flushes logger, failing t if that fails, and returns the entries
// written so far.
func (s *Store) Flushed(t testing.TB, logger *audit.Logger) []audit.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := logger.Flush(ctx); err != nil {
		t.Fatalf("Logger.Flush() = %v, want nil", err)
	}
	return s.Entries()
}

// Wait flushes logger until the store contains at least n entries and
// returns them, failing t after 10 seconds. Use it for entries that another
// goroutine logs, because they arrive at no fixed time.
func (s *Store) Wait(t testing.TB, logger *audit.Logger, n int) []audit.Entry {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		got := s.Flushed(t, logger)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("store contains %d entries after %v, want %d", len(got), waitTimeout, n)
		}
		<-tick.C
	}
}

// DecodeMetadata decodes the metadata of e into v.
func DecodeMetadata(e audit.Entry, v any) error {
	if err := json.Unmarshal(e.Metadata, v); err != nil {
		return fmt.Errorf("audittest: entry %s metadata: %w", e.ID, err)
	}
	return nil
}
