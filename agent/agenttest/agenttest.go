// Package agenttest provides hand-written fakes for tests of code that uses
// the agent package: a scripted model and an in-memory history store.
package agenttest

import (
	"context"
	"fmt"
	"sync"

	"github.com/agentaudit/agentaudit/agent"
	"github.com/agentaudit/agentaudit/llm"
)

// Step is one scripted model response: Response, or Err when it is set.
type Step struct {
	Response *llm.Response
	Err      error
}

// Model is an llm.Model that returns scripted responses in order and
// records every request. After the last step, Generate returns an error.
// It is safe for concurrent use.
type Model struct {
	mu       sync.Mutex
	steps    []Step
	requests []llm.Request
	contexts []context.Context
}

var _ llm.Model = (*Model)(nil)

// NewModel returns a Model that plays steps in order.
func NewModel(steps ...Step) *Model {
	return &Model{steps: steps}
}

// Provider returns "scripted".
func (m *Model) Provider() string { return "scripted" }

// API returns "chat_completions".
func (m *Model) API() string { return "chat_completions" }

// Generate records req and returns the next scripted step.
func (m *Model) Generate(ctx context.Context, req llm.Request) (*llm.Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	req.Messages = append([]llm.Message(nil), req.Messages...)
	m.requests = append(m.requests, req)
	m.contexts = append(m.contexts, ctx)
	if len(m.requests) > len(m.steps) {
		return nil, fmt.Errorf("agenttest: model called %d times, but only %d steps are scripted", len(m.requests), len(m.steps))
	}
	s := m.steps[len(m.requests)-1]
	if s.Err != nil {
		return nil, s.Err
	}
	resp := *s.Response
	resp.Message.ToolCalls = append([]llm.ToolCall(nil), resp.Message.ToolCalls...)
	return &resp, nil
}

// Requests returns the requests received so far.
func (m *Model) Requests() []llm.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]llm.Request(nil), m.requests...)
}

// Contexts returns the context of each request received so far.
func (m *Model) Contexts() []context.Context {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]context.Context(nil), m.contexts...)
}

// Answer returns a step whose response is a final text answer.
func Answer(text string) Step {
	return Step{Response: &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, Content: text},
		FinishReason: "stop",
	}}
}

// Call returns a step whose response calls tools.
func Call(calls ...llm.ToolCall) Step {
	return Step{Response: &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, ToolCalls: calls},
		FinishReason: "tool_calls",
	}}
}

// History is an in-memory agent.HistoryStore. The zero value is ready to
// use and safe for concurrent use.
type History struct {
	mu    sync.Mutex
	chats map[string][]llm.Message

	// AppendErr, when set, is returned by AppendMessages, which then stores
	// nothing.
	AppendErr error
}

var _ agent.HistoryStore = (*History)(nil)

// AppendMessages adds msgs after the chat's last message.
func (h *History) AppendMessages(ctx context.Context, chatID string, msgs []llm.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.AppendErr != nil {
		return h.AppendErr
	}
	if h.chats == nil {
		h.chats = map[string][]llm.Message{}
	}
	h.chats[chatID] = append(h.chats[chatID], msgs...)
	return nil
}

// LoadMessages returns a copy of the chat's messages.
func (h *History) LoadMessages(ctx context.Context, chatID string) ([]llm.Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]llm.Message(nil), h.chats[chatID]...), nil
}
