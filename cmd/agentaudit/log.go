package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store"
)

func newLogCommand(a *app) *cobra.Command {
	var (
		chatID string
		typ    string
		since  string
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Print the audit trail in the order it was logged",
		Long: `log prints audit entries in the order they were logged: time, type, status,
model or tool, tokens (prompt+completion, with cached input tokens), duration
and a summary. Without --chat the table also names each entry's chat. With
--format json it prints one JSON object per entry, with the metadata as an
object.`,
		Example: `  agentaudit log --chat demo-0199...
  agentaudit log --limit 20
  agentaudit log --type tool_execution --since 1h --format json`,
		Args: cobra.NoArgs,
	}
	format := addFormatFlag(cmd)
	cmd.Flags().StringVar(&chatID, "chat", "", "only entries of this chat ID")
	cmd.Flags().StringVar(&typ, "type", "", "only entries of this type: llm_call or tool_execution")
	cmd.Flags().StringVar(&since, "since", "", "only entries since this time: a duration back from now (24h) or a date or RFC 3339 time")
	cmd.Flags().IntVar(&limit, "limit", 0, "print only the most recent N entries, oldest of them first, as tail does; 0 prints all")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*format); err != nil {
			return err
		}
		f := audit.Filter{ChatID: chatID, Type: audit.EntryType(typ), Limit: limit, Newest: true}
		switch f.Type {
		case "", audit.TypeLLMCall, audit.TypeToolExecution:
		default:
			return usagef("invalid --type %q: use llm_call or tool_execution", typ)
		}
		if limit < 0 {
			return usagef("invalid --limit %d: use 0 for all entries or a positive number", limit)
		}
		var err error
		if f.Since, err = parseSince(since, time.Now()); err != nil {
			return err
		}

		s, err := a.openExisting(cmd.Context(), false, store.WithReadOnly(true))
		if err != nil {
			return err
		}
		err = printLog(cmd.Context(), a.stdout, s.backend, f, *format)
		return joinClose(cmd.Context(), err, s)
	}
	return cmd
}

// printLog prints the entries that f selects from r in format.
func printLog(ctx context.Context, w io.Writer, r audit.Reader, f audit.Filter, format string) error {
	entries, err := r.Entries(ctx, f)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	if format == formatJSON {
		return printLogJSON(w, entries)
	}

	if len(entries) == 0 {
		fmt.Fprintln(w, "no audit entries match")
		return nil
	}
	// Without a chat filter the entries of several chats interleave, so
	// each row names its chat.
	withChat := f.ChatID == ""
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if withChat {
		fmt.Fprintln(tw, "TIME\tCHAT\tTYPE\tSTATUS\tMODEL/TOOL\tTOKENS\tDURATION\tSUMMARY")
	} else {
		fmt.Fprintln(tw, "TIME\tTYPE\tSTATUS\tMODEL/TOOL\tTOKENS\tDURATION\tSUMMARY")
	}
	for _, e := range entries {
		row := describeEntry(e)
		fmt.Fprintf(tw, "%s\t", audit.FormatTime(e.CreatedAt))
		if withChat {
			fmt.Fprintf(tw, "%s\t", terminalCell(chatLabel(e.ChatID)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n",
			terminalCell(string(e.Type)), terminalCell(row.status), terminalCell(row.subject),
			row.tokens, row.duration, terminalCell(row.summary))
	}
	return tw.Flush()
}

// chatLabel returns the chat ID for a table cell, or "(none)" for an entry
// logged outside a chat.
func chatLabel(chatID string) string {
	if chatID == "" {
		return "(none)"
	}
	return chatID
}

func printLogJSON(w io.Writer, entries []audit.Entry) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		metadata := e.Metadata
		if !json.Valid(metadata) {
			// Keep the row visible rather than failing the whole listing.
			quoted, _ := json.Marshal(string(metadata))
			metadata = quoted
		}
		err := enc.Encode(struct {
			ID        string          `json:"id"`
			Type      audit.EntryType `json:"type"`
			ChatID    string          `json:"chatId"`
			CreatedAt string          `json:"createdAt"`
			Metadata  json.RawMessage `json:"metadata"`
		}{e.ID, e.Type, e.ChatID, audit.FormatTime(e.CreatedAt), metadata})
		if err != nil {
			return err
		}
	}
	return nil
}

// logRow is the table text of one entry.
type logRow struct {
	status, subject, tokens, duration, summary string
}

func describeEntry(e audit.Entry) logRow {
	switch e.Type {
	case audit.TypeLLMCall:
		var m audit.LLMCall
		if err := json.Unmarshal(e.Metadata, &m); err != nil {
			return logRow{status: "?", summary: "unreadable metadata: " + err.Error()}
		}
		return describeLLMCall(&m)
	case audit.TypeToolExecution:
		var m audit.ToolExecution
		if err := json.Unmarshal(e.Metadata, &m); err != nil {
			return logRow{status: "?", summary: "unreadable metadata: " + err.Error()}
		}
		return describeToolExecution(&m)
	}
	return logRow{status: "?", summary: shorten(string(e.Metadata), 80)}
}

func describeLLMCall(m *audit.LLMCall) logRow {
	row := logRow{
		status:   string(m.Status),
		subject:  strings.TrimSpace(m.Provider + " " + m.Model),
		tokens:   "unknown",
		duration: fmt.Sprintf("%dms", m.DurationMs),
	}
	if m.Available {
		row.tokens = formatCount(m.PromptTokens) + "+" + formatCount(m.CompletionTokens)
		if m.CachedInputTokens != nil && *m.CachedInputTokens > 0 {
			row.tokens += fmt.Sprintf(" (%d cached)", *m.CachedInputTokens)
		}
	}

	var parts []string
	if m.Step > 0 {
		parts = append(parts, fmt.Sprintf("step %d", m.Step))
	}
	if m.FinishReason != "" {
		parts = append(parts, "finish "+m.FinishReason)
	}
	if m.ResponseModel != "" && m.ResponseModel != m.Model {
		parts = append(parts, "model "+m.ResponseModel)
	}
	if m.Error != "" {
		errText := m.Error
		if m.HTTPStatus != 0 {
			errText = fmt.Sprintf("HTTP %d: %s", m.HTTPStatus, errText)
		}
		parts = append(parts, "error: "+shorten(errText, 80))
	}
	row.summary = strings.Join(parts, ", ")
	return row
}

func describeToolExecution(m *audit.ToolExecution) logRow {
	row := logRow{
		status:   string(m.Status),
		subject:  m.ToolName,
		tokens:   "-",
		duration: fmt.Sprintf("%dms", m.DurationMs),
		summary:  shorten(m.InputSummary, 60),
	}
	if m.Risk == "high" {
		row.subject += " (high risk)"
	}
	if m.ApprovalID != "" {
		row.summary += ", approval " + m.ApprovalID
	}
	if m.Error != "" {
		row.summary += ", error: " + shorten(m.Error, 80)
	}
	return row
}

// joinClose closes s and joins its error to err, the command's own error.
func joinClose(ctx context.Context, err error, s *session) error {
	if closeErr := s.close(ctx); closeErr != nil {
		if err == nil {
			return closeErr
		}
		return fmt.Errorf("%w; also: %v", err, closeErr)
	}
	return err
}

// openExisting opens the database as openSession does, but a SQLite file
// that does not exist is an error rather than a new, empty database: a
// command that reads the trail or decides an approval would find nothing
// there, and a mistyped --db would leave a stray file behind. A command
// that only reads passes store.WithReadOnly(true) in opts, so that a user
// who may only read a SQLite file can run it.
func (a *app) openExisting(ctx context.Context, withLogger bool, opts ...store.Option) (*session, error) {
	s, err := a.openSession(ctx, withLogger, append([]store.Option{store.WithCreate(false)}, opts...)...)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open sqlite %q: file does not exist; check --db or run %s migrate --db %s to create it", pathErr.Path, cliCommand(), shellQuote(a.db))
	}
	return s, err
}
