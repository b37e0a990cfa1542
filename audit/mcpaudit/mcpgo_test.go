package mcpaudit

import (
	"context"
	"fmt"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/agentaudit/agentaudit/audit"
)

// addMCPGoTools registers three tools. The add tool sums, and the fail tool
// returns an isError result. The broken tool's handler returns an error,
// which mcp-go sends as a protocol error.
func addMCPGoTools(s *server.MCPServer, wrap func(server.ToolHandlerFunc) server.ToolHandlerFunc) {
	s.AddTool(mcp.NewTool("add", mcp.WithNumber("a"), mcp.WithNumber("b")), wrap(
		func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			sum := req.GetFloat("a", 0) + req.GetFloat("b", 0)
			return mcp.NewToolResultText(fmt.Sprint(sum)), nil
		}))
	s.AddTool(mcp.NewTool("fail", mcp.WithNumber("a"), mcp.WithNumber("b")), wrap(
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultError("division by zero"), nil
		}))
	s.AddTool(mcp.NewTool("broken"), wrap(
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, errBoom
		}))
}

// connectMCPGo starts an in-process client of s; it closes with the test.
func connectMCPGo(t *testing.T, s *server.MCPServer) *client.Client {
	t.Helper()
	ctx := context.Background()
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatalf("NewInProcessClient() = %v, want nil", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Client.Close() = %v, want nil", err)
		}
	})
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Client.Start() = %v, want nil", err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "test-client", Version: "v1.0.0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("Client.Initialize() = %v, want nil", err)
	}
	return c
}

func TestToolHandlerMiddleware(t *testing.T) {
	tests := []struct {
		name       string
		tool       string
		args       map[string]any
		wantResult bool
		want       wantEntry
	}{
		{
			name:       "success",
			tool:       "add",
			args:       map[string]any{"a": 2, "b": 3},
			wantResult: true,
			want:       wantEntry{toolName: "add", status: "success", inputSummary: `{"a":2,"b":3}`},
		},
		{
			name:       "tool error",
			tool:       "fail",
			args:       map[string]any{"a": 1, "b": 0},
			wantResult: true,
			want:       wantEntry{toolName: "fail", status: "error", inputSummary: `{"a":1,"b":0}`, errorPrefix: "tool error: ", errorText: "division by zero"},
		},
		{
			name: "protocol error",
			tool: "broken",
			args: map[string]any{},
			want: wantEntry{toolName: "broken", status: "error", inputSummary: `{}`, errorPrefix: "protocol error: ", errorText: "boom"},
		},
	}
	faces := []struct {
		name  string
		setup func(logger *audit.Logger) *server.MCPServer
	}{
		{"server middleware", func(logger *audit.Logger) *server.MCPServer {
			s := server.NewMCPServer("test-server", "1.0.0", server.WithToolHandlerMiddleware(ToolHandlerMiddleware(logger)))
			addMCPGoTools(s, func(h server.ToolHandlerFunc) server.ToolHandlerFunc { return h })
			return s
		}},
		{"wrapped handler", func(logger *audit.Logger) *server.MCPServer {
			s := server.NewMCPServer("test-server", "1.0.0")
			addMCPGoTools(s, func(h server.ToolHandlerFunc) server.ToolHandlerFunc { return WrapToolHandler(logger, h) })
			return s
		}},
	}
	for _, face := range faces {
		for _, tt := range tests {
			t.Run(face.name+"/"+tt.name, func(t *testing.T) {
				tr := newTrail(t)
				c := connectMCPGo(t, face.setup(tr.logger))

				req := mcp.CallToolRequest{}
				req.Params.Name = tt.tool
				req.Params.Arguments = tt.args
				res, err := c.CallTool(audit.WithChatID(context.Background(), "chat-3"), req)
				if got := err == nil && res != nil; got != tt.wantResult {
					t.Fatalf("CallTool() = %v, %v; want a result: %v", res, err, tt.wantResult)
				}

				// The in-process transport hands the caller's context to
				// the server, so the chat ID reaches the entry.
				want := tt.want
				want.chatID = "chat-3"
				checkEntry(t, tr.one(t), want)
			})
		}
	}
}

func TestWrapToolHandlerNilPanics(t *testing.T) {
	tr := newTrail(t)
	tests := []struct {
		name   string
		logger *audit.Logger
		h      server.ToolHandlerFunc
	}{
		{"nil logger", nil, func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { return nil, nil }},
		{"nil handler", tr.logger, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("WrapToolHandler() did not panic, want a panic")
				}
			}()
			WrapToolHandler(tt.logger, tt.h)
		})
	}
}
