// Command agentaudit runs LLM agents with an audit trail and reads the
// trail back: every LLM call and every tool execution of a chat is one row
// of the audit_logs table.
//
// Usage:
//
//	agentaudit demo
//	agentaudit chat --provider openai --model gpt-4o-mini "List my files"
//	agentaudit log --chat ID
//	agentaudit usage
//	agentaudit approvals list --status pending
//	agentaudit migrate
//	agentaudit proxy --upstream https://api.openai.com
//
// The database is named by --db or AGENTAUDIT_DB (default
// sqlite:agentaudit.db). The first SIGINT or SIGTERM stops the command
// gracefully, writing what was logged; a second one exits at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/spool"
	"github.com/agentaudit/agentaudit/store"
)

// defaultDB is the database used when neither --db nor AGENTAUDIT_DB is set.
const defaultDB = "sqlite:agentaudit.db"

// closeTimeout bounds how long the CLI waits, after the command ends or is
// interrupted, for the audit log to be written.
const closeTimeout = 10 * time.Second

func main() {
	ctx, stop := signalContext(context.Background(), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code: 0 on success,
// 1 when the command failed and 2 for invalid usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := newRootCommand(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	// An error may quote a provider's message or a stored value.
	fmt.Fprintf(stderr, "agentaudit: %s\n", terminalText(err.Error()))
	var usage *usageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}

// app holds the global options and opens what the subcommands share.
type app struct {
	db      string
	verbose bool
	stdout  io.Writer
	stderr  io.Writer
	getenv  func(string) string
	log     *slog.Logger
	spool   spoolFlags
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "agentaudit",
		Short: "Run LLM agents with an audit trail and read the trail",
		Long: `agentaudit records every LLM call (model, token usage, duration, status) and
every tool execution (tool, status, input summary, duration) of an agent in
one audit_logs table, tied to the chat it belongs to.

The database is --db, or AGENTAUDIT_DB when --db is not given, in one of
these forms: ` + store.AcceptedForms + `.`,
		Example: `  agentaudit demo
  agentaudit chat --provider openai --model gpt-4o-mini --sandbox ./work "Summarise notes.txt"
  agentaudit log --chat demo-0199... --format json
  agentaudit usage --since 24h`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setup(cmd)
		},
	}
	root.PersistentFlags().StringVar(&a.db, "db", "", "database to use: "+store.AcceptedForms+" (default $AGENTAUDIT_DB or "+defaultDB+")")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log debug messages to stderr")
	a.spool.register(root.PersistentFlags())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{err: fmt.Errorf("%s: %w; see %s --help", cmd.CommandPath(), err, cmd.CommandPath())}
	})

	root.AddCommand(
		newDemoCommand(a),
		newChatCommand(a),
		newApprovalsCommand(a),
		newLogCommand(a),
		newUsageCommand(a),
		newMigrateCommand(a),
		newProxyCommand(a),
		newSpoolCommand(a),
	)
	return root
}

// setup resolves the global options before a subcommand runs.
func (a *app) setup(cmd *cobra.Command) error {
	if !cmd.Flags().Changed("db") {
		a.db = a.getenv("AGENTAUDIT_DB")
		if a.db == "" {
			a.db = defaultDB
		}
	}
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// session is an open database and, for commands that write the trail, the
// audit Logger over it.
type session struct {
	backend store.Backend
	logger  *audit.Logger
	spool   *spool.Spool // nil with --no-spool
	app     *app
}

// openSession opens the database. With withLogger, it also starts an audit
// Logger over it, which close drains.
func (a *app) openSession(ctx context.Context, withLogger bool, opts ...store.Option) (*session, error) {
	// D1's retries and Retry-After waits reach stderr as warnings.
	opts = append([]store.Option{store.WithLogger(a.log)}, opts...)
	b, err := store.Open(ctx, a.db, opts...)
	if err != nil {
		return nil, err
	}
	a.log.Debug("database opened", "db", a.db)
	s := &session{backend: b, app: a}
	if withLogger {
		// The Logger reports lost entries and retries through the CLI's
		// slog logger, so they reach stderr.
		opts := append(store.LoggerOptions(a.db), audit.WithLogger(a.log))
		if s.spool, err = a.openSpool(); err != nil {
			b.Close()
			return nil, err
		}
		if s.spool != nil {
			opts = append(opts, audit.WithSpool(s.spool))
		}
		s.logger = audit.New(b, opts...)
	}
	return s, nil
}

// close writes what the Logger has queued, reports the entries it dropped
// or failed to write, and closes the database. It runs after an interrupt
// too, so its deadline does not derive from ctx's cancellation.
func (s *session) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()

	var errs []error
	if s.logger != nil {
		if err := s.logger.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close audit log: %w", err))
		}
		if st := s.logger.Stats(); st.Dropped > 0 || st.Failed > 0 {
			fmt.Fprintf(s.app.stderr, "agentaudit: audit log lost entries: %d dropped, %d failed to write\n", st.Dropped, st.Failed)
		}
		s.reportSpool()
	}
	// The Logger closes the store too; Close is idempotent on every backend.
	if err := s.backend.Close(); err != nil {
		errs = append(errs, err)
	}
	s.app.log.Debug("database closed", "db", s.app.db)
	return errors.Join(errs...)
}

// usageError marks an error in the command line rather than in the work.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// signalContext returns a context that the first SIGINT or SIGTERM cancels.
// A second signal exits the process at once with status 130. stop releases
// the signals and waits for the watching goroutine to end.
func signalContext(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-signals:
			fmt.Fprintf(stderr, "agentaudit: received %v, stopping; send it again to exit at once\n", sig)
			cancel(fmt.Errorf("received %v", sig))
		case <-done:
			return
		}
		select {
		case sig := <-signals:
			fmt.Fprintf(stderr, "agentaudit: received %v again, exiting\n", sig)
			os.Exit(130)
		case <-done:
		}
	}()

	return ctx, func() {
		signal.Stop(signals)
		close(done)
		wg.Wait()
		cancel(nil)
	}
}
