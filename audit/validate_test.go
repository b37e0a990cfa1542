package audit

import (
	"errors"
	"strings"
	"testing"
)

func validLLMCall() *LLMCall {
	return &LLMCall{
		Provider:   "openai",
		Model:      "gpt-4o-mini",
		DurationMs: 812,
		Status:     StatusSuccess,
		Usage: Usage{
			Available:        true,
			PromptTokens:     Int64(120),
			CompletionTokens: Int64(30),
			TotalTokens:      Int64(150),
		},
	}
}

func validToolExecution() *ToolExecution {
	return &ToolExecution{
		ToolName:   "get_weather",
		ToolCallID: "call_1",
		Status:     StatusSuccess,
		DurationMs: 40,
		Risk:       "low",
	}
}

func TestLLMCallValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(c *LLMCall)
		wantField string // "" means valid
	}{
		{"valid", func(*LLMCall) {}, ""},
		{"error status", func(c *LLMCall) { c.Status = StatusError; c.Error = "rate limited"; c.HTTPStatus = 429 }, ""},
		{"usage unknown", func(c *LLMCall) { c.Usage = Usage{} }, ""},
		{"zero counts", func(c *LLMCall) { c.PromptTokens = Int64(0) }, ""},
		{"missing provider", func(c *LLMCall) { c.Provider = "" }, "provider"},
		{"missing model", func(c *LLMCall) { c.Model = "" }, "model"},
		{"missing status", func(c *LLMCall) { c.Status = "" }, "status"},
		{"unknown status", func(c *LLMCall) { c.Status = "ok" }, "status"},
		{"negative duration", func(c *LLMCall) { c.DurationMs = -1 }, "durationMs"},
		{"http status too low", func(c *LLMCall) { c.HTTPStatus = 42 }, "httpStatus"},
		{"http status too high", func(c *LLMCall) { c.HTTPStatus = 600 }, "httpStatus"},
		{"negative step", func(c *LLMCall) { c.Step = -2 }, "step"},
		{"negative prompt tokens", func(c *LLMCall) { c.PromptTokens = Int64(-5) }, "promptTokens"},
		{"negative reasoning tokens", func(c *LLMCall) { c.ReasoningTokens = Int64(-1) }, "reasoningTokens"},
		{"counts while unavailable", func(c *LLMCall) { c.Available = false }, "promptTokens"},
		{"provider total while unavailable", func(c *LLMCall) { c.Usage = Usage{ProviderTotalTokens: Int64(3)} }, "providerTotalTokens"},
		{"available without counts", func(c *LLMCall) { c.Usage = Usage{Available: true} }, "usageAvailable"},
		{"available with one count", func(c *LLMCall) { c.Usage = Usage{Available: true, TotalTokens: Int64(0)} }, ""},
		{"provider at limit", func(c *LLMCall) { c.Provider = strings.Repeat("p", MaxNameBytes) }, ""},
		{"provider too long", func(c *LLMCall) { c.Provider = strings.Repeat("p", MaxNameBytes+1) }, "provider"},
		{"api too long", func(c *LLMCall) { c.API = strings.Repeat("a", MaxNameBytes+1) }, "api"},
		{"model at limit", func(c *LLMCall) { c.Model = strings.Repeat("m", MaxNameBytes) }, ""},
		{"model too long", func(c *LLMCall) { c.Model = strings.Repeat("m", MaxNameBytes+1) }, "model"},
		{"response model at limit", func(c *LLMCall) { c.ResponseModel = strings.Repeat("m", MaxNameBytes) }, ""},
		{"response model too long", func(c *LLMCall) { c.ResponseModel = strings.Repeat("m", MaxNameBytes+1) }, "responseModel"},
		{"finish reason too long", func(c *LLMCall) { c.FinishReason = strings.Repeat("f", MaxNameBytes+1) }, "finishReason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validLLMCall()
			tt.edit(c)
			checkValidation(t, c.Validate(), TypeLLMCall, tt.wantField)
		})
	}

	t.Run("nil", func(t *testing.T) {
		checkValidation(t, (*LLMCall)(nil).Validate(), TypeLLMCall, "metadata")
	})
}

func TestToolExecutionValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(e *ToolExecution)
		wantField string
	}{
		{"valid", func(*ToolExecution) {}, ""},
		{"high risk with approval", func(e *ToolExecution) { e.Risk = "high"; e.ApprovalID = "apr_1" }, ""},
		{"summary of 200 characters", func(e *ToolExecution) { e.InputSummary = strings.Repeat("é", 200) }, ""},
		{"missing tool name", func(e *ToolExecution) { e.ToolName = "" }, "toolName"},
		{"unknown status", func(e *ToolExecution) { e.Status = "failed" }, "status"},
		{"negative duration", func(e *ToolExecution) { e.DurationMs = -3 }, "durationMs"},
		{"negative input bytes", func(e *ToolExecution) { e.InputBytes = -1 }, "inputBytes"},
		{"summary too long", func(e *ToolExecution) { e.InputSummary = strings.Repeat("é", 201) }, "inputSummary"},
		{"unknown risk", func(e *ToolExecution) { e.Risk = "medium" }, "risk"},
		{"risk too long", func(e *ToolExecution) { e.Risk = strings.Repeat("r", MaxNameBytes+1) }, "risk"},
		{"tool name at limit", func(e *ToolExecution) { e.ToolName = strings.Repeat("t", MaxNameBytes) }, ""},
		{"tool name too long", func(e *ToolExecution) { e.ToolName = strings.Repeat("t", MaxNameBytes+1) }, "toolName"},
		{"tool call ID at limit", func(e *ToolExecution) { e.ToolCallID = strings.Repeat("c", MaxNameBytes) }, ""},
		{"tool call ID too long", func(e *ToolExecution) { e.ToolCallID = strings.Repeat("c", MaxNameBytes+1) }, "toolCallId"},
		{"approval ID too long", func(e *ToolExecution) { e.ApprovalID = strings.Repeat("a", MaxNameBytes+1) }, "approvalId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validToolExecution()
			tt.edit(e)
			checkValidation(t, e.Validate(), TypeToolExecution, tt.wantField)
		})
	}

	t.Run("nil", func(t *testing.T) {
		checkValidation(t, (*ToolExecution)(nil).Validate(), TypeToolExecution, "metadata")
	})
}

func TestValidateChatID(t *testing.T) {
	tests := []struct {
		name      string
		chatID    string
		wantField string
	}{
		{"empty", "", ""},
		{"at limit", strings.Repeat("c", MaxChatIDBytes), ""},
		{"one byte over", strings.Repeat("c", MaxChatIDBytes+1), "chatId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidation(t, ValidateChatID(TypeLLMCall, tt.chatID), TypeLLMCall, tt.wantField)
		})
	}
}

func TestValidateNameMessage(t *testing.T) {
	c := validLLMCall()
	c.Model = strings.Repeat("m", MaxNameBytes+1)
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error for the long model")
	}
	for _, want := range []string{"model", "513 bytes", "at most 512"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to contain %q", err, want)
		}
	}
}

func checkValidation(t *testing.T, err error, wantType EntryType, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Errorf("Validate() = %v, want nil", err)
		}
		return
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate() = %v, want a *ValidationError", err)
	}
	if verr.Field != wantField {
		t.Errorf("Validate() field = %q, want %q", verr.Field, wantField)
	}
	if verr.Type != wantType {
		t.Errorf("Validate() type = %q, want %q", verr.Type, wantType)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "audit: ") || !strings.Contains(msg, wantField) {
		t.Errorf("Validate() message = %q, want the audit prefix and the field", msg)
	}
}
