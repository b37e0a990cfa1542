// Package mcpaudit records a tool_execution entry for every MCP tool call,
// as middleware for the two Go MCP SDKs.
//
// Middleware is an mcp.Middleware of the official SDK
// (github.com/modelcontextprotocol/go-sdk/mcp). It logs on a server, added
// with Server.AddReceivingMiddleware, and on a client, added with
// Client.AddSendingMiddleware. ToolHandlerMiddleware and WrapToolHandler do
// the same for tool handlers of github.com/mark3labs/mcp-go/server.
//
// Each tools/call becomes one entry: the tool's name, its arguments as the
// input, the duration, and the status. A result with isError set records
// status error and the error "tool error: " followed by the result's text.
// A call that ends in a protocol error, such as an unknown tool, a failed
// transport or a handler that returns an error, records status error and
// the error "protocol error: " followed by the error's text. The entry is tied to the chat ID carried by the call's context
// (see audit.WithChatID).
//
// NOTE: neither SDK gives middleware the JSON-RPC request id (go-sdk v1.8.0
// keeps it under an unexported context key, and mcp-go v1.2.1 passes it only
// to hooks), so entries carry no toolCallId.
package mcpaudit

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentaudit/agentaudit/audit"
)

// MaxErrorBytes is the longest error text stored in an entry, in bytes.
// A longer text is cut at a character boundary and ends with "...".
const MaxErrorBytes = 1000

// call is one tool call being timed.
type call struct {
	logger *audit.Logger
	start  time.Time
	entry  *audit.ToolExecution
}

func start(logger *audit.Logger, toolName string, input any) *call {
	return &call{
		logger: logger,
		start:  time.Now(),
		entry:  &audit.ToolExecution{ToolName: toolName, Input: input},
	}
}

// end logs the call. protocolErr is the error the call returned; isError
// and text come from its result.
func (c *call) end(ctx context.Context, protocolErr error, isError bool, text string) {
	e := c.entry
	e.DurationMs = time.Since(c.start).Milliseconds()
	e.Status = audit.StatusSuccess
	switch {
	case protocolErr != nil:
		e.Status = audit.StatusError
		e.Error = truncate("protocol error: " + protocolErr.Error())
	case isError:
		e.Status = audit.StatusError
		e.Error = truncate("tool error: " + text)
	}
	// Log does not block, and it reports its own failures through the
	// Logger's statistics and error handler; the tool call must not see them.
	_ = c.logger.Log(ctx, e)
}

// truncate cuts s to MaxErrorBytes without splitting a character.
func truncate(s string) string {
	if len(s) <= MaxErrorBytes {
		return s
	}
	const ellipsis = "..."
	cut := MaxErrorBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// joinTexts joins the text parts of a tool result with newlines.
func joinTexts(texts []string) string {
	return strings.Join(texts, "\n")
}

func mustLogger(face string, logger *audit.Logger) {
	if logger == nil {
		panic("mcpaudit: " + face + " called with a nil *audit.Logger; pass the logger built by audit.New")
	}
}
