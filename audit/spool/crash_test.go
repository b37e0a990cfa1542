package spool

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/sqlite"
)

// TestKillDuringLogging kills a process that logs at full speed into a
// real SQLite database with a spool, in each sync mode, with SIGKILL. After
// a restart replays the spool, no entry that a returned Flush covered is
// missing, and the entries missing at all are at most what the Logger held
// in memory: the queue, the spiller's queue and one batch each.
func TestKillDuringLogging(t *testing.T) {
	t.Parallel()
	const memoryBound = 2*childQueueSize + 2*audit.DefaultBatchSize
	for _, mode := range []SyncMode{SyncNone, SyncInterval, SyncAlways} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "audit.db")
			spoolDir := db + ".spool"
			c := startChild(t, roleLogger, childDBEnv+"="+db, childSpoolEnv+"="+spoolDir, childModeEnv+"="+mode.String())

			// Let it log and flush for a while, then kill it between two
			// flushes.
			var logged, flushed int
			dropped := map[int]bool{}
			seen := func(line string) {
				if n, ok := lineNumber(line, "logged"); ok {
					logged = max(logged, n)
				}
				if n, ok := lineNumber(line, "flushed"); ok {
					flushed = max(flushed, n)
				}
				if n, ok := lineNumber(line, "dropped"); ok {
					dropped[n] = true
				}
			}
			c.waitLine(t, 2*time.Minute, func(line string) bool {
				n, ok := lineNumber(line, "logged")
				return ok && n >= 10*childFlushEvery+childFlushEvery/2
			}, seen)
			if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill child: %v", err)
			}
			for line := range c.lines {
				seen(line)
			}
			if err := c.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("child exit = %v, want killed", err)
			}
			spooled, _ := ReadStatus(spoolDir)

			// Restart: a new Logger replays the spool before it closes.
			ctx, cancel := context.WithTimeout(bg, 2*time.Minute)
			defer cancel()
			store, err := sqlite.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			sp, err := Open(spoolDir)
			if err != nil {
				t.Fatalf("Open(%q) after the kill = %v", spoolDir, err)
			}
			l := audit.New(store, audit.WithSpool(sp))
			if err := l.Close(ctx); err != nil {
				t.Fatalf("Close() after the replay = %v", err)
			}
			replayed := l.Stats().Replayed

			reader, err := sqlite.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			defer reader.Close()
			rows, err := reader.Entries(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			nums := loggedNumbers(t, rows)
			for i := 1; i < len(nums); i++ {
				if nums[i] == nums[i-1] {
					t.Fatalf("entry %d is stored twice", nums[i])
				}
			}

			var missing []int
			for n := 1; n <= logged; n++ {
				if !dropped[n] {
					if _, found := slices.BinarySearch(nums, n); !found {
						missing = append(missing, n)
					}
				}
			}
			var missingFlushed []int
			for _, n := range missing {
				if n <= flushed {
					missingFlushed = append(missingFlushed, n)
				}
			}
			t.Logf("mode %s: logged %d, flushed %d, dropped %d, in the spool after the kill %d records (%d damaged regions), replayed %d, stored %d, missing %d",
				mode, logged, flushed, len(dropped), spooled.Records, len(spooled.Damage), replayed, len(nums), len(missing))
			if len(missingFlushed) > 0 {
				t.Errorf("%d entries that a returned Flush covered are missing, first %d", len(missingFlushed), missingFlushed[0])
			}
			if len(missing) > memoryBound {
				t.Errorf("%d accepted entries are missing, want at most %d, the entries a Logger holds in memory", len(missing), memoryBound)
			}
			if st, err := ReadStatus(spoolDir); err != nil || st.Records != 0 {
				t.Errorf("spool after the replay = %+v, %v; want it empty", st, err)
			}
		})
	}
}

// TestSQLiteLockedForThirtySeconds logs while another process holds an
// exclusive transaction on the SQLite database for 30 seconds. Every entry
// reaches the database once the lock is released.
func TestSQLiteLockedForThirtySeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 seconds; run without -short")
	}
	t.Parallel()
	const hold = 30 * time.Second

	ctx, cancel := context.WithTimeout(bg, 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	db := filepath.Join(dir, "audit.db")
	store, err := sqlite.Open(ctx, db, sqlite.WithBusyTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := Open(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(store, audit.WithSpool(sp), audit.WithRetryBackoff(100*time.Millisecond, time.Second),
		audit.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))

	locker := startChild(t, roleLocker, childDBEnv+"="+db, childHoldEnv+"="+hold.String())
	locker.waitLine(t, time.Minute, func(line string) bool { return line == "locked" }, nil)
	lockedAt := time.Now()

	// Log 5 entries every 10 ms until the lock is released.
	pace := time.NewTicker(10 * time.Millisecond)
	defer pace.Stop()
	logged := 0
	var slowest time.Duration
	for released := false; !released; {
		select {
		case line, ok := <-locker.lines:
			if !ok {
				t.Fatalf("locker ended without releasing; stderr:\n%s", locker.stderr.String())
			}
			released = line == "released"
		case <-pace.C:
			for range 5 {
				start := time.Now()
				if err := l.Log(ctx, toolEntry(logged)); err != nil {
					t.Fatalf("Log(%d) = %v, want nil", logged, err)
				}
				slowest = max(slowest, time.Since(start))
				logged++
			}
		}
	}
	lockedFor := time.Since(lockedAt)
	during := l.Stats()

	reader, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	count := func() int {
		rows, err := reader.Entries(ctx, audit.Filter{})
		if err != nil {
			return -1
		}
		return len(rows)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for count() != logged {
		if time.Now().After(deadline) {
			t.Fatalf("two minutes after the release the database has %d of %d entries; stats %+v", count(), logged, l.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	rows, err := reader.Entries(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	nums := loggedNumbers(t, rows)
	for i, n := range nums {
		if n != i {
			t.Fatalf("entry %d is missing or stored twice", i)
		}
	}
	st := l.Stats()
	t.Logf("locked for %v: logged %d, slowest Log %v; stats at release %+v; final %+v", lockedFor.Round(time.Millisecond), logged, slowest, during, st)
	if st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("Stats() = %+v, want nothing dropped or failed", st)
	}
	if during.Spooled == 0 {
		t.Errorf("Stats().Spooled while locked = 0, want the entries in the spool")
	}
	if _, err := os.Stat(filepath.Join(dir, "spool", segmentName(1))); err == nil {
		t.Errorf("the first segment is still there after the replay")
	}
}
