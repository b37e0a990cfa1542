package toolstest

import (
	"fmt"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/audittest"
)

// Trail is an audit.Store that keeps entries in memory, for an audit.Logger
// in tests. The zero value is ready to use and safe for concurrent use.
type Trail struct {
	audittest.Store
}

var _ audit.Store = (*Trail)(nil)

// ToolExecutions decodes the tool_execution entries written so far, in
// write order, with the chat ID of each.
func (t *Trail) ToolExecutions() ([]audit.ToolExecution, []string, error) {
	var execs []audit.ToolExecution
	var chats []string
	for _, e := range t.Entries() {
		if e.Type != audit.TypeToolExecution {
			continue
		}
		var m audit.ToolExecution
		if err := audittest.DecodeMetadata(e, &m); err != nil {
			return nil, nil, fmt.Errorf("toolstest: %w", err)
		}
		execs = append(execs, m)
		chats = append(chats, e.ChatID)
	}
	return execs, chats, nil
}
