package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

func init() {
	childRoles["logger"] = childLog
}

// childLog opens path, logs CHILD_COUNT entries of chat CHILD_CHAT through
// an audit.Logger, closes it and fails unless every entry was written.
func childLog(ctx context.Context, path string) error {
	count, err := strconv.Atoi(os.Getenv("CHILD_COUNT"))
	if err != nil {
		return fmt.Errorf("CHILD_COUNT: %w", err)
	}
	chat := os.Getenv("CHILD_CHAT")

	s, err := Open(ctx, path)
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		errs   []error
		logger = audit.New(s,
			audit.WithBatchSize(64),
			audit.WithBlock(time.Minute),
			audit.WithErrorHandler(func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}))
	)
	ctx = audit.WithChatID(ctx, chat)
	for i := range count {
		if err := logger.Log(ctx, sampleMetadata(i)); err != nil {
			logger.Close(ctx)
			return fmt.Errorf("Log #%d: %w", i, err)
		}
	}
	closeErr := logger.Close(ctx)
	stats := logger.Stats()

	mu.Lock()
	defer mu.Unlock()
	if err := errors.Join(append(errs, closeErr)...); err != nil {
		return err
	}
	if stats.Written != uint64(count) {
		return fmt.Errorf("logger wrote %d entries, want %d: %+v", stats.Written, count, stats)
	}
	return nil
}

// sampleMetadata returns an llm_call for even i and a tool_execution for
// odd i, with hard strings inside.
func sampleMetadata(i int) audit.Metadata {
	if i%2 == 0 {
		return &audit.LLMCall{
			Provider:      "openai",
			API:           "chat_completions",
			Model:         "gpt-4o-mini",
			ResponseModel: "gpt-4o-mini-2024-07-18",
			Usage: audit.Usage{
				Available:        true,
				PromptTokens:     audit.Int64(int64(i)),
				CompletionTokens: audit.Int64(7),
				TotalTokens:      audit.Int64(int64(i) + 7),
			},
			DurationMs:   int64(i),
			Status:       audit.StatusSuccess,
			HTTPStatus:   200,
			FinishReason: "stop",
			Stream:       i%4 == 0,
			Step:         1,
		}
	}
	return &audit.ToolExecution{
		ToolName:   injection,
		ToolCallID: fmt.Sprintf("call_%d", i),
		Status:     audit.StatusError,
		Error:      "NUL \x00 and bad \xff byte",
		DurationMs: 3,
		Risk:       "low",
		Input:      map[string]any{"query": "select * from users where name = 'x'; --", "n": i},
	}
}

// TestLoggerConcurrentGoroutines logs from 20 goroutines through one Logger
// into one file: every entry is written and no error is reported.
func TestLoggerConcurrentGoroutines(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu   sync.Mutex
		errs []error
	)
	logger := audit.New(s,
		audit.WithBlock(time.Minute),
		audit.WithErrorHandler(func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}))

	const (
		goroutines = 20
		perWorker  = 500
	)
	var wg sync.WaitGroup
	logErrs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			ctx := audit.WithChatID(ctx, fmt.Sprintf("chat-%02d", g))
			for i := range perWorker {
				if err := logger.Log(ctx, sampleMetadata(i)); err != nil {
					logErrs <- fmt.Errorf("goroutine %d: Log #%d = %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(logErrs)
	for err := range logErrs {
		t.Error(err)
	}
	if err := logger.Close(ctx); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	mu.Lock()
	for _, err := range errs {
		t.Errorf("error handler received %v", err)
	}
	mu.Unlock()
	stats := logger.Stats()
	if stats.Written != goroutines*perWorker || stats.Dropped != 0 || stats.Failed != 0 {
		t.Errorf("Stats() = %+v, want %d written and none lost", stats, goroutines*perWorker)
	}

	r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for g := range goroutines {
		chat := fmt.Sprintf("chat-%02d", g)
		got, err := r.Entries(ctx, audit.Filter{ChatID: chat})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != perWorker {
			t.Errorf("Entries(chat %s) returned %d entries, want %d", chat, len(got), perWorker)
		}
	}
	if got := countRows(t, r, "audit_logs"); got != goroutines*perWorker {
		t.Errorf("audit_logs has %d rows, want %d", got, goroutines*perWorker)
	}
}

// TestLoggerRoundTripHardStrings logs entries whose strings hold NUL bytes,
// invalid UTF-8 and SQL text, and reads back what the Logger encoded.
func TestLoggerRoundTripHardStrings(t *testing.T) {
	ctx := audit.WithChatID(context.Background(), injection)
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	logger := audit.New(s)
	if err := logger.Log(ctx, sampleMetadata(1)); err != nil {
		t.Fatalf("Log() = %v, want nil", err)
	}
	if err := logger.Close(ctx); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	r, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Entries(ctx, audit.Filter{ChatID: injection})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Entries(chat %q) returned %d entries, want 1", injection, len(got))
	}
	e := got[0]
	if e.Type != audit.TypeToolExecution {
		t.Errorf("Type = %q, want %q", e.Type, audit.TypeToolExecution)
	}
	for _, want := range []string{`"toolName":"'; DROP TABLE audit_logs; --"`, `\u0000`, "\uFFFD"} {
		if !strings.Contains(string(e.Metadata), want) {
			t.Errorf("Metadata = %s, want it to contain %s", e.Metadata, want)
		}
	}
}

// TestLoggerProcessExit logs 50 entries in a child process that closes the
// Logger and exits: the file holds all 50 rows afterwards.
func TestLoggerProcessExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	cmd := childCommand(t, os.Args[0], "logger", "CHILD_DB="+path, "CHILD_COUNT=50", "CHILD_CHAT=exit")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v; output %s", err, out)
	}

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Entries(context.Background(), audit.Filter{ChatID: "exit"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Errorf("Entries() after the child exited returned %d entries, want 50", len(got))
	}
}

// TestMultiProcessWriters runs 4 child processes that open one new file at
// once and log into it concurrently: nothing is lost and none reports a
// locked database.
func TestMultiProcessWriters(t *testing.T) {
	const (
		children = 4
		perChild = 2000
	)
	path := filepath.Join(t.TempDir(), "audit.db")

	type result struct {
		chat string
		out  []byte
		err  error
	}
	results := make(chan result, children)
	for c := range children {
		chat := fmt.Sprintf("process-%d", c)
		cmd := childCommand(t, os.Args[0], "logger", "CHILD_DB="+path, fmt.Sprintf("CHILD_COUNT=%d", perChild), "CHILD_CHAT="+chat)
		var out strings.Builder
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child %d: %v", c, err)
		}
		go func() {
			err := cmd.Wait()
			results <- result{chat: chat, out: []byte(out.String()), err: err}
		}()
	}
	for range children {
		r := <-results
		if r.err != nil {
			t.Errorf("child %s: %v; output %s", r.chat, r.err, r.out)
		}
		if strings.Contains(string(r.out), "locked") {
			t.Errorf("child %s reported a locked database: %s", r.chat, r.out)
		}
	}

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for c := range children {
		chat := fmt.Sprintf("process-%d", c)
		got, err := s.Entries(context.Background(), audit.Filter{ChatID: chat})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != perChild {
			t.Errorf("Entries(chat %s) returned %d entries, want %d", chat, len(got), perChild)
		}
	}
	if got := countRows(t, s, "audit_logs"); got != children*perChild {
		t.Errorf("audit_logs has %d rows, want %d", got, children*perChild)
	}
}
