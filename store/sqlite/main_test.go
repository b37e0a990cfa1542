package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/audit"
)

// childEnv selects a child process role when the test binary re-executes
// itself; see runChild.
const childEnv = "AGENTAUDIT_SQLITE_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	goleak.VerifyTestMain(m)
}

// runChild runs one child process role with its arguments from the
// environment and returns the exit code.
func runChild(role string) int {
	ctx := context.Background()
	path := os.Getenv("CHILD_DB")
	var err error
	switch role {
	case "open":
		// The parent reads the error from stdout.
		var s *Store
		s, err = Open(ctx, path)
		if err == nil {
			err = s.Close()
		}
		if err != nil {
			fmt.Println(err)
			return 0
		}
		fmt.Println("ok")
		return 0
	default:
		if f, ok := childRoles[role]; ok {
			err = f(ctx, path)
			break
		}
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// childRoles holds child roles that other test files add.
var childRoles = map[string]func(ctx context.Context, path string) error{}

// childCommand returns a command that runs binary, a copy of the test
// binary, in role with env added to this process's environment.
func childCommand(t *testing.T, binary, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	return cmd
}

// openTemp opens a new database file in a temporary directory and closes
// it when the test ends.
func openTemp(t *testing.T, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want nil", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return s, path
}

// makeEntry returns an entry with a new UUIDv7 id and the current time.
func makeEntry(typ audit.EntryType, chatID, metadata string) audit.Entry {
	return audit.Entry{
		ID:        uuid.Must(uuid.NewV7()).String(),
		Type:      typ,
		ChatID:    chatID,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
		Metadata:  json.RawMessage(metadata),
	}
}

// countRows returns the number of rows of table.
func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.reader.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count rows of %s: %v", table, err)
	}
	return n
}
