package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/store/sqlite"
	"github.com/agentaudit/agentaudit/tools"
	"github.com/agentaudit/agentaudit/tools/builtin"
)

// printedCommand returns the arguments of the command that output prints
// after label, without the way the CLI was started.
func printedCommand(t *testing.T, output, label string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `\s*(.+)$`).FindStringSubmatch(output)
	if m == nil {
		t.Fatalf("output has no %q line:\n%s", label, output)
	}
	line, ok := strings.CutPrefix(m[1], cliCommand()+" ")
	if !ok {
		t.Fatalf("%s line = %q, want it to start with %q", label, m[1], cliCommand())
	}
	// The test paths need no shell quoting, so the line splits on spaces.
	return strings.Fields(strings.TrimSuffix(line, " [--reason R]"))
}

func TestChatPrintsRunnableApproveCommand(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("work", 0o755); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite:" + filepath.Join(dir, "audit.db")
	sandbox := filepath.Join(dir, "work")

	// The sandbox is relative here, and the printed commands name it in
	// full, so that they work from any folder.
	r := mustRun(t, "chat", "--db", dsn, "--model", "gpt-4o-mini", "--sandbox", "work",
		"--replay", writeResponses(t, writeCallBody)[0], "write hello to out.txt")

	approve := printedCommand(t, r.stdout, "approve with:")
	if i := slices.Index(approve, "--sandbox"); i < 0 || i+1 >= len(approve) || approve[i+1] != sandbox {
		t.Errorf("approve command = %q, want --sandbox %s", approve, sandbox)
	}
	if i := slices.Index(approve, "--db"); i < 0 || i+1 >= len(approve) || approve[i+1] != dsn {
		t.Errorf("approve command = %q, want --db %s", approve, dsn)
	}
	resume := printedCommand(t, r.stdout, "then resume:")
	if !slices.Contains(resume, sandbox) {
		t.Errorf("resume command = %q, want --sandbox %s", resume, sandbox)
	}

	// The printed approve command runs as it is, from another folder.
	t.Chdir(t.TempDir())
	out := mustRun(t, approve...)
	if !strings.Contains(out.stdout, "write_file output: wrote 5 bytes to out.txt") {
		t.Errorf("approve output lacks the tool output:\n%s", out.stdout)
	}
	if b, err := os.ReadFile(filepath.Join(sandbox, "out.txt")); err != nil || string(b) != "hello" {
		t.Errorf("out.txt = %q, %v; want hello", b, err)
	}
	resumeAfter := printedCommand(t, out.stdout, "resume with:")
	if i := slices.Index(resumeAfter, "--sandbox"); i < 0 || i+1 >= len(resumeAfter) || resumeAfter[i+1] != sandbox {
		t.Errorf("approve's resume command = %q, want --sandbox %s", resumeAfter, sandbox)
	}
}

func TestApproveWithoutSandboxPrintsCommand(t *testing.T) {
	dsn, _ := tempDB(t)
	_, approvalID := pendingApproval(t, dsn, t.TempDir())

	r := runCLI(t, "approvals", "approve", approvalID, "--db", dsn)

	if r.code != 1 {
		t.Errorf("exit code = %d, want 1", r.code)
	}
	want := "pass --sandbox DIR with the folder chat "
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", r.stderr, want)
	}
	wantCommand := cliCommand() + " approvals approve " + approvalID + " --sandbox DIR --db " + dsn
	if !strings.Contains(r.stderr, wantCommand) {
		t.Errorf("stderr = %q, want the full command %q", r.stderr, wantCommand)
	}
}

func TestApproveToolOutsideCLI(t *testing.T) {
	dsn, path := tempDB(t)
	mustRun(t, "migrate", "--db", dsn)
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.CreateApproval(context.Background(), tools.Approval{
		ID: "ap-1", ChatID: "chat-1", ToolName: "delete_branch", ToolCallID: "call-1",
		Input: json.RawMessage(`{"name":"old"}`), Status: tools.ApprovalPending, CreatedAt: time.Now(),
	})
	if closeErr := s.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, "approvals", "approve", "ap-1", "--db", dsn, "--sandbox", t.TempDir())

	want := `tool "delete_branch" of approval ap-1 is not available here: this CLI provides only the file tools`
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("approve = %d %q, want exit 1 and %q", r.code, r.stderr, want)
	}
}

func TestFileToolsMatchSandbox(t *testing.T) {
	box, err := builtin.NewSandbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()

	var names []string
	for _, tool := range box.Tools() {
		names = append(names, tool.Name)
	}
	if !slices.Equal(names, fileTools) {
		t.Errorf("sandbox tools = %q, want fileTools %q", names, fileTools)
	}
}
