package audit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeStore is a Store that keeps rows in memory, idempotent on Entry.ID
// like a real store, records its calls and fails on demand.
type fakeStore struct {
	mu sync.Mutex
	// outcome decides call n (from 1): whether the entries are inserted,
	// and the error returned. Entries named in a *RejectedError are not
	// inserted. Nil inserts and returns nil.
	outcome func(call int, entries []Entry) (insert bool, err error)
	// gate, when not nil, holds every call until it is closed or the
	// call's context ends.
	gate     chan struct{}
	rows     []Entry
	ids      map[string]bool
	calls    int
	closes   int
	closeErr error
	// started receives a value at the start of each call, if there is room.
	started chan struct{}
}

var _ Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{ids: map[string]bool{}, started: make(chan struct{}, 1)}
}

func (s *fakeStore) InsertEntries(ctx context.Context, entries []Entry) error {
	s.mu.Lock()
	s.calls++
	call, outcome, gate := s.calls, s.outcome, s.gate
	s.mu.Unlock()
	notify(s.started)

	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	insert, err := true, error(nil)
	if outcome != nil {
		insert, err = outcome(call, entries)
	}
	if !insert {
		return err
	}

	skip := map[string]bool{}
	var rejected *RejectedError
	if errors.As(err, &rejected) {
		for _, r := range rejected.Rejected {
			skip[r.ID] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range entries {
		if skip[e.ID] || s.ids[e.ID] {
			continue
		}
		s.ids[e.ID] = true
		e.Metadata = slices.Clone(e.Metadata)
		s.rows = append(s.rows, e)
	}
	return err
}

func (s *fakeStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	return s.closeErr
}

func (s *fakeStore) setOutcome(f func(call int, entries []Entry) (bool, error)) {
	s.mu.Lock()
	s.outcome = f
	s.mu.Unlock()
}

func (s *fakeStore) snapshot() (rows []Entry, calls, closes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rows), s.calls, s.closes
}

// fakeClock is a clock that moves only when a test calls Advance.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 4, 19, 16, 50, 123_000_000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// errorRecorder is an error handler that keeps what it receives.
type errorRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *errorRecorder) handle(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *errorRecorder) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// closeLogger closes l at the end of a test that has no other Close check.
func closeLogger(t *testing.T, l *Logger) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.Close(ctx) // the test checked what it needs; this stops the writer
	})
}
