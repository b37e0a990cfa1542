package d1

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentaudit/agentaudit/migrations"
)

// AppliedMigrations returns the migration file names recorded in
// d1_migrations, creating the table as wrangler does when it is missing.
// It implements migrations.Target.
func (s *Store) AppliedMigrations(ctx context.Context) (map[string]bool, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	results, err := s.client.batch(ctx, []Statement{
		{SQL: migrations.CreateTrackingTableSQL},
		{SQL: "SELECT name FROM " + migrations.TrackingTable},
	}, retryAll)
	if err != nil {
		return nil, fmt.Errorf("d1: read %s of %s: %w", migrations.TrackingTable, s.DSN(), err)
	}
	var rows []struct {
		Name string `json:"name"`
	}
	if err := results[1].Decode(&rows); err != nil {
		return nil, fmt.Errorf("d1: read %s of %s: %w", migrations.TrackingTable, s.DSN(), err)
	}
	done := make(map[string]bool, len(rows))
	for _, r := range rows {
		done[r.Name] = true
	}
	return done, nil
}

// ApplyMigration runs m's statements and records m.Name in d1_migrations in
// one batch request, which D1 runs as one transaction, as
// `wrangler d1 migrations apply` records it. When another process recorded
// m.Name after AppliedMigrations read the table, it does nothing. It
// implements migrations.Target.
func (s *Store) ApplyMigration(ctx context.Context, m migrations.Migration) error {
	if s.closed.Load() {
		return ErrClosed
	}
	var stmts []Statement
	for _, sql := range splitStatements(m.SQL) {
		stmts = append(stmts, Statement{SQL: sql})
	}
	stmts = append(stmts, Statement{
		SQL:    "INSERT INTO " + migrations.TrackingTable + " (name) VALUES (?)",
		Params: []any{m.Name},
	})

	_, err := s.client.batch(ctx, stmts, retryAll)
	if err == nil {
		return nil
	}

	// A retried request that had run, or another process, may have
	// recorded the migration first; the name's UNIQUE constraint then
	// rolled this batch back.
	if isRowError(err) {
		if done, readErr := s.AppliedMigrations(ctx); readErr == nil && done[m.Name] {
			return nil
		}
	}
	return fmt.Errorf("d1: apply migration %s to %s: %w", m.Name, s.DSN(), err)
}

// splitStatements splits a migration file into its SQL statements, because
// a batch request carries one statement per entry. It skips semicolons
// inside quotes, comments and the BEGIN ... END body of CREATE TRIGGER. Statements that hold only comments
// are dropped.
func splitStatements(sql string) []string {
	var (
		out       []string
		start     int
		hasCode   bool
		words     []string // the first words of the statement, upper case
		inBody    bool     // inside a trigger's BEGIN ... END
		caseDepth int      // open CASE expressions inside a trigger body
		bodyDone  bool     // the trigger body's END has been seen
	)
	isTrigger := func() bool {
		return len(words) >= 2 && words[0] == "CREATE" &&
			(words[1] == "TRIGGER" || (len(words) >= 3 && (words[1] == "TEMP" || words[1] == "TEMPORARY") && words[2] == "TRIGGER"))
	}
	finish := func(end int) {
		if hasCode {
			out = append(out, strings.TrimSpace(sql[start:end]))
		}
		start, hasCode, words, inBody, caseDepth, bodyDone = end+1, false, nil, false, 0, false
	}

	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = len(sql)
			} else {
				i += end + 3
			}
		case c == '\'' || c == '"' || c == '`' || c == '[':
			hasCode = true
			closer := c
			if c == '[' {
				closer = ']'
			}
			for i++; i < len(sql); i++ {
				if sql[i] != closer {
					continue
				}
				// A doubled quote inside a string or identifier is an
				// escaped quote.
				if closer != ']' && i+1 < len(sql) && sql[i+1] == closer {
					i++
					continue
				}
				break
			}
		case c == ';':
			if !inBody || bodyDone {
				finish(i)
			}
		case isWordStart(c):
			hasCode = true
			j := i
			for j < len(sql) && isWordPart(sql[j]) {
				j++
			}
			word := strings.ToUpper(sql[i:j])
			i = j - 1
			if len(words) < 3 {
				words = append(words, word)
			}
			switch {
			case !inBody && word == "BEGIN" && isTrigger():
				inBody = true
			case inBody && !bodyDone && word == "CASE":
				caseDepth++
			case inBody && !bodyDone && word == "END":
				if caseDepth > 0 {
					caseDepth--
				} else {
					bodyDone = true
				}
			}
		case c != ' ' && c != '\t' && c != '\n' && c != '\r':
			hasCode = true
		}
	}
	finish(len(sql))
	return out
}

func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWordPart(c byte) bool {
	return isWordStart(c) || c >= '0' && c <= '9' || c == '$'
}
