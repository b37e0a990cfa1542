package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/store"
	"github.com/agentaudit/agentaudit/tools"
)

func newApprovalsCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List, approve and deny high-risk tool calls",
		Long: `A high-risk tool call (write_file) does not run until a human approves it.
approvals list shows the calls and their state; approve runs the tool and
logs the execution; deny keeps it from running. Both store the result in
the chat, so the model sees it when the chat resumes.`,
	}
	cmd.AddCommand(newApprovalsListCommand(a), newApproveCommand(a), newDenyCommand(a))
	return cmd
}

func newApprovalsListCommand(a *app) *cobra.Command {
	var chatID, status string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List approvals, oldest first",
		Example: `  agentaudit approvals list --status pending`,
		Args:    cobra.NoArgs,
	}
	format := addFormatFlag(cmd)
	cmd.Flags().StringVar(&chatID, "chat", "", "only approvals of this chat ID")
	cmd.Flags().StringVar(&status, "status", "", "only approvals in this state: pending, approved or denied")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*format); err != nil {
			return err
		}
		f := tools.ApprovalFilter{ChatID: chatID, Status: tools.ApprovalStatus(status)}
		switch f.Status {
		case "", tools.ApprovalPending, tools.ApprovalApproved, tools.ApprovalDenied:
		default:
			return usagef("invalid --status %q: use pending, approved or denied", status)
		}

		s, err := a.openExisting(cmd.Context(), false, store.WithReadOnly(true))
		if err != nil {
			return err
		}
		list, err := s.backend.ListApprovals(cmd.Context(), f)
		if err == nil {
			err = printApprovals(a.stdout, list, *format)
		}
		return joinClose(cmd.Context(), err, s)
	}
	return cmd
}

func printApprovals(w io.Writer, list []tools.Approval, format string) error {
	if format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, ap := range list {
			if err := enc.Encode(approvalJSON(ap)); err != nil {
				return err
			}
		}
		return nil
	}

	if len(list) == 0 {
		fmt.Fprintln(w, "no approvals match")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tCHAT\tTOOL\tSTATUS\tINPUT\tREASON")
	for _, ap := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", terminalCell(ap.ID), audit.FormatTime(ap.CreatedAt), terminalCell(ap.ChatID),
			terminalCell(ap.ToolName), terminalCell(string(ap.Status)), terminalCell(shorten(string(ap.Input), 60)), terminalCell(shorten(ap.Reason, 40)))
	}
	return tw.Flush()
}

type approvalRecord struct {
	ID         string          `json:"id"`
	ChatID     string          `json:"chatId"`
	ToolName   string          `json:"toolName"`
	ToolCallID string          `json:"toolCallId"`
	Input      json.RawMessage `json:"input"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason,omitempty"`
	CreatedAt  string          `json:"createdAt"`
	DecidedAt  string          `json:"decidedAt,omitempty"`
}

func approvalJSON(ap tools.Approval) approvalRecord {
	r := approvalRecord{
		ID: ap.ID, ChatID: ap.ChatID, ToolName: ap.ToolName, ToolCallID: ap.ToolCallID,
		Input: ap.Input, Status: string(ap.Status), Reason: ap.Reason, CreatedAt: audit.FormatTime(ap.CreatedAt),
	}
	if !json.Valid(r.Input) {
		r.Input, _ = json.Marshal(string(ap.Input))
	}
	if !ap.DecidedAt.IsZero() {
		r.DecidedAt = audit.FormatTime(ap.DecidedAt)
	}
	return r
}

// decideOptions are the flags of approve and deny.
type decideOptions struct {
	reason  string
	sandbox string
	resume  bool
	baseURL string
	// commands builds the command lines printed as next steps.
	commands commandLine
}

func newApproveCommand(a *app) *cobra.Command {
	var o decideOptions
	cmd := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a pending tool call, run the tool and log it",
		Long: `approve records the approval, runs the tool with the arguments the model
sent and stores its output in the chat. The tool must be available: the file
tools (list_files, read_file, search_files, stat, write_file) need --sandbox
with the folder the chat used, which chat prints in its approve command.

With --resume the chat then continues with the provider and model of its
last LLM call, read from the audit trail; that provider's API key must be
set. Without it, approve prints the command that continues the chat.`,
		Example: `  agentaudit approvals approve 0199... --sandbox ./work --reason "reviewed the diff"
  agentaudit approvals approve 0199... --sandbox ./work --resume`,
		Args: exactArgs(1, "pass the approval ID, from agentaudit approvals list"),
	}
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the call is approved, stored with the decision")
	cmd.Flags().StringVar(&o.sandbox, "sandbox", "", "folder the chat's file tools work in; required to approve a file tool such as write_file")
	cmd.Flags().BoolVar(&o.resume, "resume", false, "continue the chat when no approval of it is left pending")
	cmd.Flags().StringVar(&o.baseURL, "base-url", "", "provider API base URL for --resume")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.commands = newCommandLine(cmd, a.db)
		return a.decide(cmd.Context(), args[0], tools.ApprovalApproved, o)
	}
	return cmd
}

func newDenyCommand(a *app) *cobra.Command {
	var o decideOptions
	cmd := &cobra.Command{
		Use:   "deny ID --reason R",
		Short: "Deny a pending tool call; the tool does not run",
		Long: `deny records the denial and stores "denied by a human: REASON" in the chat
as the call's result, so the model learns why when the chat resumes.`,
		Example: `  agentaudit approvals deny 0199... --reason "do not touch the config"`,
		Args:    exactArgs(1, "pass the approval ID, from agentaudit approvals list"),
	}
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the call is denied, shown to the model (required)")
	cmd.Flags().BoolVar(&o.resume, "resume", false, "continue the chat when no approval of it is left pending")
	cmd.Flags().StringVar(&o.baseURL, "base-url", "", "provider API base URL for --resume")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if o.reason == "" {
			return usagef("deny needs --reason: the model sees it as the call's result")
		}
		o.commands = newCommandLine(cmd, a.db)
		return a.decide(cmd.Context(), args[0], tools.ApprovalDenied, o)
	}
	return cmd
}

// decide approves or denies one approval through the workflow and, with
// --resume, continues the chat.
func (a *app) decide(ctx context.Context, id string, status tools.ApprovalStatus, o decideOptions) (err error) {
	s, err := a.openExisting(ctx, true)
	if err != nil {
		return err
	}
	defer func() { err = joinClose(ctx, err, s) }()

	ap, err := s.backend.GetApproval(ctx, id)
	if errors.Is(err, tools.ErrApprovalNotFound) {
		return fmt.Errorf("approval %q not found; list them with agentaudit approvals list", id)
	}
	if err != nil {
		return err
	}
	if ap.Status != tools.ApprovalPending {
		return fmt.Errorf("approval %q was already %s; list pending ones with agentaudit approvals list --status pending", id, ap.Status)
	}

	w, closeTools, err := a.newWorkflow(s, nil, "", o.sandbox)
	if err != nil {
		return err
	}
	defer closeTools()
	sandbox, err := absSandbox(o.sandbox)
	if err != nil {
		return err
	}

	var dec agent.Decision
	if status == tools.ApprovalApproved {
		// Check before deciding, because an approval cannot be taken back
		// once its tool was found missing.
		if _, ok := w.Registry.Lookup(ap.ToolName); !ok {
			return missingToolError(ap, o)
		}
		fmt.Fprintf(a.stdout, "approving %s: %s %s\n", terminalCell(id), terminalCell(ap.ToolName), terminalCell(shorten(string(ap.Input), 80)))
		dec, err = w.Approve(ctx, id, o.reason)
	} else {
		fmt.Fprintf(a.stdout, "denying %s: %s %s\n", terminalCell(id), terminalCell(ap.ToolName), terminalCell(shorten(string(ap.Input), 80)))
		dec, err = w.Deny(ctx, id, o.reason)
	}
	if err != nil {
		return err
	}
	printDecision(a.stdout, dec)

	if len(dec.Remaining) > 0 {
		fmt.Fprintf(a.stdout, "chat %s still waits for %d approval(s)\n", terminalCell(ap.ChatID), len(dec.Remaining))
		return nil
	}
	provider, modelName, err := lastModel(ctx, s.backend, ap.ChatID)
	if err != nil {
		return err
	}
	if !o.resume {
		if provider != "" {
			fmt.Fprintf(a.stdout, "resume with: %s\n", terminalCell(o.commands.resumeCommand(ap.ChatID, provider, modelName, sandbox, o.baseURL)))
		}
		return nil
	}
	return a.resumeChat(ctx, w, s, ap.ChatID, provider, modelName, o.baseURL, nextSteps{cmd: o.commands, sandbox: sandbox})
}

// missingToolError explains why the tool of approval ap is not available
// and what to pass: a file tool needs the chat's --sandbox folder, and any
// other tool belongs to the program that registered it.
func missingToolError(ap tools.Approval, o decideOptions) error {
	if !slices.Contains(fileTools, ap.ToolName) {
		return fmt.Errorf("tool %q of approval %s is not available here: this CLI provides only the file tools %s; decide the approval in the program that registered the tool", ap.ToolName, ap.ID, strings.Join(fileTools, ", "))
	}
	if o.sandbox == "" {
		return fmt.Errorf("tool %q of approval %s is not available here; pass --sandbox DIR with the folder chat %s used, as chat printed it: %s",
			ap.ToolName, ap.ID, ap.ChatID, o.commands.format("approvals", "approve", ap.ID, "--sandbox", "DIR"))
	}
	return fmt.Errorf("tool %q of approval %s is not available with --sandbox %s", ap.ToolName, ap.ID, o.sandbox)
}

// resumeChat continues chatID with the provider and model of its trail.
// When the chat waits for approvals again, it prints next's commands.
func (a *app) resumeChat(ctx context.Context, w *agent.Workflow, s *session, chatID, provider, modelName, baseURL string, next nextSteps) error {
	if provider != providerOpenAI && provider != providerAnthropic {
		return fmt.Errorf("cannot resume chat %s: its provider %q is unknown or not supported; use agentaudit chat --chat %s --resume", chatID, provider, chatID)
	}
	if err := a.checkAPIKey(provider); err != nil {
		return err
	}
	model, err := newModel(modelConfig{provider: provider, baseURL: baseURL})
	if err != nil {
		return err
	}
	w.Model = llm.Audit(model, s.logger)
	w.ModelName = modelName

	out, err := w.Resume(ctx, chatID)
	if err != nil {
		return err
	}
	next.resume = next.cmd.resumeCommand(chatID, provider, modelName, next.sandbox, baseURL)
	printOutcome(a.stdout, out, next)
	return nil
}

func printDecision(w io.Writer, dec agent.Decision) {
	label := "output"
	if dec.Result.IsError {
		label = "error"
	}
	fmt.Fprintf(w, "%s %s: %s\n", terminalCell(dec.Approval.ToolName), label, terminalCell(shorten(dec.Result.Content, 200)))
}

// lastModel returns the provider and model of the chat's last LLM call,
// or empty strings when it has none. A replayed call counts as a call to
// the provider whose API it replayed, such as openai for openai-replay, so
// that the chat can resume against that provider.
func lastModel(ctx context.Context, r audit.Reader, chatID string) (provider, model string, err error) {
	entries, err := r.Entries(ctx, audit.Filter{ChatID: chatID, Type: audit.TypeLLMCall})
	if err != nil {
		return "", "", fmt.Errorf("read audit log of chat %s: %w", chatID, err)
	}
	for i := len(entries) - 1; i >= 0; i-- {
		var m audit.LLMCall
		if json.Unmarshal(entries[i].Metadata, &m) == nil && m.Provider != "" {
			return strings.TrimSuffix(m.Provider, replaySuffix), m.Model, nil
		}
	}
	return "", "", nil
}

// exactArgs is cobra.ExactArgs with a usage error that names what to pass.
func exactArgs(n int, hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d: %s", cmd.CommandPath(), n, len(args), hint)
		}
		return nil
	}
}
