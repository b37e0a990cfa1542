package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/internal/fixtures"
	"github.com/agentaudit/agentaudit/store/sqlite"
)

// cliChildEnv, when set to a JSON array of arguments, makes the test
// binary run the CLI with them and exit with its code; see runCLIAs.
const cliChildEnv = "AGENTAUDIT_CLI_TEST_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(cliChildEnv); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(run(context.Background(), argv, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// result is the outcome of one in-process CLI run.
type result struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs the CLI in-process with args.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun runs the CLI and fails t unless it exits with 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runCLI(t, args...)
	if r.code != 0 {
		t.Fatalf("agentaudit %s: exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func tempDB(t *testing.T) (dsn, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "audit.db")
	return "sqlite:" + path, path
}

// readEntries opens the SQLite file and returns the entries of chatID.
func readEntries(t *testing.T, path, chatID string) []audit.Entry {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("sqlite.Open(%q) = %v", path, err)
	}
	defer s.Close()
	entries, err := s.Entries(context.Background(), audit.Filter{ChatID: chatID})
	if err != nil {
		t.Fatalf("Entries() = %v", err)
	}
	return entries
}

func splitEntries(t *testing.T, entries []audit.Entry) ([]audit.LLMCall, []audit.ToolExecution) {
	t.Helper()
	var calls []audit.LLMCall
	var execs []audit.ToolExecution
	for _, e := range entries {
		switch e.Type {
		case audit.TypeLLMCall:
			var m audit.LLMCall
			if err := json.Unmarshal(e.Metadata, &m); err != nil {
				t.Fatalf("entry %s: %v", e.ID, err)
			}
			calls = append(calls, m)
		case audit.TypeToolExecution:
			var m audit.ToolExecution
			if err := json.Unmarshal(e.Metadata, &m); err != nil {
				t.Fatalf("entry %s: %v", e.ID, err)
			}
			execs = append(execs, m)
		}
	}
	return calls, execs
}

var chatLine = regexp.MustCompile(`(?m)^chat\s+(\S+)$`)

func chatIDOf(t *testing.T, stdout string) string {
	t.Helper()
	m := chatLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("output names no chat:\n%s", stdout)
	}
	return m[1]
}

func TestDemoEndToEnd(t *testing.T) {
	dsn, path := tempDB(t)
	sandbox := filepath.Join(t.TempDir(), "files")

	r := mustRun(t, "demo", "--db", dsn, "--sandbox", sandbox)

	chatID := chatIDOf(t, r.stdout)
	if !strings.HasPrefix(chatID, "demo-") {
		t.Errorf("demo chat ID = %q, want prefix demo-", chatID)
	}
	for _, want := range []string{"approving it, as a human reviewer would", "assistant: I wrote notes/summary.md", "audit trail of chat", "token usage of chat"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("demo stderr = %q, want empty", r.stderr)
	}

	written, err := os.ReadFile(filepath.Join(sandbox, "notes", "summary.md"))
	if err != nil {
		t.Fatalf("read the file the demo wrote: %v", err)
	}
	if !strings.Contains(string(written), "Renew the TLS certificate") {
		t.Errorf("notes/summary.md = %q, want the summary", written)
	}

	calls, execs := splitEntries(t, readEntries(t, path, chatID))
	if len(calls) != 4 {
		t.Fatalf("llm_call rows = %d, want 4", len(calls))
	}
	wantPrompt := []int64{1187, 1268, 1413, 1536}
	wantCached := []int64{0, 1152, 1280, 1408}
	for i, c := range calls {
		if c.Status != audit.StatusSuccess || c.Provider != "openai-replay" || c.Model != demoModel || c.ResponseModel != "gpt-4o-mini-2024-07-18" {
			t.Errorf("llm_call %d = %+v, want a successful openai-replay %s call", i, c, demoModel)
		}
		if c.PromptTokens == nil || *c.PromptTokens != wantPrompt[i] {
			t.Errorf("llm_call %d promptTokens = %s, want %d", i, formatCount(c.PromptTokens), wantPrompt[i])
		}
		if c.CachedInputTokens == nil || *c.CachedInputTokens != wantCached[i] {
			t.Errorf("llm_call %d cachedInputTokens = %s, want %d", i, formatCount(c.CachedInputTokens), wantCached[i])
		}
		if c.Step != i+1 {
			t.Errorf("llm_call %d step = %d, want %d", i, c.Step, i+1)
		}
	}

	want := []struct {
		tool     string
		status   audit.Status
		risk     string
		approval bool
		errText  string
	}{
		{"list_files", audit.StatusSuccess, "low", false, ""},
		{"read_file", audit.StatusSuccess, "low", false, ""},
		{"read_file", audit.StatusError, "low", false, `"notes/meeting.txt" does not exist`},
		{"write_file", audit.StatusSuccess, "high", true, ""},
	}
	if len(execs) != len(want) {
		t.Fatalf("tool_execution rows = %d, want %d: %+v", len(execs), len(want), execs)
	}
	for i, w := range want {
		e := execs[i]
		if e.ToolName != w.tool || e.Status != w.status || e.Risk != w.risk {
			t.Errorf("tool_execution %d = %s %s %s, want %s %s %s", i, e.ToolName, e.Status, e.Risk, w.tool, w.status, w.risk)
		}
		if got := e.ApprovalID != ""; got != w.approval {
			t.Errorf("tool_execution %d approvalId = %q, want set: %v", i, e.ApprovalID, w.approval)
		}
		if !strings.Contains(e.Error, w.errText) {
			t.Errorf("tool_execution %d error = %q, want it to contain %q", i, e.Error, w.errText)
		}
	}
}

func TestDemoTwice(t *testing.T) {
	dsn, path := tempDB(t)

	first := chatIDOf(t, mustRun(t, "demo", "--db", dsn, "--sandbox", filepath.Join(t.TempDir(), "a")).stdout)
	second := chatIDOf(t, mustRun(t, "demo", "--db", dsn, "--sandbox", filepath.Join(t.TempDir(), "b")).stdout)

	if first == second {
		t.Fatalf("both demo runs used chat %s, want a fresh chat each run", first)
	}
	if got := len(readEntries(t, path, "")); got != 16 {
		t.Errorf("rows after two demos = %d, want 16", got)
	}
}

func TestLogAndUsageJSON(t *testing.T) {
	dsn, _ := tempDB(t)
	chatID := chatIDOf(t, mustRun(t, "demo", "--db", dsn, "--sandbox", filepath.Join(t.TempDir(), "files")).stdout)

	r := mustRun(t, "log", "--db", dsn, "--chat", chatID, "--format", "json")
	var types []string
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var line struct {
			ID        string         `json:"id"`
			Type      string         `json:"type"`
			ChatID    string         `json:"chatId"`
			CreatedAt string         `json:"createdAt"`
			Metadata  map[string]any `json:"metadata"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line.ChatID != chatID || line.ID == "" || line.Metadata["status"] == nil {
			t.Errorf("log line = %+v, want an entry of chat %s with decoded metadata", line, chatID)
		}
		types = append(types, line.Type)
	}
	if got, want := strings.Join(types, ","), "llm_call,tool_execution,llm_call,tool_execution,tool_execution,llm_call,tool_execution,llm_call"; got != want {
		t.Errorf("log types = %s, want %s", got, want)
	}

	r = mustRun(t, "log", "--db", dsn, "--chat", chatID, "--type", "tool_execution", "--limit", "2", "--format", "json")
	if got := strings.Count(r.stdout, "\n"); got != 2 {
		t.Errorf("log --limit 2 printed %d lines, want 2", got)
	}

	r = mustRun(t, "usage", "--db", dsn, "--chat", chatID, "--format", "json")
	var report usageReport
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("usage JSON: %v\n%s", err, r.stdout)
	}
	total := report.Total
	if total.Calls != 4 || total.Errors != 0 || total.UnknownUsage != 0 || total.ToolExecutions != 4 || total.ToolErrors != 1 {
		t.Errorf("usage total = %+v, want 4 calls, 4 tool executions, 1 tool error", total)
	}
	checks := []struct {
		name string
		got  *int64
		want int64
	}{
		{"promptTokens", total.PromptTokens, 1187 + 1268 + 1413 + 1536},
		{"completionTokens", total.CompletionTokens, 19 + 51 + 94 + 44},
		{"cachedInputTokens", total.CachedInputTokens, 1152 + 1280 + 1408},
		{"reasoningTokens", total.ReasoningTokens, 0},
	}
	for _, c := range checks {
		if c.got == nil || *c.got != c.want {
			t.Errorf("usage total %s = %s, want %d", c.name, formatCount(c.got), c.want)
		}
	}
	if len(report.ByModel) != 1 || report.ByModel[0].Model != demoModel || report.ByModel[0].Provider != "openai-replay" {
		t.Errorf("usage byModel = %+v, want one openai-replay %s group", report.ByModel, demoModel)
	}
	if len(report.ByChat) != 1 || report.ByChat[0].ChatID != chatID {
		t.Errorf("usage byChat = %+v, want one group for %s", report.ByChat, chatID)
	}

	r = mustRun(t, "log", "--db", dsn, "--chat", chatID)
	if !strings.Contains(r.stdout, "TIME") || !strings.Contains(r.stdout, "write_file (high risk)") {
		t.Errorf("log table lacks its header or the write_file row:\n%s", r.stdout)
	}
}

func TestChatReplayFixture(t *testing.T) {
	dsn, path := tempDB(t)
	args := []string{
		"chat", "--db", dsn, "--provider", "openai", "--model", "gpt-4o",
		"--system", "You are a helpful assistant that can perform calculations.",
		"--replay", fixtures.Path(t, "openai/chat-tool-call-roundtrip.1.response.json"),
		"--replay", fixtures.Path(t, "openai/chat-tool-call-roundtrip.2.response.json"),
		"What is 15 multiplied by 4?",
	}

	r := mustRun(t, args...)

	if !strings.Contains(r.stdout, "assistant: 15 multiplied by 4 is 60.") {
		t.Errorf("chat output lacks the recorded answer:\n%s", r.stdout)
	}
	calls, execs := splitEntries(t, readEntries(t, path, chatIDOf(t, r.stdout)))
	if len(calls) != 2 {
		t.Fatalf("llm_call rows = %d, want 2", len(calls))
	}
	for i, want := range []int64{94, 115} {
		if calls[i].Status != audit.StatusSuccess || calls[i].PromptTokens == nil || *calls[i].PromptTokens != want {
			t.Errorf("llm_call %d = %+v, want success with %d prompt tokens", i, calls[i], want)
		}
	}
	// The recorded model calls a calculator tool that the CLI does not
	// offer, so the call is an unknown-tool error and the loop goes on.
	if len(execs) != 1 {
		t.Fatalf("tool_execution rows = %d, want 1", len(execs))
	}
	if e := execs[0]; e.ToolName != "calculator" || e.Status != audit.StatusError || !strings.Contains(e.Error, `unknown tool "calculator"`) {
		t.Errorf("tool_execution = %+v, want an unknown-tool error for calculator", e)
	}
}

// writeResponses writes Chat Completions bodies to files and returns their
// paths.
func writeResponses(t *testing.T, bodies ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, b := range bodies {
		p := filepath.Join(dir, "call"+string(rune('1'+i))+".response.json")
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

const writeCallBody = `{"id":"chatcmpl-1","object":"chat.completion","created":1767348000,"model":"gpt-4o-mini-2024-07-18",
"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_w1","type":"function",
"function":{"name":"write_file","arguments":"{\"path\":\"out.txt\",\"content\":\"hello\"}"}}]},"finish_reason":"tool_calls"}],
"usage":{"prompt_tokens":300,"completion_tokens":20,"total_tokens":320}}`

const answerBody = `{"id":"chatcmpl-2","object":"chat.completion","created":1767348001,"model":"gpt-4o-mini-2024-07-18",
"choices":[{"index":0,"message":{"role":"assistant","content":"Understood."},"finish_reason":"stop"}],
"usage":{"prompt_tokens":340,"completion_tokens":5,"total_tokens":345}}`

// pendingApproval runs a chat whose model asks to write a file and returns
// the chat ID and the approval ID.
func pendingApproval(t *testing.T, dsn, sandbox string) (chatID, approvalID string) {
	t.Helper()
	r := mustRun(t, "chat", "--db", dsn, "--model", "gpt-4o-mini", "--sandbox", sandbox,
		"--replay", writeResponses(t, writeCallBody)[0], "write hello to out.txt")
	if !strings.Contains(r.stdout, "waiting for approval of 1 tool call(s)") {
		t.Fatalf("chat output does not wait for approval:\n%s", r.stdout)
	}
	chatID = chatIDOf(t, r.stdout)

	r = mustRun(t, "approvals", "list", "--db", dsn, "--chat", chatID, "--status", "pending", "--format", "json")
	var ap approvalRecord
	if err := json.Unmarshal([]byte(r.stdout), &ap); err != nil {
		t.Fatalf("approvals list JSON %q: %v", r.stdout, err)
	}
	if ap.ToolName != "write_file" || ap.Status != "pending" || ap.ToolCallID != "call_w1" {
		t.Fatalf("approval = %+v, want a pending write_file for call_w1", ap)
	}
	return chatID, ap.ID
}

func TestApprovalsDeny(t *testing.T) {
	dsn, path := tempDB(t)
	sandbox := t.TempDir()
	chatID, approvalID := pendingApproval(t, dsn, sandbox)

	r := runCLI(t, "approvals", "deny", "--db", dsn, approvalID)
	if r.code != 2 || !strings.Contains(r.stderr, "deny needs --reason") {
		t.Errorf("deny without --reason = %d %q, want exit 2 asking for --reason", r.code, r.stderr)
	}

	r = mustRun(t, "approvals", "deny", "--db", dsn, approvalID, "--reason", "not in this folder")
	if !strings.Contains(r.stdout, "write_file error: denied by a human: not in this folder") {
		t.Errorf("deny output lacks the denial:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "resume with: "+cliCommand()+" chat --chat "+chatID+" --resume --provider openai --model gpt-4o-mini") {
		t.Errorf("deny output lacks the resume command:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(sandbox, "out.txt")); !os.IsNotExist(err) {
		t.Errorf("Stat(out.txt) = %v, want not exist after a denial", err)
	}

	r = runCLI(t, "approvals", "deny", "--db", dsn, approvalID, "--reason", "again")
	if r.code != 1 || !strings.Contains(r.stderr, "was already denied") {
		t.Errorf("second deny = %d %q, want exit 1 saying it was already denied", r.code, r.stderr)
	}

	r = mustRun(t, "chat", "--db", dsn, "--model", "gpt-4o-mini", "--chat", chatID, "--resume",
		"--replay", writeResponses(t, answerBody)[0])
	if !strings.Contains(r.stdout, "assistant: Understood.") {
		t.Errorf("resume output lacks the answer:\n%s", r.stdout)
	}

	calls, execs := splitEntries(t, readEntries(t, path, chatID))
	if len(calls) != 2 || len(execs) != 0 {
		t.Errorf("rows = %d llm_call, %d tool_execution; want 2 and 0 for a denied call", len(calls), len(execs))
	}
}

func TestApprovalsApprove(t *testing.T) {
	dsn, path := tempDB(t)
	sandbox := t.TempDir()
	chatID, approvalID := pendingApproval(t, dsn, sandbox)

	r := runCLI(t, "approvals", "approve", "--db", dsn, approvalID)
	if r.code != 1 || !strings.Contains(r.stderr, `tool "write_file" of approval `+approvalID+" is not available here; pass --sandbox") {
		t.Errorf("approve without --sandbox = %d %q, want exit 1 asking for --sandbox", r.code, r.stderr)
	}

	r = mustRun(t, "approvals", "approve", "--db", dsn, approvalID, "--sandbox", sandbox, "--reason", "fine")
	if !strings.Contains(r.stdout, "write_file output: wrote 5 bytes to out.txt") {
		t.Errorf("approve output lacks the tool output:\n%s", r.stdout)
	}
	b, err := os.ReadFile(filepath.Join(sandbox, "out.txt"))
	if err != nil || string(b) != "hello" {
		t.Errorf("out.txt = %q, %v; want hello", b, err)
	}

	_, execs := splitEntries(t, readEntries(t, path, chatID))
	if len(execs) != 1 {
		t.Fatalf("tool_execution rows = %d, want 1", len(execs))
	}
	if e := execs[0]; e.ToolName != "write_file" || e.Status != audit.StatusSuccess || e.ApprovalID != approvalID || e.Risk != "high" {
		t.Errorf("tool_execution = %+v, want a successful high-risk write_file with approval %s", e, approvalID)
	}

	r = runCLI(t, "approvals", "approve", "--db", dsn, "no-such-id")
	if r.code != 1 || !strings.Contains(r.stderr, `approval "no-such-id" not found`) {
		t.Errorf("approve unknown = %d %q, want exit 1 saying not found", r.code, r.stderr)
	}
}

func TestMigrate(t *testing.T) {
	dsn, _ := tempDB(t)

	r := mustRun(t, "migrate", "--db", dsn)
	if !strings.Contains(r.stdout, "applied 0001_audit_logs.sql") {
		t.Errorf("first migrate output = %q, want it to list 0001_audit_logs.sql", r.stdout)
	}
	r = mustRun(t, "migrate", "--db", dsn)
	if strings.TrimSpace(r.stdout) != "database is up to date" {
		t.Errorf("second migrate output = %q, want it up to date", r.stdout)
	}
}

func TestInvalidInput(t *testing.T) {
	dsn, _ := tempDB(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"unsupported db scheme", []string{"log", "--db", "mysql://root:pw@localhost/x"}, 1, `scheme "mysql" is not supported; pass sqlite:PATH`},
		{"db without scheme", []string{"usage", "--db", "audit"}, 1, `"audit": it has no scheme`},
		{"bad format", []string{"log", "--db", dsn, "--format", "xml"}, 2, `invalid --format "xml": use table or json`},
		{"bad type", []string{"log", "--db", dsn, "--type", "llm"}, 2, `invalid --type "llm"`},
		{"bad since", []string{"usage", "--db", dsn, "--since", "yesterday"}, 2, `invalid --since "yesterday"`},
		{"bad status", []string{"approvals", "list", "--db", dsn, "--status", "open"}, 2, `invalid --status "open"`},
		{"unknown flag", []string{"log", "--colour"}, 2, "unknown flag: --colour"},
		{"chat without model", []string{"chat", "--db", dsn, "hi"}, 2, "--model is required"},
		{"chat bad provider", []string{"chat", "--db", dsn, "--provider", "gemini", "--model", "m", "hi"}, 2, `invalid --provider "gemini"`},
		{"chat without message", []string{"chat", "--db", dsn, "--model", "m"}, 2, "chat needs a message"},
		{"resume without chat", []string{"chat", "--db", dsn, "--model", "m", "--resume"}, 2, "--resume needs --chat"},
		{"chat ID too long", []string{"chat", "--db", dsn, "--model", "m", "--chat", strings.Repeat("c", audit.MaxChatIDBytes+1), "hi"}, 2,
			"invalid --chat: the ID has 1025 bytes; use at most 1024"},
		{"sandbox missing", []string{"chat", "--db", dsn, "--model", "m", "--sandbox", filepath.Join(t.TempDir(), "absent"),
			"--replay", writeResponses(t, answerBody)[0], "hi"}, 1, "create the folder first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; stderr %q", r.code, tt.wantCode, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "root:pw") {
				t.Errorf("stderr = %q shows the password", r.stderr)
			}
		})
	}
}

func TestChatNeedsAPIKey(t *testing.T) {
	dsn, _ := tempDB(t)
	t.Setenv("OPENAI_API_KEY", "")

	r := runCLI(t, "chat", "--db", dsn, "--model", "gpt-4o-mini", "hi")

	if r.code != 1 || !strings.Contains(r.stderr, "OPENAI_API_KEY is not set") {
		t.Errorf("chat without a key = %d %q, want exit 1 naming OPENAI_API_KEY", r.code, r.stderr)
	}
}

func TestDBFromEnvironment(t *testing.T) {
	dsn, _ := tempDB(t)
	t.Setenv("AGENTAUDIT_DB", dsn)

	mustRun(t, "migrate")
	r := mustRun(t, "migrate", "--db", dsn)

	if strings.TrimSpace(r.stdout) != "database is up to date" {
		t.Errorf("migrate --db after migrate with AGENTAUDIT_DB = %q, want up to date", r.stdout)
	}
}

func TestChatReplayAnthropic(t *testing.T) {
	dsn, path := tempDB(t)

	r := mustRun(t, "chat", "--db", dsn, "--provider", "anthropic", "--model", "claude-sonnet-4-20250514",
		"--replay", fixtures.Path(t, "anthropic/messages-tool-use-roundtrip.1.response.json"),
		"--replay", fixtures.Path(t, "anthropic/messages-tool-use-roundtrip.2.response.json"),
		"What is the weather in Florence?")

	calls, execs := splitEntries(t, readEntries(t, path, chatIDOf(t, r.stdout)))
	if len(calls) != 2 {
		t.Fatalf("llm_call rows = %d, want 2", len(calls))
	}
	for i, c := range calls {
		if c.Provider != "anthropic-replay" || c.Status != audit.StatusSuccess || c.Step != i+1 {
			t.Errorf("llm_call %d = %+v, want a successful anthropic-replay call at step %d", i, c, i+1)
		}
	}
	if len(execs) != 1 || execs[0].ToolName != "weather" || execs[0].Status != audit.StatusError {
		t.Errorf("tool_execution rows = %+v, want one unknown-tool error for weather", execs)
	}
	if !strings.Contains(r.stdout, "assistant: ") {
		t.Errorf("chat output lacks the answer:\n%s", r.stdout)
	}
}

func TestApproveAndResume(t *testing.T) {
	dsn, path := tempDB(t)
	sandbox := t.TempDir()
	chatID, approvalID := pendingApproval(t, dsn, sandbox)

	// The resumed call goes to a replay server on loopback through
	// --base-url; the key only has to be present.
	srv, err := startReplay(writeResponses(t, answerBody))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("OPENAI_API_KEY", "test-key")

	r := mustRun(t, "approvals", "approve", "--db", dsn, approvalID, "--sandbox", sandbox,
		"--resume", "--base-url", replayBaseURL(providerOpenAI, srv))

	if !strings.Contains(r.stdout, "assistant: Understood.") {
		t.Errorf("approve --resume output lacks the answer:\n%s", r.stdout)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("replay requests = %d, want 1", len(reqs))
	}
	var body struct {
		Model    string `json:"model"`
		Messages []struct {
			Role       string `json:"role"`
			Content    string `json:"content"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatalf("resumed request body: %v", err)
	}
	last := body.Messages[len(body.Messages)-1]
	if body.Model != "gpt-4o-mini" || last.Role != "tool" || last.ToolCallID != "call_w1" || last.Content != "wrote 5 bytes to out.txt" {
		t.Errorf("resumed request = model %q, last message %+v; want gpt-4o-mini and the tool output for call_w1", body.Model, last)
	}

	calls, execs := splitEntries(t, readEntries(t, path, chatID))
	if len(calls) != 2 || len(execs) != 1 {
		t.Errorf("rows = %d llm_call, %d tool_execution; want 2 and 1", len(calls), len(execs))
	}
}

func TestCancelledRun(t *testing.T) {
	dsn, _ := tempDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"chat", "--db", dsn, "--model", "gpt-4o-mini",
		"--replay", writeResponses(t, answerBody)[0], "hi"}, &stdout, &stderr)

	if code != 1 || !strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("run() with a cancelled context = %d %q, want exit 1 naming the cancellation", code, stderr.String())
	}
}

func TestSessionCloseDrainsAfterCancel(t *testing.T) {
	dsn, path := tempDB(t)
	var stderr bytes.Buffer
	a := &app{db: dsn, stdout: io.Discard, stderr: &stderr, getenv: os.Getenv}
	a.log = slog.New(slog.NewTextHandler(&stderr, nil))
	ctx, cancel := context.WithCancel(context.Background())

	s, err := a.openSession(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx = audit.WithChatID(ctx, "chat-1")
	if err := s.logger.Log(ctx, &audit.ToolExecution{ToolName: "t", Status: audit.StatusSuccess, Input: map[string]int{"n": 1}}); err != nil {
		t.Fatalf("Log() = %v", err)
	}
	cancel()

	// close runs after an interrupt has cancelled ctx, and still writes
	// what was queued.
	if err := s.close(ctx); err != nil {
		t.Fatalf("close() = %v", err)
	}
	if got := len(readEntries(t, path, "chat-1")); got != 1 {
		t.Errorf("rows after close = %d, want 1", got)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing lost", stderr.String())
	}
}

func TestSignalCancelsContext(t *testing.T) {
	var stderr bytes.Buffer
	ctx, stop := signalContext(context.Background(), &syncWriter{w: &stderr})
	defer stop()

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatalf("send SIGINT: %v", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not cancelled 10s after SIGINT")
	}
	if got := context.Cause(ctx); got == nil || !strings.Contains(got.Error(), "interrupt") {
		t.Errorf("context.Cause() = %v, want the interrupt", got)
	}
}

// syncWriter serialises writes, for a writer shared with a goroutine.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
