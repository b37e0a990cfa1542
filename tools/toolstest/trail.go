package toolstest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/agentaudit/agentaudit/audit"
)

// Trail is an audit.Store that keeps entries in memory, for an audit.Logger
// in tests. The zero value is ready to use and safe for concurrent use.
type Trail struct {
	mu      sync.Mutex
	entries []audit.Entry
	seen    map[string]bool
	closed  bool
}

var _ audit.Store = (*Trail)(nil)

// InsertEntries keeps the entries whose ID it has not seen.
func (t *Trail) InsertEntries(ctx context.Context, entries []audit.Entry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	for _, e := range entries {
		if t.seen[e.ID] {
			continue
		}
		t.seen[e.ID] = true
		e.Metadata = append(json.RawMessage(nil), e.Metadata...)
		t.entries = append(t.entries, e)
	}
	return nil
}

// Close marks the trail closed; entries stay readable.
func (t *Trail) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

// Entries returns the entries written so far, in write order.
func (t *Trail) Entries() []audit.Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]audit.Entry(nil), t.entries...)
}

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
		if err := json.Unmarshal(e.Metadata, &m); err != nil {
			return nil, nil, fmt.Errorf("toolstest: entry %s: %w", e.ID, err)
		}
		execs = append(execs, m)
		chats = append(chats, e.ChatID)
	}
	return execs, chats, nil
}
