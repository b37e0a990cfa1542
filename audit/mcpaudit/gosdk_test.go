package mcpaudit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentaudit/agentaudit/audit"
)

type addInput struct {
	A int `json:"a"`
	B int `json:"b"`
}

type addOutput struct {
	Sum int `json:"sum"`
}

// newSDKServer returns a server with three tools. The add tool sums. The
// fail tool's handler returns an error, which the SDK turns into an isError
// result. The broken tool is a low-level tool whose handler returns a
// protocol error.
func newSDKServer() *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "v1.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two integers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, addOutput, error) {
			return nil, addOutput{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "fail", Description: "Always fail."},
		func(_ context.Context, _ *mcp.CallToolRequest, _ addInput) (*mcp.CallToolResult, addOutput, error) {
			return nil, addOutput{}, fmt.Errorf("division by zero: %w", errBoom)
		})
	server.AddTool(&mcp.Tool{Name: "broken", Description: "Fail the protocol.", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, errBoom
		})
	return server
}

// connectSDK connects a client to server over in-memory transports and
// returns the client session; the sessions end with the test.
func connectSDK(t *testing.T, server *mcp.Server, client *mcp.Client) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	serverTransport, clientTransport := mcp.NewInMemoryTransports()
	ss, err := server.Connect(ctx, serverTransport, nil)
	if err != nil {
		t.Fatalf("Server.Connect() = %v, want nil", err)
	}
	cs, err := client.Connect(ctx, clientTransport, nil)
	if err != nil {
		t.Fatalf("Client.Connect() = %v, want nil", err)
	}
	t.Cleanup(func() {
		if err := cs.Close(); err != nil {
			t.Errorf("ClientSession.Close() = %v, want nil", err)
		}
		// Wait returns the error that ended the connection, which is the
		// client's close here.
		_ = ss.Wait()
	})
	return cs
}

// sdkCases are the calls both sides log, with the entries they produce.
// The server cannot see the caller's chat ID, so only the client side
// records it.
var sdkCases = []struct {
	name       string
	params     *mcp.CallToolParams
	wantResult bool // the call returns a result, not a protocol error
	want       wantEntry
}{
	{
		name:       "success",
		params:     &mcp.CallToolParams{Name: "add", Arguments: map[string]any{"a": 2, "b": 3}},
		wantResult: true,
		want:       wantEntry{toolName: "add", status: "success", inputSummary: `{"a":2,"b":3}`},
	},
	{
		name:       "tool error",
		params:     &mcp.CallToolParams{Name: "fail", Arguments: map[string]any{"a": 1, "b": 0}},
		wantResult: true,
		want:       wantEntry{toolName: "fail", status: "error", inputSummary: `{"a":1,"b":0}`, errorPrefix: "tool error: ", errorText: "division by zero: boom"},
	},
	{
		name:   "handler protocol error",
		params: &mcp.CallToolParams{Name: "broken", Arguments: map[string]any{}},
		want:   wantEntry{toolName: "broken", status: "error", inputSummary: `{}`, errorPrefix: "protocol error: ", errorText: "boom"},
	},
	{
		name:   "unknown tool",
		params: &mcp.CallToolParams{Name: "missing", Arguments: map[string]any{"x": "y"}},
		want:   wantEntry{toolName: "missing", status: "error", inputSummary: `{"x":"y"}`, errorPrefix: "protocol error: ", errorText: "missing"},
	},
}

func TestMiddlewareSDKServer(t *testing.T) {
	for _, tt := range sdkCases {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTrail(t)
			server := newSDKServer()
			server.AddReceivingMiddleware(Middleware(tr.logger))
			cs := connectSDK(t, server, mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1.0.0"}, nil))

			res, err := cs.CallTool(audit.WithChatID(context.Background(), "chat-1"), tt.params)
			if got := err == nil && res != nil; got != tt.wantResult {
				t.Fatalf("CallTool() = %v, %v; want a result: %v", res, err, tt.wantResult)
			}

			// The server handles tools/list and initialize too; only the
			// tool call is logged.
			checkEntry(t, tr.one(t), tt.want)
		})
	}
}

func TestMiddlewareSDKClient(t *testing.T) {
	for _, tt := range sdkCases {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTrail(t)
			client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1.0.0"}, nil)
			client.AddSendingMiddleware(Middleware(tr.logger))
			cs := connectSDK(t, newSDKServer(), client)

			res, err := cs.CallTool(audit.WithChatID(context.Background(), "chat-2"), tt.params)
			if got := err == nil && res != nil; got != tt.wantResult {
				t.Fatalf("CallTool() = %v, %v; want a result: %v", res, err, tt.wantResult)
			}

			want := tt.want
			want.chatID = "chat-2"
			checkEntry(t, tr.one(t), want)
		})
	}
}

func TestMiddlewareSDKOtherMethods(t *testing.T) {
	tr := newTrail(t)
	server := newSDKServer()
	server.AddReceivingMiddleware(Middleware(tr.logger))
	cs := connectSDK(t, server, mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "v1.0.0"}, nil))

	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("ListTools() = %v, want nil", err)
	}
	if got, want := len(tools.Tools), 3; got != want {
		t.Errorf("ListTools() returned %d tools, want %d", got, want)
	}
	if err := cs.Ping(context.Background(), nil); err != nil {
		t.Fatalf("Ping() = %v, want nil", err)
	}
	if got := tr.entries(t); len(got) != 0 {
		t.Errorf("store holds %+v, want no entry", got)
	}
}

func TestMiddlewareNilLoggerPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Middleware(nil) did not panic, want a panic")
		}
	}()
	Middleware(nil)
}
