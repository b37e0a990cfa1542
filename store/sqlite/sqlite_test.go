package sqlite

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/tools"
)

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	plainFile := filepath.Join(dir, "plain")
	if err := os.WriteFile(plainFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		opts []Option
		want []string
	}{
		{"empty path", "", nil, []string{"empty database path"}},
		{"memory", ":memory:", nil, []string{`":memory:"`, "not a file path"}},
		{"uri", "file:x.db", nil, []string{`"file:x.db"`, "not a file path"}},
		{"missing directory", filepath.Join(dir, "missing", "a.db"), nil,
			[]string{filepath.Join(dir, "missing", "a.db"), "does not exist", "create it first"}},
		{"parent is a file", filepath.Join(plainFile, "a.db"), nil,
			[]string{filepath.Join(plainFile, "a.db"), "is not a directory"}},
		{"path is a directory", dir, nil, []string{dir, "path is a directory"}},
		{"not a database", notDB, nil, []string{notDB, "not an SQLite database", "move the file away"}},
		{"zero busy timeout", filepath.Join(dir, "a.db"), []Option{WithBusyTimeout(0)},
			[]string{"busy timeout 0s", "at least a millisecond"}},
		{"bad synchronous", filepath.Join(dir, "a.db"), []Option{WithSynchronous("OFF")},
			[]string{`synchronous "OFF"`, "SynchronousFull"}},
		{"no readers", filepath.Join(dir, "a.db"), []Option{WithMaxReadConns(0)},
			[]string{"max read connections 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.path, tt.opts...)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error, want one containing %q", tt.path, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open(%q) = %q, want it to contain %q", tt.path, err, w)
				}
			}
		})
	}
}

// TestOpenReadOnly opens a database file that the process may not write.
// Root may write any file, so as root the test runs Open in a child process
// as the unprivileged user 65534.
func TestOpenReadOnly(t *testing.T) {
	dir, err := os.MkdirTemp("", "sqlite-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	path := filepath.Join(dir, "audit.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want nil", path, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}

	var got string
	if os.Geteuid() != 0 {
		_, err := Open(context.Background(), path)
		if err != nil {
			got = err.Error()
		}
	} else {
		got = openAsNobody(t, dir, path)
	}

	for _, w := range []string{path, "read-only", "writable"} {
		if !strings.Contains(got, w) {
			t.Errorf("Open(read-only %q) = %q, want it to contain %q", path, got, w)
		}
	}
}

// openAsNobody copies the test binary into dir, runs Open(path) in it as
// user 65534 and returns the error text the child printed.
func openAsNobody(t *testing.T, dir, path string) string {
	t.Helper()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(dir, "sqlite.test")
	if err := copyFile(os.Args[0], binary); err != nil {
		t.Fatalf("copy test binary: %v", err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}

	cmd := childCommand(t, binary, "open", "CHILD_DB="+path)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child open as user 65534: %v; output %q", err, out)
	}
	return strings.TrimSpace(string(out))
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func TestOpenPragmas(t *testing.T) {
	s, _ := openTemp(t, WithBusyTimeout(1500*time.Millisecond))
	ctx := context.Background()

	tests := []struct {
		pragma string
		db     string
		want   string
	}{
		{"journal_mode", "writer", "wal"},
		{"synchronous", "writer", "1"},
		{"foreign_keys", "writer", "1"},
		{"busy_timeout", "writer", "1500"},
		{"foreign_keys", "reader", "1"},
		{"busy_timeout", "reader", "1500"},
		{"query_only", "reader", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.db+" "+tt.pragma, func(t *testing.T) {
			db := s.writer
			if tt.db == "reader" {
				db = s.reader
			}
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestOpenSynchronousFull(t *testing.T) {
	s, _ := openTemp(t, WithSynchronous(SynchronousFull))
	var got string
	if err := s.writer.QueryRow("PRAGMA synchronous").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "2" {
		t.Errorf("PRAGMA synchronous = %q, want 2 (FULL)", got)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%d.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want nil", path, err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Open(%q) did not create that file: %v", path, err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEntries(context.Background(), []audit.Entry{makeEntry(audit.TypeLLMCall, "c", `{}`)}); err != nil {
		t.Fatalf("InsertEntries() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close() = %v, want nil", err)
	}

	ctx := context.Background()
	calls := map[string]error{
		"InsertEntries":  s.InsertEntries(ctx, []audit.Entry{makeEntry(audit.TypeLLMCall, "c", `{}`)}),
		"Migrate":        func() error { _, err := s.Migrate(ctx); return err }(),
		"Entries":        func() error { _, err := s.Entries(ctx, audit.Filter{}); return err }(),
		"CreateApproval": s.CreateApproval(ctx, tools.Approval{ID: "a"}),
		"LoadMessages":   func() error { _, err := s.LoadMessages(ctx, "c"); return err }(),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
