package wire

import "github.com/agentaudit/agentaudit/audit"

// responsesObject is an OpenAI Responses API response object, the body of
// a non-streaming call and the "response" of lifecycle stream events,
// reduced to the members the audit trail reads.
type responsesObject struct {
	Model  string          `json:"model"`
	Status string          `json:"status"`
	Usage  *responsesUsage `json:"usage"`
	Error  errorField      `json:"error"`
}

// responsesEvent is the payload of one Responses stream event.
type responsesEvent struct {
	Type     eventKind        `json:"type"`
	Response *responsesObject `json:"response"`
	// Error is the error of an "error" event. Older events carry the
	// message at the top level instead, in Message.
	Error   errorField `json:"error"`
	Message *string    `json:"message"`
}

// responsesUsage is the usage object of the Responses API.
type responsesUsage struct {
	InputTokens        tokenCount `json:"input_tokens"`
	OutputTokens       tokenCount `json:"output_tokens"`
	TotalTokens        tokenCount `json:"total_tokens"`
	InputTokensDetails struct {
		CachedTokens     tokenCount `json:"cached_tokens"`
		CacheWriteTokens tokenCount `json:"cache_write_tokens"`
	} `json:"input_tokens_details"`
	OutputTokensDetails struct {
		ReasoningTokens tokenCount `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

// responsesBody reads a complete Responses body: a response object, or an
// {"error":{...}} body. The response status is the finish reason; a status
// of "failed" or a non-null error fails the call.
func (c *collector) responsesBody(data []byte) bool {
	var r responsesObject
	if !decode(data, &r) {
		return false
	}
	c.responsesResponse(&r, true)
	return true
}

// responsesResponse records a response object. final reports that it comes
// from a body or a terminal event, whose status and usage are the call's.
func (c *collector) responsesResponse(r *responsesObject, final bool) {
	c.setModel(r.Model)
	if !final {
		return
	}
	c.setFinish(&r.Status)
	if r.Usage != nil {
		c.responsesUsage = r.Usage
	}
	if r.Error.present || r.Status == "failed" {
		c.fail(r.Error.message)
	}
}

// responsesEvent reads the payload of one stream event. kind is the event
// type named by the SSE event: field, or kindUnknown when the stream has
// none; the payload's own "type" takes precedence.
func (c *collector) responsesEvent(kind eventKind, data []byte) bool {
	e := &c.responses
	*e = responsesEvent{}
	if !c.decode(data, e) {
		return false
	}
	if e.Type != kindUnknown {
		kind = e.Type
	}

	switch kind {
	case kindResponseCreated, kindResponseInProgress, kindResponseQueued:
		if e.Response != nil {
			c.responsesResponse(e.Response, false)
		}
	case kindResponseCompleted, kindResponseFailed, kindResponseIncomplete:
		if e.Response != nil {
			c.responsesResponse(e.Response, true)
		}
		if kind == kindResponseFailed {
			c.fail("")
		}
		c.done = true
	case kindError:
		message := e.Error.message
		if message == "" && e.Message != nil {
			message = *e.Message
		}
		c.fail(message)
	}
	return true
}

// normalize applies the token rules of the Responses API, whose
// output_tokens already include the reasoning tokens.
func (u *responsesUsage) normalize() audit.Usage {
	return audit.Usage{
		Available:             true,
		PromptTokens:          u.InputTokens.known(),
		CompletionTokens:      u.OutputTokens.known(),
		TotalTokens:           sum(u.InputTokens, u.OutputTokens),
		CachedInputTokens:     u.InputTokensDetails.CachedTokens.known(),
		CacheWriteInputTokens: u.InputTokensDetails.CacheWriteTokens.known(),
		ReasoningTokens:       u.OutputTokensDetails.ReasoningTokens.known(),
		ProviderTotalTokens:   u.TotalTokens.known(),
	}
}
