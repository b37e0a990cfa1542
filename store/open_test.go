package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/store"
	"github.com/agentaudit/agentaudit/store/d1"
)

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		dsn  string
	}{
		{"scheme", "sqlite:" + filepath.Join(dir, "a.db")},
		{"scheme with slashes", "sqlite://" + filepath.Join(dir, "b.db")},
		{"bare .db path", filepath.Join(dir, "c.db")},
		{"bare .sqlite3 path", filepath.Join(dir, "d.sqlite3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := store.Open(context.Background(), tt.dsn)
			if err != nil {
				t.Fatalf("Open(%q) error = %v", tt.dsn, err)
			}
			defer b.Close()
			applied, err := b.Migrate(context.Background())
			if err != nil {
				t.Fatalf("Migrate() error = %v", err)
			}
			if len(applied) != 0 {
				t.Errorf("Migrate() after Open applied %q, want nothing left to apply", applied)
			}
		})
	}
}

func TestOpenWithoutAutoMigrate(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	b, err := store.Open(context.Background(), dsn, store.WithAutoMigrate(false))
	if err != nil {
		t.Fatalf("Open(%q) error = %v", dsn, err)
	}
	defer b.Close()

	applied, err := b.Migrate(context.Background())
	if err != nil {
		t.Fatalf("Migrate() error = %v", err)
	}
	if len(applied) == 0 || !strings.HasPrefix(applied[0], "0001_") {
		t.Errorf("Migrate() applied %q, want the migrations from 0001", applied)
	}
}

func TestOpenWithoutCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nothere.db")

	b, err := store.Open(context.Background(), "sqlite:"+path, store.WithCreate(false))
	if err == nil {
		b.Close()
		t.Fatalf("Open(sqlite:%s, WithCreate(false)) = nil error, want file does not exist", path)
	}
	var pathErr *fs.PathError
	if !errors.As(err, &pathErr) || pathErr.Path != path {
		t.Errorf("Open() error = %v, want an *fs.PathError for %q", err, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open() error = %v, want it to wrap fs.ErrNotExist", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("Stat(%q) after Open = %v, want the file still missing", path, statErr)
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name string
		dsn  string
		want []string
	}{
		{"empty", "", []string{"the name is empty", "sqlite:PATH"}},
		{"no scheme", "agentaudit", []string{`"agentaudit"`, "has no scheme", "sqlite:PATH"}},
		{"unknown scheme", "mysql://root:hunter2@localhost/db", []string{`scheme "mysql" is not supported`, "root:xxxxx@", "sqlite:PATH"}},
		{"sqlite without file", "sqlite:", []string{`"sqlite:" names no file`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := store.Open(context.Background(), tt.dsn)
			if err == nil {
				b.Close()
				t.Fatalf("Open(%q) error = nil, want an error", tt.dsn)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open(%q) error = %q, want it to contain %q", tt.dsn, err, want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open(%q) error = %q shows the password", tt.dsn, err)
			}
		})
	}
}

func TestOpenUnsupportedIs(t *testing.T) {
	_, err := store.Open(context.Background(), "redis://localhost")
	if !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Open(redis://localhost) error = %v, want ErrUnsupported", err)
	}
}

func TestLoggerOptions(t *testing.T) {
	if got := len(store.LoggerOptions("d1://account/database")); got == 0 {
		t.Errorf("LoggerOptions(d1://...) returned no options, want D1's batching")
	}
	if got := len(store.LoggerOptions("sqlite:audit.db")); got != 0 {
		t.Errorf("LoggerOptions(sqlite:...) returned %d options, want none", got)
	}
}

func TestOpenD1WithLogger(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}`)
	}))
	defer srv.Close()
	t.Setenv(d1.BaseURLEnv, srv.URL+"/client/v4")
	t.Setenv(d1.TokenEnv, "expired-token")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	b, err := store.Open(context.Background(), "d1://0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a/11111111-1111-4111-8111-111111111111", store.WithLogger(log))
	if err == nil {
		b.Close()
		t.Fatal("Open(d1 with a rejected token) = nil error, want the rejection")
	}
	if !strings.Contains(logs.String(), "d1: API token rejected") {
		t.Errorf("log = %q, want the rejected token reported through the given logger; Open() = %v", logs.String(), err)
	}
}
