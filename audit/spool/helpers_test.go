package spool

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/audit"
)

func TestMain(m *testing.M) {
	// A re-executed test binary plays a child process of a crash or lock
	// test instead of running the tests.
	if role := os.Getenv(childRoleEnv); role != "" {
		os.Exit(runChild(role))
	}
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

// testEntry returns entry i of a test run, with an id that sorts by i.
func testEntry(i int) audit.Entry {
	return audit.Entry{
		ID:        fmt.Sprintf("0199a000-0000-7000-8000-%012d", i),
		Type:      audit.TypeToolExecution,
		ChatID:    "chat-" + strconv.Itoa(i%7),
		CreatedAt: time.Date(2026, 12, 4, 19, 16, 50, 123_000_000, time.UTC).Add(time.Duration(i) * time.Millisecond),
		Metadata:  []byte(fmt.Sprintf(`{"toolName":"read_file","status":"success","inputSummary":"{\"n\":%d}","inputBytes":7,"durationMs":3}`, i)),
	}
}

func testEntries(from, to int) []audit.Entry {
	var out []audit.Entry
	for i := from; i < to; i++ {
		out = append(out, testEntry(i))
	}
	return out
}

func openTest(t *testing.T, dir string, opts ...Option) *Spool {
	t.Helper()
	s, err := Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open(%q) = %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

func mustAppend(t *testing.T, s *Spool, entries []audit.Entry) {
	t.Helper()
	n, err := s.Append(entries)
	if err != nil || n != len(entries) {
		t.Fatalf("Append(%d entries) = %d, %v; want %d, nil", len(entries), n, err, len(entries))
	}
}

// readAll returns every entry Next returns, in batches of n, and the
// errors it returned on the way.
func readAll(t *testing.T, s *Spool, n int) ([]audit.Entry, []error) {
	t.Helper()
	var out []audit.Entry
	var errs []error
	for {
		batch, err := s.Next(n)
		if err != nil {
			errs = append(errs, err)
		}
		if len(batch) == 0 {
			return out, errs
		}
		out = append(out, batch...)
	}
}

func entryIDs(entries []audit.Entry) []string {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// memStore is an audit.Store that keeps rows by id, like a real store's
// idempotent insert, and fails while down is set.
type memStore struct {
	mu      sync.Mutex
	rows    map[string]audit.Entry
	inserts int // rows inserted, duplicates of stored ids excluded
	repeats int // rows offered again after they were stored
	down    error
	// reject, when not nil, names entries the store refuses for good.
	reject func(audit.Entry) error
	// gate, when not nil, holds every call until it is closed or the
	// call's context ends.
	gate chan struct{}
}

func newMemStore() *memStore { return &memStore{rows: map[string]audit.Entry{}} }

func (s *memStore) InsertEntries(ctx context.Context, entries []audit.Entry) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return s.down
	}
	var rejected []audit.Rejection
	for _, e := range entries {
		if s.reject != nil {
			if err := s.reject(e); err != nil {
				rejected = append(rejected, audit.Rejection{ID: e.ID, Err: err})
				continue
			}
		}
		if _, ok := s.rows[e.ID]; ok {
			s.repeats++
			continue
		}
		e.Metadata = slices.Clone(e.Metadata)
		s.rows[e.ID] = e
		s.inserts++
	}
	if len(rejected) > 0 {
		return &audit.RejectedError{Rejected: rejected}
	}
	return nil
}

func (s *memStore) Close() error { return nil }

func (s *memStore) setDown(err error) {
	s.mu.Lock()
	s.down = err
	s.mu.Unlock()
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goroutineID returns the id of the calling goroutine, from its stack
// header "goroutine 123 [running]:".
func goroutineID() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	fields := bytes.Fields(buf[:n])
	if len(fields) < 2 {
		return 0
	}
	id, _ := strconv.ParseUint(string(fields[1]), 10, 64)
	return id
}

// faultFS is the OS file system with hooks on file writes and syncs, to
// inject errors such as a full disk and to see who writes.
type faultFS struct {
	FS
	mu sync.Mutex
	// write, when not nil, runs before each write of n bytes to name; an
	// error fails the write, after it wrote written bytes.
	write func(name string, n int) (written int, err error)
	sync  func(name string) error
}

func newFaultFS() *faultFS { return &faultFS{FS: OS} }

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

func (f *faultFS) setWrite(hook func(name string, n int) (int, error)) {
	f.mu.Lock()
	f.write = hook
	f.mu.Unlock()
}

type faultFile struct {
	File
	fs   *faultFS
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	hook := f.fs.write
	f.fs.mu.Unlock()
	if hook != nil {
		written, err := hook(f.name, len(p))
		if err != nil {
			n, _ := f.File.Write(p[:min(written, len(p))])
			return n, err
		}
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	hook := f.fs.sync
	f.fs.mu.Unlock()
	if hook != nil {
		if err := hook(f.name); err != nil {
			return err
		}
	}
	return f.File.Sync()
}
