package wire

import "github.com/agentaudit/agentaudit/audit"

// collector gathers what the payloads of one response report. ParseBody
// feeds it one body; a StreamParser feeds it one payload per event. The
// usage is kept in the provider's own shape and normalised once, in result,
// because Anthropic streams merge fields across events.
type collector struct {
	api API

	model   string
	finish  string
	failed  bool
	message string
	done    bool

	chatUsage      *chatUsage // last top-level usage of a chat payload
	groqUsage      *chatUsage // x_groq.usage, used only without chatUsage
	responsesUsage *responsesUsage
	anthropicUsage *anthropicUsage // merged across message_start and message_delta
	geminiUsage    *geminiUsage

	// stream selects dec for decoding, which pays off over many payloads.
	stream bool
	dec    payloadDecoder

	// Decoding targets reused across payloads, so that a stream of small
	// chunks does not allocate one per chunk.
	chat      chatPayload
	anthropic anthropicEvent
	responses responsesEvent
	gemini    geminiPayload
}

// decode decodes one payload into v leniently and reports whether it was
// read; see the package-level decode.
func (c *collector) decode(data []byte, v any) bool {
	if c.stream {
		return c.dec.decode(data, v)
	}
	return decode(data, v)
}

// fail records a provider error. The first message wins, so that an error
// event's message is not replaced by a later summary of the same failure.
func (c *collector) fail(message string) {
	c.failed = true
	if c.message == "" {
		c.message = message
	}
}

// setModel records the response model reported first.
func (c *collector) setModel(model string) {
	if c.model == "" {
		c.model = model
	}
}

// unknownModel returns name while no response model is recorded, and ""
// after, for hasMember.
func (c *collector) unknownModel(name string) string {
	if c.model == "" {
		return name
	}
	return ""
}

// setFinish records a non-empty finish reason; a later one replaces it.
func (c *collector) setFinish(reason *string) {
	if reason != nil && *reason != "" {
		c.finish = *reason
	}
}

// errorBody reads a body of an API the package does not model for its
// error alone.
func (c *collector) errorBody(data []byte) bool {
	var body struct {
		Error errorField `json:"error"`
	}
	if !decode(data, &body) {
		return false
	}
	if body.Error.present {
		c.fail(body.Error.message)
	}
	return true
}

// result returns what the collected payloads report.
func (c *collector) result() Result {
	r := Result{
		ResponseModel: c.model,
		FinishReason:  c.finish,
		ErrorMessage:  c.message,
		Failed:        c.failed,
	}
	switch {
	case c.chatUsage != nil:
		r.Usage = c.chatUsage.normalize()
	case c.groqUsage != nil:
		r.Usage = c.groqUsage.normalize()
	case c.responsesUsage != nil:
		r.Usage = c.responsesUsage.normalize()
	case c.anthropicUsage != nil:
		r.Usage = c.anthropicUsage.normalize()
	case c.geminiUsage != nil:
		r.Usage = c.geminiUsage.normalize()
	}
	if !hasCount(&r.Usage) {
		// A usage object without one readable count, such as "usage":{}
		// or counts given as strings, reports no usage, so usage is unknown.
		r.Usage = audit.Usage{}
	}
	return r
}

// hasCount reports whether u holds at least one token count.
func hasCount(u *audit.Usage) bool {
	return u.PromptTokens != nil || u.CompletionTokens != nil || u.TotalTokens != nil ||
		u.CachedInputTokens != nil || u.CacheWriteInputTokens != nil ||
		u.ReasoningTokens != nil || u.ProviderTotalTokens != nil
}

// sum returns a + b, or nil when either is unknown.
func sum(a, b tokenCount) *int64 {
	if !a.ok || !b.ok {
		return nil
	}
	return audit.Int64(a.value + b.value)
}
