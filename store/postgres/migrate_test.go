package postgres_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/migrations"
	"github.com/agentaudit/agentaudit/store"
	"github.com/agentaudit/agentaudit/store/postgres"
)

// TestOpenConcurrentMigratesOnce opens one empty schema from several
// goroutines at once: every Open must succeed and each migration must be
// applied, and recorded, once.
func TestOpenConcurrentMigratesOnce(t *testing.T) {
	dsn := testSchema(t)
	ctx := testContext(t, time.Minute)

	const openers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied = map[string]int{}
	)
	for range openers {
		wg.Go(func() {
			s, err := postgres.Open(ctx, dsn, postgres.WithAutoMigrate(false))
			if err != nil {
				t.Errorf("Open() = %v", err)
				return
			}
			defer s.Close()
			names, err := s.Migrate(ctx)
			if err != nil {
				t.Errorf("Migrate() = %v", err)
				return
			}
			mu.Lock()
			for _, n := range names {
				applied[n]++
			}
			mu.Unlock()
		})
	}
	wg.Wait()

	for _, m := range migrations.Postgres() {
		if applied[m.Name] != 1 {
			t.Errorf("migration %s applied %d times, want 1", m.Name, applied[m.Name])
		}
	}
	want := int64(len(migrations.Postgres()))
	if n := queryInt(t, dsn, "SELECT count(*) FROM d1_migrations"); n != want {
		t.Errorf("d1_migrations has %d rows, want %d", n, want)
	}
	if n := queryInt(t, dsn, "SELECT count(DISTINCT name) FROM d1_migrations"); n != want {
		t.Errorf("d1_migrations has %d distinct names, want %d", n, want)
	}

	// A later Open finds everything applied.
	s := openStore(t, dsn)
	names, err := s.Migrate(ctx)
	if err != nil || len(names) != 0 {
		t.Errorf("Migrate() on a migrated schema = %v, %v; want none, nil", names, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := testContext(t, time.Minute)

	// A port that was free a moment ago refuses the connection.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	refused := "postgres://postgres@" + l.Addr().String() + "/agentaudit?sslmode=disable&connect_timeout=5"
	l.Close()

	tests := []struct {
		name          string
		dsn           string
		opts          []postgres.Option
		wantText      string
		wantPermanent bool
	}{
		{"invalid dsn", "postgres://[bad", nil, "invalid connection string", false},
		{"refused", refused, nil, "check that the server is running", false},
		{"zero copy threshold", refused, []postgres.Option{postgres.WithCopyThreshold(0)}, "copy threshold 0", false},
		{"negative max conns", refused, []postgres.Option{postgres.WithMaxConns(-1)}, "max connections -1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(ctx, tt.dsn, tt.opts...)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) = nil error, want one containing %q", tt.dsn, tt.wantText)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Open() = %q, want it to contain %q", err, tt.wantText)
			}
			if got := audit.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("audit.IsPermanent(%v) = %v, want %v", err, got, tt.wantPermanent)
			}
		})
	}
}

func TestOpenMissingDatabase(t *testing.T) {
	base := serverURL(t)
	ctx := testContext(t, time.Minute)
	dsn := strings.Replace(base, "/agentaudit?", "/agentaudit_missing_"+randomHex(t, 4)+"?", 1)
	if dsn == base {
		t.Skipf("%s does not name the database agentaudit; cannot derive a missing one", urlEnv)
	}
	_, err := postgres.Open(ctx, dsn)
	if !audit.IsPermanent(err) || !strings.Contains(err.Error(), "database does not exist") {
		t.Errorf("Open(missing database) = %v, want a permanent error saying the database does not exist", err)
	}
}

func TestInsertWithoutSchemaIsPermanent(t *testing.T) {
	dsn := testSchema(t)
	s := openStore(t, dsn, postgres.WithAutoMigrate(false))
	err := s.InsertEntries(testContext(t, time.Minute), []audit.Entry{toolEntry(uuidLike(7, 1), "c", baseTime, `{}`)})
	if !audit.IsPermanent(err) || !strings.Contains(err.Error(), "run Migrate") {
		t.Errorf("InsertEntries() without tables = %v, want a permanent error that says to run Migrate", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("InsertEntries() = %v, want no time-out", err)
	}
}

func TestStoreOpenSchemes(t *testing.T) {
	dsn := testSchema(t)
	ctx := testContext(t, time.Minute)
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		t.Run(scheme, func(t *testing.T) {
			u := scheme + strings.SplitN(dsn, "://", 2)[1]
			b, err := store.Open(ctx, u)
			if err != nil {
				t.Fatalf("store.Open(%s) = %v", scheme, err)
			}
			defer b.Close()
			if _, ok := b.(*postgres.Store); !ok {
				t.Errorf("store.Open(%s) returned %T, want *postgres.Store", scheme, b)
			}
			if applied, err := b.Migrate(ctx); err != nil || len(applied) != 0 {
				t.Errorf("Migrate() after store.Open = %v, %v; want none, nil", applied, err)
			}
		})
	}
}
