package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
)

// Execute runs the model's tool call through the approval gate. A low-risk
// tool runs at once. A high-risk tool does not run: Execute stores a pending
// approval and returns a result whose Pending field holds it, and the tool
// runs when Approve is called with the approval's ID.
//
// An unknown tool, arguments that are not a JSON object or miss a required
// property, a tool error, a panic in the tool and a timeout each return an
// error result, so Execute has no Go error to return. Every call that does
// not end pending is logged as one tool_execution entry, with the chat ID of
// ctx.
func (r *Registry) Execute(ctx context.Context, call llm.ToolCall) Result {
	start := r.now()
	exec := execution{call: call, input: json.RawMessage(call.Arguments)}

	t, ok := r.lookup(call.Name)
	if !ok {
		res := errorResult(fmt.Sprintf("unknown tool %q; %s", call.Name, r.availableTools()))
		r.logExecution(ctx, exec, res, start)
		return res
	}
	exec.risk = t.Risk

	args, err := t.schema.check(call.Arguments)
	if err != nil {
		res := errorResult(fmt.Sprintf("invalid arguments for tool %q: %v", t.Name, err))
		r.logExecution(ctx, exec, res, start)
		return res
	}
	exec.input = args

	if t.Risk == RiskHigh {
		return r.requestApproval(ctx, t, call, args, exec, start)
	}

	res := r.run(ctx, t, args)
	r.logExecution(ctx, exec, res, start)
	return res
}

// Approve records a human's approval of a pending call, runs the tool with
// the stored arguments and returns its result, which is logged as one
// tool_execution entry carrying the approval ID. The chat ID of the entry is
// the approval's when ctx carries none.
//
// Approve returns an error, and runs nothing, when the approval does not
// exist (ErrApprovalNotFound), is decided already (ErrAlreadyDecided), or
// the store fails. Failures of the tool itself are in the Result.
func (r *Registry) Approve(ctx context.Context, approvalID, reason string) (Result, error) {
	a, err := r.decide(ctx, approvalID, ApprovalApproved, reason)
	if err != nil {
		return Result{}, err
	}
	if audit.ChatID(ctx) == "" && a.ChatID != "" {
		ctx = audit.WithChatID(ctx, a.ChatID)
	}

	start := r.now()
	exec := execution{
		call:       llm.ToolCall{ID: a.ToolCallID, Name: a.ToolName, Arguments: string(a.Input)},
		input:      a.Input,
		approvalID: a.ID,
	}
	t, ok := r.lookup(a.ToolName)
	if !ok {
		res := errorResult(fmt.Sprintf("approved tool %q is not registered; %s", a.ToolName, r.availableTools()))
		r.logExecution(ctx, exec, res, start)
		return res, nil
	}
	exec.risk = t.Risk

	// The arguments passed the check when the approval was created; check
	// them again because the row may come from another writer.
	args, err := t.schema.check(string(a.Input))
	if err != nil {
		res := errorResult(fmt.Sprintf("invalid arguments for tool %q: %v", t.Name, err))
		r.logExecution(ctx, exec, res, start)
		return res, nil
	}

	res := r.run(ctx, t, args)
	r.logExecution(ctx, exec, res, start)
	return res, nil
}

// Deny records a human's denial of a pending call and returns the result the
// model sees in place of the tool's output. The tool does not run and
// nothing is logged, because the approval row records the decision.
// Errors are those of Approve.
func (r *Registry) Deny(ctx context.Context, approvalID, reason string) (Result, error) {
	a, err := r.decide(ctx, approvalID, ApprovalDenied, reason)
	if err != nil {
		return Result{}, err
	}
	return DeniedResult(a.Reason), nil
}

// DeniedResult returns the error result the model sees for a call that a
// human denied with reason.
func DeniedResult(reason string) Result {
	if reason == "" {
		return errorResult("denied by a human")
	}
	return errorResult("denied by a human: " + reason)
}

func (r *Registry) decide(ctx context.Context, approvalID string, status ApprovalStatus, reason string) (Approval, error) {
	if r.approvals == nil {
		return Approval{}, errors.New("tools: no approval store; create the Registry with WithApprovalStore")
	}
	a, err := r.approvals.DecideApproval(ctx, approvalID, status, reason, r.now().UTC())
	if err != nil {
		return Approval{}, fmt.Errorf("tools: %s approval %q: %w", decisionVerb(status), approvalID, err)
	}
	return a, nil
}

func decisionVerb(s ApprovalStatus) string {
	if s == ApprovalApproved {
		return "approve"
	}
	return "deny"
}

// requestApproval stores a pending approval for a high-risk call. A store
// failure becomes an error result that is logged, because the model's call
// then ends without running.
func (r *Registry) requestApproval(ctx context.Context, t *registeredTool, call llm.ToolCall, args json.RawMessage, exec execution, start time.Time) Result {
	if r.approvals == nil {
		res := errorResult(fmt.Sprintf("tool %q needs human approval, but no approval store is configured", t.Name))
		r.logExecution(ctx, exec, res, start)
		return res
	}
	a := Approval{
		ID:         r.newID(),
		ChatID:     audit.ChatID(ctx),
		ToolName:   t.Name,
		ToolCallID: call.ID,
		Input:      args,
		Status:     ApprovalPending,
		CreatedAt:  r.now().UTC(),
	}
	if err := r.approvals.CreateApproval(ctx, a); err != nil {
		res := errorResult(fmt.Sprintf("tool %q: store approval request: %v", t.Name, err))
		r.logExecution(ctx, exec, res, start)
		return res
	}
	return Result{
		Content: fmt.Sprintf("tool %q awaits human approval (approval ID %s); it has not run yet", t.Name, a.ID),
		Pending: &a,
	}
}

// run calls the tool with the registry's timeout, turning an error, a panic
// or a timeout into an error result.
func (r *Registry) run(ctx context.Context, t *registeredTool, args json.RawMessage) (res Result) {
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			res = errorResult(fmt.Sprintf("tool %q panicked: %v", t.Name, v))
		}
	}()

	out, err := t.Run(ctx, args)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && r.timeout > 0 {
			return errorResult(fmt.Sprintf("tool %q timed out after %s: %v", t.Name, r.timeout, err))
		}
		return errorResult(err.Error())
	}
	return Result{Content: out}
}

func errorResult(msg string) Result {
	return Result{Content: msg, IsError: true}
}
