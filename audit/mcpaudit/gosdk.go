package mcpaudit

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentaudit/agentaudit/audit"
)

// methodCallTool is the MCP method of a tool call.
const methodCallTool = "tools/call"

// errNoResult is recorded when a tools/call handler returns neither a
// result nor an error.
var errNoResult = errors.New("mcpaudit: tools/call returned no result")

// Middleware returns an mcp.Middleware of the official MCP Go SDK that logs
// one tool_execution entry per tools/call and passes every other method
// through. Add it to a server with Server.AddReceivingMiddleware, or to a
// client with Client.AddSendingMiddleware. On a server the entry's input is
// the raw arguments the client sent, and on a client the arguments it sends.
//
// Middleware panics when logger is nil.
func Middleware(logger *audit.Logger) mcp.Middleware {
	mustLogger("Middleware", logger)
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != methodCallTool {
				return next(ctx, method, req)
			}
			name, input := toolCallParams(req)
			c := start(logger, name, input)

			res, err := next(ctx, method, req)

			result, _ := res.(*mcp.CallToolResult)
			switch {
			case err != nil:
				c.end(ctx, err, false, "")
			case result == nil:
				c.end(ctx, errNoResult, false, "")
			default:
				c.end(ctx, nil, result.IsError, contentText(result.Content))
			}
			return res, err
		}
	}
}

// toolCallParams returns the tool name and arguments of a tools/call
// request, on the server side (raw arguments) or the client side.
func toolCallParams(req mcp.Request) (string, any) {
	if req == nil {
		return "", nil
	}
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		if p == nil {
			return "", nil
		}
		if len(p.Arguments) == 0 {
			return p.Name, nil
		}
		return p.Name, p.Arguments
	case *mcp.CallToolParams:
		if p == nil {
			return "", nil
		}
		return p.Name, p.Arguments
	}
	return "", nil
}

// contentText returns the text parts of a result's content.
func contentText(content []mcp.Content) string {
	var texts []string
	for _, c := range content {
		if t, ok := c.(*mcp.TextContent); ok {
			texts = append(texts, t.Text)
		}
	}
	return joinTexts(texts)
}
