// Package store opens the database behind the audit trail, the approvals and
// the chat history from one data source name, whichever backend it names.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/d1"
	"github.com/agentaudit/agentaudit/store/postgres"
	"github.com/agentaudit/agentaudit/store/sqlite"
	"github.com/agentaudit/agentaudit/tools"
)

// Backend is one database that keeps everything the runtime stores: audit
// entries, approvals and chat history. Close closes it.
type Backend interface {
	audit.Store
	audit.Reader
	tools.ApprovalStore
	agent.HistoryStore
	// Migrate applies the schema migrations the database lacks and returns
	// the names of those it applied, in order.
	Migrate(ctx context.Context) ([]string, error)
}

// ErrUnsupported is returned by Open, wrapped with the value, for a data
// source name that names no supported backend.
var ErrUnsupported = errors.New("store: unsupported database")

// AcceptedForms lists the data source names Open accepts, for error and
// help texts.
const AcceptedForms = `sqlite:PATH, a PATH ending in .db, .sqlite or .sqlite3, postgres://USER@HOST:PORT/DATABASE, or d1://ACCOUNT_ID/DATABASE_ID`

// Option configures Open.
type Option func(*config)

type config struct {
	autoMigrate bool
	create      bool
	readOnly    bool
	logger      *slog.Logger
}

// WithAutoMigrate sets whether Open applies the schema migrations the
// database lacks. The default is true.
func WithAutoMigrate(on bool) Option {
	return func(c *config) { c.autoMigrate = on }
}

// WithLogger sets the logger that a D1 backend reports retries and
// Retry-After waits (level Warn) and a rejected API token (level Error) to.
// The default discards them. SQLite and PostgreSQL log nothing, so it
// changes nothing for them. A nil l keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithCreate sets whether Open creates a SQLite database file that does
// not exist. The default is true. With false, Open of a missing file
// returns an error that wraps an *fs.PathError for fs.ErrNotExist, so that
// a reading command given a mistyped path fails. PostgreSQL and D1
// databases are never created by Open, so it changes nothing for them.
func WithCreate(on bool) Option {
	return func(c *config) { c.create = on }
}

// WithReadOnly sets whether Open opens a SQLite database for reading only,
// so that a user who may only read the file, or a file on a read-only
// mount, can be read. The default is false. With true, Open neither
// creates the file nor applies migrations, fails when the schema is older
// than this program expects, and every write returns an error. PostgreSQL
// and D1 access is governed by their credentials, so it changes nothing
// for them.
func WithReadOnly(on bool) Option {
	return func(c *config) { c.readOnly = on }
}

// Open opens the database that dsn names:
//
//   - sqlite:PATH (or sqlite://PATH) opens the SQLite file PATH, creating it
//     when it does not exist unless WithCreate(false) is given;
//   - a bare PATH ending in .db, .sqlite or .sqlite3 is the same as
//     sqlite:PATH;
//   - postgres://... or postgresql://... connects to PostgreSQL; the URL
//     is passed to pgx as it is, so its parameters (sslmode, search_path,
//     pool_max_conns) apply.
//   - d1://ACCOUNT_ID/DATABASE_ID writes to Cloudflare D1 through its REST
//     API, with the token in CLOUDFLARE_API_TOKEN.
//
// Any other form returns an error that names dsn, with its password
// hidden, and lists the accepted forms.
func Open(ctx context.Context, dsn string, opts ...Option) (Backend, error) {
	c := config{autoMigrate: true, create: true}
	for _, opt := range opts {
		opt(&c)
	}

	scheme, rest := splitScheme(dsn)
	switch scheme {
	case "sqlite":
		return openSQLite(ctx, dsn, rest, c)
	case "postgres", "postgresql":
		return openPostgres(ctx, dsn, c)
	case d1.Scheme:
		return openD1(ctx, dsn, c)
	case "":
		if isSQLitePath(dsn) {
			return openSQLite(ctx, dsn, dsn, c)
		}
		if dsn == "" {
			return nil, fmt.Errorf("%w: the name is empty; pass %s", ErrUnsupported, AcceptedForms)
		}
		return nil, fmt.Errorf("%w %q: it has no scheme and does not end in .db; pass %s", ErrUnsupported, dsn, AcceptedForms)
	default:
		return nil, fmt.Errorf("%w %q: scheme %q is not supported; pass %s", ErrUnsupported, redact(dsn), scheme, AcceptedForms)
	}
}

// LoggerOptions returns the audit.Logger options that suit the backend dsn
// names: for D1, batches large enough to stay within its API request rate
// limit. It returns none for the other backends, whose Logger defaults fit.
func LoggerOptions(dsn string) []audit.Option {
	scheme, _ := splitScheme(dsn)
	if scheme == d1.Scheme {
		return d1.LoggerOptions()
	}
	return nil
}

func openSQLite(ctx context.Context, dsn, path string, c config) (Backend, error) {
	path = strings.TrimPrefix(path, "//")
	if path == "" {
		return nil, fmt.Errorf("store: database %q names no file; pass sqlite:PATH, such as sqlite:agentaudit.db", dsn)
	}
	s, err := sqlite.Open(ctx, path, sqlite.WithAutoMigrate(c.autoMigrate), sqlite.WithCreate(c.create), sqlite.WithReadOnly(c.readOnly))
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openPostgres(ctx context.Context, dsn string, c config) (Backend, error) {
	s, err := postgres.Open(ctx, dsn, postgres.WithAutoMigrate(c.autoMigrate))
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openD1(ctx context.Context, dsn string, c config) (Backend, error) {
	s, err := d1.Open(ctx, dsn, d1.WithAutoMigrate(c.autoMigrate), d1.WithLogger(c.logger))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// splitScheme splits "scheme:rest" into its parts. A dsn without a
// scheme, including a path that contains a colon after a slash, returns ""
// and the dsn.
func splitScheme(dsn string) (scheme, rest string) {
	i := strings.IndexByte(dsn, ':')
	if i <= 0 {
		return "", dsn
	}
	scheme = dsn[:i]
	for j, r := range scheme {
		isLetter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		isOther := r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'
		if !isLetter && (j == 0 || !isOther) {
			return "", dsn
		}
	}
	return strings.ToLower(scheme), dsn[i+1:]
}

func isSQLitePath(dsn string) bool {
	switch strings.ToLower(filepath.Ext(dsn)) {
	case ".db", ".sqlite", ".sqlite3":
		return true
	}
	return false
}

// redact hides the password of a URL-shaped dsn.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}
