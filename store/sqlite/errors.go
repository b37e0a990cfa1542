package sqlite

import (
	"errors"
	"fmt"

	"github.com/agentaudit/agentaudit/audit"

	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// resultCode returns the primary SQLite result code of err, or 0 when err
// does not come from SQLite.
func resultCode(err error) int {
	var e *driver.Error
	if !errors.As(err, &e) {
		return 0
	}
	return e.Code() & 0xff
}

// isRowError reports whether err is about one row's values, so that
// inserting the other rows of its batch can still succeed.
func isRowError(err error) bool {
	switch resultCode(err) {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
		return true
	}
	return false
}

// isDuplicateKey reports whether err is a PRIMARY KEY or UNIQUE violation.
func isDuplicateKey(err error) bool {
	var e *driver.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// dbError wraps the error of operation op on the database at path with
// what a caller can do about it. A corrupt database is marked permanent
// because a retry cannot succeed. Busy, full and read-only databases stay
// retryable, because another process or an operator can resolve them.
func dbError(path, op string, err error) error {
	switch resultCode(err) {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("sqlite: %s in %q: database is locked by another connection for longer than the busy timeout; retry later or raise WithBusyTimeout: %w", op, path, err)
	case sqlite3.SQLITE_FULL:
		return fmt.Errorf("sqlite: %s in %q: disk or database is full; free disk space: %w", op, path, err)
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("sqlite: %s in %q: database is read-only; make the file and its directory writable: %w", op, path, err)
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return audit.Permanent(fmt.Errorf("sqlite: %s in %q: database file is corrupt; restore it from a backup or move it away: %w", op, path, err))
	}
	return fmt.Errorf("sqlite: %s in %q: %w", op, path, err)
}

// openError wraps an error from connecting to the database at path.
func openError(path string, err error) error {
	switch resultCode(err) {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("sqlite: open %q: file is not an SQLite database; pass another path or move the file away: %w", path, err)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("sqlite: open %q: database file is corrupt; restore it from a backup or move it away: %w", path, err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
		return fmt.Errorf("sqlite: open %q: database is read-only; make the file and its directory writable by this user: %w", path, err)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("sqlite: open %q: cannot open or create the file; check that it and its directory exist and are writable: %w", path, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("sqlite: open %q: database is locked by another connection for longer than the busy timeout; retry later or raise WithBusyTimeout: %w", path, err)
	}
	return fmt.Errorf("sqlite: open %q: %w", path, err)
}

// readOnlyOpenError wraps an error from connecting to the database at path
// in SQLite's read-only mode.
func readOnlyOpenError(path string, err error) error {
	switch resultCode(err) {
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("sqlite: open %q read-only: cannot open the file; check that this user may read it, and its -wal and -shm files where they exist: %w", path, err)
	}
	return openError(path, err)
}
