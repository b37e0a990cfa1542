package spool

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/sqlite"
)

// The environment of a re-executed test binary that plays a child process.
const (
	childRoleEnv  = "AGENTAUDIT_SPOOL_TEST_CHILD"
	childDBEnv    = "AGENTAUDIT_SPOOL_TEST_DB"
	childSpoolEnv = "AGENTAUDIT_SPOOL_TEST_SPOOL"
	childModeEnv  = "AGENTAUDIT_SPOOL_TEST_MODE"
	childHoldEnv  = "AGENTAUDIT_SPOOL_TEST_HOLD"
)

// The roles a child plays.
const (
	// roleLogger logs numbered entries into a SQLite store at full speed,
	// with a spool, until it is killed. It prints "logged N" after every
	// 100 entries that Log accepted, "dropped N" for an entry Log refused,
	// and "flushed N" each time a Flush covering entries up to N returned.
	roleLogger = "logger"
	// roleLocker holds an exclusive transaction on a SQLite database for
	// the hold duration. It prints "locked" once it holds it and
	// "released" after the commit.
	roleLocker = "locker"
)

// childFlushEvery is how many entries the logger child logs between two
// Flush calls.
const childFlushEvery = 1000

// childQueueSize is the queue size of the logger child's Logger.
const childQueueSize = 256

func runChild(role string) int {
	var err error
	switch role {
	case roleLogger:
		err = runLoggerChild()
	case roleLocker:
		err = runLockerChild()
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		return 1
	}
	return 0
}

func runLoggerChild() error {
	ctx := context.Background()
	mode, err := ParseSyncMode(os.Getenv(childModeEnv))
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, os.Getenv(childDBEnv))
	if err != nil {
		return err
	}
	sp, err := Open(os.Getenv(childSpoolEnv), WithSyncMode(mode))
	if err != nil {
		return err
	}
	// A small queue makes the Logger spill to the spool whenever SQLite
	// falls behind, so that a kill finds entries on both paths.
	l := audit.New(store, audit.WithSpool(sp), audit.WithQueueSize(childQueueSize))

	for n := 1; ; n++ {
		if err := l.Log(ctx, toolEntry(n)); err != nil {
			fmt.Printf("dropped %d\n", n)
		}
		if n%100 == 0 {
			fmt.Printf("logged %d\n", n)
		}
		if n%childFlushEvery == 0 {
			if err := l.Flush(ctx); err != nil {
				return err
			}
			fmt.Printf("flushed %d\n", n)
		}
	}
}

func runLockerChild() error {
	hold, err := time.ParseDuration(os.Getenv(childHoldEnv))
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", os.Getenv(childDBEnv))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		return err
	}
	fmt.Println("locked")
	time.Sleep(hold) // the scenario: another process holds the lock this long
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	fmt.Println("released")
	return nil
}

// child is a running re-executed test binary and the lines it printed.
type child struct {
	cmd    *exec.Cmd
	stderr lockedBuffer
	lines  chan string
	done   chan struct{} // closed when the output was read to its end
}

// startChild starts the test binary in role with env added, and kills it
// when the test ends.
func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	c := &child{lines: make(chan string, 1024), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(append(os.Environ(), childRoleEnv+"="+role), env...)
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", role, err)
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout) // a line too long for the scanner
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill() // it may have exited already
		for range c.lines {
		}
		wg.Wait()
		_ = c.cmd.Wait() // killed, so Wait returns an error
	})
	return c
}

// waitLine returns the first line for which match reports true, reading
// past the others, and fails the test when the child ends first or the
// timeout passes. Every line read is passed to seen, when not nil.
func (c *child) waitLine(t *testing.T, timeout time.Duration, match func(string) bool, seen func(string)) string {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("child ended before printing the expected line; stderr:\n%s", c.stderr.String())
			}
			if seen != nil {
				seen(line)
			}
			if match(line) {
				return line
			}
		case <-timer.C:
			t.Fatalf("child printed no expected line within %v; stderr:\n%s", timeout, c.stderr.String())
		}
	}
}

// lineNumber returns N of a line "word N", and false for other lines.
func lineNumber(line, word string) (int, bool) {
	rest, ok := strings.CutPrefix(line, word+" ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

// lockedBuffer is a strings.Builder that exec's copying goroutine may
// write while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
