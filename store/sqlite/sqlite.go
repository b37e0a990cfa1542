// Package sqlite stores the audit trail, approvals and chat history in an
// embedded SQLite database file, through the pure-Go modernc.org/sqlite
// driver.
//
// A Store keeps two connection pools on one file: a single writer
// connection, whose transactions start with BEGIN IMMEDIATE, and a pool of
// read-only connections. The database runs in WAL mode, so readers do not
// block the writer, and the writer does not block them. Other processes may
// open the same file. Their writes wait for each other up to the busy
// timeout instead of failing with "database is locked".
//
// Durability: the writer uses synchronous=NORMAL unless WithSynchronous
// sets another mode. In WAL mode that keeps the database consistent after a power
// loss or an operating system crash, but the transactions committed since
// the last checkpoint may be lost then. A crash of the process alone loses
// nothing that was committed.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/migrations"
	"github.com/agentaudit/agentaudit/tools"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DefaultPath is the conventional database file, in the working directory.
const DefaultPath = "agentaudit.db"

var (
	_ audit.Store         = (*Store)(nil)
	_ audit.Reader        = (*Store)(nil)
	_ tools.ApprovalStore = (*Store)(nil)
	_ agent.HistoryStore  = (*Store)(nil)
	_ migrations.Target   = (*Store)(nil)
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("sqlite: store is closed")

// ErrReadOnly is wrapped by the error of every method that writes to a
// Store opened with WithReadOnly(true).
var ErrReadOnly = errors.New("database was opened read-only")

// Store is an audit.Store, audit.Reader, tools.ApprovalStore and
// agent.HistoryStore on one SQLite database file. Its methods are safe for
// concurrent use, and several Stores, in one process or in several, may
// share one file.
type Store struct {
	path   string
	opts   options
	writer *sql.DB
	reader *sql.DB
	closed atomic.Bool

	// stmtMu guards insertStmts, the prepared multi-row INSERT statements
	// by row count.
	stmtMu      sync.Mutex
	insertStmts map[int]*sql.Stmt

	closeOnce sync.Once
	closeErr  error

	// fileID identifies the database file opened, when fileIDKnown is true.
	fileID      fileID
	fileIDKnown bool
}

// Open opens the SQLite database at path, creating the file when it does
// not exist unless WithCreate(false) is given, and applies the embedded
// migrations unless WithAutoMigrate(false) is given. The directory of path
// must exist.
//
// Open returns an error that names path when the directory is missing, the
// path is a directory, the file is missing and WithCreate(false) is given,
// the file is not a SQLite database, or the file or its directory is
// read-only. With WithReadOnly(true), see there.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if o.readOnly {
		return openReadOnly(ctx, path, o)
	}
	if err := checkPath(path, o.create); err != nil {
		return nil, err
	}

	s := &Store{path: path, opts: o, insertStmts: map[int]*sql.Stmt{}}

	// The writer connection sets WAL mode, which is stored in the file, so it
	// is opened and checked before the readers.
	writer, err := sql.Open("sqlite", dsn(path, o, false, false))
	if err != nil {
		return nil, openError(path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	s.writer = writer
	if err := s.checkWritable(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	// checkWritable created the file, if it was missing, so the file the
	// writer holds open is the one the path names now.
	if id, err := statFileID(path); err == nil {
		s.fileID, s.fileIDKnown = id, true
	}

	reader, err := sql.Open("sqlite", dsn(path, o, true, false))
	if err != nil {
		writer.Close()
		return nil, openError(path, err)
	}
	reader.SetMaxOpenConns(o.maxReadConns)
	reader.SetMaxIdleConns(o.maxReadConns)
	s.reader = reader

	if o.autoMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Path returns the path the Store was opened with.
func (s *Store) Path() string { return s.path }

// Migrate applies the embedded migrations that the database has not
// recorded in d1_migrations, in order, and returns the names of those it
// applied. Open calls it unless WithAutoMigrate(false) is given.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	if err := s.checkWrite("migrate"); err != nil {
		return nil, err
	}
	applied, err := migrations.Apply(ctx, s, migrations.SQLite())
	if err != nil {
		return applied, fmt.Errorf("sqlite: migrate %q: %w", s.path, err)
	}
	return applied, nil
}

// Close closes the database connections. Operations in progress finish
// first. Close is idempotent: calls after the first return nil.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closed.Store(true)

		s.stmtMu.Lock()
		var errs []error
		for n, st := range s.insertStmts {
			errs = append(errs, st.Close())
			delete(s.insertStmts, n)
		}
		s.stmtMu.Unlock()

		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		if s.writer != nil {
			errs = append(errs, s.writer.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close %q: %w", s.path, err)
		}
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// checkPath rejects paths that SQLite would fail on with a less helpful
// message, that are not files, or that name no file when create is false.
func checkPath(path string, create bool) error {
	switch {
	case path == "":
		return fmt.Errorf("sqlite: open: empty database path; pass a file path such as %q", DefaultPath)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return fmt.Errorf("sqlite: open %q: not a file path; pass the path of a database file (a file in a temporary directory serves for throwaway data)", path)
	}

	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: open %q: directory %q does not exist; create it first", path, dir)
	case err != nil:
		return fmt.Errorf("sqlite: open %q: %w", path, err)
	case !info.IsDir():
		return fmt.Errorf("sqlite: open %q: %q is not a directory; choose a path inside a directory", path, dir)
	}

	info, err = os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !create:
		return fmt.Errorf("sqlite: %w; pass the path of an existing database, or open it without WithCreate(false) to create it", &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist})
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("sqlite: open %q: %w", path, err)
	case info.IsDir():
		return fmt.Errorf("sqlite: open %q: path is a directory; pass the path of a database file inside it", path)
	}
	return nil
}

// checkWritable connects the writer and takes the write lock once, so that
// a file that is not a database, or that this process cannot write, fails
// Open rather than the first insert.
func (s *Store) checkWritable(ctx context.Context) error {
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return openError(s.path, err)
	}

	// BEGIN IMMEDIATE takes the write lock, which SQLite refuses on a
	// database it could open only for reading.
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return openError(s.path, err)
	}
	_, err = tx.ExecContext(ctx, "PRAGMA user_version = user_version")
	if rbErr := tx.Rollback(); err == nil && rbErr != nil {
		err = rbErr
	}
	if err != nil {
		return openError(s.path, err)
	}

	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: open %q: journal mode is %q, not WAL; check that the file and its directory are writable and not on a network file system", s.path, mode)
	}
	return nil
}

// openReadOnly opens the Store of Open with WithReadOnly(true): a reader
// pool alone, on a file opened in SQLite's read-only mode.
func openReadOnly(ctx context.Context, path string, o options) (*Store, error) {
	if err := checkPath(path, false); err != nil {
		return nil, err
	}
	s := &Store{path: path, opts: o, insertStmts: map[int]*sql.Stmt{}}
	reader, err := openReader(ctx, path, o, false)
	if err != nil && !walFilesExist(path) {
		// SQLite opens a WAL database read-only only where it can create
		// the -shm file, unless the URI marks the file immutable. A WAL
		// database without -wal and -shm files has no open connection.
		if r, immErr := openReader(ctx, path, o, true); immErr == nil {
			reader, err = r, nil
		}
	}
	if err != nil {
		return nil, err
	}
	s.reader = reader
	if err := s.checkSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openReader opens and connects a read-only pool on path, as immutable if
// immutable is true.
func openReader(ctx context.Context, path string, o options, immutable bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, o, true, immutable))
	if err != nil {
		return nil, readOnlyOpenError(path, err)
	}
	db.SetMaxOpenConns(o.maxReadConns)
	db.SetMaxIdleConns(o.maxReadConns)
	// sql.Open connects lazily; reading the schema connects and reads the
	// file, including the WAL index.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		db.Close()
		return nil, readOnlyOpenError(path, err)
	}
	return db, nil
}

// walFilesExist reports whether the -wal or -shm file of path exists.
func walFilesExist(path string) bool {
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(path + suffix); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// checkSchema returns an error when the database lacks one of the embedded
// migrations, which a read-only Store cannot apply.
func (s *Store) checkSchema(ctx context.Context) error {
	var n int
	err := s.reader.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", migrations.TrackingTable).Scan(&n)
	if err != nil {
		return openError(s.path, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: open %q read-only: the database has no agentaudit tables; run agentaudit migrate on it with write access first", s.path)
	}

	rows, err := s.reader.QueryContext(ctx, "SELECT name FROM "+migrations.TrackingTable)
	if err != nil {
		return openError(s.path, err)
	}
	defer rows.Close()
	done := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return openError(s.path, err)
		}
		done[name] = true
	}
	if err := rows.Err(); err != nil {
		return openError(s.path, err)
	}

	var missing []string
	for _, m := range migrations.SQLite() {
		if !done[m.Name] {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("sqlite: open %q read-only: the schema is older than this program expects and lacks %s; run agentaudit migrate on it with write access first", s.path, strings.Join(missing, ", "))
	}
	return nil
}

// checkWrite returns the error of write operation op on s: ErrClosed after
// Close, or one wrapping ErrReadOnly on a read-only Store. A retry cannot
// cure the latter, so it is permanent.
func (s *Store) checkWrite(op string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.readOnly {
		return audit.Permanent(fmt.Errorf("sqlite: %s in %q: %w; open it without WithReadOnly(true) to write", op, s.path, ErrReadOnly))
	}
	return nil
}

// dsn returns the modernc.org/sqlite data source name for path. Pragmas
// given as _pragma parameters run on every new connection, busy_timeout
// first. A read-only Store's readers open the file in mode ro, as
// immutable if immutable is true.
func dsn(path string, o options, readOnly, immutable bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	switch {
	case o.readOnly:
		q.Set("mode", "ro")
		if immutable {
			q.Set("immutable", "1")
		}
	case !o.create:
		// SQLite's URI mode rw opens an existing file only, so a file
		// removed after checkPath is not created again.
		q.Set("mode", "rw")
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+string(o.synchronous)+")")
		q.Set("_txlock", "immediate")
	}
	return "file:" + escapeURIPath(path) + "?" + q.Encode()
}

// escapeURIPath escapes the characters that end or escape the path part of
// an SQLite URI filename.
func escapeURIPath(path string) string {
	path = filepath.ToSlash(path)
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return r.Replace(path)
}
