// Package migrations holds the schema of agentaudit's tables as numbered SQL
// files and applies them in order.
//
// The files at the top level use wrangler's format (NNNN_name.sql) and run on
// SQLite and Cloudflare D1; postgres/ holds the same tables for PostgreSQL.
// Applied migrations are recorded by file name in d1_migrations, the table
// that `wrangler d1 migrations apply` uses, so the two never re-apply each
// other's work.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

//go:embed *.sql postgres/*.sql
var files embed.FS

// TrackingTable is the table that records applied migrations.
const TrackingTable = "d1_migrations"

// CreateTrackingTableSQL creates TrackingTable as wrangler creates it, for
// SQLite and D1.
const CreateTrackingTableSQL = `CREATE TABLE IF NOT EXISTS d1_migrations(
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		name       TEXT UNIQUE,
		applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
)`

// Migration is one SQL file.
type Migration struct {
	// Number is the file's numeric prefix; Name is the whole file name, which
	// is what the tracking table records.
	Number int
	Name   string
	SQL    string
}

var fileName = regexp.MustCompile(`^(\d+)_[A-Za-z0-9_\-]+\.sql$`)

// SQLite returns the migrations for SQLite and D1 in order.
func SQLite() []Migration { return mustList(".") }

// Postgres returns the migrations for PostgreSQL in order.
func Postgres() []Migration { return mustList("postgres") }

func mustList(dir string) []Migration {
	ms, err := List(files, dir)
	if err != nil {
		panic(err)
	}
	return ms
}

// List reads the migration files of dir in fsys, ordered by number.
func List(fsys fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: read %s: %w", dir, err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if prev, ok := seen[n]; ok {
			return nil, fmt.Errorf("migrations: %s and %s share number %d", prev, e.Name(), n)
		}
		seen[n] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: read %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Number: n, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Number < ms[j].Number })
	return ms, nil
}

// Target is a database that migrations can be applied to.
type Target interface {
	// AppliedMigrations returns the names recorded in TrackingTable, creating
	// the table first when it is missing.
	AppliedMigrations(ctx context.Context) (map[string]bool, error)
	// ApplyMigration runs m's SQL and records m.Name in TrackingTable, in one
	// transaction where the database allows it.
	ApplyMigration(ctx context.Context, m Migration) error
}

// Apply applies, in order, each migration of ms that t has not recorded, and
// returns the names it applied.
func Apply(ctx context.Context, t Target, ms []Migration) ([]string, error) {
	done, err := t.AppliedMigrations(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: read applied: %w", err)
	}
	var applied []string
	for _, m := range ms {
		if done[m.Name] {
			continue
		}
		if err := t.ApplyMigration(ctx, m); err != nil {
			return applied, fmt.Errorf("migrations: apply %s: %w", m.Name, err)
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}
