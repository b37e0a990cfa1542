//go:build unix

package sqlite

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/spool"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/tools"
)

// removeDatabase deletes the database file at path with its WAL and
// shared-memory files.
func removeDatabase(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("remove %s: %v", p, err)
		}
	}
}

func TestWriteAfterFileReplaced(t *testing.T) {
	tests := []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"deleted", removeDatabase},
		{"replaced", func(t *testing.T, path string) {
			removeDatabase(t, path)
			other, err := Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open(new %q) = %v", path, err)
			}
			if err := other.Close(); err != nil {
				t.Fatalf("Close(new %q) = %v", path, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, path := openTemp(t)
			entry := makeEntry(audit.TypeLLMCall, "chat-1", `{"model":"m"}`)
			if err := s.InsertEntries(ctx, []audit.Entry{entry}); err != nil {
				t.Fatalf("InsertEntries() before %s = %v, want nil", tt.name, err)
			}

			tt.replace(t, path)

			err := s.InsertEntries(ctx, []audit.Entry{makeEntry(audit.TypeLLMCall, "chat-1", `{"model":"m"}`)})
			if !errors.Is(err, ErrFileReplaced) {
				t.Fatalf("InsertEntries() = %v, want an error wrapping ErrFileReplaced", err)
			}
			if audit.IsPermanent(err) {
				t.Errorf("InsertEntries() = %v, want a retryable error", err)
			}
			for _, want := range []string{path, "deleted or replaced", "restart the process"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("InsertEntries() = %q, want it to contain %q", err, want)
				}
			}

			msgs := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
			if err := s.AppendMessages(ctx, "chat-1", msgs); !errors.Is(err, ErrFileReplaced) {
				t.Errorf("AppendMessages() = %v, want an error wrapping ErrFileReplaced", err)
			}
			approval := tools.Approval{ID: "apr-1", ChatID: "chat-1", ToolName: "shell", Input: []byte(`{}`)}
			if err := s.CreateApproval(ctx, approval); !errors.Is(err, ErrFileReplaced) {
				t.Errorf("CreateApproval() = %v, want an error wrapping ErrFileReplaced", err)
			}
		})
	}
}

// TestLoggerSpoolsAfterFileDeleted checks that a spooling Logger keeps the
// entries logged after the database file was deleted, instead of counting
// them written to a file that no path names.
func TestLoggerSpoolsAfterFileDeleted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, path := openTemp(t)
	sp, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatalf("spool.Open() = %v", err)
	}
	l := audit.New(s,
		audit.WithSpool(sp),
		audit.WithMaxRetries(1),
		audit.WithRetryBackoff(time.Millisecond, time.Millisecond),
		audit.WithErrorHandler(func(error) {}))

	removeDatabase(t, path)
	const n = 3
	for i := range n {
		if err := l.Log(ctx, sampleMetadata(i)); err != nil {
			t.Fatalf("Log(#%d) = %v", i, err)
		}
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("Flush() = %v", err)
	}
	st := l.Stats()
	if err := l.Close(ctx); err != nil && !errors.Is(err, ErrFileReplaced) {
		t.Errorf("Close() = %v, want nil or ErrFileReplaced", err)
	}

	if got, want := st.Written, uint64(0); got != want {
		t.Errorf("Stats().Written = %d, want %d", got, want)
	}
	if got, want := st.Spooled, uint64(n); got != want {
		t.Errorf("Stats().Spooled = %d, want %d", got, want)
	}
}
