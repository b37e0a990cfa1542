package mcpaudit_test

import (
	"context"
	"log"

	"github.com/mark3labs/mcp-go/server"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/mcpaudit"
	"github.com/agentaudit/agentaudit/store/sqlite"
)

func ExampleMiddleware() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "agentaudit.db")
	if err != nil {
		log.Fatal(err)
	}
	logger := audit.New(store)
	defer logger.Close(ctx)

	// On the client, each tools/call is logged in the chat of its context.
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "v1.0.0"}, nil)
	client.AddSendingMiddleware(mcpaudit.Middleware(logger))

	// On a server, each tools/call it receives is logged.
	srv := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "v1.0.0"}, nil)
	srv.AddReceivingMiddleware(mcpaudit.Middleware(logger))
}

func ExampleToolHandlerMiddleware() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "agentaudit.db")
	if err != nil {
		log.Fatal(err)
	}
	logger := audit.New(store)
	defer logger.Close(ctx)

	s := server.NewMCPServer("tools", "1.0.0", server.WithToolHandlerMiddleware(mcpaudit.ToolHandlerMiddleware(logger)))
	_ = s
}
