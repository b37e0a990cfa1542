package postgres_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/store/postgres"
)

// The multi-process test re-runs the test binary as child writers; these
// variables tell a child what to do.
const (
	childEnv      = "AGENTAUDIT_POSTGRES_TEST_CHILD" // the child's number
	childDSNEnv   = "AGENTAUDIT_POSTGRES_TEST_DSN"
	childCountEnv = "AGENTAUDIT_POSTGRES_TEST_COUNT"
)

func TestLoggerHardInputs(t *testing.T) {
	dsn := testSchema(t)
	s, err := postgres.Open(testContext(t, time.Minute), dsn)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	reader := openStore(t, dsn)
	ctx := testContext(t, time.Minute)

	l := audit.New(s)
	chat := `chat'); DELETE FROM audit_logs; --` + "\x00\xff"
	logCtx := audit.WithChatID(ctx, chat)
	inputs := []struct {
		name  string
		input any
		// want is the input summary as stored and read back.
		want string
	}{
		{"nul and invalid utf-8 in raw text", json.RawMessage("{\"cmd\":\"a\x00b\xff\"}"), `"{\"cmd\":\"a\u0000b` + "\uFFFD" + `\"}"`},
		{"nul escape in valid json", json.RawMessage(`{"cmd":"a\u0000b"}`), `{"cmd":"a\u0000b"}`},
		{"go string with nul", map[string]string{"cmd": "a\x00b"}, `{"cmd":"a\u0000b"}`},
	}
	for _, in := range inputs {
		err := l.Log(logCtx, &audit.ToolExecution{
			ToolName: "shell\x00", // NUL reaches metadata as the escape \u0000
			Status:   audit.StatusError,
			Error:    "exit\x00status 1",
			Input:    in.input,
		})
		if err != nil {
			t.Fatalf("Log(%s) = %v", in.name, err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if st := l.Stats(); st.Written != uint64(len(inputs)) || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("Stats() = %+v, want %d written, none failed or dropped", st, len(inputs))
	}

	got, err := reader.Entries(ctx, audit.Filter{ChatID: chat})
	if err != nil {
		t.Fatalf("Entries(ChatID: %q) = %v", chat, err)
	}
	if len(got) != len(inputs) {
		t.Fatalf("Entries(ChatID: %q) returned %d entries, want %d", chat, len(got), len(inputs))
	}
	wantChat := `chat'); DELETE FROM audit_logs; --` + "\uFFFD\uFFFD"
	for i, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			var meta audit.ToolExecution
			if err := json.Unmarshal(got[i].Metadata, &meta); err != nil {
				t.Fatalf("metadata %s: %v", got[i].Metadata, err)
			}
			if meta.InputSummary != in.want {
				t.Errorf("inputSummary = %s, want %s", meta.InputSummary, in.want)
			}
			if meta.ToolName != `shell\u0000` {
				t.Errorf("toolName = %q, want the NUL kept as the text \\u0000", meta.ToolName)
			}
			if meta.Error != `exit\u0000status 1` {
				t.Errorf("error = %q, want the NUL kept as the text \\u0000", meta.Error)
			}
			if got[i].ChatID != wantChat {
				t.Errorf("ChatID = %q, want %q", got[i].ChatID, wantChat)
			}
		})
	}
}

// TestLoggerManyProcesses runs 8 processes that each log 20,000 entries
// through their own Logger into one database at once.
func TestLoggerManyProcesses(t *testing.T) {
	const processes, perProcess = 8, 20_000
	dsn := testSchema(t)
	openStore(t, dsn) // migrate once, so the children race only on inserts
	ctx := testContext(t, 10*time.Minute)

	var wg sync.WaitGroup
	for p := range processes {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(),
				childEnv+"="+strconv.Itoa(p),
				childDSNEnv+"="+dsn,
				childCountEnv+"="+strconv.Itoa(perProcess),
			)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child %d: %v\n%s", p, err, out)
				return
			}
			var st audit.Stats
			line := lastLine(out)
			if err := json.Unmarshal([]byte(line), &st); err != nil {
				t.Errorf("child %d printed %q, want its Stats as JSON: %v", p, line, err)
				return
			}
			if st.Written != perProcess || st.Dropped != 0 || st.Failed != 0 {
				t.Errorf("child %d Stats = %+v, want %d written, none dropped or failed", p, st, perProcess)
			}
		})
	}
	wg.Wait()

	if n := queryInt(t, dsn, "SELECT count(*) FROM audit_logs"); n != processes*perProcess {
		t.Errorf("audit_logs has %d rows, want %d", n, processes*perProcess)
	}
	if n := queryInt(t, dsn, "SELECT count(DISTINCT id) FROM audit_logs"); n != processes*perProcess {
		t.Errorf("audit_logs has %d distinct ids, want %d", n, processes*perProcess)
	}
	for p := range processes {
		chat := fmt.Sprintf("process-%d", p)
		if n := queryInt(t, dsn, "SELECT count(*) FROM audit_logs WHERE chat_id = $1", chat); n != perProcess {
			t.Errorf("chat %s has %d rows, want %d", chat, n, perProcess)
		}
	}
}

// runChild logs the entries of one child process of TestLoggerManyProcesses
// and prints the Logger's Stats as JSON on its last line. It returns the
// exit code.
func runChild() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "child %s: "+format+"\n", append([]any{os.Getenv(childEnv)}, args...)...)
		return 1
	}
	n, err := strconv.Atoi(os.Getenv(childCountEnv))
	if err != nil {
		return fail("%s: %v", childCountEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	s, err := postgres.Open(ctx, os.Getenv(childDSNEnv))
	if err != nil {
		return fail("Open() = %v", err)
	}
	// Log waits for room rather than dropping, so the count is exact.
	l := audit.New(s, audit.WithBlock(time.Minute), audit.WithBatchSize(256))
	logCtx := audit.WithChatID(ctx, "process-"+os.Getenv(childEnv))
	for i := range n {
		err := l.Log(logCtx, &audit.ToolExecution{
			ToolName:   "search",
			Status:     audit.StatusSuccess,
			DurationMs: int64(i % 100),
			Input:      json.RawMessage(`{"query":"weather in Paris","page":` + strconv.Itoa(i) + `}`),
		})
		if err != nil {
			return fail("Log() entry %d = %v", i, err)
		}
	}
	if err := l.Close(ctx); err != nil {
		return fail("Close() = %v", err)
	}
	b, _ := json.Marshal(l.Stats())
	fmt.Println(string(b))
	return 0
}

func lastLine(b []byte) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	return last
}

// TestLoggerServerRestart restarts a PostgreSQL server of its own while a
// Logger writes to it: the Logger must retry through the outage, and after
// Close every entry Log accepted must be in the table, once.
func TestLoggerServerRestart(t *testing.T) {
	serverURL(t) // the same skip rule as the other tests
	server := startServer(t)
	ctx := testContext(t, 5*time.Minute)

	s, err := postgres.Open(ctx, server.url)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	l := audit.New(s,
		audit.WithBlock(time.Minute),
		audit.WithBatchSize(32),
		audit.WithFlushInterval(10*time.Millisecond),
		audit.WithMaxRetries(1000),
		audit.WithRetryBackoff(20*time.Millisecond, 500*time.Millisecond),
	)

	// One goroutine logs until stop is closed, counting what Log accepted.
	var (
		accepted atomic.Uint64
		stop     = make(chan struct{})
		stopOnce sync.Once
		stopped  = make(chan struct{})
	)
	stopLogging := func() {
		stopOnce.Do(func() { close(stop) })
		<-stopped
	}
	// On an early failure, stop the goroutine and the Logger all the same.
	t.Cleanup(func() {
		stopLogging()
		l.Close(context.Background())
	})
	go func() {
		defer close(stopped)
		logCtx := audit.WithChatID(ctx, "restart")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := l.Log(logCtx, &audit.ToolExecution{ToolName: "t", Status: audit.StatusSuccess, Input: i})
			if err != nil {
				t.Errorf("Log() entry %d = %v", i, err)
				return
			}
			accepted.Add(1)
		}
	}()
	waitWritten := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for l.Stats().Written < n {
			if time.Now().After(deadline) {
				t.Fatalf("Stats() = %+v after 2m, want at least %d written", l.Stats(), n)
			}
			select {
			case <-stopped:
				t.Fatalf("the logging goroutine ended early")
			case <-time.After(5 * time.Millisecond):
			}
		}
	}

	waitWritten(1000)
	server.restart(t)
	waitWritten(accepted.Load() + 1000) // writes go on after the restart
	stopLogging()

	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	st := l.Stats()
	t.Logf("Stats() after the restart and Close: %+v", st)
	if st.Retries == 0 {
		t.Errorf("Stats().Retries = 0, want retries: the restart did not interrupt a write")
	}
	if st.Written != accepted.Load() || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("Stats() = %+v, want all %d accepted entries written", st, accepted.Load())
	}
	if n := queryInt(t, server.url, "SELECT count(*) FROM audit_logs"); uint64(n) != accepted.Load() {
		t.Errorf("audit_logs has %d rows, want the %d accepted", n, accepted.Load())
	}
	if n := queryInt(t, server.url, "SELECT count(DISTINCT id) FROM audit_logs"); uint64(n) != accepted.Load() {
		t.Errorf("audit_logs has %d distinct ids, want %d", n, accepted.Load())
	}
}

// testServer is a PostgreSQL cluster that scripts/postgres.sh started for
// one test.
type testServer struct {
	script string
	env    []string
	url    string
}

// startServer starts a cluster of the test's own through
// scripts/postgres.sh, with a state file in a temporary folder, and stops
// it when the test ends.
func startServer(t *testing.T) *testServer {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	srv := &testServer{
		script: filepath.Join(root, "scripts", "postgres.sh"),
		env: append(os.Environ(),
			"AGENTAUDIT_POSTGRES_STATE="+filepath.Join(t.TempDir(), "postgres.env"),
			"AGENTAUDIT_POSTGRES_PORT=", // pick a free port
		),
	}
	out := srv.run(t, "start")
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, urlEnv+"="); ok {
			srv.url = v
		}
	}
	t.Cleanup(func() { srv.run(t, "stop") })
	if srv.url == "" {
		t.Fatalf("scripts/postgres.sh start printed no %s line:\n%s", urlEnv, out)
	}
	return srv
}

// restart restarts the cluster with pg_ctl restart -m fast, which ends
// every connection.
func (s *testServer) restart(t *testing.T) {
	t.Helper()
	s.run(t, "restart")
}

func (s *testServer) run(t *testing.T, command string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", s.script, command)
	cmd.Env = s.env
	var stdout, stderr strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/postgres.sh %s: %v\n%s", command, err, stderr.String())
	}
	return stdout.String()
}

// moduleRoot returns the folder of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestLoggerLongIdentifiers checks that values at the audit package's
// length limits fit PostgreSQL's btree indexes, and that a longer model is
// rejected by Log instead of failing at the insert.
func TestLoggerLongIdentifiers(t *testing.T) {
	dsn := testSchema(t)
	s, err := postgres.Open(testContext(t, time.Minute), dsn)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	reader := openStore(t, dsn)
	ctx := testContext(t, time.Minute)
	l := audit.New(s)

	// Random hex does not compress, so the index entries are full size.
	chat := randomHex(t, audit.MaxChatIDBytes/2)
	model := randomHex(t, audit.MaxNameBytes/2)
	logCtx := audit.WithChatID(ctx, chat)
	call := &audit.LLMCall{
		Provider:      "openai",
		Model:         model,
		ResponseModel: model,
		Status:        audit.StatusSuccess,
	}
	if err := l.Log(logCtx, call); err != nil {
		t.Fatalf("Log(model and chat ID at their limits) = %v, want nil", err)
	}

	tooLong := &audit.LLMCall{Provider: "openai", Model: randomHex(t, 1400), Status: audit.StatusSuccess}
	err = l.Log(logCtx, tooLong)
	var verr *audit.ValidationError
	if !errors.As(err, &verr) || verr.Field != "model" {
		t.Errorf("Log(2800-byte model) = %v, want a *ValidationError for model", err)
	}

	if err := l.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if st := l.Stats(); st.Written != 1 || st.Failed != 0 || st.Invalid != 1 {
		t.Errorf("Stats() = %+v, want 1 written, 1 invalid, none failed", st)
	}
	got, err := reader.Entries(ctx, audit.Filter{ChatID: chat})
	if err != nil {
		t.Fatalf("Entries(ChatID) = %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("Entries(ChatID) returned %d entries, want 1", len(got))
	}

	// The chat history's primary key holds the chat ID too.
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	if err := reader.AppendMessages(ctx, chat, msgs); err != nil {
		t.Errorf("AppendMessages(1024-byte chat ID) = %v, want nil", err)
	}
}
