// Package llm is the provider-neutral model interface of the agent runtime:
// messages, tool calls, requests and responses with their token usage.
package llm

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/agentaudit/agentaudit/audit"
)

// Role is the author of a message.
type Role string

// The roles of a conversation.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one turn of a conversation. An assistant message may carry tool
// calls; a tool message carries the result of one call in Content.
type Message struct {
	Role      Role       `json:"role"`
	Content   string     `json:"content,omitempty"`
	ToolCalls []ToolCall `json:"toolCalls,omitempty"`
	// ToolCallID and ToolName identify the call a tool message answers.
	ToolCallID string `json:"toolCallId,omitempty"`
	ToolName   string `json:"toolName,omitempty"`
	// IsError marks a tool message whose content is an error.
	IsError bool `json:"isError,omitempty"`
}

// ToolCall is a model's request to run a tool.
type ToolCall struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Arguments is the JSON text the model sent, unparsed; it may be invalid.
	Arguments string `json:"arguments"`
}

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// InputSchema is the JSON Schema of the tool's input object.
	InputSchema json.RawMessage `json:"inputSchema"`
}

// Request is one model call.
type Request struct {
	Model    string
	Messages []Message
	Tools    []ToolSpec
	// MaxTokens caps the output; 0 leaves the provider's default.
	MaxTokens int
}

// Response is a model's answer to a Request.
type Response struct {
	Message      Message
	FinishReason string
	// Model is the model the provider reported, which may be more specific
	// than the requested one.
	Model string
	Usage audit.Usage
	// HTTPStatus is the status of the provider's reply; 0 when unknown.
	HTTPStatus int
	// Stream reports that the reply arrived as a stream of events, which
	// the adapter assembled into this Response.
	Stream bool
}

// Model is a chat model. Generate must be safe for concurrent use.
//
// When Generate fails after part of the reply arrived, such as a stream
// that broke off, it may return a non-nil Response beside the error, with
// what arrived: the usage reported so far, the HTTP status and Stream.
// Callers that only need a complete reply check the error first.
type Model interface {
	// Provider names the provider for the audit trail, such as "openai".
	Provider() string
	// API names the wire API, such as "chat_completions".
	API() string
	Generate(ctx context.Context, req Request) (*Response, error)
}

// APIError is a provider's error reply, returned by Generate.
type APIError struct {
	Provider   string
	StatusCode int
	// Message is the provider's own error message.
	Message string
	Err     error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Provider, e.StatusCode, e.Message)
}

func (e *APIError) Unwrap() error { return e.Err }
