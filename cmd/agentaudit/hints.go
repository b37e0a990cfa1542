package main

import (
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/agent"
)

// fileTools are the tools that the CLI registers for --sandbox, so an
// approval of one of them needs --sandbox to run.
var fileTools = []string{"list_files", "read_file", "search_files", "stat", "write_file"}

// commandLine builds the command lines that the CLI prints as next steps,
// so that they can be pasted as they are. Each line is the way this CLI was
// started, then the arguments quoted for a shell, then --db when the
// command was given a database other than the default one.
type commandLine struct {
	cli string
	// db is the --db value to repeat, or "" when the next command finds
	// the database without it.
	db string
}

// newCommandLine returns the commandLine of the running command. A --db
// that came from AGENTAUDIT_DB is not repeated, because the next command
// reads the same variable. A password in --db is hidden.
func newCommandLine(cmd *cobra.Command, db string) commandLine {
	c := commandLine{cli: cliCommand()}
	if cmd.Flags().Changed("db") && db != defaultDB {
		c.db = hidePassword(db)
	}
	return c
}

// format returns the command line that runs the CLI with args.
func (c commandLine) format(args ...string) string {
	var b strings.Builder
	b.WriteString(c.cli)
	for _, arg := range args {
		b.WriteByte(' ')
		b.WriteString(shellQuote(arg))
	}
	if c.db != "" {
		b.WriteString(" --db ")
		b.WriteString(shellQuote(c.db))
	}
	return b.String()
}

// resumeCommand returns the command line that continues chatID with
// provider and modelName. It passes sandbox and baseURL when they are not
// empty, because the resumed chat needs the same tools and server.
func (c commandLine) resumeCommand(chatID, provider, modelName, sandbox, baseURL string) string {
	args := []string{"chat", "--chat", chatID, "--resume", "--provider", provider, "--model", modelName}
	if sandbox != "" {
		args = append(args, "--sandbox", sandbox)
	}
	if baseURL != "" {
		args = append(args, "--base-url", baseURL)
	}
	return c.format(args...)
}

// nextSteps are the commands that printOutcome offers when a run waits for
// approvals.
type nextSteps struct {
	cmd commandLine
	// sandbox is the absolute sandbox folder that approving a file tool
	// needs, or "" when the chat had none.
	sandbox string
	// resume is the command line that continues the chat, or "" for none.
	resume string
}

// printOutcome prints how a run ended and, when it waits for approvals,
// the exact commands that decide them and continue.
func printOutcome(w io.Writer, out agent.Outcome, next nextSteps) {
	switch out.Status {
	case agent.StatusAnswered:
		fmt.Fprintf(w, "assistant: %s\n", terminalText(out.Answer))
	case agent.StatusStepLimit:
		fmt.Fprintf(w, "stopped: the model was still calling tools when the step limit was reached; send a new message or raise --max-steps\n")
	case agent.StatusPendingApproval:
		fmt.Fprintf(w, "waiting for approval of %d tool call(s):\n", len(out.Pending))
		for _, p := range out.Pending {
			fmt.Fprintf(w, "  %s  %s %s\n", terminalCell(p.ID), terminalCell(p.ToolName), terminalCell(shorten(string(p.Input), 80)))
		}

		// With one call waiting, the commands name it. With several, ID is
		// a placeholder for each of the IDs above.
		id := "ID"
		if len(out.Pending) == 1 {
			id = out.Pending[0].ID
		}
		approve := []string{"approvals", "approve", id}
		if next.sandbox != "" {
			approve = append(approve, "--sandbox", next.sandbox)
		}
		fmt.Fprintf(w, "approve with: %s [--reason R]\n", terminalCell(next.cmd.format(approve...)))
		fmt.Fprintf(w, "deny with:    %s --reason R\n", terminalCell(next.cmd.format("approvals", "deny", id)))
		if next.resume != "" {
			fmt.Fprintf(w, "then resume:  %s\n", terminalCell(next.resume))
		}
	}
}

// absSandbox returns the absolute path of a --sandbox folder, or "" for
// "", so that the commands printed with it work from any folder.
func absSandbox(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sandbox %q: %w", dir, err)
	}
	return abs, nil
}

// hidePassword returns dsn with the password of a URL-shaped data source
// name replaced by "xxxxx".
func hidePassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); !ok {
		return dsn
	}
	return u.Redacted()
}
