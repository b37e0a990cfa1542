package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/agent/agenttest"
	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/tools"
	"github.com/agentaudit/agentaudit/tools/toolstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fixture struct {
	w         *agent.Workflow
	model     *agenttest.Model
	history   *agenttest.History
	approvals *toolstest.Approvals
	trail     *toolstest.Trail
	logger    *audit.Logger

	mu      sync.Mutex
	written []string
}

// newFixture returns a workflow with a scripted model and three tools:
// "lookup" (low risk, returns "found <key>"), "explode" (low risk, panics)
// and "write" (high risk, records what it writes).
func newFixture(t *testing.T, steps ...agenttest.Step) *fixture {
	t.Helper()
	f := &fixture{
		model:     agenttest.NewModel(steps...),
		history:   &agenttest.History{},
		approvals: &toolstest.Approvals{},
		trail:     &toolstest.Trail{},
	}
	f.logger = audit.New(f.trail)
	t.Cleanup(func() {
		if err := f.logger.Close(context.Background()); err != nil {
			t.Errorf("Logger.Close() = %v", err)
		}
	})
	reg := tools.NewRegistry(tools.WithApprovalStore(f.approvals), tools.WithAuditLogger(f.logger))
	reg.Register(tools.Tool{
		Name:        "lookup",
		Description: "Look a key up.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"key":{"type":"string"}},"required":["key"]}`),
		Run: func(ctx context.Context, args json.RawMessage) (string, error) {
			var a struct{ Key string }
			if err := json.Unmarshal(args, &a); err != nil {
				return "", err
			}
			return "found " + a.Key, nil
		},
	})
	reg.Register(tools.Tool{
		Name: "explode",
		Run:  func(ctx context.Context, args json.RawMessage) (string, error) { panic("wires crossed") },
	})
	reg.Register(tools.Tool{
		Name: "write",
		Risk: tools.RiskHigh,
		Run: func(ctx context.Context, args json.RawMessage) (string, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.written = append(f.written, string(args))
			return "written", nil
		},
	})
	f.w = &agent.Workflow{
		Model:     f.model,
		ModelName: "test-model",
		Registry:  reg,
		History:   f.history,
		Approvals: f.approvals,
		System:    "You are terse.",
	}
	return f
}

func (f *fixture) messages(t *testing.T, chatID string) []llm.Message {
	t.Helper()
	msgs, err := f.history.LoadMessages(context.Background(), chatID)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// executions flushes the logger and returns the tool executions written,
// with the chat ID of each.
func (f *fixture) executions(t *testing.T) ([]audit.ToolExecution, []string) {
	t.Helper()
	if err := f.logger.Flush(context.Background()); err != nil {
		t.Fatalf("Logger.Flush() = %v", err)
	}
	if st := f.logger.Stats(); st.Invalid > 0 || st.Dropped > 0 || st.Failed > 0 {
		t.Fatalf("Logger.Stats() = %+v, want no invalid, dropped or failed entries", st)
	}
	execs, chats, err := f.trail.ToolExecutions()
	if err != nil {
		t.Fatal(err)
	}
	return execs, chats
}

func call(id, name, args string) llm.ToolCall {
	return llm.ToolCall{ID: id, Name: name, Arguments: args}
}

func TestRunAnswer(t *testing.T) {
	f := newFixture(t, agenttest.Answer("Hello."))

	out, err := f.w.Run(context.Background(), "chat-1", "Hi")
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if out.Status != agent.StatusAnswered || out.Answer != "Hello." || out.Steps != 1 || out.ChatID != "chat-1" {
		t.Errorf("Run() = %+v, want answered %q in 1 step", out, "Hello.")
	}

	reqs := f.model.Requests()
	if len(reqs) != 1 {
		t.Fatalf("model requests = %d, want 1", len(reqs))
	}
	req := reqs[0]
	if req.Model != "test-model" {
		t.Errorf("request model = %q, want %q", req.Model, "test-model")
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != llm.RoleSystem || req.Messages[1].Content != "Hi" {
		t.Errorf("request messages = %+v, want system then user", req.Messages)
	}
	if len(req.Tools) != 3 {
		t.Errorf("request tools = %d, want 3", len(req.Tools))
	}
	if got := audit.ChatID(f.model.Contexts()[0]); got != "chat-1" {
		t.Errorf("model context chat ID = %q, want %q", got, "chat-1")
	}

	msgs := f.messages(t, "chat-1")
	if len(msgs) != 2 || msgs[0].Role != llm.RoleUser || msgs[1].Role != llm.RoleAssistant {
		t.Errorf("history = %+v, want user then assistant", msgs)
	}
}

func TestRunToolErrorsKeepLoopGoing(t *testing.T) {
	tests := []struct {
		name        string
		call        llm.ToolCall
		wantContent string
		wantError   bool
	}{
		{"success", call("c1", "lookup", `{"key":"k"}`), "found k", false},
		{"unknown tool", call("c1", "nope", `{}`), `unknown tool "nope"; available tools: lookup, explode, write`, true},
		{"malformed arguments", call("c1", "lookup", `{"key":`), `invalid arguments for tool "lookup": arguments are not valid JSON`, true},
		{"missing property", call("c1", "lookup", `{}`), `invalid arguments for tool "lookup": missing required properties: "key"`, true},
		{"tool panic", call("c1", "explode", `{}`), `tool "explode" panicked: wires crossed`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, agenttest.Call(tt.call), agenttest.Answer("done"))

			out, err := f.w.Run(context.Background(), "chat-1", "go")
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			if out.Status != agent.StatusAnswered || out.Steps != 2 {
				t.Errorf("Run() = %+v, want answered in 2 steps", out)
			}

			reqs := f.model.Requests()
			if len(reqs) != 2 {
				t.Fatalf("model requests = %d, want 2", len(reqs))
			}
			msgs := reqs[1].Messages
			toolMsg := msgs[len(msgs)-1]
			if toolMsg.Role != llm.RoleTool || toolMsg.ToolCallID != "c1" || toolMsg.ToolName != tt.call.Name {
				t.Fatalf("last message of second request = %+v, want the tool result of c1", toolMsg)
			}
			if !strings.HasPrefix(toolMsg.Content, tt.wantContent) {
				t.Errorf("tool result = %q, want prefix %q", toolMsg.Content, tt.wantContent)
			}
			if toolMsg.IsError != tt.wantError {
				t.Errorf("tool result IsError = %v, want %v", toolMsg.IsError, tt.wantError)
			}

			execs, chats := f.executions(t)
			if len(execs) != 1 {
				t.Fatalf("logged executions = %d, want 1", len(execs))
			}
			wantStatus := audit.StatusSuccess
			if tt.wantError {
				wantStatus = audit.StatusError
			}
			if got := execs[0].Status; got != wantStatus {
				t.Errorf("logged status = %q, want %q", got, wantStatus)
			}
			if got := chats[0]; got != "chat-1" {
				t.Errorf("logged chat ID = %q, want %q", got, "chat-1")
			}
		})
	}
}

func TestRunStepLimit(t *testing.T) {
	f := newFixture(t,
		agenttest.Call(call("c1", "lookup", `{"key":"a"}`)),
		agenttest.Call(call("c2", "lookup", `{"key":"b"}`)),
		agenttest.Answer("never reached"),
	)
	f.w.MaxSteps = 2

	out, err := f.w.Run(context.Background(), "chat-1", "loop")
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if out.Status != agent.StatusStepLimit || out.Steps != 2 {
		t.Errorf("Run() = %+v, want step limit after 2 steps", out)
	}
	if got := len(f.model.Requests()); got != 2 {
		t.Errorf("model requests = %d, want 2", got)
	}
	if execs, _ := f.executions(t); len(execs) != 2 {
		t.Errorf("logged executions = %d, want 2", len(execs))
	}

	// A new user message starts a new count.
	out, err = f.w.Run(context.Background(), "chat-1", "stop now")
	if err != nil {
		t.Fatalf("second Run() error = %v", err)
	}
	if out.Status != agent.StatusAnswered {
		t.Errorf("second Run() status = %q, want %q", out.Status, agent.StatusAnswered)
	}
	var steps []int
	for _, ctx := range f.model.Contexts() {
		steps = append(steps, llm.Step(ctx))
	}
	if got, want := fmt.Sprint(steps), "[1 2 1]"; got != want {
		t.Errorf("model call steps = %s, want %s", got, want)
	}
}

func TestRunModelError(t *testing.T) {
	apiErr := &llm.APIError{Provider: "scripted", StatusCode: 429, Message: "slow down"}
	f := newFixture(t, agenttest.Step{Err: apiErr}, agenttest.Answer("recovered"))

	out, err := f.w.Run(context.Background(), "chat-1", "hi")
	var got *llm.APIError
	if !errors.As(err, &got) || got.StatusCode != 429 {
		t.Fatalf("Run() error = %v, want the model's *llm.APIError", err)
	}
	if !strings.Contains(err.Error(), `chat "chat-1" step 1`) {
		t.Errorf("Run() error = %q, want it to name the chat and step", err)
	}
	if out.Steps != 1 {
		t.Errorf("Run().Steps = %d, want 1", out.Steps)
	}

	// Resume retries the turn with the stored user message.
	out, err = f.w.Resume(context.Background(), "chat-1")
	if err != nil {
		t.Fatalf("Resume() error = %v", err)
	}
	if out.Status != agent.StatusAnswered || out.Answer != "recovered" {
		t.Errorf("Resume() = %+v, want answered %q", out, "recovered")
	}
	if msgs := f.model.Requests()[1].Messages; msgs[len(msgs)-1].Content != "hi" {
		t.Errorf("retried request ends with %+v, want the user message", msgs[len(msgs)-1])
	}
}

func TestPauseApproveResume(t *testing.T) {
	f := newFixture(t,
		agenttest.Call(
			call("c1", "lookup", `{"key":"a"}`),
			call("c2", "write", `{"path":"x"}`),
			call("c3", "lookup", `{"key":"b"}`),
		),
		agenttest.Answer("all done"),
	)
	ctx := context.Background()

	out, err := f.w.Run(ctx, "chat-1", "do it")
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if out.Status != agent.StatusPendingApproval || len(out.Pending) != 1 {
		t.Fatalf("Run() = %+v, want one pending approval", out)
	}
	approvalID := out.Pending[0].ID
	if got := len(f.written); got != 0 {
		t.Errorf("writes before approval = %d, want 0", got)
	}

	// While the approval is pending, the chat takes no new message and
	// Resume calls no model.
	_, err = f.w.Run(ctx, "chat-1", "hurry")
	if !errors.Is(err, agent.ErrPendingApprovals) || !strings.Contains(err.Error(), approvalID) {
		t.Errorf("Run() while pending error = %v, want ErrPendingApprovals naming %s", err, approvalID)
	}
	out, err = f.w.Resume(ctx, "chat-1")
	if err != nil || out.Status != agent.StatusPendingApproval {
		t.Errorf("Resume() while pending = %+v, %v, want pending", out, err)
	}
	if got := len(f.model.Requests()); got != 1 {
		t.Errorf("model requests while pending = %d, want 1", got)
	}

	dec, err := f.w.Approve(ctx, approvalID, "fine")
	if err != nil {
		t.Fatalf("Approve() error = %v", err)
	}
	if dec.Result.Content != "written" || len(dec.Remaining) != 0 || dec.Approval.Status != tools.ApprovalApproved {
		t.Errorf("Approve() = %+v, want written, approved, none remaining", dec)
	}
	if len(f.written) != 1 || f.written[0] != `{"path":"x"}` {
		t.Errorf("writes = %q, want one with the stored arguments", f.written)
	}

	out, err = f.w.Resume(ctx, "chat-1")
	if err != nil {
		t.Fatalf("Resume() error = %v", err)
	}
	if out.Status != agent.StatusAnswered || out.Answer != "all done" || out.Steps != 1 {
		t.Errorf("Resume() = %+v, want answered in 1 step", out)
	}

	reqs := f.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("model requests = %d, want 2", len(reqs))
	}
	if got := llm.Step(f.model.Contexts()[1]); got != 2 {
		t.Errorf("step of the resumed model call = %d, want 2", got)
	}
	wantResults := []struct{ id, content string }{{"c1", "found a"}, {"c2", "written"}, {"c3", "found b"}}
	msgs := reqs[1].Messages
	tail := msgs[len(msgs)-3:]
	for i, want := range wantResults {
		if tail[i].Role != llm.RoleTool || tail[i].ToolCallID != want.id || tail[i].Content != want.content {
			t.Errorf("request tool message %d = %+v, want %s %q", i, tail[i], want.id, want.content)
		}
	}
	if n := countRole(msgs, llm.RoleTool); n != 3 {
		t.Errorf("tool messages in request = %d, want exactly one per call (3)", n)
	}

	// Three executions: two direct low-risk runs and the approved write.
	execs, chats := f.executions(t)
	if len(execs) != 3 {
		t.Fatalf("logged executions = %d, want 3", len(execs))
	}
	write := execs[2]
	if write.ToolName != "write" || write.ApprovalID != approvalID || write.Risk != "high" || write.Status != audit.StatusSuccess {
		t.Errorf("logged write = %+v, want approved high-risk success", write)
	}
	if got := chats[2]; got != "chat-1" {
		t.Errorf("logged write chat ID = %q, want %q", got, "chat-1")
	}
}

func TestPauseDenyResume(t *testing.T) {
	f := newFixture(t,
		agenttest.Call(call("c1", "write", `{"path":"x"}`)),
		agenttest.Answer("understood"),
	)
	ctx := context.Background()

	out, err := f.w.Run(ctx, "chat-1", "write it")
	if err != nil || len(out.Pending) != 1 {
		t.Fatalf("Run() = %+v, %v, want one pending approval", out, err)
	}

	dec, err := f.w.Deny(ctx, out.Pending[0].ID, "not today")
	if err != nil {
		t.Fatalf("Deny() error = %v", err)
	}
	if want := "denied by a human: not today"; dec.Result.Content != want || !dec.Result.IsError {
		t.Errorf("Deny().Result = %+v, want error %q", dec.Result, want)
	}

	out, err = f.w.Resume(ctx, "chat-1")
	if err != nil || out.Status != agent.StatusAnswered {
		t.Fatalf("Resume() = %+v, %v, want answered", out, err)
	}
	msgs := f.model.Requests()[1].Messages
	last := msgs[len(msgs)-1]
	if last.ToolCallID != "c1" || last.Content != "denied by a human: not today" || !last.IsError {
		t.Errorf("request tool message = %+v, want the denial", last)
	}
	if len(f.written) != 0 {
		t.Errorf("writes = %d, want 0", len(f.written))
	}
	if execs, _ := f.executions(t); len(execs) != 0 {
		t.Errorf("logged executions = %d, want 0 for a denied call", len(execs))
	}
}

func TestResumeDecidedOnStore(t *testing.T) {
	f := newFixture(t,
		agenttest.Call(call("c1", "write", `{"path":"x"}`)),
		agenttest.Answer("ok"),
	)
	ctx := context.Background()
	out, _ := f.w.Run(ctx, "chat-1", "write it")

	// A denial recorded on the store alone, as another process would.
	if _, err := f.approvals.DecideApproval(ctx, out.Pending[0].ID, tools.ApprovalDenied, "by policy", out.Pending[0].CreatedAt); err != nil {
		t.Fatal(err)
	}

	out, err := f.w.Resume(ctx, "chat-1")
	if err != nil || out.Status != agent.StatusAnswered {
		t.Fatalf("Resume() = %+v, %v, want answered", out, err)
	}
	msgs := f.model.Requests()[1].Messages
	if last := msgs[len(msgs)-1]; last.Content != "denied by a human: by policy" {
		t.Errorf("request tool message = %+v, want the denial", last)
	}
}

func TestRunSettlesInterruptedCall(t *testing.T) {
	f := newFixture(t, agenttest.Answer("ok"))
	ctx := context.Background()
	// A turn that stopped after the assistant message was stored.
	f.history.AppendMessages(ctx, "chat-1", []llm.Message{
		{Role: llm.RoleUser, Content: "go"},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call("c1", "lookup", `{"key":"a"}`)}},
	})

	if _, err := f.w.Run(ctx, "chat-1", "again"); err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	msgs := f.model.Requests()[0].Messages
	toolMsg := msgs[len(msgs)-2]
	if toolMsg.ToolCallID != "c1" || !toolMsg.IsError || !strings.Contains(toolMsg.Content, "interrupted") {
		t.Errorf("request message before the user's = %+v, want an interrupted result for c1", toolMsg)
	}
}

func TestResumeNothing(t *testing.T) {
	f := newFixture(t, agenttest.Answer("hello"))
	ctx := context.Background()

	if _, err := f.w.Resume(ctx, "chat-1"); !errors.Is(err, agent.ErrNothingToResume) {
		t.Errorf("Resume(empty chat) error = %v, want ErrNothingToResume", err)
	}
	if _, err := f.w.Run(ctx, "chat-1", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.w.Resume(ctx, "chat-1"); !errors.Is(err, agent.ErrNothingToResume) {
		t.Errorf("Resume(answered chat) error = %v, want ErrNothingToResume", err)
	}
}

func TestRunInvalidInput(t *testing.T) {
	tests := []struct {
		name    string
		w       *agent.Workflow
		chatID  string
		message string
		want    string
	}{
		{"no model", &agent.Workflow{History: &agenttest.History{}}, "c", "hi", "Workflow.Model is nil"},
		{"no history", &agent.Workflow{Model: agenttest.NewModel()}, "c", "hi", "Workflow.History is nil"},
		{"empty chat ID", &agent.Workflow{Model: agenttest.NewModel(), History: &agenttest.History{}}, "", "hi", "chat ID is empty"},
		{"empty message", &agent.Workflow{Model: agenttest.NewModel(), History: &agenttest.History{}}, "c", "  ", "user message is empty"},
		{"chat ID too long", &agent.Workflow{Model: agenttest.NewModel(), History: &agenttest.History{}}, strings.Repeat("c", audit.MaxChatIDBytes+1), "hi", "has 1025 bytes; pass at most 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.w.Run(context.Background(), tt.chatID, tt.message)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestApproveUnknown(t *testing.T) {
	f := newFixture(t)

	_, err := f.w.Approve(context.Background(), "no-such-id", "")
	if !errors.Is(err, tools.ErrApprovalNotFound) {
		t.Errorf("Approve() error = %v, want ErrApprovalNotFound", err)
	}
}

func countRole(msgs []llm.Message, role llm.Role) int {
	n := 0
	for _, m := range msgs {
		if m.Role == role {
			n++
		}
	}
	return n
}

func TestRunHistoryFailure(t *testing.T) {
	f := newFixture(t, agenttest.Answer("never"))
	f.history.AppendErr = errors.New("disk I/O error")

	_, err := f.w.Run(context.Background(), "chat-1", "hi")

	if err == nil || !strings.Contains(err.Error(), `store user message of chat "chat-1": disk I/O error`) {
		t.Errorf("Run() error = %v, want the store failure naming the chat", err)
	}
	if got := len(f.model.Requests()); got != 0 {
		t.Errorf("model requests = %d, want 0 when the message could not be stored", got)
	}
}
