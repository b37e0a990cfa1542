package builtin_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/tools"
	"github.com/agentaudit/agentaudit/tools/builtin"
)

// newSandbox returns a sandbox over a temporary folder holding:
//
//	notes.txt          "hello\nworld\n"
//	docs/plan.md       "# Plan\nship it\n"
//	docs/deep/x.txt    "deep hello\n"
//	blob.bin           binary bytes
//	big.txt            200 bytes
//
// and, outside the sandbox, secret.txt.
func newSandbox(t *testing.T, opts ...builtin.Option) (*builtin.Sandbox, string) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "sandbox")
	files := map[string]string{
		"notes.txt":       "hello\nworld\n",
		"docs/plan.md":    "# Plan\nship it\n",
		"docs/deep/x.txt": "deep hello\n",
		"blob.bin":        "\x00\x01\x02",
		"big.txt":         strings.Repeat("b", 200),
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(parent, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := builtin.NewSandbox(dir, append([]builtin.Option{builtin.WithMaxReadBytes(100)}, opts...)...)
	if err != nil {
		t.Fatalf("NewSandbox(%q) error = %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func toolByName(t *testing.T, s *builtin.Sandbox, name string) tools.Tool {
	t.Helper()
	for _, tool := range s.Tools() {
		if tool.Name == name {
			return tool
		}
	}
	t.Fatalf("sandbox has no tool %q", name)
	return tools.Tool{}
}

func call(t *testing.T, s *builtin.Sandbox, name, args string) (string, error) {
	t.Helper()
	return toolByName(t, s, name).Run(context.Background(), json.RawMessage(args))
}

func TestSandboxTools(t *testing.T) {
	tests := []struct {
		name    string
		tool    string
		args    string
		want    string
		wantErr string
	}{
		{"list root", "list_files", `{}`, "big.txt (200 bytes)\nblob.bin (3 bytes)\ndocs/\nnotes.txt (12 bytes)", ""},
		{"list recursive", "list_files", `{"path":"docs","recursive":true}`, "docs/deep/\ndocs/deep/x.txt (11 bytes)\ndocs/plan.md (15 bytes)", ""},
		{"list a file", "list_files", `{"path":"notes.txt"}`, "", `list_files: "notes.txt" is a file, not a folder`},
		{"list missing", "list_files", `{"path":"nope"}`, "", `list_files: "nope" does not exist; call list_files to see what exists`},
		{"read", "read_file", `{"path":"docs/plan.md"}`, "# Plan\nship it\n", ""},
		{"read with dot segments", "read_file", `{"path":"./docs/../notes.txt"}`, "", `read_file: path "./docs/../notes.txt" leaves the sandbox through ".."`},
		{"read missing", "read_file", `{"path":"missing.txt"}`, "", `read_file: "missing.txt" does not exist`},
		{"read folder", "read_file", `{"path":"docs"}`, "", `read_file: "docs" is a folder`},
		{"read too big", "read_file", `{"path":"big.txt"}`, "", `read_file: "big.txt" is 200 bytes, over the 100-byte read limit`},
		{"read binary", "read_file", `{"path":"blob.bin"}`, "", `read_file: "blob.bin" is a binary file of 3 bytes`},
		{"read absolute", "read_file", `{"path":"/etc/passwd"}`, "", `read_file: path "/etc/passwd" is absolute; use a path relative to the sandbox root, such as "etc/passwd"`},
		{"read parent", "read_file", `{"path":"../secret.txt"}`, "", `read_file: path "../secret.txt" leaves the sandbox through ".."`},
		{"search", "search_files", `{"query":"hello"}`, "docs/deep/x.txt:1: deep hello\nnotes.txt:1: hello", ""},
		{"search none", "search_files", `{"query":"absent","path":"docs"}`, `no lines under docs contain "absent"`, ""},
		{"search empty query", "search_files", `{"query":""}`, "", "search_files: query is empty"},
		{"stat folder", "stat", `{"path":"docs"}`, "docs: folder", ""},
		{"write empty path", "write_file", `{"path":"","content":"x"}`, "", "write_file: path is empty"},
		{"write folder", "write_file", `{"path":"docs","content":"x"}`, "", `write_file: "docs" is a folder`},
		{"write parent", "write_file", `{"path":"a/../../x","content":"x"}`, "", `write_file: path "a/../../x" leaves the sandbox`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newSandbox(t)
			got, err := call(t, s, tt.tool, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%s(%s) error = %v, want it to contain %q", tt.tool, tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s(%s) error = %v", tt.tool, tt.args, err)
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("%s(%s) = %q, want prefix %q", tt.tool, tt.args, got, tt.want)
			}
		})
	}
}

func TestWriteFileCreatesFolders(t *testing.T) {
	s, dir := newSandbox(t)

	got, err := call(t, s, "write_file", `{"path":"out/report.md","content":"# Report\n"}`)
	if err != nil {
		t.Fatalf("write_file error = %v", err)
	}
	if want := "wrote 9 bytes to out/report.md"; got != want {
		t.Errorf("write_file = %q, want %q", got, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "report.md"))
	if err != nil {
		t.Fatalf("read written file: %v", err)
	}
	if string(b) != "# Report\n" {
		t.Errorf("written content = %q, want %q", b, "# Report\n")
	}

	// Replacing shortens the file rather than leaving old bytes behind.
	if _, err := call(t, s, "write_file", `{"path":"out/report.md","content":"x"}`); err != nil {
		t.Fatalf("second write_file error = %v", err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "out", "report.md"))
	if string(b) != "x" {
		t.Errorf("replaced content = %q, want %q", b, "x")
	}
}

func TestWriteFileLimit(t *testing.T) {
	s, dir := newSandbox(t, builtin.WithMaxWriteBytes(4))

	_, err := call(t, s, "write_file", `{"path":"x.txt","content":"12345"}`)
	if want := `write_file: content for "x.txt" is 5 bytes, over the 4-byte write limit`; err == nil || err.Error() != want {
		t.Errorf("write_file error = %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.txt")); !os.IsNotExist(err) {
		t.Errorf("Stat(x.txt) error = %v, want not exist", err)
	}
}

func TestSymlinkEscapeRejected(t *testing.T) {
	s, dir := newSandbox(t)
	if err := os.Symlink(filepath.Join(dir, "..", "secret.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Skipf("symlink: %v", err)
	}
	if err := os.Symlink("notes.txt", filepath.Join(dir, "inside.txt")); err != nil {
		t.Fatal(err)
	}

	_, err := call(t, s, "read_file", `{"path":"link.txt"}`)
	if err == nil || !strings.Contains(err.Error(), `"link.txt" leads outside the sandbox through a symbolic link`) {
		t.Errorf("read_file(link.txt) error = %v, want a symbolic link escape error", err)
	}
	_, err = call(t, s, "write_file", `{"path":"link.txt","content":"overwritten"}`)
	if err == nil {
		t.Errorf("write_file(link.txt) error = nil, want an error")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "..", "secret.txt"))
	if string(b) != "secret" {
		t.Errorf("secret.txt = %q after write through a link, want unchanged", b)
	}

	got, err := call(t, s, "read_file", `{"path":"inside.txt"}`)
	if err != nil || got != "hello\nworld\n" {
		t.Errorf("read_file(inside.txt) = %q, %v, want the target's content", got, err)
	}
}

func TestListFilesLimit(t *testing.T) {
	s, _ := newSandbox(t, builtin.WithMaxEntries(2))

	got, err := call(t, s, "list_files", `{"recursive":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "... and 5 more entries not shown"; !strings.HasSuffix(got, want) {
		t.Errorf("list_files = %q, want suffix %q", got, want)
	}
}

func TestSandboxRisks(t *testing.T) {
	s, _ := newSandbox(t)
	r := tools.NewRegistry()
	s.Register(r)

	want := map[string]tools.Risk{
		"list_files": tools.RiskLow, "read_file": tools.RiskLow, "search_files": tools.RiskLow,
		"stat": tools.RiskLow, "write_file": tools.RiskHigh,
	}
	for name, risk := range want {
		tool, ok := r.Lookup(name)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", name)
			continue
		}
		if tool.Risk != risk {
			t.Errorf("%s risk = %q, want %q", name, tool.Risk, risk)
		}
	}
}

func TestNewSandboxMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	_, err := builtin.NewSandbox(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "create the folder first") {
		t.Errorf("NewSandbox(%q) error = %v, want one naming the folder", dir, err)
	}
}
