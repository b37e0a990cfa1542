package spool

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
)

func TestSpoolAppendNextAck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := openTest(t, dir)
	want := testEntries(0, 10)
	mustAppend(t, s, want[:6])
	mustAppend(t, s, want[6:])

	if got := s.Stats().Records; got != 10 {
		t.Errorf("Stats().Records = %d, want 10", got)
	}
	got, errs := readAll(t, s, 4)
	if len(errs) > 0 {
		t.Fatalf("Next() errors = %v, want none", errs)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Next() returned %v, want %v", entryIDs(got), entryIDs(want))
	}
	if err := s.Ack(); err != nil {
		t.Fatalf("Ack() = %v, want nil", err)
	}
	if st := s.Stats(); st.Records != 0 || st.Segments != 0 || st.Bytes != 0 {
		t.Errorf("Stats() after Ack = %+v, want no records, segments or bytes", st)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if len(segs) != 0 {
		t.Errorf("segment files after Ack = %v, want none", segs)
	}

	// The spool takes appends again after its segment was deleted.
	mustAppend(t, s, testEntries(10, 12))
	got, _ = readAll(t, s, 10)
	if len(got) != 2 || got[0].ID != testEntry(10).ID {
		t.Errorf("Next() after a new Append = %v, want entries 10 and 11", entryIDs(got))
	}
}

func TestSpoolUnackedReturnAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, testEntries(0, 5))
	if batch, _ := s.Next(2); len(batch) != 2 {
		t.Fatalf("Next(2) = %d entries, want 2", len(batch))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	s = openTest(t, dir)
	if got := s.Stats().Records; got != 5 {
		t.Errorf("Stats().Records after reopening = %d, want 5", got)
	}
	got, errs := readAll(t, s, 100)
	if len(errs) > 0 || len(got) != 5 {
		t.Fatalf("Next() after reopening = %d entries, %v; want the 5 unacknowledged ones", len(got), errs)
	}
	mustAppend(t, s, testEntries(5, 6))
	more, _ := readAll(t, s, 100)
	if len(more) != 1 || more[0].ID != testEntry(5).ID {
		t.Errorf("Next() after an append to the reopened spool = %v, want entry 5", entryIDs(more))
	}
}

func TestSpoolRotatesSegments(t *testing.T) {
	dir := t.TempDir()
	frame, _ := appendFrame(nil, ptr(testEntry(0)))
	s := openTest(t, dir, WithSegmentSize(int64(3*len(frame))))
	want := testEntries(0, 10)
	mustAppend(t, s, want[:7])
	mustAppend(t, s, want[7:])

	if got := s.Stats().Segments; got != 4 {
		t.Errorf("Stats().Segments = %d, want 4 of at most 3 records", got)
	}
	batch, _ := s.Next(4)
	if err := s.Ack(); err != nil {
		t.Fatalf("Ack() = %v", err)
	}
	// Records 0-2 filled the first segment, which is deleted; record 3
	// keeps the second.
	if got := s.Stats(); got.Segments != 3 || got.Records != 6 {
		t.Errorf("Stats() after acknowledging %d records = %+v, want 3 segments and 6 records", len(batch), got)
	}
	rest, _ := readAll(t, s, 100)
	if !reflect.DeepEqual(append(batch, rest...), want) {
		t.Errorf("entries = %v, want %v", entryIDs(append(batch, rest...)), entryIDs(want))
	}
}

func TestSpoolFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "spool")
	s := openTest(t, dir)
	mustAppend(t, s, testEntries(0, 1))
	if err := s.DeadLetter([]audit.FailedEntry{{Entry: testEntry(1), Err: errors.New("CHECK constraint failed")}}); err != nil {
		t.Fatalf("DeadLetter() = %v", err)
	}

	check := func(path string, want os.FileMode) {
		t.Helper()
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %v, want %v", filepath.Base(path), got, want)
		}
	}
	check(dir, 0o700)
	check(filepath.Join(dir, segmentName(1)), 0o600)
	check(filepath.Join(dir, DeadLetterName), 0o600)
	check(filepath.Join(dir, lockName), 0o600)
}

func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	_, err := Open(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Errorf("second Open(%q) = %v, want ErrLocked naming the folder", dir, err)
	}
	st, err := ReadStatus(dir)
	if err != nil || !st.InUse {
		t.Errorf("ReadStatus() = %+v, %v; want InUse", st, err)
	}
}

func TestSpoolMaxBytes(t *testing.T) {
	frame, _ := appendFrame(nil, ptr(testEntry(0)))
	limit := int64(5*len(frame) + len(frame)/2)
	s := openTest(t, t.TempDir(), WithMaxBytes(limit))

	n, err := s.Append(testEntries(0, 8))
	if n != 5 || !errors.Is(err, ErrFull) {
		t.Fatalf("Append(8 entries) over the limit = %d, %v; want 5, ErrFull", n, err)
	}
	if st := s.Stats(); st.Bytes > limit || st.Records != 5 {
		t.Errorf("Stats() = %+v, want 5 records within %d bytes", st, limit)
	}
	if n, err := s.Append(testEntries(8, 9)); n != 0 || !errors.Is(err, ErrFull) {
		t.Errorf("Append() on a full spool = %d, %v; want 0, ErrFull", n, err)
	}

	// Writing the spool to the store frees its space.
	readAll(t, s, 100)
	if err := s.Ack(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, testEntries(8, 10))
}

// TestSpoolDamage damages a spool's segment in several ways and checks that
// the reader keeps every intact record, before and after the damage,
// reports the damage and goes on.
func TestSpoolDamage(t *testing.T) {
	frame, _ := appendFrame(nil, ptr(testEntry(0)))
	size := len(frame)
	tests := []struct {
		name    string
		damage  func(b []byte) []byte
		lost    []int // indexes of the records the damage destroys
		reasons []string
	}{
		{"truncated in the last record", func(b []byte) []byte { return b[:len(b)-size/2] },
			[]int{9}, []string{"cut off"}},
		{"truncated in the last header", func(b []byte) []byte { return b[:len(b)-size+5] },
			[]int{9}, []string{"cut off"}},
		{"byte flipped in a payload", func(b []byte) []byte { b[3*size+40] ^= 0x01; return b },
			[]int{3}, []string{"checksum mismatch"}},
		{"byte flipped in a marker", func(b []byte) []byte { b[4*size+1] ^= 0x80; return b },
			[]int{4}, []string{"no record marker"}},
		{"length made huge", func(b []byte) []byte { b[5*size+7] = 0x7f; return b },
			[]int{5}, []string{"invalid record length"}},
		{"length made short", func(b []byte) []byte { b[2*size+4] -= 10; return b },
			[]int{2}, []string{"checksum mismatch"}},
		{"garbage between records", func(b []byte) []byte {
			return slices.Concat(b[:6*size], []byte("\x00\x00garbage\xffaS"), b[6*size:])
		}, nil, []string{"no record marker"}},
		{"first record zeroed", func(b []byte) []byte { clear(b[:size]); return b },
			[]int{0}, []string{"no record marker"}},
		{"two records damaged", func(b []byte) []byte { b[1*size+30] ^= 0xff; b[7*size+30] ^= 0xff; return b },
			[]int{1, 7}, []string{"checksum mismatch", "checksum mismatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			all := testEntries(0, 10)
			mustAppend(t, s, all)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, segmentName(1))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}

			var want []audit.Entry
			for i, e := range all {
				if !slices.Contains(tt.lost, i) {
					want = append(want, e)
				}
			}
			st, err := ReadStatus(dir)
			if err != nil {
				t.Fatalf("ReadStatus() = %v", err)
			}
			if st.Records != int64(len(want)) || len(st.Damage) != len(tt.reasons) {
				t.Errorf("ReadStatus() = %d records, %d damaged regions; want %d, %d", st.Records, len(st.Damage), len(want), len(tt.reasons))
			}

			s = openTest(t, dir)
			got, errs := readAll(t, s, 3)
			if !reflect.DeepEqual(entryIDs(got), entryIDs(want)) {
				t.Errorf("Next() returned %v\nwant %v", entryIDs(got), entryIDs(want))
			}
			var damage []Damage
			for _, err := range errs {
				var corrupt *CorruptError
				if !errors.As(err, &corrupt) {
					t.Fatalf("Next() error = %v, want a *CorruptError", err)
				}
				damage = append(damage, corrupt.Damage...)
			}
			if len(damage) != len(tt.reasons) {
				t.Fatalf("damage = %+v, want %d regions", damage, len(tt.reasons))
			}
			for i, d := range damage {
				if !strings.Contains(d.Reason, tt.reasons[i]) || d.Segment != segmentName(1) || d.Length <= 0 {
					t.Errorf("damage[%d] = %+v, want reason %q in %s", i, d, tt.reasons[i], segmentName(1))
				}
			}
			if got := s.Stats().Damaged; got != int64(len(tt.reasons)) {
				t.Errorf("Stats().Damaged = %d, want %d", got, len(tt.reasons))
			}
		})
	}
}

func TestSpoolDeadLetter(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	bad := testEntry(3)
	bad.Metadata = []byte("not json")
	failed := []audit.FailedEntry{
		{Entry: testEntry(1), Err: errors.New("CHECK constraint failed: type")},
		{Entry: bad, Err: errors.New("malformed JSON")},
	}
	if err := s.DeadLetter(failed); err != nil {
		t.Fatalf("DeadLetter() = %v", err)
	}
	if got := s.Stats().DeadLetters; got != 2 {
		t.Errorf("Stats().DeadLetters = %d, want 2", got)
	}

	letters, err := ReadDeadLetters(dir)
	if err != nil {
		t.Fatalf("ReadDeadLetters() = %v", err)
	}
	if len(letters) != 2 {
		t.Fatalf("ReadDeadLetters() = %d lines, want 2", len(letters))
	}
	if l := letters[0]; l.ID != testEntry(1).ID || l.Reason != "CHECK constraint failed: type" || l.Time == "" || !json.Valid(l.Metadata) {
		t.Errorf("dead letter 0 = %+v, want entry 1 with its reason, a time and its metadata", l)
	}
	var text string
	if err := json.Unmarshal(letters[1].Metadata, &text); err != nil || text != "not json" {
		t.Errorf("dead letter 1 metadata = %s, want the text as a JSON string", letters[1].Metadata)
	}

	st, err := ReadStatus(dir)
	if err != nil || st.DeadLetters != 2 {
		t.Errorf("ReadStatus() = %+v, %v; want 2 dead letters", st, err)
	}
}

// TestSpoolDiskFull injects ENOSPC into segment writes: Append returns a
// clear error naming the cause, counts only what it wrote whole, leaves no
// partial record behind, and works again once space is free.
func TestSpoolDiskFull(t *testing.T) {
	fsys := newFaultFS()
	dir := t.TempDir()
	s := openTest(t, dir, WithFS(fsys))
	mustAppend(t, s, testEntries(0, 3))

	fsys.setWrite(func(name string, n int) (int, error) {
		return n / 2, &os.PathError{Op: "write", Path: name, Err: syscall.ENOSPC}
	})
	n, err := s.Append(testEntries(3, 6))
	if n != 0 || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "free disk space") {
		t.Fatalf("Append() on a full disk = %d, %v; want 0 and an error wrapping ENOSPC that says what to do", n, err)
	}
	if err := s.DeadLetter([]audit.FailedEntry{{Entry: testEntry(9), Err: errors.New("rejected")}}); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("DeadLetter() on a full disk = %v, want an error wrapping ENOSPC", err)
	}

	fsys.setWrite(nil)
	mustAppend(t, s, testEntries(6, 8))
	got, errs := readAll(t, s, 100)
	if len(errs) > 0 {
		t.Errorf("Next() errors = %v, want none: the partial write must be cut off", errs)
	}
	want := append(testEntries(0, 3), testEntries(6, 8)...)
	if !reflect.DeepEqual(entryIDs(got), entryIDs(want)) {
		t.Errorf("Next() = %v, want %v", entryIDs(got), entryIDs(want))
	}
}

// TestSpoolTmpfsFull fills a real 1 MiB tmpfs. It needs permission to
// mount, which containers often lack; TestSpoolDiskFull covers the same
// path with an injected error.
func TestSpoolTmpfsFull(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs on %s: %v; TestSpoolDiskFull injects the error instead", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})

	s := openTest(t, filepath.Join(dir, "spool"), WithSegmentSize(256<<10))
	var taken int
	var lastErr error
	for i := 0; i < 100_000 && lastErr == nil; i += 100 {
		var n int
		n, lastErr = s.Append(testEntries(i, i+100))
		taken += n
	}
	if !errors.Is(lastErr, syscall.ENOSPC) {
		t.Fatalf("Append() on a full tmpfs = %v, want an error wrapping ENOSPC", lastErr)
	}
	got, errs := readAll(t, s, 1000)
	if len(got) != taken || len(errs) > 0 {
		t.Errorf("Next() = %d entries, %v; want the %d Append took", len(got), errs, taken)
	}
}

func ptr[T any](v T) *T { return &v }
