package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/tools"
)

// Decision is the result of approving or denying a tool call through a
// Workflow.
type Decision struct {
	// Approval is the decided approval.
	Approval tools.Approval
	// Result is the tool message stored for the call: the tool's output when
	// approved, the denial when denied.
	Result tools.Result
	// Remaining lists the approvals of the same chat that are still pending.
	// When it is empty, Resume continues the chat.
	Remaining []tools.Approval
}

// Approve approves a pending tool call, runs the tool through
// Registry.Approve (which logs the execution) and stores its output as the
// call's tool message in the chat's history. Call Resume once Remaining is
// empty to let the model continue.
func (w *Workflow) Approve(ctx context.Context, approvalID, reason string) (Decision, error) {
	return w.decide(ctx, approvalID, func(ctx context.Context) (tools.Result, error) {
		return w.Registry.Approve(ctx, approvalID, reason)
	})
}

// Deny denies a pending tool call and stores "denied by a human: reason" as
// its tool message. The tool does not run.
func (w *Workflow) Deny(ctx context.Context, approvalID, reason string) (Decision, error) {
	return w.decide(ctx, approvalID, func(ctx context.Context) (tools.Result, error) {
		return w.Registry.Deny(ctx, approvalID, reason)
	})
}

func (w *Workflow) decide(ctx context.Context, approvalID string, decide func(context.Context) (tools.Result, error)) (Decision, error) {
	switch {
	case w.Registry == nil:
		return Decision{}, errors.New("agent: Workflow.Registry is nil; set the registry that created the approval")
	case w.Approvals == nil:
		return Decision{}, errors.New("agent: Workflow.Approvals is nil; set the approval store")
	case w.History == nil:
		return Decision{}, errors.New("agent: Workflow.History is nil; set a history store")
	}

	a, err := w.Approvals.GetApproval(ctx, approvalID)
	if err != nil {
		return Decision{}, fmt.Errorf("agent: approval %q: %w", approvalID, err)
	}
	ctx = audit.WithChatID(ctx, a.ChatID)

	res, err := decide(ctx)
	if err != nil {
		return Decision{}, err
	}
	if a, err = w.Approvals.GetApproval(ctx, approvalID); err != nil {
		return Decision{}, fmt.Errorf("agent: approval %q: %w", approvalID, err)
	}

	msg := toolMessage(a.ToolCallID, a.ToolName, res)
	if err := w.History.AppendMessages(ctx, a.ChatID, []llm.Message{msg}); err != nil {
		// The decision is stored and the tool may have run. Resume writes a
		// placeholder result for the call, so the chat can still go on.
		return Decision{Approval: a, Result: res}, fmt.Errorf("agent: store the result of approval %q in chat %q: %w", approvalID, a.ChatID, err)
	}

	remaining, err := w.Approvals.ListApprovals(ctx, tools.ApprovalFilter{ChatID: a.ChatID, Status: tools.ApprovalPending})
	if err != nil {
		return Decision{Approval: a, Result: res}, fmt.Errorf("agent: list pending approvals of chat %q: %w", a.ChatID, err)
	}
	return Decision{Approval: a, Result: res, Remaining: remaining}, nil
}

// settle gives each open tool call of the chat's last assistant message a
// tool message from its approval's decision, appending it to the store and
// to history. It returns the approvals that are still pending; while any
// are, the chat cannot go on.
func (w *Workflow) settle(ctx context.Context, chatID string, history []llm.Message) ([]llm.Message, []tools.Approval, error) {
	open := openToolCalls(history)
	if len(open) == 0 {
		return history, nil, nil
	}

	byCall := map[string]tools.Approval{}
	if w.Approvals != nil {
		as, err := w.Approvals.ListApprovals(ctx, tools.ApprovalFilter{ChatID: chatID})
		if err != nil {
			return nil, nil, fmt.Errorf("agent: list approvals of chat %q: %w", chatID, err)
		}
		for _, a := range as {
			byCall[a.ToolCallID] = a
		}
	}

	var settled []llm.Message
	var pending []tools.Approval
	for _, call := range open {
		a, ok := byCall[call.ID]
		switch {
		case !ok:
			settled = append(settled, toolMessage(call.ID, call.Name, tools.Result{
				Content: "no result was recorded for this tool call; it was interrupted before it finished",
				IsError: true,
			}))
		case a.Status == tools.ApprovalPending:
			pending = append(pending, a)
		case a.Status == tools.ApprovalDenied:
			settled = append(settled, toolMessage(call.ID, call.Name, tools.DeniedResult(a.Reason)))
		default:
			// NOTE: an approval decided outside Workflow.Approve (directly on
			// the store or Registry) leaves no output in the history, so the
			// model gets an error result that calls the output unknown.
			settled = append(settled, toolMessage(call.ID, call.Name, tools.Result{
				Content: fmt.Sprintf("approved by a human (approval %s), but the tool's output was not recorded in this chat", a.ID),
				IsError: true,
			}))
		}
	}

	if len(settled) > 0 {
		if err := w.History.AppendMessages(ctx, chatID, settled); err != nil {
			return nil, nil, fmt.Errorf("agent: store decided tool results of chat %q: %w", chatID, err)
		}
		history = append(history, settled...)
	}
	return history, pending, nil
}

// openToolCalls returns the tool calls of the last assistant message that
// have no tool message after it.
func openToolCalls(history []llm.Message) []llm.ToolCall {
	last := -1
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Role == llm.RoleAssistant {
			last = i
			break
		}
	}
	if last < 0 || len(history[last].ToolCalls) == 0 {
		return nil
	}

	answered := map[string]bool{}
	for _, m := range history[last+1:] {
		if m.Role == llm.RoleTool {
			answered[m.ToolCallID] = true
		}
	}
	var open []llm.ToolCall
	for _, call := range history[last].ToolCalls {
		if !answered[call.ID] {
			open = append(open, call)
		}
	}
	return open
}

// pairToolResults returns history as the model must see it: each assistant
// message with tool calls is followed by exactly one tool message per call,
// in call order. A second result for a call and a result for no call are
// dropped, and a call without a result gets an error result, because
// providers reject a conversation where the two do not pair up.
func pairToolResults(history []llm.Message) []llm.Message {
	out := make([]llm.Message, 0, len(history))
	for i := 0; i < len(history); {
		m := history[i]
		i++
		if m.Role == llm.RoleTool {
			// A tool message that follows no assistant message belongs to no call.
			continue
		}
		out = append(out, m)
		if m.Role != llm.RoleAssistant || len(m.ToolCalls) == 0 {
			continue
		}

		results := map[string]llm.Message{}
		for ; i < len(history) && history[i].Role == llm.RoleTool; i++ {
			if _, dup := results[history[i].ToolCallID]; !dup {
				results[history[i].ToolCallID] = history[i]
			}
		}
		for _, call := range m.ToolCalls {
			r, ok := results[call.ID]
			if !ok {
				r = toolMessage(call.ID, call.Name, tools.Result{Content: "no result was recorded for this tool call", IsError: true})
			}
			out = append(out, r)
		}
	}
	return out
}
