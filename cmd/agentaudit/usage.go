package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store"
)

func newUsageCommand(a *app) *cobra.Command {
	var chatID, since string
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Total the LLM calls, tokens and errors by model and by chat",
		Long: `usage totals the llm_call entries by provider and model, and by chat:
calls, errors, prompt, completion, total, cached input and reasoning tokens.
Calls whose provider reported no usage are counted under UNKNOWN and add
nothing to the token columns; a "-" means no call of the group reported that
count. The chat rows also count tool executions and their errors.`,
		Example: `  agentaudit usage
  agentaudit usage --chat demo-0199... --format json
  agentaudit usage --since 2026-01-02`,
		Args: cobra.NoArgs,
	}
	format := addFormatFlag(cmd)
	cmd.Flags().StringVar(&chatID, "chat", "", "only entries of this chat ID")
	cmd.Flags().StringVar(&since, "since", "", "only entries since this time: a duration back from now (24h) or a date or RFC 3339 time")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*format); err != nil {
			return err
		}
		f := audit.Filter{ChatID: chatID}
		var err error
		if f.Since, err = parseSince(since, time.Now()); err != nil {
			return err
		}

		s, err := a.openExisting(cmd.Context(), false, store.WithReadOnly(true))
		if err != nil {
			return err
		}
		err = printUsage(cmd.Context(), a.stdout, s.backend, f, *format)
		return joinClose(cmd.Context(), err, s)
	}
	return cmd
}

// usageTotals is the sum over a group of entries. A nil token count means
// that no call of the group reported it.
type usageTotals struct {
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
	ChatID   string `json:"chatId,omitempty"`

	Calls  int `json:"calls"`
	Errors int `json:"errors"`
	// UnknownUsage counts the calls without usage, which add nothing to the
	// token counts.
	UnknownUsage      int    `json:"unknownUsage"`
	PromptTokens      *int64 `json:"promptTokens"`
	CompletionTokens  *int64 `json:"completionTokens"`
	TotalTokens       *int64 `json:"totalTokens"`
	CachedInputTokens *int64 `json:"cachedInputTokens"`
	ReasoningTokens   *int64 `json:"reasoningTokens"`

	ToolExecutions int `json:"toolExecutions"`
	ToolErrors     int `json:"toolErrors"`
}

// usageReport is the output of the usage command.
type usageReport struct {
	Total   usageTotals    `json:"total"`
	ByModel []*usageTotals `json:"byModel"`
	ByChat  []*usageTotals `json:"byChat"`
	// Unreadable counts entries whose metadata could not be decoded.
	Unreadable int `json:"unreadable"`
}

func printUsage(ctx context.Context, w io.Writer, r audit.Reader, f audit.Filter, format string) error {
	entries, err := r.Entries(ctx, f)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	report := summariseUsage(entries)
	if format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return printUsageTable(w, report)
}

// summariseUsage totals entries by model and by chat. Models are sorted by
// provider and name, chats by their first entry.
func summariseUsage(entries []audit.Entry) usageReport {
	report := usageReport{ByModel: []*usageTotals{}, ByChat: []*usageTotals{}}
	byModel := map[[2]string]*usageTotals{}
	byChat := map[string]*usageTotals{}

	for _, e := range entries {
		chat := byChat[e.ChatID]
		if chat == nil {
			chat = &usageTotals{ChatID: e.ChatID}
			byChat[e.ChatID] = chat
			report.ByChat = append(report.ByChat, chat)
		}

		switch e.Type {
		case audit.TypeLLMCall:
			var m audit.LLMCall
			if err := json.Unmarshal(e.Metadata, &m); err != nil {
				report.Unreadable++
				continue
			}
			key := [2]string{m.Provider, m.Model}
			model := byModel[key]
			if model == nil {
				model = &usageTotals{Provider: m.Provider, Model: m.Model}
				byModel[key] = model
				report.ByModel = append(report.ByModel, model)
			}
			for _, t := range []*usageTotals{&report.Total, model, chat} {
				t.addCall(&m)
			}
		case audit.TypeToolExecution:
			var m audit.ToolExecution
			if err := json.Unmarshal(e.Metadata, &m); err != nil {
				report.Unreadable++
				continue
			}
			for _, t := range []*usageTotals{&report.Total, chat} {
				t.ToolExecutions++
				if m.Status == audit.StatusError {
					t.ToolErrors++
				}
			}
		}
	}

	sort.Slice(report.ByModel, func(i, j int) bool {
		a, b := report.ByModel[i], report.ByModel[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		return a.Model < b.Model
	})
	return report
}

func (t *usageTotals) addCall(m *audit.LLMCall) {
	t.Calls++
	if m.Status == audit.StatusError {
		t.Errors++
	}
	if !m.Available {
		t.UnknownUsage++
		return
	}
	addCount(&t.PromptTokens, m.PromptTokens)
	addCount(&t.CompletionTokens, m.CompletionTokens)
	addCount(&t.TotalTokens, m.TotalTokens)
	addCount(&t.CachedInputTokens, m.CachedInputTokens)
	addCount(&t.ReasoningTokens, m.ReasoningTokens)
}

// addCount adds v to *sum, leaving *sum nil while every added count is
// unknown.
func addCount(sum **int64, v *int64) {
	if v == nil {
		return
	}
	if *sum == nil {
		*sum = new(int64)
	}
	**sum += *v
}

func printUsageTable(w io.Writer, r usageReport) error {
	if r.Total.Calls == 0 && r.Total.ToolExecutions == 0 {
		fmt.Fprintln(w, "no audit entries match")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	tokens := func(t *usageTotals) string {
		return fmt.Sprintf("%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s",
			t.Calls, t.Errors, t.UnknownUsage,
			formatCount(t.PromptTokens), formatCount(t.CompletionTokens), formatCount(t.TotalTokens),
			formatCount(t.CachedInputTokens), formatCount(t.ReasoningTokens))
	}

	fmt.Fprintln(tw, "PROVIDER\tMODEL\tCALLS\tERRORS\tUNKNOWN\tPROMPT\tCOMPLETION\tTOTAL\tCACHED\tREASONING")
	for _, m := range r.ByModel {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", terminalCell(m.Provider), terminalCell(m.Model), tokens(m))
	}
	fmt.Fprintf(tw, "all\t\t%s\n", tokens(&r.Total))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHAT\tCALLS\tERRORS\tUNKNOWN\tPROMPT\tCOMPLETION\tTOTAL\tCACHED\tREASONING\tTOOLS\tTOOL ERRORS")
	for _, c := range r.ByChat {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", terminalCell(chatLabel(c.ChatID)), tokens(c), c.ToolExecutions, c.ToolErrors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Unreadable > 0 {
		fmt.Fprintf(w, "\n%d entries have unreadable metadata and are not counted\n", r.Unreadable)
	}
	return nil
}
