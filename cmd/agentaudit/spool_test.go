package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/spool"
)

func TestDefaultSpoolDir(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	home := env(map[string]string{"HOME": "/home/ada"})
	state := env(map[string]string{"HOME": "/home/ada", "XDG_STATE_HOME": "/var/state"})
	tests := []struct {
		dsn    string
		getenv func(string) string
		want   string
	}{
		{"sqlite:agentaudit.db", home, "agentaudit.db.spool"},
		{"sqlite:///srv/audit/trail.db", home, "/srv/audit/trail.db.spool"},
		{"/srv/audit/trail.sqlite3", home, "/srv/audit/trail.sqlite3.spool"},
		{"postgres://app:s3cret@db.internal:5432/audit?sslmode=disable", home,
			"/home/ada/.local/state/agentaudit/spool/postgres-app@db.internal-5432-audit"},
		{"postgresql://db.internal/audit", state, "/var/state/agentaudit/spool/postgresql-db.internal-audit"},
		{"d1://0123abcd/9f8e-7d6c", state, "/var/state/agentaudit/spool/d1-0123abcd-9f8e-7d6c"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got, err := defaultSpoolDir(tt.dsn, tt.getenv)
			if err != nil || got != tt.want {
				t.Errorf("defaultSpoolDir(%q) = %q, %v; want %q", tt.dsn, got, err, tt.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("defaultSpoolDir(%q) = %q shows the password", tt.dsn, got)
			}
		})
	}

	if _, err := defaultSpoolDir("postgres://db/audit", env(nil)); err == nil || !strings.Contains(err.Error(), "--spool") {
		t.Errorf("defaultSpoolDir() without HOME = %v, want an error suggesting --spool", err)
	}
}

// spoolEntries puts n tool_execution entries of chat chatID in the spool
// folder dir, as a command that could not reach the database would.
func spoolEntries(t *testing.T, dir, chatID string, n int) {
	t.Helper()
	sp, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]audit.Entry, n)
	for i := range entries {
		entries[i] = audit.Entry{
			ID:        audit.NewID(),
			Type:      audit.TypeToolExecution,
			ChatID:    chatID,
			CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
			Metadata:  json.RawMessage(fmt.Sprintf(`{"toolName":"read_file","status":"success","inputSummary":"{\"n\":%d}","inputBytes":7,"durationMs":2}`, i)),
		}
	}
	if got, err := sp.Append(entries); err != nil || got != n {
		t.Fatalf("Append() = %d, %v", got, err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolStatusAndReplay(t *testing.T) {
	dsn, path := tempDB(t)
	mustRun(t, "migrate", "--db", dsn)
	dir := path + ".spool"
	spoolEntries(t, dir, "chat-spooled", 3)

	r := mustRun(t, "spool", "status", "--db", dsn)
	for _, want := range []string{dir, "waiting       3 entries in 1 segments", "dead letters  0", "in use        no"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("spool status output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = mustRun(t, "spool", "replay", "--db", dsn)
	if !strings.Contains(r.stdout, "replayed 3 of 3 entries") {
		t.Errorf("spool replay output = %q, want it to report 3 of 3 replayed", r.stdout)
	}
	if got := len(readEntries(t, path, "chat-spooled")); got != 3 {
		t.Errorf("rows of the spooled chat = %d, want 3", got)
	}
	r = mustRun(t, "spool", "status", "--db", dsn)
	if !strings.Contains(r.stdout, "waiting       0 entries in 0 segments") {
		t.Errorf("spool status after the replay:\n%s\nwant 0 entries waiting", r.stdout)
	}

	// A second replay finds nothing and changes nothing.
	r = mustRun(t, "spool", "replay", "--db", dsn)
	if !strings.Contains(r.stdout, "replayed 0 of 0 entries") {
		t.Errorf("second spool replay output = %q, want 0 of 0", r.stdout)
	}
}

func TestCommandReplaysSpoolAtStart(t *testing.T) {
	dsn, path := tempDB(t)
	mustRun(t, "migrate", "--db", dsn)
	spoolEntries(t, path+".spool", "chat-earlier", 5)

	// Any command that writes the trail writes what an earlier run left.
	mustRun(t, "demo", "--db", dsn, "--sandbox", filepath.Join(t.TempDir(), "files"))
	if got := len(readEntries(t, path, "chat-earlier")); got != 5 {
		t.Errorf("rows of the earlier chat after demo = %d, want 5", got)
	}
	info, err := os.Stat(path + ".spool")
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("spool folder mode = %v, want 0700", got)
	}
	segs, _ := filepath.Glob(filepath.Join(path+".spool", "*.seg"))
	if len(segs) != 0 {
		t.Errorf("segments after demo = %v, want none", segs)
	}
}

func TestSpoolFlags(t *testing.T) {
	dsn, path := tempDB(t)
	custom := filepath.Join(t.TempDir(), "custom-spool")

	mustRun(t, "demo", "--db", dsn, "--no-spool", "--sandbox", filepath.Join(t.TempDir(), "a"))
	if _, err := os.Stat(path + ".spool"); !os.IsNotExist(err) {
		t.Errorf("demo --no-spool created %s.spool (stat: %v), want no spool folder", path, err)
	}
	mustRun(t, "demo", "--db", dsn, "--spool", custom, "--spool-sync", "always", "--sandbox", filepath.Join(t.TempDir(), "b"))
	if _, err := os.Stat(filepath.Join(custom, "lock")); err != nil {
		t.Errorf("demo --spool %s did not use that folder: %v", custom, err)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"both spool flags", []string{"demo", "--db", dsn, "--spool", custom, "--no-spool"}, "contradict"},
		{"unknown sync mode", []string{"demo", "--db", dsn, "--spool-sync", "sometimes"}, `invalid --spool-sync "sometimes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append(tt.args, "--sandbox", filepath.Join(t.TempDir(), "c"))...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestSpoolReplayWhileInUse(t *testing.T) {
	dsn, path := tempDB(t)
	mustRun(t, "migrate", "--db", dsn)
	sp, err := spool.Open(path + ".spool")
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()

	r := runCLI(t, "spool", "replay", "--db", dsn)
	if r.code != 1 || !strings.Contains(r.stderr, "in use by another process") {
		t.Errorf("spool replay of a spool in use: exit %d, stderr %q; want exit 1 saying it is in use", r.code, r.stderr)
	}
	r = mustRun(t, "spool", "status", "--db", dsn)
	if !strings.Contains(r.stdout, "in use        yes") {
		t.Errorf("spool status of a spool in use:\n%s\nwant it marked in use", r.stdout)
	}
}
