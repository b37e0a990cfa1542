// Package wire reads LLM providers' wire formats, JSON bodies and
// server-sent event streams, and extracts what the audit trail records:
// the response model, the finish reason, the token usage and the error.
//
// ParseBody reads a complete body and StreamParser reads a stream as it
// arrives. DetectAPI, RequestModel, RequestStreams, ModelFromPath and
// PathStreams read the request.
//
// Usage follows the OpenTelemetry GenAI conventions. The prompt counts all
// input tokens, cache reads and writes included, and the completion counts
// all output tokens, reasoning included. A count the provider did not
// report is nil, never 0. In a stream the final usage is taken once and
// never summed across chunks.
package wire

import "github.com/agentaudit/agentaudit/audit"

// API names a provider wire API; the value is stored as the api metadata key.
type API string

// The wire APIs the package reads.
const (
	ChatCompletions       API = "chat_completions"
	Responses             API = "responses"
	AnthropicMessages     API = "anthropic_messages"
	GeminiGenerateContent API = "gemini_generate_content"
	// Embeddings is the OpenAI embeddings API, also served by Azure OpenAI
	// and OpenAI-compatible servers. It has no streaming form.
	Embeddings API = "embeddings"
)

// Result is the audit data one response body reports about its call.
type Result struct {
	ResponseModel string
	FinishReason  string
	Usage         audit.Usage
	// ErrorMessage is the provider's message from an error body or an error
	// event in a stream.
	ErrorMessage string
	// Failed reports an error body or an error event in a stream.
	Failed bool
}

// ParseBody reads a complete, non-streaming response body of api, success or
// error. It never fails: what it cannot read stays unknown, and a body that
// is not JSON gives the zero Result. For an API other than the constants
// above it reads only the error of an {"error":{"message":...}} body.
func ParseBody(api API, body []byte) Result {
	c := collector{api: api}
	switch api {
	case ChatCompletions:
		c.chatPayload(body)
	case Responses:
		c.responsesBody(body)
	case AnthropicMessages:
		c.anthropicBody(body)
	case GeminiGenerateContent:
		c.geminiBody(body)
	case Embeddings:
		c.embeddingsBody(body)
	default:
		c.errorBody(body)
	}
	return c.result()
}
