package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/spool"
	"github.com/agentaudit/agentaudit/store"
)

// spoolFlags are the global options of the spool that commands writing
// the audit trail keep entries in while the database cannot take them.
type spoolFlags struct {
	dir  string
	off  bool
	sync string
}

func (f *spoolFlags) register(flags *pflag.FlagSet) {
	flags.StringVar(&f.dir, "spool", "", "folder that keeps audit entries while the database cannot take them (default: DB.spool beside a SQLite file, else under $XDG_STATE_HOME/agentaudit/spool)")
	flags.BoolVar(&f.off, "no-spool", false, "do not spool: drop audit entries the database cannot take, counting them")
	flags.StringVar(&f.sync, "spool-sync", spool.SyncInterval.String(), "when the spool commits entries to disk: interval (every 100ms), always (before each write returns) or none (left to the operating system)")
}

// spoolDir returns the spool folder for the database dsn: --spool when
// given, else the default.
func (a *app) spoolDir() (string, error) {
	if a.spool.dir != "" {
		return a.spool.dir, nil
	}
	return defaultSpoolDir(a.db, a.getenv)
}

// defaultSpoolDir returns the default spool folder of the database dsn: a
// folder named after a SQLite file beside it, or for a server database a
// folder in the user's state directory named after the database without
// its password.
func defaultSpoolDir(dsn string, getenv func(string) string) (string, error) {
	if path, ok := sqlitePath(dsn); ok {
		return path + ".spool", nil
	}
	state := getenv("XDG_STATE_HOME")
	if state == "" || !filepath.IsAbs(state) {
		home := getenv("HOME")
		if home == "" {
			return "", usagef("no folder for the spool of %s: HOME and XDG_STATE_HOME are not set; pass --spool DIR or --no-spool", redactDSN(dsn))
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "agentaudit", "spool", spoolName(dsn)), nil
}

// sqlitePath returns the file of a SQLite data source name, in the forms
// store.Open accepts.
func sqlitePath(dsn string) (string, bool) {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "sqlite:"):
		return strings.TrimPrefix(dsn[len("sqlite:"):], "//"), true
	case strings.Contains(dsn, "://"):
		return "", false
	}
	switch strings.ToLower(filepath.Ext(dsn)) {
	case ".db", ".sqlite", ".sqlite3":
		return dsn, true
	}
	return "", false
}

// spoolName returns a folder name for a server database: its scheme, user,
// host, port and database, without password or parameters, such as
// postgres-app@db.internal-5432-audit.
func spoolName(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" || u.Host == "" {
		// Not a URL: a hash names it without showing any secret in it.
		sum := sha256.Sum256([]byte(dsn))
		return "db-" + hex.EncodeToString(sum[:8])
	}
	parts := []string{u.Scheme}
	host := u.Host
	if u.User != nil && u.User.Username() != "" {
		host = u.User.Username() + "@" + host
	}
	parts = append(parts, strings.ReplaceAll(host, ":", "-"))
	if db := strings.Trim(u.Path, "/"); db != "" {
		parts = append(parts, db)
	}
	return sanitizeName(strings.Join(parts, "-"))
}

// sanitizeName replaces the characters that do not belong in a portable
// file name with underscores.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '@':
			return r
		}
		return '_'
	}, s)
}

// redactDSN hides the password of a URL-shaped data source name.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}

// openSpool opens the spool of a command that writes the trail, or
// returns nil with --no-spool.
func (a *app) openSpool() (*spool.Spool, error) {
	if a.spool.off {
		if a.spool.dir != "" {
			return nil, usagef("--spool and --no-spool contradict each other; pass one")
		}
		return nil, nil
	}
	mode, err := spool.SyncInterval, error(nil)
	if a.spool.sync != "" {
		mode, err = spool.ParseSyncMode(a.spool.sync)
	}
	if err != nil {
		return nil, usagef("invalid --spool-sync %q: use interval, always or none", a.spool.sync)
	}

	dir, err := a.spoolDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("create the parent of spool folder %q: %w; pass --spool DIR or --no-spool", dir, err)
	}

	sp, err := spool.Open(dir, spool.WithSyncMode(mode), spool.WithLogger(a.log))
	if errors.Is(err, spool.ErrLocked) {
		return nil, fmt.Errorf("%w; pass another --spool DIR, or --no-spool", err)
	}
	if err != nil {
		return nil, err
	}
	if st := sp.Stats(); st.Records > 0 {
		a.log.Info("spool has entries from an earlier run; writing them to the database", "spool", dir, "entries", st.Records)
	}
	a.log.Debug("spool opened", "spool", dir, "sync", mode)
	return sp, nil
}

// reportSpool prints to stderr how many entries the Logger left in the
// spool, and how many the database refused, when the command ends.
func (s *session) reportSpool() {
	if s.spool == nil {
		return
	}
	st := s.spool.Stats()
	if st.Records > 0 {
		fmt.Fprintf(s.app.stderr, "agentaudit: %d audit entries wait in the spool %s because the database did not take them; they are written at the next run, or run: agentaudit spool replay\n",
			st.Records, s.spool.Dir())
	}
	if n := s.logger.Stats().DeadLettered; n > 0 {
		fmt.Fprintf(s.app.stderr, "agentaudit: the database rejected %d audit entries; they are kept in %s\n",
			n, filepath.Join(s.spool.Dir(), spool.DeadLetterName))
	}
}

func newSpoolCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "spool",
		Short: "Inspect the spool or write it to the database",
		Long: `Commands that write the audit trail (chat, demo, proxy, approvals approve)
keep entries in a spool folder while the database cannot take them: when
it is down, locked or slower than the agent. They write the spooled
entries to the database as soon as it is back, and at their next start.
Entries the database refused for good are kept in dead-letter.jsonl in
the folder.

The folder is --spool, by default DB.spool beside a SQLite database file,
and $XDG_STATE_HOME/agentaudit/spool/NAME (~/.local/state/... without
XDG_STATE_HOME) for other databases, NAME being the database URL without
its password.`,
		Example: `  agentaudit spool status
  agentaudit spool replay --db postgres://app@db.internal:5432/audit`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSpoolStatusCommand(a), newSpoolReplayCommand(a))
	return cmd
}

func newSpoolStatusCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show what waits in the spool",
		Long: `status reads the spool folder without changing it, also while another
process uses it, and shows the entries waiting for the database, the
oldest one, the dead letters and any damaged records.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := a.spoolDir()
			if err != nil {
				return err
			}
			st, err := spool.ReadStatus(dir)
			if err != nil {
				return err
			}
			printSpoolStatus(a, st)
			return nil
		},
	}
}

func printSpoolStatus(a *app, st spool.Status) {
	w := a.stdout
	fmt.Fprintf(w, "spool         %s\n", st.Dir)
	fmt.Fprintf(w, "waiting       %d entries in %d segments\n", st.Records, st.Segments)
	fmt.Fprintf(w, "size          %d bytes\n", st.Bytes)
	if !st.Oldest.IsZero() {
		fmt.Fprintf(w, "oldest        %s (%s ago)\n", audit.FormatTime(st.Oldest), time.Since(st.Oldest).Round(time.Second))
	}
	fmt.Fprintf(w, "dead letters  %d", st.DeadLetters)
	if st.DeadLetters > 0 {
		fmt.Fprintf(w, " in %s", filepath.Join(st.Dir, spool.DeadLetterName))
	}
	fmt.Fprintln(w)
	if len(st.Damage) > 0 {
		fmt.Fprintf(w, "damaged       %d regions, whose records are lost:\n", len(st.Damage))
		for _, d := range st.Damage {
			fmt.Fprintf(w, "              %s at offset %d, %d bytes: %s\n", d.Segment, d.Offset, d.Length, d.Reason)
		}
	}
	inUse := "no"
	if st.InUse {
		inUse = "yes, by a running agentaudit process"
	}
	fmt.Fprintf(w, "in use        %s\n", inUse)
}

func newSpoolReplayCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "replay",
		Short: "Write what waits in the spool to the database now",
		Long: `replay writes the entries waiting in the spool to the database, oldest
first, and reports how many it wrote. Entries the database already has are
skipped, so a replay never duplicates a row. It stops early when the
database fails or on SIGINT; what it did not write stays in the spool.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSpoolReplay(cmd.Context())
		},
	}
}

func (a *app) runSpoolReplay(ctx context.Context) error {
	if a.spool.off {
		return usagef("spool replay: --no-spool names no spool; pass --spool DIR or leave it out for the default")
	}
	dir, err := a.spoolDir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(a.stdout, "spool %s does not exist; nothing to replay\n", dir)
		return nil
	}
	sp, err := spool.Open(dir, spool.WithLogger(a.log))
	if errors.Is(err, spool.ErrLocked) {
		return fmt.Errorf("%w; a running command writes this spool to the database itself", err)
	}
	if err != nil {
		return err
	}
	before := sp.Stats()

	b, err := store.Open(ctx, a.db, store.WithLogger(a.log))
	if err != nil {
		sp.Close()
		return err
	}
	// Close writes the spool to the database until it is empty, the
	// database fails or ctx ends.
	opts := append(store.LoggerOptions(a.db), audit.WithSpool(sp), audit.WithLogger(a.log))
	l := audit.New(b, opts...)
	closeErr := l.Close(ctx)
	st := l.Stats()
	after := sp.Stats()

	fmt.Fprintf(a.stdout, "replayed %d of %d entries from %s to %s\n", st.Replayed, before.Records, dir, redactDSN(a.db))
	if st.DeadLettered > 0 {
		fmt.Fprintf(a.stdout, "the database refused %d entries; they are kept in %s\n", st.DeadLettered, filepath.Join(dir, spool.DeadLetterName))
	}
	if after.Records > 0 {
		err := fmt.Errorf("spool replay: %d entries still wait in %s; the database did not take them (see the warnings above), so run replay again later", after.Records, dir)
		return errors.Join(err, closeErr)
	}
	return closeErr
}
