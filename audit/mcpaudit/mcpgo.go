package mcpaudit

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/agentaudit/agentaudit/audit"
)

// ToolHandlerMiddleware returns a middleware for github.com/mark3labs/mcp-go
// servers that logs one tool_execution entry per tool call; install it with
// server.WithToolHandlerMiddleware or MCPServer.Use. A call that the server
// rejects before any handler runs, such as an unknown tool or arguments
// that fail input-schema validation, never reaches the middleware and is
// not logged.
//
// ToolHandlerMiddleware panics when logger is nil.
func ToolHandlerMiddleware(logger *audit.Logger) server.ToolHandlerMiddleware {
	mustLogger("ToolHandlerMiddleware", logger)
	return func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return wrap(logger, next)
	}
}

// WrapToolHandler returns a handler that runs h and logs one tool_execution
// entry per call, for registering a single tool with MCPServer.AddTool.
//
// WrapToolHandler panics when logger or h is nil.
func WrapToolHandler(logger *audit.Logger, h server.ToolHandlerFunc) server.ToolHandlerFunc {
	mustLogger("WrapToolHandler", logger)
	if h == nil {
		panic("mcpaudit: WrapToolHandler called with a nil handler")
	}
	return wrap(logger, h)
}

func wrap(logger *audit.Logger, next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var input any = req.Params.Arguments
		if len(req.Params.RawArguments) > 0 {
			input = req.Params.RawArguments
		}
		c := start(logger, req.Params.Name, input)

		res, err := next(ctx, req)

		switch {
		case err != nil:
			c.end(ctx, err, false, "")
		case res == nil:
			c.end(ctx, errNoResult, false, "")
		default:
			c.end(ctx, nil, res.IsError, mcpGoText(res.Content))
		}
		return res, err
	}
}

// mcpGoText returns the text parts of an mcp-go result's content.
func mcpGoText(content []mcp.Content) string {
	var texts []string
	for _, c := range content {
		if t, ok := mcp.AsTextContent(c); ok {
			texts = append(texts, t.Text)
		}
	}
	return joinTexts(texts)
}
