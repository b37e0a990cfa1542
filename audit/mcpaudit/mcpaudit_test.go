package mcpaudit

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/audittest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// trail is a Logger over an audittest.Store.
type trail struct {
	logger *audit.Logger
	store  *audittest.Store
}

func newTrail(t *testing.T) *trail {
	t.Helper()
	logger, store := audittest.NewLogger(t)
	return &trail{logger: logger, store: store}
}

// toolEntry is a tool_execution entry as stored.
type toolEntry struct {
	chatID       string
	ToolName     string `json:"toolName"`
	ToolCallID   string `json:"toolCallId"`
	Status       string `json:"status"`
	InputSummary string `json:"inputSummary"`
	InputBytes   int    `json:"inputBytes"`
	DurationMs   int64  `json:"durationMs"`
	Error        string `json:"error"`
}

// entries flushes the logger and returns the stored tool executions.
func (tr *trail) entries(t *testing.T) []toolEntry {
	t.Helper()
	var out []toolEntry
	for _, e := range tr.store.Flushed(t, tr.logger) {
		if e.Type != audit.TypeToolExecution {
			t.Fatalf("entry type = %q, want %q", e.Type, audit.TypeToolExecution)
		}
		var te toolEntry
		if err := audittest.DecodeMetadata(e, &te); err != nil {
			t.Fatalf("decode metadata %s: %v", e.Metadata, err)
		}
		te.chatID = e.ChatID
		out = append(out, te)
	}
	return out
}

// one returns the only stored tool execution, failing t otherwise.
func (tr *trail) one(t *testing.T) toolEntry {
	t.Helper()
	got := tr.entries(t)
	if len(got) != 1 {
		t.Fatalf("store holds %d entries, want 1: %+v", len(got), got)
	}
	return got[0]
}

// wantEntry is what a test expects of one entry. An empty errorPrefix
// expects no error.
type wantEntry struct {
	toolName     string
	status       string
	inputSummary string
	errorPrefix  string
	errorText    string
	chatID       string
}

func checkEntry(t *testing.T, got toolEntry, want wantEntry) {
	t.Helper()
	if got.ToolName != want.toolName {
		t.Errorf("toolName = %q, want %q", got.ToolName, want.toolName)
	}
	if got.Status != want.status {
		t.Errorf("status = %q, want %q", got.Status, want.status)
	}
	if got.InputSummary != want.inputSummary {
		t.Errorf("inputSummary = %q, want %q", got.InputSummary, want.inputSummary)
	}
	if got.chatID != want.chatID {
		t.Errorf("chat ID = %q, want %q", got.chatID, want.chatID)
	}
	if got.DurationMs < 0 {
		t.Errorf("durationMs = %d, want 0 or more", got.DurationMs)
	}
	if want.errorPrefix == "" {
		if got.Error != "" {
			t.Errorf("error = %q, want none", got.Error)
		}
		return
	}
	if !strings.HasPrefix(got.Error, want.errorPrefix) || !strings.Contains(got.Error, want.errorText) {
		t.Errorf("error = %q, want %q followed by text containing %q", got.Error, want.errorPrefix, want.errorText)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"short", "tool error: boom", len("tool error: boom")},
		{"at limit", strings.Repeat("a", MaxErrorBytes), MaxErrorBytes},
		{"ascii over limit", strings.Repeat("a", MaxErrorBytes+1), MaxErrorBytes},
		{"multibyte over limit", strings.Repeat("é", MaxErrorBytes), MaxErrorBytes - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncate(tt.in)
			if len(got) != tt.want {
				t.Errorf("len(truncate()) = %d, want %d", len(got), tt.want)
			}
			if !strings.HasPrefix(tt.in, strings.TrimSuffix(got, "...")) {
				t.Errorf("truncate() = %q, want a prefix of the input", got)
			}
		})
	}
}

var errBoom = errors.New("boom")
