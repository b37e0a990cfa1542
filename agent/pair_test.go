package agent

import (
	"testing"

	"github.com/agentaudit/agentaudit/llm"
)

func TestPairToolResults(t *testing.T) {
	calls := []llm.ToolCall{{ID: "a", Name: "t"}, {ID: "b", Name: "t"}}
	history := []llm.Message{
		{Role: llm.RoleTool, ToolCallID: "orphan", Content: "before any call"},
		{Role: llm.RoleUser, Content: "go"},
		{Role: llm.RoleAssistant, ToolCalls: calls},
		{Role: llm.RoleTool, ToolCallID: "b", Content: "b1"},
		{Role: llm.RoleTool, ToolCallID: "x", Content: "no such call"},
		{Role: llm.RoleTool, ToolCallID: "b", Content: "b2"},
		{Role: llm.RoleUser, Content: "next"},
	}

	got := pairToolResults(history)

	want := []struct {
		role    llm.Role
		id      string
		content string
		isError bool
	}{
		{llm.RoleUser, "", "go", false},
		{llm.RoleAssistant, "", "", false},
		{llm.RoleTool, "a", "no result was recorded for this tool call", true},
		{llm.RoleTool, "b", "b1", false},
		{llm.RoleUser, "", "next", false},
	}
	if len(got) != len(want) {
		t.Fatalf("pairToolResults() returned %d messages, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Role != w.role || g.ToolCallID != w.id || g.Content != w.content || g.IsError != w.isError {
			t.Errorf("pairToolResults()[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestStepsSinceUser(t *testing.T) {
	history := []llm.Message{
		{Role: llm.RoleUser}, {Role: llm.RoleAssistant}, {Role: llm.RoleTool},
		{Role: llm.RoleUser}, {Role: llm.RoleAssistant}, {Role: llm.RoleTool}, {Role: llm.RoleAssistant},
	}
	if got := stepsSinceUser(history); got != 2 {
		t.Errorf("stepsSinceUser() = %d, want 2", got)
	}
}
