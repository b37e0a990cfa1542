package wire

import (
	"reflect"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
)

var n = audit.Int64

func TestParseBody(t *testing.T) {
	tests := []struct {
		name string
		api  API
		body string
		want Result
	}{
		{
			name: "chat error as string", api: ChatCompletions,
			body: `{"error":"model \"x\" not found"}`,
			want: Result{Failed: true, ErrorMessage: `model "x" not found`},
		},
		{
			name: "chat error without message", api: ChatCompletions,
			body: `{"error":{"type":"server_error","code":null}}`,
			want: Result{Failed: true, ErrorMessage: "server_error"},
		},
		{
			name: "chat error with numeric code only", api: ChatCompletions,
			body: `{"error":{"code":502}}`,
			want: Result{Failed: true, ErrorMessage: "502"},
		},
		{
			name: "chat error null", api: ChatCompletions,
			body: `{"model":"m","error":null,"choices":[{"finish_reason":"length"}]}`,
			want: Result{ResponseModel: "m", FinishReason: "length"},
		},
		{
			name: "chat count of wrong type", api: ChatCompletions,
			body: `{"model":"m","usage":{"prompt_tokens":"12","completion_tokens":3,"total_tokens":15}}`,
			want: Result{ResponseModel: "m", Usage: audit.Usage{
				Available: true, CompletionTokens: n(3), ProviderTotalTokens: n(15),
			}},
		},
		{
			name: "chat empty usage", api: ChatCompletions,
			body: `{"model":"m","usage":{}}`,
			want: Result{ResponseModel: "m"},
		},
		{
			name: "chat usage of unreadable counts", api: ChatCompletions,
			body: `{"model":"m","usage":{"prompt_tokens":"7","completion_tokens":-5,"total_tokens":1e300,"prompt_tokens_details":{"cached_tokens":1.5}}}`,
			want: Result{ResponseModel: "m"},
		},
		{
			name: "responses empty usage", api: Responses,
			body: `{"model":"m","status":"completed","usage":{}}`,
			want: Result{ResponseModel: "m", FinishReason: "completed"},
		},
		{
			name: "anthropic empty usage", api: AnthropicMessages,
			body: `{"type":"message","model":"m","stop_reason":"end_turn","usage":{}}`,
			want: Result{ResponseModel: "m", FinishReason: "end_turn"},
		},
		{
			name: "gemini empty usage", api: GeminiGenerateContent,
			body: `{"modelVersion":"m","usageMetadata":{}}`,
			want: Result{ResponseModel: "m"},
		},
		{
			name: "gemini usage of unreadable counts", api: GeminiGenerateContent,
			body: `{"modelVersion":"m","usageMetadata":{"promptTokenCount":"3"}}`,
			want: Result{ResponseModel: "m"},
		},
		{
			name: "chat counts in other number forms", api: ChatCompletions,
			body: `{"usage":{"prompt_tokens":12.0,"completion_tokens":1e1,"total_tokens":-1,"prompt_tokens_details":{"cached_tokens":1.5,"cache_write_tokens":null}}}`,
			want: Result{Usage: audit.Usage{
				Available: true, PromptTokens: n(12), CompletionTokens: n(10), TotalTokens: n(22),
			}},
		},
		{
			name: "chat count too large", api: ChatCompletions,
			body: `{"usage":{"prompt_tokens":99999999999999999999,"completion_tokens":123456789012345678}}`,
			want: Result{Usage: audit.Usage{
				Available: true, CompletionTokens: n(123456789012345678),
			}},
		},
		{
			name: "chat reasoning inside completion", api: ChatCompletions,
			body: `{"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,"completion_tokens_details":{"reasoning_tokens":15}}}`,
			want: Result{Usage: audit.Usage{
				Available: true, PromptTokens: n(10), CompletionTokens: n(20), TotalTokens: n(30),
				ReasoningTokens: n(15), ProviderTotalTokens: n(30),
			}},
		},
		{
			name: "chat reasoning outside completion", api: ChatCompletions,
			body: `{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":30,"completion_tokens_details":{"reasoning_tokens":15}}}`,
			want: Result{Usage: audit.Usage{
				Available: true, PromptTokens: n(10), CompletionTokens: n(20), TotalTokens: n(30),
				ReasoningTokens: n(15), ProviderTotalTokens: n(30),
			}},
		},
		{
			name: "chat deepseek cache hit fallback", api: ChatCompletions,
			body: `{"usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_cache_hit_tokens":8}}`,
			want: Result{Usage: audit.Usage{
				Available: true, PromptTokens: n(10), CompletionTokens: n(1), TotalTokens: n(11),
				CachedInputTokens: n(8),
			}},
		},
		{
			name: "chat groq usage only", api: ChatCompletions,
			body: `{"x_groq":{"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}}`,
			want: Result{Usage: audit.Usage{
				Available: true, PromptTokens: n(4), CompletionTokens: n(2), TotalTokens: n(6),
				ProviderTotalTokens: n(6),
			}},
		},
		{
			name: "chat usage null", api: ChatCompletions,
			body: `{"model":"m","usage":null}`,
			want: Result{ResponseModel: "m"},
		},
		{
			name: "not JSON", api: ChatCompletions,
			body: `<html>502 Bad Gateway</html>`,
			want: Result{},
		},
		{
			name: "empty body", api: AnthropicMessages,
			want: Result{},
		},
		{
			name: "anthropic usage without input", api: AnthropicMessages,
			body: `{"type":"message","model":"c","stop_reason":"end_turn","usage":{"output_tokens":7,"cache_read_input_tokens":3}}`,
			want: Result{ResponseModel: "c", FinishReason: "end_turn", Usage: audit.Usage{
				Available: true, CompletionTokens: n(7), CachedInputTokens: n(3),
			}},
		},
		{
			name: "anthropic thinking tokens", api: AnthropicMessages,
			body: `{"type":"message","usage":{"input_tokens":2,"output_tokens":9,"output_tokens_details":{"thinking_tokens":6}}}`,
			want: Result{Usage: audit.Usage{
				Available: true, PromptTokens: n(2), CompletionTokens: n(9), TotalTokens: n(11),
				ReasoningTokens: n(6),
			}},
		},
		{
			name: "anthropic error without message", api: AnthropicMessages,
			body: `{"type":"error","error":{"type":"api_error"}}`,
			want: Result{Failed: true, ErrorMessage: "api_error"},
		},
		{
			name: "responses failed", api: Responses,
			body: `{"model":"gpt-5","status":"failed","error":{"code":"server_error","message":"went wrong"},"usage":null}`,
			want: Result{ResponseModel: "gpt-5", FinishReason: "failed", Failed: true, ErrorMessage: "went wrong"},
		},
		{
			name: "responses error null", api: Responses,
			body: `{"model":"gpt-5","status":"incomplete","error":null}`,
			want: Result{ResponseModel: "gpt-5", FinishReason: "incomplete"},
		},
		{
			name: "gemini chunk array", api: GeminiGenerateContent,
			body: `[{"candidates":[{"index":0}],"usageMetadata":{"promptTokenCount":3},"modelVersion":"g1"},
			        {"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":5,"totalTokenCount":8},"modelVersion":"g2"}]`,
			want: Result{ResponseModel: "g1", FinishReason: "STOP", Usage: audit.Usage{
				Available: true, PromptTokens: n(3), CompletionTokens: n(5), TotalTokens: n(8),
				ProviderTotalTokens: n(8),
			}},
		},
		{
			name: "gemini error array", api: GeminiGenerateContent,
			body: `[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}]`,
			want: Result{Failed: true, ErrorMessage: "Resource has been exhausted"},
		},
		{
			name: "gemini usage without output counts", api: GeminiGenerateContent,
			body: `{"candidates":[{"finishReason":"SAFETY"}],"usageMetadata":{"promptTokenCount":6,"totalTokenCount":6}}`,
			want: Result{FinishReason: "SAFETY", Usage: audit.Usage{
				Available: true, PromptTokens: n(6), CompletionTokens: n(0), TotalTokens: n(6),
				ProviderTotalTokens: n(6),
			}},
		},
		{
			name: "embeddings success", api: Embeddings,
			body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`,
			want: Result{ResponseModel: "text-embedding-3-small", Usage: audit.Usage{
				Available: true, PromptTokens: n(8), ProviderTotalTokens: n(8),
			}},
		},
		{
			name: "embeddings completion reported as 0", api: Embeddings,
			body: `{"model":"e","usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3}}`,
			want: Result{ResponseModel: "e", Usage: audit.Usage{
				Available: true, PromptTokens: n(3), CompletionTokens: n(0), TotalTokens: n(3),
				ProviderTotalTokens: n(3),
			}},
		},
		{
			name: "embeddings without usage", api: Embeddings,
			body: `{"object":"list","data":[],"model":"e"}`,
			want: Result{ResponseModel: "e"},
		},
		{
			name: "embeddings error", api: Embeddings,
			body: `{"error":{"code":"401","message":"Access denied"}}`,
			want: Result{Failed: true, ErrorMessage: "Access denied"},
		},
		{
			name: "unknown api error", api: API("unknown"),
			body: `{"error":{"code":"401","message":"Access denied"}}`,
			want: Result{Failed: true, ErrorMessage: "Access denied"},
		},
		{
			name: "unknown api success", api: API("unknown"),
			body: `{"model":"e","usage":{"prompt_tokens":3,"total_tokens":3}}`,
			want: Result{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseBody(tt.api, []byte(tt.body)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseBody(%s) =\n%s\nwant\n%s", tt.api, format(got), format(tt.want))
			}
		})
	}
}

// format renders a Result with its counts dereferenced.
func format(r Result) string {
	u := r.Usage
	return "model=" + text(r.ResponseModel) + " finish=" + text(r.FinishReason) +
		" failed=" + boolText(r.Failed) + " message=" + text(r.ErrorMessage) +
		" available=" + boolText(u.Available) +
		" prompt=" + ptr(u.PromptTokens) + " completion=" + ptr(u.CompletionTokens) +
		" total=" + ptr(u.TotalTokens) + " cached=" + ptr(u.CachedInputTokens) +
		" cacheWrite=" + ptr(u.CacheWriteInputTokens) + " reasoning=" + ptr(u.ReasoningTokens) +
		" providerTotal=" + ptr(u.ProviderTotalTokens)
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
