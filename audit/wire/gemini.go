package wire

import (
	"bytes"
	"encoding/json"

	"github.com/agentaudit/agentaudit/audit"
)

// geminiPayload is a Gemini generateContent body or streamGenerateContent
// chunk, reduced to the members the audit trail reads.
type geminiPayload struct {
	Candidates [1]struct {
		FinishReason *string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *geminiUsage `json:"usageMetadata"`
	ModelVersion  firstString  `json:"modelVersion"`
	Error         errorField   `json:"error"`
}

// geminiUsage is Gemini's usageMetadata. Gemini encodes it as proto3 JSON,
// which leaves out a count that is 0.
type geminiUsage struct {
	PromptTokenCount        tokenCount `json:"promptTokenCount"`
	CandidatesTokenCount    tokenCount `json:"candidatesTokenCount"`
	ThoughtsTokenCount      tokenCount `json:"thoughtsTokenCount"`
	CachedContentTokenCount tokenCount `json:"cachedContentTokenCount"`
	TotalTokenCount         tokenCount `json:"totalTokenCount"`
}

// geminiBody reads a complete Gemini body: one response object, an error
// object, or the JSON array of chunks that streamGenerateContent returns
// without alt=sse, read like a stream.
func (c *collector) geminiBody(data []byte) bool {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return c.geminiPayload(data)
	}
	var chunks []json.RawMessage
	if !decode(trimmed, &chunks) {
		return false
	}
	for _, chunk := range chunks {
		c.geminiPayload(chunk)
	}
	return true
}

// geminiPayload reads one body or chunk. In a stream the first model
// version, the last finish reason and the last usageMetadata win; Gemini
// repeats the cumulative usage in every chunk.
func (c *collector) geminiPayload(data []byte) bool {
	p := &c.gemini
	*p = geminiPayload{}
	p.ModelVersion.skip = c.model != ""
	if !c.decode(data, p) {
		return false
	}

	c.setModel(p.ModelVersion.value)
	if reason := p.Candidates[0].FinishReason; reason != nil && *reason != "" {
		c.setFinish(reason)
		c.done = true
	}
	if p.UsageMetadata != nil {
		c.geminiUsage = p.UsageMetadata
	}
	if p.Error.present {
		c.fail(p.Error.message)
	}
	return true
}

// normalize applies the token rules of Gemini: candidatesTokenCount leaves
// out the thinking tokens, so the completion is candidatesTokenCount +
// thoughtsTokenCount, a missing count being 0.
func (u *geminiUsage) normalize() audit.Usage {
	if !u.PromptTokenCount.ok && !u.CandidatesTokenCount.ok && !u.ThoughtsTokenCount.ok &&
		!u.CachedContentTokenCount.ok && !u.TotalTokenCount.ok {
		// No count was readable, so the completion count below would be a
		// guess; usage is unknown.
		return audit.Usage{}
	}
	// The zero tokenCount of a missing count has value 0.
	completion := tokenCount{
		value: u.CandidatesTokenCount.value + u.ThoughtsTokenCount.value,
		ok:    true,
	}

	return audit.Usage{
		Available:           true,
		PromptTokens:        u.PromptTokenCount.known(),
		CompletionTokens:    completion.known(),
		TotalTokens:         sum(u.PromptTokenCount, completion),
		CachedInputTokens:   u.CachedContentTokenCount.known(),
		ReasoningTokens:     u.ThoughtsTokenCount.known(),
		ProviderTotalTokens: u.TotalTokenCount.known(),
	}
}
