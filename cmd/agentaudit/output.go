package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Output formats of the reading commands.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// addFormatFlag adds --format to cmd and returns where its value lands.
func addFormatFlag(cmd *cobra.Command) *string {
	f := new(string)
	cmd.Flags().StringVar(f, "format", formatTable, "output format: table or json")
	return f
}

func checkFormat(format string) error {
	switch format {
	case formatTable, formatJSON:
		return nil
	}
	return usagef("invalid --format %q: use table or json", format)
}

// parseSince reads --since: a duration back from now, such as 24h or 90m,
// or a time in RFC 3339 (2026-01-02T15:04:05Z) or as a date (2026-01-02,
// midnight UTC).
func parseSince(value string, now time.Time) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(value); err == nil {
		if d < 0 {
			return time.Time{}, usagef("invalid --since %q: the duration is negative; use a positive one such as 24h", value)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, value); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("invalid --since %q: use a duration such as 24h, a date such as 2026-01-02, or an RFC 3339 time", value)
}

// shorten cuts s to max runes, marking the cut with "...", and puts it on
// one line.
func shorten(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-3]) + "..."
}

// formatCount returns n, or "-" when the count is unknown.
func formatCount(n *int64) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

// goRunCommand runs the CLI from the repository root without a binary.
const goRunCommand = "go run ./cmd/agentaudit"

// cliCommand returns the command that runs this CLI again, for the command
// lines the CLI prints.
func cliCommand() string {
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	return cliCommandFor(exe, os.Args[0], os.Getenv("GOCACHE"))
}

// cliCommandFor returns goRunCommand when exe is a binary that go run
// built, and else arg0, the name the CLI was started with, such as
// "agentaudit" or "./agentaudit". Go 1.26 runs such a binary from a
// go-build* folder under the temporary folder. The Go 1.24 release notes
// add that go run caches it in the build cache, whose default folder is
// also named go-build and which gocache names when set, so both count.
func cliCommandFor(exe, arg0, gocache string) string {
	if exe != "" {
		exe = filepath.Clean(exe)
		if gocache != "" && strings.HasPrefix(exe, filepath.Clean(gocache)+string(filepath.Separator)) {
			return goRunCommand
		}
		for _, dir := range strings.Split(filepath.Dir(exe), string(filepath.Separator)) {
			if strings.HasPrefix(dir, "go-build") {
				return goRunCommand
			}
		}
	}
	if arg0 == "" {
		return "agentaudit"
	}
	return shellQuote(arg0)
}

// shellQuote returns s quoted for a POSIX shell when it contains anything
// but letters, digits, commas and the characters -_./:=@%+, so that a
// printed command line can be pasted as it is.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_./:=@%+,", r):
		default:
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
