package tools

import (
	"context"
	"encoding/json"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
)

// execution describes one tool call that ended, for its audit entry.
type execution struct {
	call llm.ToolCall
	// input is the checked arguments, or the raw ones when they failed the
	// check.
	input      json.RawMessage
	risk       Risk
	approvalID string
}

// logExecution logs one tool_execution entry for exec. Logging never changes
// the result: the Logger reports its own failures through its error handler
// and Stats, so the error from Log is dropped here.
func (r *Registry) logExecution(ctx context.Context, exec execution, res Result, start time.Time) {
	if r.logger == nil {
		return
	}
	m := &audit.ToolExecution{
		ToolName:   exec.call.Name,
		ToolCallID: exec.call.ID,
		Status:     audit.StatusSuccess,
		DurationMs: r.now().Sub(start).Milliseconds(),
		Risk:       string(exec.risk),
		ApprovalID: exec.approvalID,
		Input:      exec.input,
	}
	if len(exec.input) == 0 || !json.Valid(exec.input) {
		// The Logger encodes a non-JSON input as a JSON string, so that the
		// summary shows exactly what the model sent.
		m.Input = string(exec.input)
	}
	if m.ToolName == "" {
		// A call without a name is still recorded, under a name that cannot
		// be a registered tool's.
		m.ToolName = "(empty)"
	}
	if res.IsError {
		m.Status = audit.StatusError
		m.Error = res.Content
	}
	_ = r.logger.Log(ctx, m)
}
