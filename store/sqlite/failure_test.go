package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
)

// TestInsertEntriesDatabaseFull caps the database size so that a batch
// does not fit: the insert fails with a retryable error reporting a full
// database, and the same batch succeeds once there is room.
func TestInsertEntriesDatabaseFull(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)

	var pages int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// max_page_count is a setting of the connection, and the writer has
	// only one.
	if _, err := s.writer.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages+1)); err != nil {
		t.Fatal(err)
	}

	batch := make([]audit.Entry, 200)
	for i := range batch {
		batch[i] = makeEntry(audit.TypeLLMCall, "full", fmt.Sprintf(`{"pad":"%s"}`, strings.Repeat("x", 1000)))
	}
	err := s.InsertEntries(ctx, batch)
	if err == nil {
		t.Fatal("InsertEntries() into a full database = nil, want an error")
	}
	if !strings.Contains(err.Error(), "full") {
		t.Errorf("InsertEntries() = %q, want it to report a full database", err)
	}
	if audit.IsPermanent(err) {
		t.Errorf("audit.IsPermanent(%v) = true, want a retryable error", err)
	}
	if got := countRows(t, s, "audit_logs"); got != 0 {
		t.Errorf("audit_logs has %d rows after the failed batch, want 0", got)
	}

	if _, err := s.writer.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEntries(ctx, batch); err != nil {
		t.Fatalf("InsertEntries() once there is room = %v, want nil", err)
	}
	if got := countRows(t, s, "audit_logs"); got != len(batch) {
		t.Errorf("audit_logs has %d rows, want %d", got, len(batch))
	}
}

// TestCorruptDatabase overwrites the pages after the first one of a
// database file: opening or writing it fails with an error that names the
// file and says it is corrupt, and a failed insert is permanent.
func TestCorruptDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]audit.Entry, 500)
	for i := range batch {
		batch[i] = makeEntry(audit.TypeLLMCall, "c", fmt.Sprintf(`{"i":%d}`, i))
	}
	if err := s.InsertEntries(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("\xff\x00garbage", int(info.Size())/9))
	if _, err := f.WriteAt(garbage[:info.Size()-4096], 4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err == nil {
		defer s.Close()
		err = s.InsertEntries(ctx, []audit.Entry{makeEntry(audit.TypeLLMCall, "c", `{}`)})
		if !audit.IsPermanent(err) {
			t.Errorf("audit.IsPermanent(%v) = false, want true for a corrupt file", err)
		}
	}
	if err == nil {
		t.Fatal("Open and InsertEntries on a corrupt file = nil, want an error")
	}
	for _, want := range []string{path, "corrupt"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}
}
