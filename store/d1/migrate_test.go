package d1

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/migrations"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"two statements", "CREATE TABLE a (x);\nCREATE INDEX i ON a (x);\n", []string{"CREATE TABLE a (x)", "CREATE INDEX i ON a (x)"}},
		{"no final semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"comment-only tail dropped", "SELECT 1;\n-- done\n", []string{"SELECT 1"}},
		{"leading comment kept", "-- Migration number: 0001\nCREATE TABLE a (x);", []string{"-- Migration number: 0001\nCREATE TABLE a (x)"}},
		{"semicolon in string", "INSERT INTO a VALUES ('x;y');SELECT 2", []string{"INSERT INTO a VALUES ('x;y')", "SELECT 2"}},
		{"doubled quote in string", "INSERT INTO a VALUES ('it''s;');SELECT 2", []string{"INSERT INTO a VALUES ('it''s;')", "SELECT 2"}},
		{"semicolon in identifiers", "CREATE TABLE \"a;b\" (`c;d`, [e;f]);SELECT 2", []string{"CREATE TABLE \"a;b\" (`c;d`, [e;f])", "SELECT 2"}},
		{"semicolon in comments", "SELECT 1 -- not; here\n;/* nor; here */SELECT 2;", []string{"SELECT 1 -- not; here", "/* nor; here */SELECT 2"}},
		{"empty statements", ";;  ;\n", nil},
		{
			"trigger body",
			"CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; INSERT INTO c VALUES (CASE WHEN 1 THEN 2 END); END;\nSELECT 3;",
			[]string{"CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET n = n + 1; INSERT INTO c VALUES (CASE WHEN 1 THEN 2 END); END", "SELECT 3"},
		},
		{
			"temp trigger",
			"create temp trigger t after delete on a begin delete from b; end; select 4",
			[]string{"create temp trigger t after delete on a begin delete from b; end", "select 4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitStatements(tt.sql); !slices.Equal(got, tt.want) {
				t.Errorf("splitStatements(%q) = %q, want %q", tt.sql, got, tt.want)
			}
		})
	}
}

// TestMigrationsRunOnD1 checks the migration files for statements that D1
// rejects. The local engine tests run them for real.
func TestMigrationsRunOnD1(t *testing.T) {
	rejected := []struct {
		why string
		re  *regexp.Regexp
	}{
		{"D1 rejects transaction control; a batch request is the transaction", regexp.MustCompile(`(?is)^(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b`)},
		{"D1 does not authorise PRAGMA journal_mode", regexp.MustCompile(`(?i)PRAGMA\s+journal_mode`)},
		{"SQLite rejects ALTER TABLE ADD COLUMN with an expression default", regexp.MustCompile(`(?is)ALTER\s+TABLE.*ADD\s+(COLUMN\s+)?.*DEFAULT\s*\(`)},
	}
	ms := migrations.SQLite()
	if len(ms) == 0 {
		t.Fatal("migrations.SQLite() returned no migrations")
	}
	for _, m := range ms {
		stmts := splitStatements(m.SQL)
		if len(stmts) == 0 {
			t.Errorf("%s: no statements", m.Name)
		}
		for _, st := range stmts {
			code := strings.TrimSpace(regexp.MustCompile(`(?m)^\s*--.*$`).ReplaceAllString(st, ""))
			for _, r := range rejected {
				if r.re.MatchString(code) {
					t.Errorf("%s: statement %q: %s", m.Name, st, r.why)
				}
			}
		}
	}
}
