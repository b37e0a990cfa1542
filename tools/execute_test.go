package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/tools"
	"github.com/agentaudit/agentaudit/tools/toolstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// trailLog is an audit.Logger over an in-memory trail.
type trailLog struct {
	t      *testing.T
	logger *audit.Logger
	trail  *toolstest.Trail
}

type loggedEntry struct {
	chatID string
	exec   *audit.ToolExecution
}

func newTrailLog(t *testing.T) *trailLog {
	t.Helper()
	trail := &toolstest.Trail{}
	l := &trailLog{t: t, logger: audit.New(trail), trail: trail}
	t.Cleanup(func() {
		if err := l.logger.Close(context.Background()); err != nil {
			t.Errorf("Logger.Close() = %v", err)
		}
	})
	return l
}

// all flushes the logger and returns the tool executions written.
func (l *trailLog) all() []loggedEntry {
	l.t.Helper()
	if err := l.logger.Flush(context.Background()); err != nil {
		l.t.Fatalf("Logger.Flush() = %v", err)
	}
	if st := l.logger.Stats(); st.Invalid > 0 || st.Dropped > 0 || st.Failed > 0 {
		l.t.Fatalf("Logger.Stats() = %+v, want no invalid, dropped or failed entries", st)
	}
	execs, chats, err := l.trail.ToolExecutions()
	if err != nil {
		l.t.Fatal(err)
	}
	entries := make([]loggedEntry, len(execs))
	for i := range execs {
		entries[i] = loggedEntry{chatID: chats[i], exec: &execs[i]}
	}
	return entries
}

// steppingClock advances by step on every reading.
type steppingClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *steppingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

const pathSchema = `{"type":"object","properties":{"path":{"type":"string"},"limit":{"type":"integer"}},"required":["path"]}`

// newTestRegistry returns a registry with tools that succeed, fail, panic,
// wait for their context, and a high-risk tool, with the runs of each
// counted.
func newTestRegistry(t *testing.T, opts ...tools.Option) (*tools.Registry, *trailLog, *runCounter) {
	t.Helper()
	log := newTrailLog(t)
	clock := &steppingClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), step: 5 * time.Millisecond}
	opts = append([]tools.Option{tools.WithAuditLogger(log.logger), tools.WithClock(clock.now)}, opts...)
	r := tools.NewRegistry(opts...)
	runs := &runCounter{}

	r.Register(tools.Tool{
		Name: "echo", InputSchema: json.RawMessage(pathSchema),
		Run: func(ctx context.Context, args json.RawMessage) (string, error) {
			runs.add("echo", args)
			return "echo " + string(args), nil
		},
	})
	r.Register(tools.Tool{
		Name: "fail",
		Run: func(ctx context.Context, args json.RawMessage) (string, error) {
			runs.add("fail", args)
			return "", errors.New("disk is full")
		},
	})
	r.Register(tools.Tool{
		Name: "explode",
		Run: func(ctx context.Context, args json.RawMessage) (string, error) {
			runs.add("explode", args)
			panic("boom")
		},
	})
	r.Register(tools.Tool{
		Name: "wait",
		Run: func(ctx context.Context, args json.RawMessage) (string, error) {
			runs.add("wait", args)
			<-ctx.Done()
			return "", ctx.Err()
		},
	})
	r.Register(tools.Tool{
		Name: "delete", Risk: tools.RiskHigh, InputSchema: json.RawMessage(pathSchema),
		Run: func(ctx context.Context, args json.RawMessage) (string, error) {
			runs.add("delete", args)
			return "deleted", nil
		},
	})
	return r, log, runs
}

type runCounter struct {
	mu   sync.Mutex
	runs map[string][]string
}

func (c *runCounter) add(name string, args json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string][]string{}
	}
	c.runs[name] = append(c.runs[name], string(args))
}

func (c *runCounter) get(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.runs[name]...)
}

func TestExecuteLowRisk(t *testing.T) {
	tests := []struct {
		name        string
		call        llm.ToolCall
		wantContent string
		wantError   bool
		wantRuns    int
		wantRisk    string
		wantSummary string
	}{
		{
			name:        "success",
			call:        llm.ToolCall{ID: "c1", Name: "echo", Arguments: `{"path":"a.txt"}`},
			wantContent: `echo {"path":"a.txt"}`,
			wantRuns:    1,
			wantRisk:    "low",
		},
		{
			name:        "unknown tool",
			call:        llm.ToolCall{ID: "c1", Name: "nope", Arguments: `{}`},
			wantContent: `unknown tool "nope"; available tools: echo, fail, explode, wait, delete`,
			wantError:   true,
		},
		{
			name:        "malformed JSON",
			call:        llm.ToolCall{ID: "c1", Name: "echo", Arguments: `{"path":`},
			wantContent: `invalid arguments for tool "echo": arguments are not valid JSON: "{\"path\":"; send a JSON object`,
			wantError:   true,
			wantRisk:    "low",
			// Arguments that are not JSON are recorded as a JSON string.
			wantSummary: `"{\"path\":"`,
		},
		{
			name:        "not an object",
			call:        llm.ToolCall{ID: "c1", Name: "echo", Arguments: `["a.txt"]`},
			wantContent: `invalid arguments for tool "echo": arguments must be a JSON object, got "[\"a.txt\"]"`,
			wantError:   true,
			wantRisk:    "low",
		},
		{
			name:        "missing required",
			call:        llm.ToolCall{ID: "c1", Name: "echo", Arguments: `{"limit":3}`},
			wantContent: `invalid arguments for tool "echo": missing required properties: "path"`,
			wantError:   true,
			wantRisk:    "low",
		},
		{
			name:        "wrong type",
			call:        llm.ToolCall{ID: "c1", Name: "echo", Arguments: `{"path":"a","limit":"3"}`},
			wantContent: `invalid arguments for tool "echo": property "limit" is string, want integer`,
			wantError:   true,
			wantRisk:    "low",
		},
		{
			name:        "integral float is an integer",
			call:        llm.ToolCall{ID: "c1", Name: "echo", Arguments: `{"path":"a","limit":3.0}`},
			wantContent: `echo {"path":"a","limit":3.0}`,
			wantRuns:    1,
			wantRisk:    "low",
			// The summary encodes the input as JSON.stringify would.
			wantSummary: `{"path":"a","limit":3}`,
		},
		{
			name:        "empty arguments",
			call:        llm.ToolCall{ID: "c1", Name: "fail", Arguments: ``},
			wantContent: "disk is full",
			wantError:   true,
			wantRuns:    1,
			wantRisk:    "low",
			wantSummary: `{}`,
		},
		{
			name:        "tool panic",
			call:        llm.ToolCall{ID: "c1", Name: "explode", Arguments: `{}`},
			wantContent: `tool "explode" panicked: boom`,
			wantError:   true,
			wantRuns:    1,
			wantRisk:    "low",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, log, runs := newTestRegistry(t)
			ctx := audit.WithChatID(context.Background(), "chat-1")

			res := r.Execute(ctx, tt.call)

			if res.Content != tt.wantContent {
				t.Errorf("Execute().Content = %q, want %q", res.Content, tt.wantContent)
			}
			if res.IsError != tt.wantError {
				t.Errorf("Execute().IsError = %v, want %v", res.IsError, tt.wantError)
			}
			if res.Pending != nil {
				t.Errorf("Execute().Pending = %+v, want nil", res.Pending)
			}
			if got := len(runs.get(tt.call.Name)); got != tt.wantRuns {
				t.Errorf("runs of %s = %d, want %d", tt.call.Name, got, tt.wantRuns)
			}

			entries := log.all()
			if len(entries) != 1 {
				t.Fatalf("logged entries = %d, want 1", len(entries))
			}
			e := entries[0]
			if e.chatID != "chat-1" {
				t.Errorf("entry chat ID = %q, want %q", e.chatID, "chat-1")
			}
			if e.exec.ToolName != tt.call.Name || e.exec.ToolCallID != tt.call.ID {
				t.Errorf("entry tool = %q/%q, want %q/%q", e.exec.ToolName, e.exec.ToolCallID, tt.call.Name, tt.call.ID)
			}
			wantStatus := audit.StatusSuccess
			wantErr := ""
			if tt.wantError {
				wantStatus = audit.StatusError
				wantErr = tt.wantContent
			}
			if e.exec.Status != wantStatus {
				t.Errorf("entry status = %q, want %q", e.exec.Status, wantStatus)
			}
			if e.exec.Error != wantErr {
				t.Errorf("entry error = %q, want %q", e.exec.Error, wantErr)
			}
			if e.exec.Risk != tt.wantRisk {
				t.Errorf("entry risk = %q, want %q", e.exec.Risk, tt.wantRisk)
			}
			if e.exec.ApprovalID != "" {
				t.Errorf("entry approval ID = %q, want empty", e.exec.ApprovalID)
			}
			if e.exec.DurationMs <= 0 {
				t.Errorf("entry duration = %dms, want > 0 with a clock that steps 5ms", e.exec.DurationMs)
			}
			wantSummary := tt.wantSummary
			if wantSummary == "" {
				wantSummary = tt.call.Arguments
			}
			if e.exec.InputSummary != wantSummary {
				t.Errorf("entry input summary = %s, want %s", e.exec.InputSummary, wantSummary)
			}
			if e.exec.InputBytes != len(wantSummary) {
				t.Errorf("entry input bytes = %d, want %d", e.exec.InputBytes, len(wantSummary))
			}
		})
	}
}

func TestExecuteTimeout(t *testing.T) {
	r, log, _ := newTestRegistry(t, tools.WithTimeout(10*time.Millisecond))

	res := r.Execute(context.Background(), llm.ToolCall{ID: "c1", Name: "wait", Arguments: `{}`})

	if !res.IsError || !strings.HasPrefix(res.Content, `tool "wait" timed out after 10ms`) {
		t.Errorf("Execute() = %+v, want an error result that says it timed out after 10ms", res)
	}
	if got := len(log.all()); got != 1 {
		t.Errorf("logged entries = %d, want 1", got)
	}
}

func TestExecuteHighRiskPending(t *testing.T) {
	store := &toolstest.Approvals{}
	r, log, runs := newTestRegistry(t, tools.WithApprovalStore(store))
	ctx := audit.WithChatID(context.Background(), "chat-1")

	res := r.Execute(ctx, llm.ToolCall{ID: "call-9", Name: "delete", Arguments: ` {"path":"a.txt"} `})

	if res.Pending == nil {
		t.Fatalf("Execute().Pending = nil, want an approval")
	}
	if res.IsError {
		t.Errorf("Execute().IsError = true, want false")
	}
	if !strings.Contains(res.Content, "awaits human approval") || !strings.Contains(res.Content, res.Pending.ID) {
		t.Errorf("Execute().Content = %q, want it to say it awaits approval %s", res.Content, res.Pending.ID)
	}
	if got := len(runs.get("delete")); got != 0 {
		t.Errorf("runs of delete = %d, want 0 before approval", got)
	}
	if got := len(log.all()); got != 0 {
		t.Errorf("logged entries = %d, want 0 for a pending call", got)
	}

	stored, err := store.GetApproval(ctx, res.Pending.ID)
	if err != nil {
		t.Fatalf("GetApproval(%s) = %v", res.Pending.ID, err)
	}
	want := tools.Approval{
		ID: res.Pending.ID, ChatID: "chat-1", ToolName: "delete", ToolCallID: "call-9",
		Input: json.RawMessage(`{"path":"a.txt"}`), Status: tools.ApprovalPending,
	}
	if stored.ChatID != want.ChatID || stored.ToolName != want.ToolName || stored.ToolCallID != want.ToolCallID ||
		string(stored.Input) != string(want.Input) || stored.Status != want.Status {
		t.Errorf("stored approval = %+v, want %+v", stored, want)
	}
	if stored.CreatedAt.IsZero() {
		t.Errorf("stored approval CreatedAt is zero")
	}
	if len(stored.ID) != 36 || stored.ID[14] != '7' {
		t.Errorf("approval ID = %q, want a UUIDv7", stored.ID)
	}
}

func TestApproveRunsToolOnce(t *testing.T) {
	store := &toolstest.Approvals{}
	r, log, runs := newTestRegistry(t, tools.WithApprovalStore(store))
	pending := r.Execute(audit.WithChatID(context.Background(), "chat-1"),
		llm.ToolCall{ID: "call-9", Name: "delete", Arguments: `{"path":"a.txt"}`}).Pending

	// Approve from a context without a chat ID, as a CLI would.
	res, err := r.Approve(context.Background(), pending.ID, "looks fine")
	if err != nil {
		t.Fatalf("Approve() error = %v", err)
	}
	if res.Content != "deleted" || res.IsError {
		t.Errorf("Approve() = %+v, want content %q", res, "deleted")
	}
	if got, want := runs.get("delete"), []string{`{"path":"a.txt"}`}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("runs of delete = %q, want %q", got, want)
	}

	entries := log.all()
	if len(entries) != 1 {
		t.Fatalf("logged entries = %d, want 1", len(entries))
	}
	e := entries[0]
	if e.chatID != "chat-1" {
		t.Errorf("entry chat ID = %q, want the approval's %q", e.chatID, "chat-1")
	}
	if e.exec.ApprovalID != pending.ID || e.exec.Risk != "high" || e.exec.Status != audit.StatusSuccess || e.exec.ToolCallID != "call-9" {
		t.Errorf("entry = %+v, want approval %s, risk high, success, call-9", e.exec, pending.ID)
	}

	stored, _ := store.GetApproval(context.Background(), pending.ID)
	if stored.Status != tools.ApprovalApproved || stored.Reason != "looks fine" || stored.DecidedAt.IsZero() {
		t.Errorf("stored approval = %+v, want approved with reason and time", stored)
	}

	_, err = r.Approve(context.Background(), pending.ID, "again")
	if !errors.Is(err, tools.ErrAlreadyDecided) {
		t.Errorf("second Approve() error = %v, want ErrAlreadyDecided", err)
	}
	if got := len(runs.get("delete")); got != 1 {
		t.Errorf("runs of delete after second Approve = %d, want 1", got)
	}
}

func TestApproveConcurrentRunsOnce(t *testing.T) {
	store := &toolstest.Approvals{}
	r, _, runs := newTestRegistry(t, tools.WithApprovalStore(store))
	pending := r.Execute(context.Background(), llm.ToolCall{ID: "c", Name: "delete", Arguments: `{"path":"x"}`}).Pending

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Approve(context.Background(), pending.ID, "")
		}()
	}
	wg.Wait()

	succeeded := 0
	for _, err := range errs {
		if err == nil {
			succeeded++
		} else if !errors.Is(err, tools.ErrAlreadyDecided) {
			t.Errorf("Approve() error = %v, want nil or ErrAlreadyDecided", err)
		}
	}
	if succeeded != 1 {
		t.Errorf("successful Approve() calls = %d, want 1", succeeded)
	}
	if got := len(runs.get("delete")); got != 1 {
		t.Errorf("runs of delete = %d, want 1", got)
	}
}

func TestDenyDoesNotRun(t *testing.T) {
	store := &toolstest.Approvals{}
	r, log, runs := newTestRegistry(t, tools.WithApprovalStore(store))
	pending := r.Execute(context.Background(), llm.ToolCall{ID: "c", Name: "delete", Arguments: `{"path":"x"}`}).Pending

	res, err := r.Deny(context.Background(), pending.ID, "keep that file")
	if err != nil {
		t.Fatalf("Deny() error = %v", err)
	}
	if want := "denied by a human: keep that file"; res.Content != want || !res.IsError {
		t.Errorf("Deny() = %+v, want error result %q", res, want)
	}
	if got := len(runs.get("delete")); got != 0 {
		t.Errorf("runs of delete = %d, want 0", got)
	}
	if got := len(log.all()); got != 0 {
		t.Errorf("logged entries = %d, want 0 for a denied call", got)
	}
	stored, _ := store.GetApproval(context.Background(), pending.ID)
	if stored.Status != tools.ApprovalDenied || stored.Reason != "keep that file" {
		t.Errorf("stored approval = %+v, want denied with the reason", stored)
	}

	if _, err := r.Approve(context.Background(), pending.ID, ""); !errors.Is(err, tools.ErrAlreadyDecided) {
		t.Errorf("Approve() after Deny error = %v, want ErrAlreadyDecided", err)
	}
}

func TestDecideUnknownApproval(t *testing.T) {
	r, _, _ := newTestRegistry(t, tools.WithApprovalStore(&toolstest.Approvals{}))

	_, err := r.Approve(context.Background(), "missing-id", "")
	if !errors.Is(err, tools.ErrApprovalNotFound) {
		t.Errorf("Approve(missing) error = %v, want ErrApprovalNotFound", err)
	}
	if err != nil && !strings.Contains(err.Error(), `"missing-id"`) {
		t.Errorf("Approve(missing) error = %q, want it to name the id", err)
	}
	_, err = r.Deny(context.Background(), "missing-id", "")
	if !errors.Is(err, tools.ErrApprovalNotFound) {
		t.Errorf("Deny(missing) error = %v, want ErrApprovalNotFound", err)
	}
}

func TestHighRiskWithoutStore(t *testing.T) {
	r, log, runs := newTestRegistry(t)

	res := r.Execute(context.Background(), llm.ToolCall{ID: "c", Name: "delete", Arguments: `{"path":"x"}`})

	if !res.IsError || !strings.Contains(res.Content, "no approval store") {
		t.Errorf("Execute() = %+v, want an error result naming the missing approval store", res)
	}
	if got := len(runs.get("delete")); got != 0 {
		t.Errorf("runs of delete = %d, want 0", got)
	}
	if got := len(log.all()); got != 1 {
		t.Errorf("logged entries = %d, want 1", got)
	}
	if _, err := r.Approve(context.Background(), "x", ""); err == nil || !strings.Contains(err.Error(), "WithApprovalStore") {
		t.Errorf("Approve() error = %v, want one that says to use WithApprovalStore", err)
	}
}

func TestHighRiskStoreFailure(t *testing.T) {
	store := &toolstest.Approvals{CreateErr: errors.New("database is locked")}
	r, log, _ := newTestRegistry(t, tools.WithApprovalStore(store))

	res := r.Execute(context.Background(), llm.ToolCall{ID: "c", Name: "delete", Arguments: `{"path":"x"}`})

	if want := `tool "delete": store approval request: database is locked`; res.Content != want || !res.IsError || res.Pending != nil {
		t.Errorf("Execute() = %+v, want error result %q", res, want)
	}
	entries := log.all()
	if len(entries) != 1 || entries[0].exec.Status != audit.StatusError {
		t.Errorf("logged entries = %+v, want one error entry", entries)
	}
}

func TestExecuteEmptyToolName(t *testing.T) {
	r, log, _ := newTestRegistry(t)

	res := r.Execute(context.Background(), llm.ToolCall{ID: "c", Name: "", Arguments: `{}`})

	if !res.IsError || !strings.HasPrefix(res.Content, `unknown tool ""`) {
		t.Errorf("Execute() = %+v, want an unknown tool error", res)
	}
	entries := log.all()
	if len(entries) != 1 || entries[0].exec.ToolName != "(empty)" {
		t.Errorf("logged entries = %+v, want one under the name (empty)", entries)
	}
}

func TestExecuteWithoutLogger(t *testing.T) {
	r := tools.NewRegistry(tools.WithAuditLogger(nil))
	r.Register(tools.Tool{Name: "echo", Run: okRun})

	res := r.Execute(context.Background(), llm.ToolCall{ID: "c", Name: "echo", Arguments: `{}`})

	if res.Content != "ok" {
		t.Errorf("Execute() = %+v, want content ok", res)
	}
}

func TestApproveToolNotRegistered(t *testing.T) {
	store := &toolstest.Approvals{}
	creator, _, _ := newTestRegistry(t, tools.WithApprovalStore(store))
	pending := creator.Execute(audit.WithChatID(context.Background(), "chat-1"),
		llm.ToolCall{ID: "c", Name: "delete", Arguments: `{"path":"x"}`}).Pending

	// A registry without the tool, as in a process started without it.
	log := newTrailLog(t)
	other := tools.NewRegistry(tools.WithApprovalStore(store), tools.WithAuditLogger(log.logger))
	res, err := other.Approve(context.Background(), pending.ID, "")
	if err != nil {
		t.Fatalf("Approve() error = %v", err)
	}
	if want := `approved tool "delete" is not registered; no tools are registered`; !res.IsError || res.Content != want {
		t.Errorf("Approve() = %+v, want error result %q", res, want)
	}
	entries := log.all()
	if len(entries) != 1 || entries[0].exec.ApprovalID != pending.ID || entries[0].exec.Status != audit.StatusError || entries[0].chatID != "chat-1" {
		t.Errorf("logged entries = %+v, want one error for approval %s in chat-1", entries, pending.ID)
	}
}

func TestExecuteUnknownToolEmptyRegistry(t *testing.T) {
	reg := tools.NewRegistry()

	res := reg.Execute(context.Background(), llm.ToolCall{ID: "c1", Name: "nope", Arguments: `{}`})

	if !res.IsError {
		t.Errorf("Execute() IsError = false, want true")
	}
	if want := `unknown tool "nope"; no tools are registered`; res.Content != want {
		t.Errorf("Execute() content = %q, want %q", res.Content, want)
	}
}
