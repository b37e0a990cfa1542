package audit

// Usage is the token usage of one LLM call, normalised to the OpenTelemetry
// GenAI conventions. A nil count is unknown, which is not the same as 0.
//
// PromptTokens counts all input tokens, cache reads and writes included.
// CompletionTokens counts all output tokens, reasoning included. The cached,
// cache-write and reasoning counts are subsets stored beside them.
type Usage struct {
	// Available reports whether the provider reported usage at all. When it
	// is false every count is nil.
	Available             bool   `json:"usageAvailable"`
	PromptTokens          *int64 `json:"promptTokens"`
	CompletionTokens      *int64 `json:"completionTokens"`
	TotalTokens           *int64 `json:"totalTokens"`
	CachedInputTokens     *int64 `json:"cachedInputTokens"`
	CacheWriteInputTokens *int64 `json:"cacheWriteInputTokens"`
	ReasoningTokens       *int64 `json:"reasoningTokens"`
	// ProviderTotalTokens is the provider's own total, kept so that a reader
	// can see where it disagrees with TotalTokens; nil when not reported.
	ProviderTotalTokens *int64 `json:"providerTotalTokens,omitempty"`
}

// Int64 returns a pointer to v, for filling Usage counts.
func Int64(v int64) *int64 { return &v }

// LLMCall is the metadata of an llm_call entry.
type LLMCall struct {
	// Provider names the provider or gateway, such as "openai" or "anthropic".
	Provider string `json:"provider"`
	// API names the wire API: "chat_completions", "responses",
	// "anthropic_messages", "gemini_generate_content" or "embeddings".
	API string `json:"api,omitempty"`
	// Model is the model the caller requested; ResponseModel is the one the
	// provider reported.
	Model         string `json:"model"`
	ResponseModel string `json:"responseModel,omitempty"`
	Usage
	// DurationMs is the wall time of the call in milliseconds.
	DurationMs int64  `json:"durationMs"`
	Status     Status `json:"status"`
	// Error is the provider's message or the transport error when Status is
	// StatusError.
	Error        string `json:"error,omitempty"`
	HTTPStatus   int    `json:"httpStatus,omitempty"`
	FinishReason string `json:"finishReason,omitempty"`
	Stream       bool   `json:"stream"`
	// Step is the agent loop's step number, starting at 1; 0 outside a loop.
	Step int `json:"step,omitempty"`
}

// EntryType returns TypeLLMCall.
func (*LLMCall) EntryType() EntryType { return TypeLLMCall }

// ToolExecution is the metadata of a tool_execution entry.
type ToolExecution struct {
	ToolName   string `json:"toolName"`
	ToolCallID string `json:"toolCallId,omitempty"`
	Status     Status `json:"status"`
	// InputSummary is the first 200 characters of the input's JSON encoding;
	// InputBytes is the size of the whole encoding. Logger.Log fills both
	// from Input when InputSummary is empty.
	InputSummary string `json:"inputSummary"`
	InputBytes   int    `json:"inputBytes"`
	DurationMs   int64  `json:"durationMs"`
	Error        string `json:"error,omitempty"`
	// Risk is the tool's risk level, "low" or "high".
	Risk string `json:"risk,omitempty"`
	// ApprovalID links a high-risk run to its row in pending_approvals.
	ApprovalID string `json:"approvalId,omitempty"`

	// Input is the tool's input. A json.RawMessage or []byte is taken as the
	// JSON text the model sent; any other value is encoded as JSON. It is not
	// stored itself, only its summary and size.
	Input any `json:"-"`
}

// EntryType returns TypeToolExecution.
func (*ToolExecution) EntryType() EntryType { return TypeToolExecution }
