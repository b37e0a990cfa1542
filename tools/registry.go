package tools

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
)

// DefaultTimeout is the time a tool run may take when no WithTimeout option
// is given.
const DefaultTimeout = 60 * time.Second

// Registry holds the tools an agent may call and executes the model's tool
// calls through the approval gate. Its methods are safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]*registeredTool
	order []string

	approvals ApprovalStore
	logger    *audit.Logger
	timeout   time.Duration
	now       func() time.Time
	newID     func() string
}

type registeredTool struct {
	Tool
	schema inputSchema
}

// Option configures a Registry.
type Option func(*Registry)

// NewRegistry returns an empty Registry.
func NewRegistry(opts ...Option) *Registry {
	r := &Registry{
		tools:   map[string]*registeredTool{},
		timeout: DefaultTimeout,
		now:     time.Now,
		newID:   audit.NewID,
	}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

// Register adds t to the registry. It panics, naming the tool, when the name
// is empty or taken, Run is nil, the risk is unknown or the input schema is
// not a JSON object schema: these are programming mistakes, not run-time
// input.
func (r *Registry) Register(t Tool) {
	if t.Name == "" {
		panic("tools: Register: tool name is empty")
	}
	if t.Run == nil {
		panic(fmt.Sprintf("tools: Register %q: Run is nil", t.Name))
	}
	switch t.Risk {
	case "":
		t.Risk = RiskLow
	case RiskLow, RiskHigh:
	default:
		panic(fmt.Sprintf("tools: Register %q: unknown risk %q, want %q or %q", t.Name, t.Risk, RiskLow, RiskHigh))
	}
	if len(t.InputSchema) == 0 {
		t.InputSchema = emptyObjectSchema
	}
	schema, err := parseInputSchema(t.InputSchema)
	if err != nil {
		panic(fmt.Sprintf("tools: Register %q: %v", t.Name, err))
	}

	// Keep a private copy of the schema so that the caller's slice can change.
	t.InputSchema = append([]byte(nil), t.InputSchema...)

	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tools[t.Name]; ok {
		panic(fmt.Sprintf("tools: Register %q: a tool with this name is already registered", t.Name))
	}
	r.tools[t.Name] = &registeredTool{Tool: t, schema: schema}
	r.order = append(r.order, t.Name)
}

// Specs returns the registered tools in registration order, as the model
// sees them.
func (r *Registry) Specs() []llm.ToolSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	specs := make([]llm.ToolSpec, 0, len(r.order))
	for _, name := range r.order {
		t := r.tools[name]
		specs = append(specs, llm.ToolSpec{
			Name:        t.Name,
			Description: t.Description,
			InputSchema: append([]byte(nil), t.InputSchema...),
		})
	}
	return specs
}

// Lookup returns the tool registered under name.
func (r *Registry) Lookup(name string) (Tool, bool) {
	t, ok := r.lookup(name)
	if !ok {
		return Tool{}, false
	}
	return t.Tool, true
}

func (r *Registry) lookup(name string) (*registeredTool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	return t, ok
}

func (r *Registry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]string(nil), r.order...)
}

// availableTools returns the list of registered tools for an error
// result, or a sentence stating that there are none, because the model
// cannot act on an empty list.
func (r *Registry) availableTools() string {
	names := r.names()
	if len(names) == 0 {
		return "no tools are registered"
	}
	return "available tools: " + strings.Join(names, ", ")
}

// WithApprovalStore sets the store that keeps approvals of high-risk calls.
// Without one, a high-risk call returns an error result.
func WithApprovalStore(s ApprovalStore) Option {
	return func(r *Registry) { r.approvals = s }
}

// WithAuditLogger sets the Logger that receives one tool_execution entry per
// execution. The chat ID comes from the context of Execute or Approve.
// Without one, nothing is logged.
func WithAuditLogger(l *audit.Logger) Option {
	return func(r *Registry) { r.logger = l }
}

// WithTimeout sets how long one tool run may take; DefaultTimeout when not
// set. Zero or a negative value disables the timeout.
func WithTimeout(d time.Duration) Option {
	return func(r *Registry) { r.timeout = d }
}

// WithClock sets the clock used for durations and approval timestamps;
// time.Now when not set.
func WithClock(now func() time.Time) Option {
	return func(r *Registry) { r.now = now }
}
