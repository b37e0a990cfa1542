// Package tools is the agent's tool registry: tools with a name, a JSON
// Schema input and a risk level, and the gated execution that runs low-risk
// tools at once and holds high-risk ones for a human decision.
//
// Every execution, whether it ran, failed or was rejected before running,
// becomes a Result for the model and, when the Registry has an audit
// Logger, one tool_execution entry. Failures never reach the caller as Go
// errors or panics: the model sees them as error results and can react.
package tools

import (
	"context"
	"encoding/json"
)

// Risk is a tool's risk level. A high-risk tool runs only after a human
// approves the call.
type Risk string

// The risk levels a tool can have.
const (
	RiskLow  Risk = "low"
	RiskHigh Risk = "high"
)

// Tool is a function the model can call.
type Tool struct {
	// Name is the name the model calls the tool by; it must be unique within
	// a Registry.
	Name        string
	Description string
	// InputSchema is the JSON Schema of the tool's input, which must be a
	// JSON object. Empty means an object with no declared properties.
	InputSchema json.RawMessage
	// Risk is RiskLow or RiskHigh; empty means RiskLow.
	Risk Risk
	// Run executes the tool with the model's arguments, a JSON object that
	// has passed the Registry's argument check. It returns the text the model
	// sees. Run must return when ctx is done, because the Registry's timeout
	// works through ctx alone.
	Run func(ctx context.Context, args json.RawMessage) (string, error)
}

// Result is the outcome of one tool call as the model sees it.
type Result struct {
	// Content is the tool's output, or the error text when IsError is set.
	Content string
	IsError bool
	// Pending is the approval the call waits for; nil unless the tool is
	// high risk and has not run yet.
	Pending *Approval
}
