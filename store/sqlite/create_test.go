package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenWithoutCreate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nothere.db")

	s, err := Open(ctx, path, WithCreate(false))
	if err == nil {
		s.Close()
		t.Fatalf("Open(%q, WithCreate(false)) = nil error, want file does not exist", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open() error = %v, want it to wrap fs.ErrNotExist", err)
	}
	var pathErr *fs.PathError
	if !errors.As(err, &pathErr) || pathErr.Path != path {
		t.Errorf("Open() error = %v, want an *fs.PathError for %q", err, path)
	}
	if !strings.Contains(err.Error(), "file does not exist") {
		t.Errorf("Open() error = %q, want it to say the file does not exist", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("Stat(%q) after Open = %v, want the file still missing", path, statErr)
	}

	// Once created, the file opens without creation.
	created, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	created.Close()
	s, err = Open(ctx, path, WithCreate(false))
	if err != nil {
		t.Fatalf("Open(existing %q, WithCreate(false)) = %v, want nil", path, err)
	}
	s.Close()
}

func TestWithoutCreateDSNOpensNoNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.db")
	o := defaultOptions()
	o.create = false

	// The file is missing at connect time, as when it is removed after the
	// path check.
	db, err := sql.Open("sqlite", dsn(path, o, false, false))
	if err != nil {
		t.Fatalf("sql.Open() = %v", err)
	}
	defer db.Close()
	if err := db.PingContext(context.Background()); err == nil {
		t.Errorf("Ping() = nil, want an error for a missing file in mode rw")
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("Stat(%q) after Ping = %v, want the file still missing", path, statErr)
	}
}
