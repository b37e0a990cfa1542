package sqlite

import (
	"context"

	"github.com/agentaudit/agentaudit/migrations"
)

// AppliedMigrations returns the migration file names recorded in
// d1_migrations, creating the table as wrangler does when it is missing.
// It implements migrations.Target.
func (s *Store) AppliedMigrations(ctx context.Context) (map[string]bool, error) {
	if err := s.checkWrite("create " + migrations.TrackingTable); err != nil {
		return nil, err
	}
	if _, err := s.writer.ExecContext(ctx, migrations.CreateTrackingTableSQL); err != nil {
		return nil, dbError(s.path, "create "+migrations.TrackingTable, err)
	}

	rows, err := s.writer.QueryContext(ctx, "SELECT name FROM "+migrations.TrackingTable)
	if err != nil {
		return nil, dbError(s.path, "read "+migrations.TrackingTable, err)
	}
	defer rows.Close()
	done := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, dbError(s.path, "read "+migrations.TrackingTable, err)
		}
		done[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(s.path, "read "+migrations.TrackingTable, err)
	}
	return done, nil
}

// ApplyMigration runs m's SQL and records m.Name in d1_migrations in one
// transaction, as `wrangler d1 migrations apply` records it. When another
// connection recorded m.Name after AppliedMigrations read the table, as
// happens when two processes open a new file at once, it does nothing. It
// implements migrations.Target.
func (s *Store) ApplyMigration(ctx context.Context, m migrations.Migration) error {
	if err := s.checkWrite("apply migration"); err != nil {
		return err
	}
	op := "apply migration " + m.Name

	// The transaction starts with BEGIN IMMEDIATE, so the check below and
	// the migration see no other writer in between.
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return dbError(s.path, op, err)
	}
	defer tx.Rollback() // a no-op after Commit

	var recorded int
	err = tx.QueryRowContext(ctx, "SELECT count(*) FROM "+migrations.TrackingTable+" WHERE name = ?", m.Name).Scan(&recorded)
	if err != nil {
		return dbError(s.path, op, err)
	}
	if recorded > 0 {
		return nil
	}

	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return dbError(s.path, op, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+migrations.TrackingTable+" (name) VALUES (?)", m.Name); err != nil {
		return dbError(s.path, op, err)
	}
	if err := tx.Commit(); err != nil {
		return dbError(s.path, op, err)
	}
	return nil
}
