package audit

import (
	"fmt"
	"unicode/utf8"
)

// Limits on the length of identifiers, in bytes. PostgreSQL's btree index
// entries hold at most 2,704 bytes (the "index row size exceeds btree
// version 4 maximum" error), and chat_id and the model are indexed, so a
// longer value would be accepted by Log and then fail at the insert. The
// limits leave room for the other columns of a composite index.
const (
	// MaxChatIDBytes is the maximum length of a chat ID.
	MaxChatIDBytes = 1024
	// MaxNameBytes is the maximum length of a short identifier: an
	// LLMCall's Provider, API, Model, ResponseModel and FinishReason, and a
	// ToolExecution's ToolName, ToolCallID, Risk and ApprovalID.
	MaxNameBytes = 512
)

// ValidateChatID returns a *ValidationError of type t for field chatId when
// chatID is longer than MaxChatIDBytes. An empty chat ID is valid.
func ValidateChatID(t EntryType, chatID string) error {
	if len(chatID) > MaxChatIDBytes {
		return &ValidationError{Type: t, Field: "chatId",
			Err: fmt.Sprintf("has %d bytes; want at most %d, so pass a shorter chat ID such as a UUID", len(chatID), MaxChatIDBytes)}
	}
	return nil
}

// validateNames returns a *ValidationError for the first of names, given as
// field and value pairs, that is longer than MaxNameBytes.
func validateNames(t EntryType, names ...string) error {
	for i := 0; i+1 < len(names); i += 2 {
		if n := len(names[i+1]); n > MaxNameBytes {
			return &ValidationError{Type: t, Field: names[i],
				Err: fmt.Sprintf("has %d bytes; want at most %d", n, MaxNameBytes)}
		}
	}
	return nil
}

// Validate reports the first invalid field of c as a *ValidationError
// that names its metadata key. Provider, model and status are required, and
// status must be success or error. Durations, steps and token counts must
// not be negative, and an HTTP status must be 0 or 100-599. Token counts
// must be nil while usageAvailable is false, and at least one must be set
// while it is true. Provider, API, model, responseModel and finishReason
// hold at most MaxNameBytes bytes.
func (c *LLMCall) Validate() error {
	if c == nil {
		return &ValidationError{Type: TypeLLMCall, Field: "metadata", Err: "is a nil *LLMCall; pass a filled-in value"}
	}
	invalid := func(field, format string, args ...any) error {
		return &ValidationError{Type: TypeLLMCall, Field: field, Err: fmt.Sprintf(format, args...)}
	}

	if c.Provider == "" {
		return invalid("provider", `is required; set it to the provider or gateway name, such as "openai"`)
	}
	if c.Model == "" {
		return invalid("model", "is required; set it to the model the request named")
	}
	if err := validateNames(TypeLLMCall,
		"provider", c.Provider,
		"api", c.API,
		"model", c.Model,
		"responseModel", c.ResponseModel,
		"finishReason", c.FinishReason,
	); err != nil {
		return err
	}
	if err := validateStatus(TypeLLMCall, c.Status); err != nil {
		return err
	}
	if c.DurationMs < 0 {
		return invalid("durationMs", "is %d; want a duration of 0 ms or more", c.DurationMs)
	}
	if c.HTTPStatus != 0 && (c.HTTPStatus < 100 || c.HTTPStatus > 599) {
		return invalid("httpStatus", "is %d; want an HTTP status code from 100 to 599, or 0 when there was no response", c.HTTPStatus)
	}
	if c.Step < 0 {
		return invalid("step", "is %d; want 1 or more inside an agent loop, 0 outside one", c.Step)
	}
	return validateUsage(&c.Usage)
}

// validateUsage checks the usage counts of an llm_call entry.
func validateUsage(u *Usage) error {
	counts := [...]struct {
		field string
		value *int64
	}{
		{"promptTokens", u.PromptTokens},
		{"completionTokens", u.CompletionTokens},
		{"totalTokens", u.TotalTokens},
		{"cachedInputTokens", u.CachedInputTokens},
		{"cacheWriteInputTokens", u.CacheWriteInputTokens},
		{"reasoningTokens", u.ReasoningTokens},
		{"providerTotalTokens", u.ProviderTotalTokens},
	}
	known := false
	for _, c := range counts {
		if c.value == nil {
			continue
		}
		known = true
		if !u.Available {
			return &ValidationError{Type: TypeLLMCall, Field: c.field,
				Err: fmt.Sprintf("is %d while usageAvailable is false; set usageAvailable to true, or leave unknown counts nil", *c.value)}
		}
		if *c.value < 0 {
			return &ValidationError{Type: TypeLLMCall, Field: c.field,
				Err: fmt.Sprintf("is %d; want a token count of 0 or more, or nil when unknown", *c.value)}
		}
	}
	if u.Available && !known {
		return &ValidationError{Type: TypeLLMCall, Field: "usageAvailable",
			Err: "is true but every token count is nil; set the counts the provider reported, or set usageAvailable to false"}
	}
	return nil
}

// Validate reports the first invalid field of e as a *ValidationError
// that names its metadata key. ToolName and status are required, and status
// must be success or error. DurationMs and inputBytes must not be negative.
// InputSummary holds at most MaxSummaryRunes characters, and risk is
// "low", "high" or empty. ToolName, toolCallId and approvalId hold at most
// MaxNameBytes bytes.
func (e *ToolExecution) Validate() error {
	if e == nil {
		return &ValidationError{Type: TypeToolExecution, Field: "metadata", Err: "is a nil *ToolExecution; pass a filled-in value"}
	}
	invalid := func(field, format string, args ...any) error {
		return &ValidationError{Type: TypeToolExecution, Field: field, Err: fmt.Sprintf(format, args...)}
	}

	if e.ToolName == "" {
		return invalid("toolName", "is required; set it to the name the tool is registered under")
	}
	if err := validateNames(TypeToolExecution,
		"toolName", e.ToolName,
		"toolCallId", e.ToolCallID,
		"risk", e.Risk,
		"approvalId", e.ApprovalID,
	); err != nil {
		return err
	}
	if err := validateStatus(TypeToolExecution, e.Status); err != nil {
		return err
	}
	if e.DurationMs < 0 {
		return invalid("durationMs", "is %d; want a duration of 0 ms or more", e.DurationMs)
	}
	if e.InputBytes < 0 {
		return invalid("inputBytes", "is %d; want the byte size of the input's JSON encoding", e.InputBytes)
	}
	if n := utf8.RuneCountInString(e.InputSummary); n > MaxSummaryRunes {
		return invalid("inputSummary", "has %d characters; want at most %d, or leave it empty so that Log builds it from Input", n, MaxSummaryRunes)
	}
	switch e.Risk {
	case "", "low", "high":
	default:
		return invalid("risk", `is %q; want "low", "high" or empty`, e.Risk)
	}
	return nil
}

func validateStatus(t EntryType, s Status) error {
	switch s {
	case StatusSuccess, StatusError:
		return nil
	case "":
		return &ValidationError{Type: t, Field: "status", Err: `is required; set it to "success" or "error"`}
	default:
		return &ValidationError{Type: t, Field: "status", Err: fmt.Sprintf(`is %q; want "success" or "error"`, s)}
	}
}
