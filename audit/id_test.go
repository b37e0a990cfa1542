package audit

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNewIDFormat(t *testing.T) {
	now := time.Date(2026, 12, 4, 19, 16, 50, 123_456_789, time.UTC)
	var g idGenerator
	text := formatID(g.next(now))

	u, err := uuid.Parse(text)
	if err != nil {
		t.Fatalf("uuid.Parse(%q) = %v", text, err)
	}
	if got := u.Version(); got != 7 {
		t.Errorf("Version() = %d, want 7", got)
	}
	if got := u.Variant(); got != uuid.RFC4122 {
		t.Errorf("Variant() = %v, want %v", got, uuid.RFC4122)
	}
	if got := u.String(); got != text {
		t.Errorf("canonical form = %q, want %q", got, text)
	}
	sec, nsec := u.Time().UnixTime()
	if got := time.Unix(sec, nsec).UnixMilli(); got < now.UnixMilli() {
		t.Errorf("id time = %d ms, want at least %d", got, now.UnixMilli())
	}
}

func TestNewIDMonotonic(t *testing.T) {
	tests := []struct {
		name  string
		clock func(i int) time.Time
	}{
		{"same millisecond", func(int) time.Time { return time.UnixMilli(4_000_000_000_000) }},
		{"clock stepping back", func(i int) time.Time { return time.UnixMilli(4_000_000_000_000 - int64(i)) }},
		{"real clock", func(int) time.Time { return time.Now() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g idGenerator
			prev := formatID(g.next(tt.clock(0)))
			for i := 1; i < 10000; i++ {
				id := formatID(g.next(tt.clock(i)))
				if id <= prev {
					t.Fatalf("id %d = %s, want after %s", i, id, prev)
				}
				prev = id
			}
		})
	}
}

func TestNewIDConcurrent(t *testing.T) {
	const goroutines, perGoroutine = 20, 2000

	// Each goroutine's ids increase; the ids issued under the lock also
	// increase in the order the lock was taken, across goroutines.
	var (
		mu      sync.Mutex
		ordered []string
		wg      sync.WaitGroup
		results = make([][]string, goroutines)
	)
	for g := range goroutines {
		wg.Go(func() {
			ids := make([]string, 0, perGoroutine)
			for i := range perGoroutine {
				if i%2 == 0 {
					ids = append(ids, NewID())
					continue
				}
				mu.Lock()
				id := NewID()
				ordered = append(ordered, id)
				mu.Unlock()
				ids = append(ids, id)
			}
			results[g] = ids
		})
	}
	wg.Wait()

	seen := make(map[string]bool, goroutines*perGoroutine)
	for g, ids := range results {
		if !sort.StringsAreSorted(ids) {
			t.Errorf("ids of goroutine %d are not increasing", g)
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("id %s issued twice", id)
			}
			seen[id] = true
		}
	}
	if !sort.StringsAreSorted(ordered) {
		t.Errorf("ids issued in lock order are not increasing")
	}
}

func BenchmarkNewID(b *testing.B) {
	b.Run("audit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewID()
		}
	})
	b.Run("google-uuid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			id, _ := uuid.NewV7()
			_ = id.String()
		}
	})
	b.Run("audit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				NewID()
			}
		})
	})
	b.Run("google-uuid-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id, _ := uuid.NewV7()
				_ = id.String()
			}
		})
	})
}
