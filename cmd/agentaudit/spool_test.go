package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/spool"
	"github.com/agentaudit/agentaudit/internal/fixtures"
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

// TestProxyStopKeepsUnwrittenInSpool stops the proxy, as the first SIGINT
// does, while another connection holds the SQLite database locked. The
// calls it logged wait in the spool, and spool replay writes them once
// the lock is gone.
func TestProxyStopKeepsUnwrittenInSpool(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for SQLite's 10 s busy timeout; run without -short")
	}
	t.Parallel()
	body := fixtures.Read(t, "openai/chat-stream-include-usage.response.sse")
	up, target := newGatedUpstream(t, body)
	up.open()
	dsn, path := tempDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var stdout bytes.Buffer
	stderr := &syncWriter{w: &bytes.Buffer{}}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--db", dsn, "proxy", "--listen", "127.0.0.1:0", "--upstream", target.String(),
			"--provider", "openai", "--shutdown-timeout", "1s"}, &stdout, stderr)
	}()
	output := func() string {
		stderr.mu.Lock()
		defer stderr.mu.Unlock()
		return stderr.w.(*bytes.Buffer).String()
	}
	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if m := listenLine.FindStringSubmatch(output()); m != nil {
			base = "http://" + m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start line 10s after starting the proxy; stderr:\n%s", output())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Another connection takes the database's write lock, as another
	// process would.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("BEGIN EXCLUSIVE: %v", err)
	}

	const calls = 5
	for range calls {
		resp := postStream(t, context.Background(), base, "chat-locked")
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	cancel()
	select {
	case <-code:
	case <-time.After(time.Minute):
		t.Fatalf("proxy still running a minute after its context ended; stderr:\n%s", output())
	}
	if !strings.Contains(output(), fmt.Sprintf("%d audit entries wait in the spool", calls)) {
		t.Errorf("stderr does not say that %d entries wait in the spool:\n%s", calls, output())
	}
	if r := mustRun(t, "spool", "status", "--db", dsn); !strings.Contains(r.stdout, fmt.Sprintf("waiting       %d entries", calls)) {
		t.Errorf("spool status after the stop:\n%s\nwant %d entries waiting", r.stdout, calls)
	}

	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	mustRun(t, "spool", "replay", "--db", dsn)
	if got := len(readEntries(t, path, "chat-locked")); got != calls {
		t.Errorf("rows of chat-locked after spool replay = %d, want %d", got, calls)
	}
}
