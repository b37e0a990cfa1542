package audit

import "strconv"

// writeMetadata writes m as the JSON object stored in the metadata column:
// the keys its struct tags give, in field order, with the tags' omitempty
// rules. Strings are escaped as JSON.stringify escapes them, and bytes
// that are not UTF-8 become U+FFFD, so the result is valid UTF-8 JSON.
func writeMetadata(w *sink, m Metadata) {
	o := objectWriter{w: w}
	w.writeByte('{')
	switch m := m.(type) {
	case *LLMCall:
		o.writeLLMCall(m)
	case *ToolExecution:
		o.writeToolExecution(m)
	}
	w.writeByte('}')
}

func (o *objectWriter) writeLLMCall(c *LLMCall) {
	o.string("provider", c.Provider)
	o.stringOmitEmpty("api", c.API)
	o.string("model", c.Model)
	o.stringOmitEmpty("responseModel", c.ResponseModel)
	o.bool("usageAvailable", c.Available)
	o.count("promptTokens", c.PromptTokens)
	o.count("completionTokens", c.CompletionTokens)
	o.count("totalTokens", c.TotalTokens)
	o.count("cachedInputTokens", c.CachedInputTokens)
	o.count("cacheWriteInputTokens", c.CacheWriteInputTokens)
	o.count("reasoningTokens", c.ReasoningTokens)
	if c.ProviderTotalTokens != nil {
		o.count("providerTotalTokens", c.ProviderTotalTokens)
	}
	o.int("durationMs", c.DurationMs)
	o.string("status", string(c.Status))
	o.stringOmitEmpty("error", c.Error)
	if c.HTTPStatus != 0 {
		o.int("httpStatus", int64(c.HTTPStatus))
	}
	o.stringOmitEmpty("finishReason", c.FinishReason)
	o.bool("stream", c.Stream)
	if c.Step != 0 {
		o.int("step", int64(c.Step))
	}
}

func (o *objectWriter) writeToolExecution(e *ToolExecution) {
	o.string("toolName", e.ToolName)
	o.stringOmitEmpty("toolCallId", e.ToolCallID)
	o.string("status", string(e.Status))
	o.string("inputSummary", e.InputSummary)
	o.int("inputBytes", int64(e.InputBytes))
	o.int("durationMs", e.DurationMs)
	o.stringOmitEmpty("error", e.Error)
	o.stringOmitEmpty("risk", e.Risk)
	o.stringOmitEmpty("approvalId", e.ApprovalID)
}

// objectWriter writes the members of one JSON object.
type objectWriter struct {
	w       *sink
	members int
}

func (o *objectWriter) key(k string) {
	if o.members > 0 {
		o.w.writeByte(',')
	}
	o.members++
	o.w.writeByte('"')
	o.w.writeString(k)
	o.w.writeString(`":`)
}

func (o *objectWriter) string(k, v string) {
	o.key(k)
	writeTextAsJSONString(v, o.w)
}

func (o *objectWriter) stringOmitEmpty(k, v string) {
	if v != "" {
		o.string(k, v)
	}
}

func (o *objectWriter) int(k string, v int64) {
	o.key(k)
	var buf [20]byte
	o.w.writeBytes(strconv.AppendInt(buf[:0], v, 10))
}

// count writes a token count, null when unknown.
func (o *objectWriter) count(k string, v *int64) {
	if v == nil {
		o.key(k)
		o.w.writeString("null")
		return
	}
	o.int(k, *v)
}

func (o *objectWriter) bool(k string, v bool) {
	o.key(k)
	if v {
		o.w.writeString("true")
	} else {
		o.w.writeString("false")
	}
}
