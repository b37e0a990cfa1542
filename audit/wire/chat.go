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
	PromptTokens        tokenCount `json:"prompt_tokens"`
	CompletionTokens    tokenCount `json:"completion_tokens"`
	TotalTokens         tokenCount `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens     tokenCount `json:"cached_tokens"`
		CacheWriteTokens tokenCount `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens tokenCount `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	// PromptCacheHitTokens is DeepSeek's count of cached input tokens.
	PromptCacheHitTokens tokenCount `json:"prompt_cache_hit_tokens"`
}

// chatPayload reads one Chat Completions body or chunk. In a stream the
// first model, the last finish reason and the last usage win. A chunk that
// repeats the usage replaces it, so usage is never summed.
func (c *collector) chatPayload(data []byte) bool {
	p := &c.chat
	*p = chatPayload{}
	p.Model.skip = c.model != ""
	if !c.decode(data, p) {
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
	cached := u.PromptTokensDetails.CachedTokens
	if !cached.ok {
		cached = u.PromptCacheHitTokens
	}
	prompt, completion := u.PromptTokens, u.CompletionTokens
	reasoning, total := u.CompletionTokensDetails.ReasoningTokens, u.TotalTokens
	if prompt.ok && completion.ok && reasoning.ok && total.ok &&
		reasoning.value > 0 && total.value == prompt.value+completion.value+reasoning.value {
		completion.value += reasoning.value
	}

	return audit.Usage{
		Available:             true,
		PromptTokens:          prompt.known(),
		CompletionTokens:      completion.known(),
		TotalTokens:           sum(prompt, completion),
		CachedInputTokens:     cached.known(),
		CacheWriteInputTokens: u.PromptTokensDetails.CacheWriteTokens.known(),
		ReasoningTokens:       reasoning.known(),
		ProviderTotalTokens:   total.known(),
	}
}
