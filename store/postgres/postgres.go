// Package postgres stores the audit trail, approvals and chat history in a
// PostgreSQL database through a pgx connection pool, so that agents running
// as many processes on many machines share one trail.
//
// Open connects, applies the embedded migrations under an advisory lock and
// returns a Store that is safe for concurrent use. Batches of entries are
// inserted idempotently: small ones with one INSERT of unnested arrays,
// large ones with COPY into a temporary table followed by one
// INSERT ... SELECT, both with ON CONFLICT (id) DO NOTHING.
//
// # Errors
//
// Errors a retry may cure are returned without *audit.PermanentError, so
// that the audit Logger retries them. They are a refused or dropped
// connection, a server shutting down or starting up (SQLSTATE class 08,
// 57P01 to 57P03), a serialization failure or deadlock, and a lack of
// resources. Errors no retry can cure, such as a missing table, a failed
// login or a missing database, wrap *audit.PermanentError.
//
// Errors about one row's values (SQLSTATE classes 22 data exception, 23
// integrity constraint violation and 54 program limit exceeded) make
// InsertEntries split the batch until it finds the rows at fault. It writes
// the others and returns a *audit.RejectedError that lists the rejected ids.
//
// # Values PostgreSQL rejects
//
// PostgreSQL's text type cannot hold the byte 0x00, and its jsonb type
// rejects the JSON escape \u0000 and escapes of unpaired UTF-16 surrogates.
// The Store makes such values storable instead of losing the row:
//
//   - In metadata, the escape \u0000 becomes \\u0000, so the stored string
//     holds the six visible characters \u0000 where the NUL character was.
//     This keeps the fact that a NUL was there, which U+FFFD would blur with
//     invalid UTF-8. An escaped unpaired surrogate becomes \ufffd, the
//     character Go's encoding/json decodes it to.
//   - In text columns (chat IDs, approvals, chat history), invalid UTF-8 and
//     NUL bytes become U+FFFD. Filters and lookups by chat ID or approval ID
//     apply the same rule, so a value finds the rows it was stored under.
//
// jsonb also stores metadata in its own form: Entries returns it compacted,
// with keys in jsonb's order (shorter keys first), not the order written.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/migrations"
	"github.com/agentaudit/agentaudit/tools"
)

var (
	_ audit.Store         = (*Store)(nil)
	_ audit.Reader        = (*Store)(nil)
	_ tools.ApprovalStore = (*Store)(nil)
	_ agent.HistoryStore  = (*Store)(nil)
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("postgres: store is closed")

// Store is an audit.Store, audit.Reader, tools.ApprovalStore and
// agent.HistoryStore on one PostgreSQL database. Its methods are safe for
// concurrent use, and any number of Stores, in one process or in many, may
// share one database.
type Store struct {
	pool   *pgxpool.Pool
	opts   options
	target string // host:port/database, for error messages
	closed atomic.Bool
}

// Open connects to the PostgreSQL database that dsn names and, unless
// WithAutoMigrate(false) is given, applies the embedded migrations. dsn is
// a URL (postgres://user@host:port/database?sslmode=disable) or a
// key=value string, as pgx parses it; a search_path parameter selects the
// schema that holds the tables.
//
// Open returns an error when dsn is invalid, an option is out of range, or
// the server cannot be reached or migrated. The error names the host and
// database, never the password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password in the connection string it quotes.
		return nil, fmt.Errorf("postgres: open: invalid connection string; pass a URL such as postgres://user@127.0.0.1:5432/agentaudit?sslmode=disable: %w", err)
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = o.connectTimeout
	}

	s := &Store{
		opts:   o,
		target: fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database),
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", s.target, err)
	}

	if o.autoMigrate {
		_, err = s.Migrate(ctx)
	} else {
		err = s.ping(ctx)
	}
	if err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies the embedded migrations that the database has not
// recorded in d1_migrations, in order, and returns the names of those it
// applied. Open calls it unless WithAutoMigrate(false) is given.
//
// The migrations run in one transaction that first takes a transaction-level
// advisory lock, so processes that migrate one database at once apply each
// migration once: the others wait for the lock, then find it recorded.
// A failed migration leaves the database as it was.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}

	var applied []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return err
		}
		var err error
		applied, err = migrations.Apply(ctx, txTarget{tx}, migrations.Postgres())
		return err
	})
	if err != nil {
		return nil, s.wrapError("migrate", err)
	}
	return applied, nil
}

// Close closes the connection pool, waiting for connections in use to be
// released. Close is idempotent and always returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.pool.Close()
	return nil
}

// ping checks that the server accepts a connection.
func (s *Store) ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.wrapError("connect", err)
	}
	return nil
}
