package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentaudit/agentaudit/audit"
)

// errorKind is the class of a server error, by what a caller can do about
// it.
type errorKind int

const (
	// kindTransient errors may pass on retry: the connection or the server
	// failed, not the statement.
	kindTransient errorKind = iota
	// kindRow errors are about the values of one row; the other rows of its
	// batch can still be written.
	kindRow
	// kindPermanent errors recur on every retry until someone changes the
	// database or the configuration.
	kindPermanent
)

// sqlState returns err's SQLSTATE code, or "" when err does not come from
// the server.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// classify sorts err by SQLSTATE class (PostgreSQL manual, appendix A).
// Errors without a code, such as a refused connection or a connection
// closed under a query, are transient.
func classify(err error) errorKind {
	code := sqlState(err)
	if len(code) != 5 {
		return kindTransient
	}
	switch code[:2] {
	case "22", // data exception: invalid JSON, an untranslatable character
		"23", // integrity constraint violation: a CHECK or NOT NULL
		"54": // program limit exceeded: a value too large for an index row
		return kindRow
	case "28", // invalid authorization specification
		"3D", // invalid catalog name: the database does not exist
		"3F", // invalid schema name
		"42", // syntax error or access rule violation: a missing table
		"0A": // feature not supported
		return kindPermanent
	}
	// Class 08 (connection exception), 40 (transaction rollback), 53
	// (insufficient resources), 57 (operator intervention, such as 57P01
	// admin_shutdown) and 58 (system error) are transient, and so is anything
	// not listed above.
	return kindTransient
}

// wrapError adds the operation, the server and a hint to err, and marks it
// permanent when no retry can cure it. Context errors pass through wrapped,
// so that errors.Is still finds them.
func (s *Store) wrapError(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("postgres: %s on %s: %w", op, s.target, err)
	}

	code := sqlState(err)
	hint := ""
	switch {
	case code == "":
		hint = "check that the server is running and reachable"
	case code == "42P01" || code == "42703":
		hint = "the schema is missing or out of date; run Migrate or open with WithAutoMigrate(true)"
	case code == "42501":
		hint = "the database user lacks a privilege; grant it or connect as another user"
	case code == "3D000":
		hint = "the database does not exist; create it or fix the database name in the connection string"
	case strings.HasPrefix(code, "28"):
		hint = "the server rejected the login; check the user and password in the connection string"
	}

	var wrapped error
	if hint == "" {
		wrapped = fmt.Errorf("postgres: %s on %s: %w", op, s.target, err)
	} else {
		wrapped = fmt.Errorf("postgres: %s on %s: %s: %w", op, s.target, hint, err)
	}
	if classify(err) == kindPermanent {
		return audit.Permanent(wrapped)
	}
	return wrapped
}
