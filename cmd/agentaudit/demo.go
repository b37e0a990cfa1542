package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm/replay"
)

// demoTranscript holds the model's side of the demo conversation: Chat
// Completions response bodies written for this project (not recorded from
// a live model), one per model call, in file name order. They call
// list_files, read_file twice (one file is missing), then write_file, and
// answer.
//
//go:embed demo/*.response.json
var demoTranscript embed.FS

// demoModel is the model the demo requests; the transcript's responses
// report the dated snapshot gpt-4o-mini-2024-07-18.
const demoModel = "gpt-4o-mini"

const demoSystem = "You are a careful assistant that keeps a project's notes in order. " +
	"Use the file tools to look before you write, and keep summaries short."

const demoMessage = "Read my to-do list and the meeting notes, then write a short summary to notes/summary.md."

// demoFiles seed the demo's sandbox folder.
var demoFiles = map[string]string{
	"README.md":          "# Project notes\n\nNotes and data for the agentaudit demo.\n",
	"notes/todo.txt":     "- renew the TLS certificate before 2026-12-15\n- review the audit trail every Monday\n- ship v0.2 on Friday\n",
	"data/inventory.csv": "item,count\nlaptop,4\nmonitor,7\n",
}

func newDemoCommand(a *app) *cobra.Command {
	var sandbox string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a short recorded agent conversation offline and print its audit trail",
		Long: `demo needs no API key and no network. It serves a conversation written for
this project from a server on 127.0.0.1 and runs it through the official
OpenAI SDK, with file tools in a sandbox folder it creates and fills with a
few files. The model lists the files, reads the to-do list, tries to read a
file that does not exist, and asks to write a summary. Writing is a
high-risk tool call: the demo approves it, as a human reviewer would, and
the file is written. The trail goes to --db; demo then prints it and the
token usage. Each run is a new chat.`,
		Example: `  agentaudit demo
  agentaudit demo --db sqlite:/tmp/demo.db --sandbox /tmp/demo-files`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDemo(cmd.Context(), sandbox)
		},
	}
	cmd.Flags().StringVar(&sandbox, "sandbox", "", "folder for the demo's files, created when missing (default: a new temporary folder)")
	return cmd
}

func (a *app) runDemo(ctx context.Context, sandbox string) (err error) {
	sandbox, err = prepareDemoSandbox(sandbox)
	if err != nil {
		return err
	}
	resps, err := loadDemoTranscript()
	if err != nil {
		return err
	}
	srv, err := replay.NewServer(resps...)
	if err != nil {
		return err
	}
	defer closeReplay(a, srv)

	s, err := a.openSession(ctx, true)
	if err != nil {
		return err
	}
	defer func() { err = joinClose(ctx, err, s) }()

	model, err := newModel(modelConfig{provider: providerOpenAI, baseURL: replayBaseURL(providerOpenAI, srv), replay: true})
	if err != nil {
		return err
	}
	w, closeTools, err := a.newWorkflow(s, model, demoModel, sandbox)
	if err != nil {
		return err
	}
	defer closeTools()
	w.System = demoSystem

	chatID := newChatID("demo")
	fmt.Fprintf(a.stdout, "chat      %s\ndatabase  %s\nsandbox   %s\n\n", chatID, a.db, sandbox)
	fmt.Fprintf(a.stdout, "user: %s\n", demoMessage)

	out, err := w.Run(ctx, chatID, demoMessage)
	if err != nil {
		return err
	}
	for out.Status == agent.StatusPendingApproval {
		if out, err = approveAll(ctx, a, w, out); err != nil {
			return err
		}
	}
	printOutcome(a.stdout, out, nextSteps{cmd: commandLine{cli: cliCommand()}})

	// The trail is read back from the database, so everything logged so far
	// must be written first.
	if err := s.logger.Flush(ctx); err != nil {
		return fmt.Errorf("flush audit log: %w", err)
	}
	fmt.Fprintf(a.stdout, "\naudit trail of chat %s:\n", chatID)
	if err := printLog(ctx, a.stdout, s.backend, audit.Filter{ChatID: chatID}, formatTable); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\ntoken usage of chat %s:\n", chatID)
	if err := printUsage(ctx, a.stdout, s.backend, audit.Filter{ChatID: chatID}, formatTable); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\nread it again with: %s log --db %s --chat %s\n", cliCommand(), shellQuote(a.db), chatID)
	return nil
}

// approveAll approves each pending call, as a human reviewer would after
// reading it, and resumes the chat.
func approveAll(ctx context.Context, a *app, w *agent.Workflow, out agent.Outcome) (agent.Outcome, error) {
	for _, p := range out.Pending {
		fmt.Fprintf(a.stdout, "\n%s needs approval (%s):\n  %s\n", p.ToolName, p.ID, shorten(string(p.Input), 120))
		fmt.Fprintf(a.stdout, "approving it, as a human reviewer would\n")
		dec, err := w.Approve(ctx, p.ID, "reviewed in the demo")
		if err != nil {
			return out, err
		}
		printDecision(a.stdout, dec)
	}
	fmt.Fprintln(a.stdout)
	return w.Resume(ctx, out.ChatID)
}

// prepareDemoSandbox creates the sandbox folder, a new temporary one when
// dir is empty, and writes the seed files that are not there yet.
func prepareDemoSandbox(dir string) (string, error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "agentaudit-demo-")
		if err != nil {
			return "", fmt.Errorf("create demo sandbox: %w", err)
		}
		dir = tmp
	}
	names := make([]string, 0, len(demoFiles))
	for name := range demoFiles {
		names = append(names, name)
	}
	sort.Strings(names)

	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("create demo sandbox %q: %w", dir, err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create demo file: %w", err)
		}
		_, err = f.WriteString(demoFiles[name])
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return "", fmt.Errorf("write demo file %q: %w", p, err)
		}
	}
	return dir, nil
}

// loadDemoTranscript returns the embedded response bodies in order.
func loadDemoTranscript() ([]replay.Response, error) {
	names, err := fs.Glob(demoTranscript, "demo/*.response.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	resps := make([]replay.Response, 0, len(names))
	for _, name := range names {
		body, err := demoTranscript.ReadFile(name)
		if err != nil {
			return nil, err
		}
		resps = append(resps, replay.JSON(200, string(body)))
	}
	return resps, nil
}
