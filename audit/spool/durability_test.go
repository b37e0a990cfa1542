package spool

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// crashFS models what an operating system crash keeps of the files it
// wrote: a file's bytes up to its last fsync, and a new file only when its
// folder was fsynced after the file was created. After freeze, fsyncs no
// longer count, as if the power were already cut; crash then cuts the
// files back to what the model keeps.
type crashFS struct {
	FS
	mu      sync.Mutex
	frozen  bool
	synced  map[string]int64 // bytes committed per file
	named   map[string]bool  // files whose name was committed
	created []string
}

func newCrashFS() *crashFS {
	return &crashFS{FS: OS, synced: map[string]int64{}, named: map[string]bool{}}
}

func (c *crashFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 {
		c.mu.Lock()
		c.created = append(c.created, name)
		c.mu.Unlock()
	}
	return &crashFile{File: f, fs: c, name: name}, nil
}

func (c *crashFS) SyncDir(dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		for _, name := range c.created {
			if filepath.Dir(name) == dir {
				c.named[name] = true
			}
		}
	}
	return nil
}

func (c *crashFS) freeze() {
	c.mu.Lock()
	c.frozen = true
	c.mu.Unlock()
}

// crash cuts every file created through c back to what the model keeps.
func (c *crashFS) crash(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range c.created {
		var err error
		if c.named[name] {
			err = os.Truncate(name, c.synced[name])
		} else {
			err = os.Remove(name)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("crash %s: %v", name, err)
		}
	}
}

type crashFile struct {
	File
	fs   *crashFS
	name string
}

// Sync records the file's size as committed; the real fsync is left out
// because the model decides what survives.
func (f *crashFile) Sync() error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if !f.fs.frozen {
		f.fs.synced[f.name] = info.Size()
	}
	return nil
}

// TestSyncModesOnOSCrash appends at a steady pace in each sync mode, cuts
// the power in the crashFS model and counts what survives. SyncAlways
// loses nothing Append took. SyncInterval loses only records appended in
// about the last interval. SyncNone keeps only what the operating system
// wrote back by itself, which the model takes to be nothing. In every mode
// the survivors are the oldest records, with no gap.
func TestSyncModesOnOSCrash(t *testing.T) {
	const (
		interval = 50 * time.Millisecond
		run      = time.Second
		perBatch = 20
		// slack covers a sync goroutine delayed by a loaded machine.
		slack = 500 * time.Millisecond
	)
	for _, mode := range []SyncMode{SyncNone, SyncInterval, SyncAlways} {
		t.Run(mode.String(), func(t *testing.T) {
			fsys := newCrashFS()
			dir := t.TempDir()
			sp, err := Open(dir, WithFS(fsys), WithSyncMode(mode), WithSyncInterval(interval), WithSegmentSize(64<<10))
			if err != nil {
				t.Fatal(err)
			}

			// Append a batch every 5 ms, noting when each Append returned.
			var returned []time.Time
			pace := time.NewTicker(5 * time.Millisecond)
			defer pace.Stop()
			ctx, cancel := context.WithTimeout(bg, run)
			defer cancel()
			appended := 0
			for ctx.Err() == nil {
				select {
				case <-pace.C:
				case <-ctx.Done():
					continue
				}
				mustAppend(t, sp, testEntries(appended, appended+perBatch))
				appended += perBatch
				returned = append(returned, time.Now())
			}

			// Cut the power: nothing commits from now on, not even Close.
			crashAt := time.Now()
			fsys.freeze()
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}
			fsys.crash(t)

			after, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer after.Close()
			got, _ := readAll(t, after, 1000)
			for i, e := range got {
				if e.ID != testEntry(i).ID {
					t.Fatalf("survivor %d is %s, want %s: the survivors must be the oldest records, with no gap", i, e.ID, testEntry(i).ID)
				}
			}
			lost := appended - len(got)
			t.Logf("mode %s: appended %d records in %v, an operating system crash keeps %d and loses %d", mode, appended, run, len(got), lost)

			switch mode {
			case SyncAlways:
				if lost != 0 {
					t.Errorf("SyncAlways lost %d records that Append took, want 0", lost)
				}
			case SyncInterval:
				// Only records whose Append returned within the last interval
				// (and the slack) may be lost.
				recent := 0
				for _, at := range returned {
					if crashAt.Sub(at) <= interval+slack {
						recent += perBatch
					}
				}
				if lost > recent {
					t.Errorf("SyncInterval lost %d records, want at most the %d appended in the last %v", lost, recent, interval+slack)
				}
			}
		})
	}
}

// TestLoggerCloseTimeoutKeepsEntries closes a Logger whose store hangs:
// when Close's context ends, the queued entries go to the spool, not away.
func TestLoggerCloseTimeoutKeepsEntries(t *testing.T) {
	store := newMemStore()
	store.gate = make(chan struct{}) // never opened: every insert hangs until canceled
	dir := t.TempDir()
	sp, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(store, audit.WithSpool(sp))
	for i := range 500 {
		if err := l.Log(bg, toolEntry(i)); err != nil {
			t.Fatalf("Log(%d) = %v", i, err)
		}
	}

	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	err = l.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close() = %v, want the context's deadline error", err)
	}
	st := l.Stats()
	if st.Spooled != 500 || st.Dropped != 0 {
		t.Errorf("Stats() = %+v, want all 500 entries spooled and none dropped", st)
	}

	status, err := ReadStatus(dir)
	if err != nil || status.Records != 500 {
		t.Errorf("ReadStatus() = %d records, %v; want the 500 entries waiting for the next start", status.Records, err)
	}
}
