package wire

import "github.com/agentaudit/agentaudit/audit"

// chatPayload is a Chat Completions body or stream chunk, reduced to the
// members the audit trail reads. A body and a chunk share this shape; the
// message or delta inside each choice is not read.
type chatPayload struct {
	Model   firstString `json:"model"`
	Choices [1]struct {
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *chatUsage `json:"usage"`
	XGroq *struct {
		Usage *chatUsage `json:"usage"`
	} `json:"x_groq"`
	Error errorField `json:"error"`
}

// chatUsage is the usage object of Chat Completions and of OpenAI-compatible
// servers (Groq, DeepSeek, xAI, OpenRouter, llama.cpp).
type chatUsage struct {
	PromptTokens        *int64 `json:"prompt_tokens"`
	CompletionTokens    *int64 `json:"completion_tokens"`
	TotalTokens         *int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens     *int64 `json:"cached_tokens"`
		CacheWriteTokens *int64 `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens *int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	// PromptCacheHitTokens is DeepSeek's count of cached input tokens.
	PromptCacheHitTokens *int64 `json:"prompt_cache_hit_tokens"`
}

// chatPayload reads one Chat Completions body or chunk. In a stream the
// first model, the last finish reason and the last usage win. A chunk that
// repeats the usage replaces it, so usage is never summed.
func (c *collector) chatPayload(data []byte) bool {
	p := &c.chat
	*p = chatPayload{}
	p.Model.skip = c.model != ""
	if !decode(data, p) {
		return false
	}

	c.setModel(p.Model.value)
	c.setFinish(p.Choices[0].FinishReason)
	if p.Usage != nil {
		c.chatUsage = p.Usage
	}
	if p.XGroq != nil && p.XGroq.Usage != nil {
		c.groqUsage = p.XGroq.Usage
	}
	if p.Error.present {
		c.fail(p.Error.message)
	}
	return true
}

// normalize applies the token rules of Chat Completions. Some providers
// (xAI) leave reasoning tokens out of completion_tokens; they are added back
// when the provider's total shows it: reasoning > 0 and total == prompt +
// completion + reasoning.
func (u *chatUsage) normalize() audit.Usage {
	var cached, cacheWrite, reasoning *int64
	if d := u.PromptTokensDetails; d != nil {
		cached, cacheWrite = d.CachedTokens, d.CacheWriteTokens
	}
	if cached == nil {
		cached = u.PromptCacheHitTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		reasoning = d.ReasoningTokens
	}

	prompt, completion := count(u.PromptTokens), count(u.CompletionTokens)
	if prompt != nil && completion != nil && reasoning != nil && u.TotalTokens != nil &&
		*reasoning > 0 && *u.TotalTokens == *prompt+*completion+*reasoning {
		*completion += *reasoning
	}

	return audit.Usage{
		Available:             true,
		PromptTokens:          prompt,
		CompletionTokens:      completion,
		TotalTokens:           sum(prompt, completion),
		CachedInputTokens:     count(cached),
		CacheWriteInputTokens: count(cacheWrite),
		ReasoningTokens:       count(reasoning),
		ProviderTotalTokens:   count(u.TotalTokens),
	}
}
