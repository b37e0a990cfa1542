package wire

import "github.com/agentaudit/agentaudit/audit"

// anthropicMessage is an Anthropic Messages body, or the message of a
// message_start event, reduced to the members the audit trail reads.
type anthropicMessage struct {
	Type       eventKind       `json:"type"`
	Model      string          `json:"model"`
	StopReason *string         `json:"stop_reason"`
	Usage      *anthropicUsage `json:"usage"`
	Error      errorField      `json:"error"`
}

// anthropicEvent is the payload of one Anthropic Messages stream event.
type anthropicEvent struct {
	Type    eventKind        `json:"type"`
	Message anthropicMessage `json:"message"` // message_start
	Delta   struct {
		StopReason *string `json:"stop_reason"`
	} `json:"delta"` // message_delta; content_block_delta's delta has no stop_reason
	Usage *anthropicUsage `json:"usage"` // message_delta
	Error errorField      `json:"error"` // error
}

// anthropicUsage is the usage object of Anthropic Messages.
type anthropicUsage struct {
	InputTokens              tokenCount `json:"input_tokens"`
	OutputTokens             tokenCount `json:"output_tokens"`
	CacheReadInputTokens     tokenCount `json:"cache_read_input_tokens"`
	CacheCreationInputTokens tokenCount `json:"cache_creation_input_tokens"`
	OutputTokensDetails      struct {
		ThinkingTokens tokenCount `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

// anthropicBody reads a complete Anthropic Messages body: a message, or an
// error of the form {"type":"error","error":{"type":...,"message":...}}.
func (c *collector) anthropicBody(data []byte) bool {
	var m anthropicMessage
	if !decode(data, &m) {
		return false
	}
	c.setModel(m.Model)
	c.setFinish(m.StopReason)
	if m.Usage != nil {
		c.anthropicUsage = m.Usage
	}
	if m.Error.present || m.Type == kindError {
		c.fail(m.Error.message)
	}
	return true
}

// anthropicEvent reads the payload of one stream event. kind is the event
// type named by the SSE event: field, or kindUnknown when the stream has
// none; the payload's own "type" takes precedence.
func (c *collector) anthropicEvent(kind eventKind, data []byte) bool {
	e := &c.anthropic
	*e = anthropicEvent{}
	if !c.decode(data, e) {
		return false
	}
	if e.Type != kindUnknown {
		kind = e.Type
	}

	switch kind {
	case kindMessageStart:
		c.setModel(e.Message.Model)
		c.setFinish(e.Message.StopReason)
		if u := e.Message.Usage; u != nil {
			c.mergeAnthropicUsage(u)
		}
	case kindMessageDelta:
		c.setFinish(e.Delta.StopReason)
		if e.Usage != nil {
			c.mergeAnthropicUsage(e.Usage)
		}
	case kindMessageStop:
		c.done = true
	case kindError:
		c.fail(e.Error.message)
	}
	return true
}

// mergeAnthropicUsage lays the non-null fields of u over the usage seen so
// far. message_delta reports cumulative counts, so a field replaces the
// earlier value and is never added to it.
func (c *collector) mergeAnthropicUsage(u *anthropicUsage) {
	if c.anthropicUsage == nil {
		c.anthropicUsage = u
		return
	}
	m := c.anthropicUsage
	override(&m.InputTokens, u.InputTokens)
	override(&m.OutputTokens, u.OutputTokens)
	override(&m.CacheReadInputTokens, u.CacheReadInputTokens)
	override(&m.CacheCreationInputTokens, u.CacheCreationInputTokens)
	override(&m.OutputTokensDetails.ThinkingTokens, u.OutputTokensDetails.ThinkingTokens)
}

func override(dst *tokenCount, v tokenCount) {
	if v.ok {
		*dst = v
	}
}

// normalize applies the token rules of Anthropic Messages: input_tokens
// counts only the uncached input, so the prompt is input_tokens +
// cache_read_input_tokens + cache_creation_input_tokens, a missing cache
// term counting 0 when input_tokens is present.
func (u *anthropicUsage) normalize() audit.Usage {
	// The zero tokenCount of a missing cache term has value 0.
	prompt := u.InputTokens
	prompt.value += u.CacheReadInputTokens.value + u.CacheCreationInputTokens.value

	return audit.Usage{
		Available:             true,
		PromptTokens:          prompt.known(),
		CompletionTokens:      u.OutputTokens.known(),
		TotalTokens:           sum(prompt, u.OutputTokens),
		CachedInputTokens:     u.CacheReadInputTokens.known(),
		CacheWriteInputTokens: u.CacheCreationInputTokens.known(),
		ReasoningTokens:       u.OutputTokensDetails.ThinkingTokens.known(),
	}
}
