package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/sqlite"
	"github.com/agentaudit/agentaudit/tools"
)

func TestTerminalCell(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "get_weather", "get_weather"},
		{"unicode", "météo 天気", "météo 天気"},
		{"backslash kept", `C:\tmp`, `C:\tmp`},
		{"colours and overwrite", "evil\u001b[31mRED\u001b[0m\rOVERWRITE\u0007", `evil\x1b[31mRED\x1b[0m\rOVERWRITE\x07`},
		{"clear screen", "m\u001b[2Jx", `m\x1b[2Jx`},
		{"window title", "\u001b]0;pwned\a", `\x1b]0;pwned\x07`},
		{"line break and tab", "a\nb\tc", `a\nb\tc`},
		{"delete", "a\u007fb", `a\x7fb`},
		{"c1 csi", "a\u009b31mb", `a\u009b31mb`},
		{"invalid utf-8 csi byte", "a\x9b31mb", `a\x9b31mb`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"nul", "a\x00b", `a\x00b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminalCell(tt.in); got != tt.want {
				t.Errorf("terminalCell(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTerminalText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"keeps lines and tabs", "line 1\n\tline 2", "line 1\n\tline 2"},
		{"escapes carriage return", "shown\rhidden", `shown\rhidden`},
		{"window title", "hi \x1b]0;pwned\a there", `hi \x1b]0;pwned\x07 there`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminalText(tt.in); got != tt.want {
				t.Errorf("terminalText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// checkTerminalSafe fails t when out holds a control character other than
// a line break, so that a terminal shows out as text.
func checkTerminalSafe(t *testing.T, command, out string) {
	t.Helper()
	for i := 0; i < len(out); i++ {
		if c := out[i]; (c < 0x20 && c != '\n') || c == 0x7f {
			t.Errorf("%s output has control byte %#x at %d: %q", command, c, i, out)
			return
		}
	}
	if strings.Contains(out, "\u009b") || strings.Contains(out, "\u202e") {
		t.Errorf("%s output has a C1 or bidi control character: %q", command, out)
	}
}

func TestTableOutputsEscapeControls(t *testing.T) {
	const (
		evilTool  = "evil\u001b[31mRED\u001b[0m\rOVERWRITE\u0007"
		evilModel = "m\u001b[2Jx"
		evilChat  = "chat\u001b]0;pwned\a\u009b31m\u202e"
	)
	dsn, path := tempDB(t)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	call, _ := json.Marshal(&audit.LLMCall{Provider: "openai\x07", Model: evilModel, ResponseModel: evilModel,
		FinishReason: "stop\r", Status: audit.StatusError, Error: "bad\x1b[1m", Usage: audit.Usage{Available: true, PromptTokens: audit.Int64(1)}})
	tool, _ := json.Marshal(&audit.ToolExecution{ToolName: evilTool, Status: audit.StatusSuccess,
		InputSummary: "{\"cmd\":\"\x1b[2J\"}", ApprovalID: "apr\x1b"})
	entries := []audit.Entry{
		{ID: "0190a000-0000-7000-8000-000000000001", Type: audit.TypeLLMCall, ChatID: evilChat, CreatedAt: time.Now().UTC(), Metadata: call},
		{ID: "0190a000-0000-7000-8000-000000000002", Type: audit.TypeToolExecution, ChatID: evilChat, CreatedAt: time.Now().UTC(), Metadata: tool},
	}
	if err := s.InsertEntries(ctx, entries); err != nil {
		t.Fatalf("InsertEntries() = %v", err)
	}
	approval := tools.Approval{ID: "apr-\x1b[1m", ChatID: evilChat, ToolName: evilTool,
		Input: json.RawMessage(`{"cmd":"\u001b[2J"}`), Reason: "why\x1b[5m"}
	if err := s.CreateApproval(ctx, approval); err != nil {
		t.Fatalf("CreateApproval() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	for _, args := range [][]string{
		{"log", "--db", dsn},
		{"log", "--db", dsn, "--chat", evilChat},
		{"usage", "--db", dsn},
		{"approvals", "list", "--db", dsn},
	} {
		r := mustRun(t, args...)
		checkTerminalSafe(t, strings.Join(args[:2], " "), r.stdout)
	}
	r := mustRun(t, "log", "--db", dsn)
	if want := `evil\x1b[31mRED\x1b[0m\rOVERWRITE\x07`; !strings.Contains(r.stdout, want) {
		t.Errorf("log output = %q, want the tool name shown as %q", r.stdout, want)
	}
}

func TestChatEscapesAnswer(t *testing.T) {
	dsn, _ := tempDB(t)
	body := strings.Replace(answerBody, `"content":"Understood."`, `"content":"Done.\u001b]0;pwned\u0007\nNext line."`, 1)

	r := mustRun(t, "chat", "--db", dsn, "--model", "gpt-4o-mini", "--replay", writeResponses(t, body)[0], "hi")

	checkTerminalSafe(t, "chat", r.stdout)
	if want := "assistant: Done.\\x1b]0;pwned\\x07\nNext line."; !strings.Contains(r.stdout, want) {
		t.Errorf("chat output = %q, want it to contain %q", r.stdout, want)
	}
}
