package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/migrations"
	"github.com/agentaudit/agentaudit/tools"
)

func init() {
	// readonly opens the database read-only and prints its entry count.
	childRoles["readonly"] = func(ctx context.Context, path string) error {
		n, err := countReadOnly(ctx, path)
		if err != nil {
			return err
		}
		fmt.Println(n)
		return nil
	}
}

// countReadOnly opens path with WithReadOnly(true) and returns the number
// of its entries.
func countReadOnly(ctx context.Context, path string) (int, error) {
	s, err := Open(ctx, path, WithReadOnly(true))
	if err != nil {
		return 0, err
	}
	entries, err := s.Entries(ctx, audit.Filter{})
	if closeErr := s.Close(); err == nil {
		err = closeErr
	}
	return len(entries), err
}

// fillDB writes one entry, one approval and one message to a new database
// at path and closes it.
func fillDB(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	defer s.Close()
	if err := s.InsertEntries(ctx, []audit.Entry{makeEntry(audit.TypeLLMCall, "chat", `{}`)}); err != nil {
		t.Fatalf("InsertEntries() = %v", err)
	}
	if err := s.CreateApproval(ctx, tools.Approval{ID: "a1", ChatID: "chat", ToolName: "t"}); err != nil {
		t.Fatalf("CreateApproval() = %v", err)
	}
	if err := s.AppendMessages(ctx, "chat", []llm.Message{{Role: llm.RoleUser, Content: "hi"}}); err != nil {
		t.Fatalf("AppendMessages() = %v", err)
	}
}

func TestReadOnlyReadsAndRefusesWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	fillDB(t, path)

	s, err := Open(ctx, path, WithReadOnly(true))
	if err != nil {
		t.Fatalf("Open(read-only) = %v, want nil", err)
	}
	defer s.Close()

	if entries, err := s.Entries(ctx, audit.Filter{}); err != nil || len(entries) != 1 {
		t.Errorf("Entries() = %d entries, %v; want 1, nil", len(entries), err)
	}
	if as, err := s.ListApprovals(ctx, tools.ApprovalFilter{}); err != nil || len(as) != 1 {
		t.Errorf("ListApprovals() = %d approvals, %v; want 1, nil", len(as), err)
	}
	if msgs, err := s.LoadMessages(ctx, "chat"); err != nil || len(msgs) != 1 {
		t.Errorf("LoadMessages() = %d messages, %v; want 1, nil", len(msgs), err)
	}

	calls := map[string]error{
		"InsertEntries":  s.InsertEntries(ctx, []audit.Entry{makeEntry(audit.TypeLLMCall, "c", `{}`)}),
		"CreateApproval": s.CreateApproval(ctx, tools.Approval{ID: "a2", ToolName: "t"}),
		"DecideApproval": func() error {
			_, err := s.DecideApproval(ctx, "a1", tools.ApprovalApproved, "", time.Time{})
			return err
		}(),
		"AppendMessages":    s.AppendMessages(ctx, "chat", []llm.Message{{Role: llm.RoleUser, Content: "x"}}),
		"Migrate":           func() error { _, err := s.Migrate(ctx); return err }(),
		"AppliedMigrations": func() error { _, err := s.AppliedMigrations(ctx); return err }(),
		"ApplyMigration":    s.ApplyMigration(ctx, migrations.SQLite()[0]),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only Store = %v, want ErrReadOnly", name, err)
			continue
		}
		if !audit.IsPermanent(err) {
			t.Errorf("%s on a read-only Store = %v, want a permanent error", name, err)
		}
		for _, w := range []string{path, "read-only", "without WithReadOnly(true)"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s on a read-only Store = %q, want it to contain %q", name, err, w)
			}
		}
	}

	if n, err := countReadOnly(ctx, path); err != nil || n != 1 {
		t.Errorf("entries after refused writes = %d, %v; want 1, nil", n, err)
	}
}

func TestReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	s, err := Open(context.Background(), path, WithReadOnly(true))
	if err == nil {
		s.Close()
		t.Fatal("Open(missing, read-only) = nil error, want fs.ErrNotExist")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing, read-only) = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing, read-only) created %q: %v", path, err)
	}
}

func TestReadOnlyOldSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	bare := filepath.Join(dir, "bare.db")
	s, err := Open(ctx, bare, WithAutoMigrate(false))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	partial := filepath.Join(dir, "partial.db")
	s, err = Open(ctx, partial, WithAutoMigrate(false))
	if err != nil {
		t.Fatal(err)
	}
	first := migrations.SQLite()[0]
	if _, err := s.AppliedMigrations(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyMigration(ctx, first); err != nil {
		t.Fatal(err)
	}
	s.Close()

	for _, tt := range []struct {
		path string
		want []string
	}{
		{bare, []string{bare, "no agentaudit tables", "run agentaudit migrate"}},
		{partial, []string{partial, "older than this program expects", migrations.SQLite()[1].Name, "run agentaudit migrate"}},
	} {
		s, err := Open(ctx, tt.path, WithReadOnly(true))
		if err == nil {
			s.Close()
			t.Errorf("Open(%q, read-only) = nil error, want one containing %q", tt.path, tt.want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%q, read-only) = %q, want it to contain %q", tt.path, err, w)
			}
		}
	}
}

// TestReadOnlyUnwritableFile reads a 0444 database file as a user that may
// not write it: in a directory that user may write, in one it may not, and
// while another connection holds the file open for writing, so that its
// -wal and -shm files exist. Root may write any file, so as root the reads
// run in a child process as the unprivileged user 65534.
func TestReadOnlyUnwritableFile(t *testing.T) {
	tests := []struct {
		name    string
		dirMode os.FileMode
		writing bool
	}{
		{"writable directory", 0o777, false},
		{"read-only directory", 0o555, false},
		{"read-only directory while written", 0o555, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := chmodTempDir(t, 0o755)
			path := filepath.Join(dir, "audit.db")
			fillDB(t, path)
			if tt.writing {
				w, err := Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				if err := w.InsertEntries(context.Background(), []audit.Entry{makeEntry(audit.TypeLLMCall, "chat", `{}`)}); err != nil {
					t.Fatal(err)
				}
			}
			want := "1"
			if tt.writing {
				want = "2"
			}
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}

			var got string
			if os.Geteuid() != 0 {
				n, err := countReadOnly(context.Background(), path)
				got = fmt.Sprint(n)
				if err != nil {
					got = err.Error()
				}
			} else {
				got = runAsNobody(t, "readonly", path)
			}
			if got != want {
				t.Errorf("read-only read of %q = %q, want %s entries", path, got, want)
			}
			if _, err := os.Stat(path + "-journal"); err == nil {
				t.Errorf("read-only read left %s-journal behind", path)
			}
		})
	}
}

// chmodTempDir returns a new temporary directory with mode, which the
// test removes at its end.
func chmodTempDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sqlite-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runAsNobody runs a copy of the test binary in role on path as user
// 65534 and returns what it printed, or its error output when it failed.
func runAsNobody(t *testing.T, role, path string) string {
	t.Helper()
	binDir := chmodTempDir(t, 0o755)
	binary := filepath.Join(binDir, "sqlite.test")
	if err := copyFile(os.Args[0], binary); err != nil {
		t.Fatalf("copy test binary: %v", err)
	}
	cmd := childCommand(t, binary, role, "CHILD_DB="+path)
	cmd.Dir = binDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return strings.TrimSpace(stderr.String())
	}
	return strings.TrimSpace(string(out))
}
