package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/agentaudit/agentaudit/migrations"
)

// recordedMigrations returns the rows of d1_migrations in id order.
func recordedMigrations(t *testing.T, s *Store) (ids []int, names []string) {
	t.Helper()
	rows, err := s.reader.Query("SELECT id, name, applied_at FROM d1_migrations ORDER BY id")
	if err != nil {
		t.Fatalf("read d1_migrations: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id        int
			name      string
			appliedAt string
		)
		if err := rows.Scan(&id, &name, &appliedAt); err != nil {
			t.Fatal(err)
		}
		if appliedAt == "" {
			t.Errorf("d1_migrations row %d (%s) has an empty applied_at", id, name)
		}
		ids = append(ids, id)
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids, names
}

func migrationNames() []string {
	var names []string
	for _, m := range migrations.SQLite() {
		names = append(names, m.Name)
	}
	return names
}

func TestMigrationsRecordedOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	want := migrationNames()
	if len(want) == 0 {
		t.Fatal("migrations.SQLite() returned no migrations")
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ids, names := recordedMigrations(t, s)
	if !slices.Equal(names, want) {
		t.Errorf("d1_migrations names = %q, want %q", names, want)
	}
	for i, id := range ids {
		if id != i+1 {
			t.Errorf("d1_migrations id of %s = %d, want %d", names[i], id, i+1)
		}
	}
	for _, table := range []string{"audit_logs", "pending_approvals", "chat_messages"} {
		countRows(t, s, table)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate() after reopen = %v, want nil", err)
	}
	if len(applied) != 0 {
		t.Errorf("Migrate() after reopen applied %q, want none", applied)
	}
	_, names = recordedMigrations(t, s)
	if !slices.Equal(names, want) {
		t.Errorf("d1_migrations names after reopen = %q, want %q", names, want)
	}
}

func TestMigrateExplicit(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t, WithAutoMigrate(false))

	var n int
	err := s.reader.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'audit_logs'").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("audit_logs exists after Open with WithAutoMigrate(false)")
	}

	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate() = %v, want nil", err)
	}
	if want := migrationNames(); !slices.Equal(applied, want) {
		t.Errorf("Migrate() applied %q, want %q", applied, want)
	}
	applied, err = s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second Migrate() = %v, want nil", err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate() applied %q, want none", applied)
	}
}

// TestMigrateConcurrentStores migrates one new file from several Stores at
// once, as processes that start together do: each migration runs once.
func TestMigrateConcurrentStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")

	const stores = 4
	var wg sync.WaitGroup
	errs := make([]error, stores)
	opened := make([]*Store, stores)
	for i := range stores {
		s, err := Open(ctx, path, WithAutoMigrate(false))
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		defer s.Close()
		opened[i] = s
	}
	for i, s := range opened {
		wg.Go(func() { _, errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate() on store %d = %v, want nil", i, err)
		}
	}
	_, names := recordedMigrations(t, opened[0])
	if want := migrationNames(); !slices.Equal(names, want) {
		t.Errorf("d1_migrations names = %q, want %q", names, want)
	}
}

// TestMigrationFailureRollsBack applies a migration whose second statement
// fails: neither its first statement nor its record stays.
func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)

	bad := migrations.Migration{
		Number: 9999,
		Name:   "9999_broken.sql",
		SQL:    "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
	}
	if err := s.ApplyMigration(ctx, bad); err == nil {
		t.Fatal("ApplyMigration(broken) = nil, want an error")
	}

	var n int
	if err := s.reader.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("table of a failed migration exists, want it rolled back")
	}
	done, err := s.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if done[bad.Name] {
		t.Errorf("AppliedMigrations() lists the failed %s", bad.Name)
	}
}
