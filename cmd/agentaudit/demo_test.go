package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCLICommandFor(t *testing.T) {
	tests := []struct {
		name    string
		exe     string
		arg0    string
		gocache string
		want    string
	}{
		{"go run temporary folder", "/tmp/go-build3283793747/b001/exe/agentaudit", "/tmp/go-build3283793747/b001/exe/agentaudit", "", goRunCommand},
		{"go run build cache", "/home/u/.cache/go-build/3f/3f9a-d/agentaudit", "agentaudit", "", goRunCommand},
		{"custom GOCACHE", "/var/cache/gobuild/ab/agentaudit", "agentaudit", "/var/cache/gobuild", goRunCommand},
		{"installed binary", "/usr/local/bin/agentaudit", "agentaudit", "/home/u/.cache/go-build", "agentaudit"},
		{"local build", "/work/main/agentaudit", "./agentaudit", "", "./agentaudit"},
		{"path with a space", "/opt/my tools/agentaudit", "/opt/my tools/agentaudit", "", "'/opt/my tools/agentaudit'"},
		{"unknown executable", "", "", "", "agentaudit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cliCommandFor(tt.exe, tt.arg0, tt.gocache); got != tt.want {
				t.Errorf("cliCommandFor(%q, %q, %q) = %q, want %q", tt.exe, tt.arg0, tt.gocache, got, tt.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"sqlite:/tmp/demo.db", "sqlite:/tmp/demo.db"},
		{"", "''"},
		{"/tmp/my files", "'/tmp/my files'"},
		{"it's", `'it'\''s'`},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var readAgainLine = regexp.MustCompile(`(?m)^read it again with: (.+)$`)

func TestDemoReadAgainCommandRuns(t *testing.T) {
	dsn, _ := tempDB(t)
	r := mustRun(t, "demo", "--db", dsn, "--sandbox", filepath.Join(t.TempDir(), "files"))

	m := readAgainLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("demo output lacks the read-again line:\n%s", r.stdout)
	}
	// The test binary is a go test build in a go-build folder, as a go run
	// build is, so the line takes the go run form.
	command, ok := strings.CutPrefix(m[1], goRunCommand+" ")
	if !ok {
		t.Fatalf("read-again line = %q, want it to start with %q", m[1], goRunCommand)
	}
	again := mustRun(t, strings.Fields(command)...)
	if !strings.Contains(again.stdout, "write_file (high risk)") {
		t.Errorf("%s printed no trail:\n%s", m[1], again.stdout)
	}
}
