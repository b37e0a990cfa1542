package main

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// answeredChat runs a chat whose model replies at once and returns its ID.
func answeredChat(t *testing.T, dsn string) string {
	t.Helper()
	r := mustRun(t, "chat", "--db", dsn, "--model", "gpt-4o-mini", "--replay", writeResponses(t, answerBody)[0], "hi")
	return chatIDOf(t, r.stdout)
}

// tableRows splits a table into its header and the lines after it.
func tableRows(t *testing.T, stdout string) (header string, rows []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("table has %d lines, want a header and rows:\n%s", len(lines), stdout)
	}
	return lines[0], lines[1:]
}

func TestLogChatColumn(t *testing.T) {
	dsn, _ := tempDB(t)
	first := answeredChat(t, dsn)
	second := answeredChat(t, dsn)

	header, rows := tableRows(t, mustRun(t, "log", "--db", dsn).stdout)
	if fields := strings.Fields(header); len(fields) < 2 || fields[1] != "CHAT" {
		t.Errorf("log header = %q, want CHAT as the second column", header)
	}
	if len(rows) != 2 {
		t.Fatalf("log rows = %d, want 2", len(rows))
	}
	for i, want := range []string{first, second} {
		if fields := strings.Fields(rows[i]); len(fields) < 2 || fields[1] != want {
			t.Errorf("log row %d = %q, want chat %s in the CHAT column", i, rows[i], want)
		}
	}

	header, rows = tableRows(t, mustRun(t, "log", "--db", dsn, "--chat", first).stdout)
	if strings.Contains(header, "CHAT") {
		t.Errorf("log --chat header = %q, want no CHAT column", header)
	}
	if len(rows) != 1 || strings.Contains(rows[0], first) {
		t.Errorf("log --chat rows = %q, want one row without the chat ID", rows)
	}
}

func TestLogLimitPrintsNewest(t *testing.T) {
	dsn, _ := tempDB(t)
	var chats []string
	for range 3 {
		chats = append(chats, answeredChat(t, dsn))
	}

	r := mustRun(t, "log", "--db", dsn, "--limit", "2", "--format", "json")

	var got []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var entry struct {
			ChatID string `json:"chatId"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		got = append(got, entry.ChatID)
	}
	if want := chats[1:]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("log --limit 2 chats = %v, want the last two entries %v, oldest first", got, want)
	}
}

func TestReadingCommandsNeedExistingDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nothere.db")
	dsn := "sqlite:" + path
	tests := []struct {
		name string
		args []string
	}{
		{"log", []string{"log"}},
		{"usage", []string{"usage"}},
		{"approvals list", []string{"approvals", "list"}},
		{"approve", []string{"approvals", "approve", "0199"}},
		{"deny", []string{"approvals", "deny", "0199", "--reason", "no"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append(tt.args, "--db", dsn)...)

			if r.code != 1 {
				t.Errorf("exit code = %d, want 1; stdout %q", r.code, r.stdout)
			}
			want := `open sqlite "` + path + `": file does not exist; check --db or run ` + cliCommand() + ` migrate --db ` + dsn + ` to create it`
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(%q) = %v, want the database still missing", path, err)
			}
		})
	}
}

// TestLogReadOnlyFile reads the trail from a 0444 file in a directory that
// the reading user may not write. Root may write any file, so as root the
// CLI runs in a child process as the unprivileged user 65534.
func TestLogReadOnlyFile(t *testing.T) {
	dir, err := os.MkdirTemp("", "agentaudit-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o755)
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit.db")
	chat := answeredChat(t, "sqlite:"+path)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(dir, "agentaudit.test")
	if err := copyFile(os.Args[0], binary); err != nil {
		t.Fatalf("copy test binary: %v", err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}

	args := []string{"log", "--db", "sqlite:" + path}
	var r result
	if os.Geteuid() != 0 {
		r = runCLI(t, args...)
	} else {
		r = runCLIAs(t, binary, 65534, args...)
	}
	if r.code != 0 {
		t.Fatalf("agentaudit log on a read-only file: exit code %d, want 0\nstderr:\n%s", r.code, r.stderr)
	}
	if _, rows := tableRows(t, r.stdout); len(rows) != 1 || !strings.Contains(rows[0], chat) {
		t.Errorf("agentaudit log on a read-only file rows = %q, want one row of chat %s", rows, chat)
	}
}

// runCLIAs runs the CLI with args in binary, a copy of the test binary, as
// user uid.
func runCLIAs(t *testing.T, binary string, uid uint32, args ...string) result {
	t.Helper()
	argv, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-test.run=^$")
	cmd.Dir = filepath.Dir(binary)
	cmd.Env = append(os.Environ(), cliChildEnv+"="+string(argv), "HOME="+filepath.Dir(binary))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run %s as user %d: %v", binary, uid, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
