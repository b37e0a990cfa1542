// Package agent runs the model/tool loop of a chat: it sends the chat's
// history to the model, runs the tool calls the model makes through a
// tools.Registry, and repeats until the model answers, the step limit is
// reached, or a high-risk tool call waits for a human decision.
package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/tools"
)

// DefaultMaxSteps is the number of model calls a Workflow makes for one user
// message when MaxSteps is 0.
const DefaultMaxSteps = 8

var (
	// ErrPendingApprovals is returned by Run for a chat that waits for human
	// decisions on tool calls; decide them, then call Resume.
	ErrPendingApprovals = errors.New("agent: chat waits for approvals")
	// ErrNothingToResume is returned by Resume for a chat whose last turn is
	// a finished answer, or that has no messages.
	ErrNothingToResume = errors.New("agent: nothing to resume")
)

// Workflow runs chats against a model. Its fields are read by every call and
// must not change while one runs. A Workflow is safe for concurrent use by
// different chats, but one chat must be driven by one call at a time,
// because the history store offers no compare-and-swap.
type Workflow struct {
	// Model is called once per step. Pass a model wrapped with llm.Audit to
	// log every call.
	Model llm.Model
	// ModelName is the model requested in every llm.Request, such as
	// "gpt-4o-mini".
	ModelName string
	// Registry runs the tool calls; nil offers no tools.
	Registry *tools.Registry
	// History keeps each chat's messages.
	History HistoryStore
	// Approvals is read by Resume to learn the decisions on a chat's tool
	// calls; it should be the store the Registry writes to.
	Approvals tools.ApprovalStore
	// MaxSteps caps the model calls made for one user message, counted over
	// Run and the Resume calls that continue it; 0 means DefaultMaxSteps.
	MaxSteps int
	// System is sent as the first message of every request and not stored
	// in the history.
	System string
	// MaxTokens caps each response's output; 0 leaves the provider's
	// default.
	MaxTokens int
}

// Status is the way a Run or Resume ended.
type Status string

// The ways a Run or Resume can end without an error.
const (
	// StatusAnswered means the model answered without calling tools.
	StatusAnswered Status = "answered"
	// StatusPendingApproval means the chat waits for human decisions on the
	// approvals listed in Outcome.Pending.
	StatusPendingApproval Status = "pending_approval"
	// StatusStepLimit means the model was still calling tools when the
	// step limit was reached.
	StatusStepLimit Status = "step_limit"
)

// Outcome is the result of Run or Resume.
type Outcome struct {
	ChatID string
	Status Status
	// Answer is the content of the model's last message.
	Answer string
	// Steps is the number of model calls this Run or Resume made.
	Steps int
	// Pending lists the approvals the chat waits for when Status is
	// StatusPendingApproval.
	Pending []tools.Approval
}

// Run appends userMessage to the chat and runs the loop. The context given
// to the model and the tools carries chatID (audit.WithChatID) and, for each
// model call, the step number (llm.WithStep).
//
// A model error ends the run and is returned with the steps made so far;
// the history keeps every message up to the failed call. Run returns an
// error wrapping ErrPendingApprovals when the chat still waits for human
// decisions.
func (w *Workflow) Run(ctx context.Context, chatID, userMessage string) (Outcome, error) {
	if err := w.check(chatID); err != nil {
		return Outcome{}, err
	}
	if strings.TrimSpace(userMessage) == "" {
		return Outcome{}, fmt.Errorf("agent: chat %q: the user message is empty; send some text", chatID)
	}
	ctx = audit.WithChatID(ctx, chatID)

	history, err := w.History.LoadMessages(ctx, chatID)
	if err != nil {
		return Outcome{}, fmt.Errorf("agent: load chat %q: %w", chatID, err)
	}

	// Tool calls left open by an earlier turn get their results first, so
	// that the model sees one result per call.
	history, pending, err := w.settle(ctx, chatID, history)
	if err != nil {
		return Outcome{}, err
	}
	if len(pending) > 0 {
		return Outcome{ChatID: chatID, Status: StatusPendingApproval, Pending: pending},
			fmt.Errorf("agent: chat %q: %w: %s; approve or deny them, then resume the chat", chatID, ErrPendingApprovals, approvalIDs(pending))
	}

	user := llm.Message{Role: llm.RoleUser, Content: userMessage}
	if err := w.History.AppendMessages(ctx, chatID, []llm.Message{user}); err != nil {
		return Outcome{}, fmt.Errorf("agent: store user message of chat %q: %w", chatID, err)
	}
	return w.loop(ctx, chatID, append(history, user))
}

// Resume continues a chat after the humans decided its pending approvals.
// Each decided call gets its tool message (the tool's output when approved
// through Approve, "denied by a human: reason" when denied), and the loop
// goes on. While some approvals are still pending, Resume returns them in an
// Outcome with StatusPendingApproval and calls no model.
//
// Resume also retries a turn whose model call failed. It returns
// ErrNothingToResume when the chat's last message is a final answer.
func (w *Workflow) Resume(ctx context.Context, chatID string) (Outcome, error) {
	if err := w.check(chatID); err != nil {
		return Outcome{}, err
	}
	ctx = audit.WithChatID(ctx, chatID)

	history, err := w.History.LoadMessages(ctx, chatID)
	if err != nil {
		return Outcome{}, fmt.Errorf("agent: load chat %q: %w", chatID, err)
	}
	if len(history) == 0 {
		return Outcome{}, fmt.Errorf("agent: chat %q has no messages: %w; start it with a user message", chatID, ErrNothingToResume)
	}
	if last := history[len(history)-1]; last.Role == llm.RoleAssistant && len(last.ToolCalls) == 0 {
		return Outcome{}, fmt.Errorf("agent: chat %q ended with an answer: %w; send a new user message", chatID, ErrNothingToResume)
	}

	history, pending, err := w.settle(ctx, chatID, history)
	if err != nil {
		return Outcome{}, err
	}
	if len(pending) > 0 {
		return Outcome{ChatID: chatID, Status: StatusPendingApproval, Pending: pending}, nil
	}
	return w.loop(ctx, chatID, history)
}

// loop calls the model and runs its tool calls until it answers, the step
// limit is reached or a tool call waits for approval. history ends with the
// message the model responds to.
func (w *Workflow) loop(ctx context.Context, chatID string, history []llm.Message) (Outcome, error) {
	out := Outcome{ChatID: chatID}
	maxSteps := w.MaxSteps
	if maxSteps <= 0 {
		maxSteps = DefaultMaxSteps
	}

	for {
		step := stepsSinceUser(history) + 1
		if step > maxSteps {
			out.Status = StatusStepLimit
			out.Answer = lastAssistantContent(history)
			return out, nil
		}

		resp, err := w.Model.Generate(llm.WithStep(ctx, step), w.request(history))
		out.Steps++
		if err != nil {
			return out, fmt.Errorf("agent: chat %q step %d: %w", chatID, step, err)
		}

		msg := resp.Message
		msg.Role = llm.RoleAssistant
		msg.ToolCalls = withCallIDs(msg.ToolCalls, step)
		if err := w.History.AppendMessages(ctx, chatID, []llm.Message{msg}); err != nil {
			return out, fmt.Errorf("agent: store step %d of chat %q: %w", step, chatID, err)
		}
		history = append(history, msg)
		out.Answer = msg.Content

		if len(msg.ToolCalls) == 0 {
			out.Status = StatusAnswered
			return out, nil
		}

		results, pending := w.runTools(ctx, msg.ToolCalls)
		if len(results) > 0 {
			if err := w.History.AppendMessages(ctx, chatID, results); err != nil {
				return out, fmt.Errorf("agent: store tool results of step %d of chat %q: %w", step, chatID, err)
			}
			history = append(history, results...)
		}
		if len(pending) > 0 {
			out.Status = StatusPendingApproval
			out.Pending = pending
			return out, nil
		}
	}
}

// runTools executes calls in order. It returns the tool messages of the
// calls that ended and the approvals of those that wait.
func (w *Workflow) runTools(ctx context.Context, calls []llm.ToolCall) ([]llm.Message, []tools.Approval) {
	var msgs []llm.Message
	var pending []tools.Approval
	for _, call := range calls {
		res := w.registry().Execute(ctx, call)
		if res.Pending != nil {
			pending = append(pending, *res.Pending)
			continue
		}
		msgs = append(msgs, toolMessage(call.ID, call.Name, res))
	}
	return msgs, pending
}

func (w *Workflow) request(history []llm.Message) llm.Request {
	msgs := make([]llm.Message, 0, len(history)+1)
	if w.System != "" {
		msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: w.System})
	}
	msgs = append(msgs, pairToolResults(history)...)
	return llm.Request{
		Model:     w.ModelName,
		Messages:  msgs,
		Tools:     w.registry().Specs(),
		MaxTokens: w.MaxTokens,
	}
}

func (w *Workflow) registry() *tools.Registry {
	if w.Registry == nil {
		return emptyRegistry
	}
	return w.Registry
}

var emptyRegistry = tools.NewRegistry()

func (w *Workflow) check(chatID string) error {
	switch {
	case w.Model == nil:
		return errors.New("agent: Workflow.Model is nil; set a model")
	case w.History == nil:
		return errors.New("agent: Workflow.History is nil; set a history store")
	case chatID == "":
		return errors.New("agent: chat ID is empty; pass the ID of the chat to run")
	case len(chatID) > audit.MaxChatIDBytes:
		return fmt.Errorf("agent: chat ID %.40q... has %d bytes; pass at most %d, such as a UUID", chatID, len(chatID), audit.MaxChatIDBytes)
	}
	return nil
}

func toolMessage(callID, toolName string, res tools.Result) llm.Message {
	return llm.Message{
		Role:       llm.RoleTool,
		Content:    res.Content,
		ToolCallID: callID,
		ToolName:   toolName,
		IsError:    res.IsError,
	}
}

// withCallIDs gives an ID to each tool call that came without one, so that
// its result can be paired with it.
func withCallIDs(calls []llm.ToolCall, step int) []llm.ToolCall {
	for i := range calls {
		if calls[i].ID == "" {
			calls[i].ID = fmt.Sprintf("call_step%d_%d", step, i+1)
		}
	}
	return calls
}

// stepsSinceUser counts the assistant messages after the last user message:
// the model calls already made for it.
func stepsSinceUser(history []llm.Message) int {
	n := 0
	for i := len(history) - 1; i >= 0 && history[i].Role != llm.RoleUser; i-- {
		if history[i].Role == llm.RoleAssistant {
			n++
		}
	}
	return n
}

func lastAssistantContent(history []llm.Message) string {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Role == llm.RoleAssistant {
			return history[i].Content
		}
	}
	return ""
}

func approvalIDs(as []tools.Approval) string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return strings.Join(ids, ", ")
}
