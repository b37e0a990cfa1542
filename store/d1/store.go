// Package d1 stores the audit trail, approvals and chat history in a
// Cloudflare D1 database through Cloudflare's REST API, for agents that run
// outside a Worker and so cannot use a D1 binding.
//
// D1 rejects BEGIN and COMMIT, so the package never sends them: a batch
// request is D1's transaction. Writes stay within D1's limits of 100 bound
// parameters and 100,000 bytes of SQL per statement and 2,000,000 bytes per
// row. A Client sends at most 4 requests per second by default, which is
// the Cloudflare API's limit per token. An audit.Logger configured with
// RecommendedBatchSize, RecommendedFlushInterval and RecommendedQueueSize
// stays under that rate at 1,000 entries per second.
//
// The schema is the same wrangler-format migration files that SQLite uses,
// recorded in d1_migrations, so `wrangler d1 migrations apply` and Migrate
// agree on what is applied.
package d1

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"

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
	_ migrations.Target   = (*Store)(nil)
)

// ErrClosed is returned by every method of a Store after Close.
var ErrClosed = errors.New("d1: store is closed")

// Scheme is the scheme of the data source names Open accepts.
const Scheme = "d1"

// Store is an audit.Store, audit.Reader, tools.ApprovalStore and
// agent.HistoryStore on one D1 database. Its methods are safe for
// concurrent use and share the Client's rate limit.
type Store struct {
	client *Client
	cfg    config
	closed atomic.Bool
}

var (
	accountID  = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	databaseID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Open opens the D1 database that dsn names, d1://ACCOUNT_ID/DATABASE_ID,
// and applies the embedded migrations unless WithAutoMigrate(false) is
// given. The API token comes from WithToken or CLOUDFLARE_API_TOKEN, never
// from dsn.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	account, database, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	client, err := newClient(account, database, cfg)
	if err != nil {
		return nil, err
	}

	s := &Store{client: client, cfg: cfg}
	if cfg.autoMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			client.Close()
			return nil, err
		}
	}
	return s, nil
}

// ParseDSN returns the account and database ids of a data source name of
// the form d1://ACCOUNT_ID/DATABASE_ID, or an error that names the value
// and the expected form.
func ParseDSN(dsn string) (account, database string, err error) {
	const form = "d1://ACCOUNT_ID/DATABASE_ID, with the ids that the Cloudflare dashboard or `wrangler d1 list` shows"
	prefix := Scheme + "://"
	if len(dsn) < len(prefix) || !strings.EqualFold(dsn[:len(prefix)], prefix) {
		return "", "", fmt.Errorf("d1: data source name %q does not start with d1://; pass %s", dsn, form)
	}
	rest := dsn[len(prefix):]
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		// The query may hold a token, so it is left out of the message.
		return "", "", fmt.Errorf("d1: data source name %q has a query or fragment, which is not supported; pass %s and the API token in %s", Scheme+"://"+rest[:i], form, TokenEnv)
	}
	var ok bool
	account, database, ok = strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	if !ok || account == "" || database == "" || strings.Contains(database, "/") {
		return "", "", fmt.Errorf("d1: data source name %q is not of the form %s", dsn, form)
	}
	if err := checkIDs(account, database); err != nil {
		return "", "", fmt.Errorf("d1: data source name %q: %w", dsn, err)
	}
	return account, database, nil
}

// checkIDs rejects ids that cannot be a Cloudflare account id (32
// hexadecimal digits) or a D1 database id (a UUID), such as the two swapped.
func checkIDs(account, database string) error {
	if !accountID.MatchString(account) {
		return fmt.Errorf("account id %q is not 32 hexadecimal digits; copy it from the Cloudflare dashboard", account)
	}
	if !databaseID.MatchString(database) {
		return fmt.Errorf("database id %q is not a UUID; copy it from `wrangler d1 list` (the database name does not work)", database)
	}
	return nil
}

// Client returns the REST client the Store sends its statements through.
func (s *Store) Client() *Client { return s.client }

// DSN returns the data source name of the database, d1://ACCOUNT/DATABASE.
func (s *Store) DSN() string {
	return Scheme + "://" + s.client.account + "/" + s.client.database
}

// Migrate applies the embedded migrations that the database has not
// recorded in d1_migrations, in order, and returns the names of those it
// applied. Open calls it unless WithAutoMigrate(false) is given.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	applied, err := migrations.Apply(ctx, s, migrations.SQLite())
	if err != nil {
		return applied, fmt.Errorf("d1: migrate %s: %w", s.DSN(), err)
	}
	return applied, nil
}

// Close marks the Store closed, so that later calls return ErrClosed, and
// closes idle connections. Requests in progress are not interrupted. Close
// is idempotent and returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.client.Close()
	return nil
}
