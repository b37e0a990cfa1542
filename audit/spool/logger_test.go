package spool

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// toolEntry is the metadata of logged entry n; its input summary carries
// n, so a test can tell which entries reached the store.
func toolEntry(n int) *audit.ToolExecution {
	return &audit.ToolExecution{
		ToolName:     "read_file",
		ToolCallID:   "call_" + strconv.Itoa(n),
		Status:       audit.StatusSuccess,
		InputSummary: strconv.Itoa(n),
		InputBytes:   len(strconv.Itoa(n)),
		DurationMs:   3,
	}
}

// loggedNumbers returns the entry numbers in rows, sorted.
func loggedNumbers(t *testing.T, rows []audit.Entry) []int {
	t.Helper()
	nums := make([]int, 0, len(rows))
	for _, row := range rows {
		var m audit.ToolExecution
		if err := json.Unmarshal(row.Metadata, &m); err != nil {
			t.Fatalf("json.Unmarshal(%s) = %v", row.Metadata, err)
		}
		n, err := strconv.Atoi(m.InputSummary)
		if err != nil {
			t.Fatalf("row %s: input summary %q is not an entry number", row.ID, m.InputSummary)
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	return nums
}

func (s *memStore) all() []audit.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := make([]audit.Entry, 0, len(s.rows))
	for _, r := range s.rows {
		rows = append(rows, r)
	}
	return rows
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

func closeLogger(t *testing.T, l *audit.Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
}

// TestLoggerOutageLosesNothing logs 100,000 entries at full speed while the
// store is down. Log never writes to disk on the caller's goroutine, the
// Logger holds a bounded number of entries in memory, and once the store is
// back every entry is in it exactly once.
func TestLoggerOutageLosesNothing(t *testing.T) {
	const total = 100_000
	const queueSize, batchSize = audit.DefaultQueueSize, audit.DefaultBatchSize
	store := newMemStore()
	store.setDown(errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))

	// Any write to a spool file from the goroutine that calls Log fails
	// the test: Log must leave disk I/O to the Logger's goroutines.
	caller := goroutineID()
	var callerWrites, writes atomic.Int64
	fsys := newFaultFS()
	fsys.setWrite(func(string, int) (int, error) {
		writes.Add(1)
		if goroutineID() == caller {
			callerWrites.Add(1)
		}
		return 0, nil
	})
	sp, err := Open(t.TempDir(), WithFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	// A generous block timeout keeps a loaded test machine, where the
	// spiller may get no CPU for a second, from turning waits into drops.
	l := audit.New(store, audit.WithSpool(sp),
		audit.WithRetryBackoff(time.Millisecond, 50*time.Millisecond),
		audit.WithFlushInterval(10*time.Millisecond),
		audit.WithBlock(10*time.Second))

	var slowest time.Duration
	maxHeld := 0
	for i := range total {
		start := time.Now()
		err := l.Log(bg, toolEntry(i))
		slowest = max(slowest, time.Since(start))
		if err != nil {
			t.Fatalf("Log(%d) = %v, want nil: the spool takes what the store cannot", i, err)
		}
		if i%500 == 0 {
			held := l.Stats().Queued
			maxHeld = max(maxHeld, held)
			if limit := 2*queueSize + 2*batchSize; held > limit {
				t.Fatalf("after %d entries the Logger holds %d in memory, want at most %d", i, held, limit)
			}
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	st := l.Stats()
	t.Logf("store down: slowest Log %v, most entries held in memory %d, stats %+v, spool writes %d", slowest, maxHeld, st, writes.Load())
	if got := callerWrites.Load(); got != 0 {
		t.Errorf("Log's goroutine wrote to the spool %d times, want 0", got)
	}
	if slowest > 10*time.Second {
		t.Errorf("slowest Log took %v, want at most the 10s block timeout", slowest)
	}
	if st.Spooled != total || st.Dropped != 0 || st.Written != 0 {
		t.Errorf("Stats() while the store is down = %+v, want all %d entries spooled", st, total)
	}
	if got := store.count(); got != 0 {
		t.Fatalf("store has %d rows while down, want 0", got)
	}

	store.setDown(nil)
	waitFor(t, 2*time.Minute, "the spool to reach the store", func() bool { return store.count() == total })
	closeLogger(t, l)

	nums := loggedNumbers(t, store.all())
	for i, n := range nums {
		if n != i {
			t.Fatalf("entry %d is missing from the store, or an entry is there twice", i)
		}
	}
	if st := l.Stats(); st.Replayed != total || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("Stats() after recovery = %+v, want %d replayed and nothing lost", st, total)
	}
	if segs, _ := filepath.Glob(filepath.Join(sp.Dir(), "*"+segmentSuffix)); len(segs) != 0 {
		t.Errorf("segments left after the replay = %v, want none", segs)
	}
}

// TestLoggerQueueFullGoesToSpool blocks the store so the queue fills; Log
// keeps accepting entries, which go to the spool and reach the store once
// it is unblocked.
func TestLoggerQueueFullGoesToSpool(t *testing.T) {
	const total = 3000
	store := newMemStore()
	store.gate = make(chan struct{})
	sp, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(store, audit.WithSpool(sp), audit.WithQueueSize(16), audit.WithBatchSize(4))

	for i := range total {
		if err := l.Log(bg, toolEntry(i)); err != nil {
			t.Fatalf("Log(%d) = %v, want nil", i, err)
		}
	}
	// The queue holds 16 entries and the blocked insert up to 4 (fewer when
	// the flush interval started it); the rest went to the spool.
	waitFor(t, 30*time.Second, "the overflow to reach the spool", func() bool { return l.Stats().Queued <= 16+4 })
	if st := l.Stats(); st.Queued < 16 || st.Spooled != total-uint64(st.Queued) || st.Dropped != 0 {
		t.Errorf("Stats() with the store blocked = %+v, want 17 to 20 queued, the rest spooled and none dropped", st)
	}

	close(store.gate)
	waitFor(t, time.Minute, "every entry to reach the store", func() bool { return store.count() == total })
	closeLogger(t, l)
	if st := l.Stats(); st.Written+st.Spooled != total || st.Replayed != st.Spooled {
		t.Errorf("Stats() = %+v, want Written+Spooled = %d and every spooled entry replayed", st, total)
	}
}

// TestLoggerReplaysSpoolAtStart writes entries an earlier process left in
// the spool before anything else.
func TestLoggerReplaysSpoolAtStart(t *testing.T) {
	dir := t.TempDir()
	earlier, err := Open(dir, WithSegmentSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	left := testEntries(0, 300)
	mustAppend(t, earlier, left)
	if err := earlier.Close(); err != nil {
		t.Fatal(err)
	}

	store := newMemStore()
	sp, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(store, audit.WithSpool(sp))
	waitFor(t, 30*time.Second, "the left entries to reach the store", func() bool { return store.count() == len(left) })
	closeLogger(t, l)

	if got := l.Stats().Replayed; got != uint64(len(left)) {
		t.Errorf("Stats().Replayed = %d, want %d", got, len(left))
	}
	st, err := ReadStatus(dir)
	if err != nil || st.Records != 0 || st.Segments != 0 {
		t.Errorf("ReadStatus() after the replay = %+v, %v; want an empty spool", st, err)
	}
}

// TestLoggerRejectedEntryGoesToDeadLetter checks that one entry the store
// refuses costs nothing else of its batch, and is kept with its reason.
func TestLoggerRejectedEntryGoesToDeadLetter(t *testing.T) {
	store := newMemStore()
	store.reject = func(e audit.Entry) error {
		if strings.Contains(string(e.Metadata), `"call_13"`) || strings.Contains(string(e.Metadata), `"call_17"`) {
			return errors.New("CHECK constraint failed: json_valid(metadata)")
		}
		return nil
	}
	dir := t.TempDir()
	sp, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(store, audit.WithSpool(sp))
	for i := range 20 {
		if err := l.Log(bg, toolEntry(i)); err != nil {
			t.Fatalf("Log(%d) = %v", i, err)
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	closeLogger(t, l)

	if got := store.count(); got != 18 {
		t.Errorf("store has %d rows, want the 18 it did not reject", got)
	}
	if st := l.Stats(); st.Written != 18 || st.Failed != 2 || st.DeadLettered != 2 {
		t.Errorf("Stats() = %+v, want 18 written, 2 failed and dead-lettered", st)
	}
	letters, err := ReadDeadLetters(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 {
		t.Fatalf("dead letters = %d, want 2", len(letters))
	}
	for _, d := range letters {
		if !strings.Contains(d.Reason, "CHECK constraint failed") || d.Time == "" || !strings.Contains(string(d.Metadata), "call_1") {
			t.Errorf("dead letter = %+v, want a rejected entry with its reason and time", d)
		}
	}
	info, err := os.Stat(filepath.Join(dir, DeadLetterName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("dead-letter file mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
}

// TestLoggerSpoolDiskFull checks that a full disk under the spool, while
// the store is down, ends in counted, reported drops and no crash.
func TestLoggerSpoolDiskFull(t *testing.T) {
	store := newMemStore()
	store.setDown(errors.New("connection refused"))
	fsys := newFaultFS()
	fsys.setWrite(func(name string, n int) (int, error) {
		return 0, &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	})
	sp, err := Open(t.TempDir(), WithFS(fsys))
	if err != nil {
		t.Fatal(err)
	}
	errs := &errorRecorder{}
	l := audit.New(store, audit.WithSpool(sp), audit.WithErrorHandler(errs.handle),
		audit.WithQueueSize(64), audit.WithBatchSize(8))

	const total = 1000
	accepted := 0
	for i := range total {
		switch err := l.Log(bg, toolEntry(i)); {
		case err == nil:
			accepted++
		case !errors.Is(err, audit.ErrQueueFull):
			t.Fatalf("Log(%d) = %v, want nil or ErrQueueFull", i, err)
		}
	}
	closeErr := l.Close(bg)
	st := l.Stats()
	if st.Spooled != 0 || st.Dropped != total {
		t.Errorf("Stats() = %+v, want all %d entries dropped and counted", st, total)
	}
	if closeErr == nil || !strings.Contains(closeErr.Error(), "not written") {
		t.Errorf("Close() = %v, want an error counting the lost entries", closeErr)
	}
	var reported uint64
	for _, err := range errs.all() {
		var loss *audit.LossError
		if !errors.As(err, &loss) {
			continue
		}
		reported += loss.Entries
		if !errors.Is(err, audit.ErrQueueFull) && !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("loss report %v, want the cause ENOSPC or ErrQueueFull", err)
		}
	}
	if reported != total {
		t.Errorf("error handler was told of %d lost entries, want %d", reported, total)
	}
	t.Logf("accepted %d of %d; stats %+v", accepted, total, st)
}

// TestLoggerReportsSpoolDamage replays a damaged spool: the intact entries
// reach the store and the error handler hears of the damage.
func TestLoggerReportsSpoolDamage(t *testing.T) {
	dir := t.TempDir()
	earlier, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, earlier, testEntries(0, 10))
	if err := earlier.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, segmentName(1))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	store := newMemStore()
	sp, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	errs := &errorRecorder{}
	l := audit.New(store, audit.WithSpool(sp), audit.WithErrorHandler(errs.handle))
	closeLogger(t, l)

	if got := store.count(); got != 9 {
		t.Errorf("store has %d rows, want the 9 intact ones", got)
	}
	var corrupt *CorruptError
	if got := errs.all(); len(got) != 1 || !errors.As(got[0], &corrupt) {
		t.Errorf("error handler got %v, want one *CorruptError", got)
	}
}

// TestLoggerSpoolLimit fills a small spool while the store is down: the
// entries past the limit are dropped, counted and reported with ErrFull.
func TestLoggerSpoolLimit(t *testing.T) {
	store := newMemStore()
	store.setDown(errors.New("connection refused"))
	frame, _ := appendFrame(nil, ptr(testEntry(0)))
	sp, err := Open(t.TempDir(), WithMaxBytes(int64(50*len(frame))))
	if err != nil {
		t.Fatal(err)
	}
	errs := &errorRecorder{}
	l := audit.New(store, audit.WithSpool(sp), audit.WithErrorHandler(errs.handle))

	const total = 500
	for i := range total {
		if err := l.Log(bg, toolEntry(i)); err != nil {
			t.Fatalf("Log(%d) = %v, want nil", i, err)
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	st := l.Stats()
	if st.Spooled == 0 || st.Dropped == 0 || st.Spooled+st.Dropped != total {
		t.Errorf("Stats() = %+v, want the spool filled and the other entries of %d dropped", st, total)
	}
	// The drops happened before Close, which reports only what it loses.
	if err := l.Close(bg); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}

	var reported uint64
	for _, err := range errs.all() {
		var loss *audit.LossError
		if errors.As(err, &loss) && errors.Is(err, ErrFull) {
			reported += loss.Entries
		}
	}
	if reported != st.Dropped {
		t.Errorf("error handler was told of %d entries lost to a full spool, want %d", reported, st.Dropped)
	}
}
