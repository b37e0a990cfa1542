package wire

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
	"go.yaml.in/yaml/v3"
)

// exchange is one recorded request and response of a meta.yaml file,
// joined with the expected record of its response body.
type exchange struct {
	method, url string
	request     string // request body file, "" when not recorded
	want        fixtures.Case
}

// recordedExchanges returns every exchange whose request URL was recorded.
func recordedExchanges(t *testing.T) []exchange {
	t.Helper()
	cases := map[string]fixtures.Case{}
	for _, c := range fixtures.Expected(t) {
		cases[c.File] = c
	}

	metas, err := filepath.Glob(filepath.Join(fixtures.Dir(t), "*", "*.meta.yaml"))
	if err != nil || len(metas) == 0 {
		t.Fatalf("no meta.yaml files in %s: %v", fixtures.Dir(t), err)
	}
	var out []exchange
	for _, file := range metas {
		var meta struct {
			Exchanges []struct {
				Request *struct {
					Method string `yaml:"method"`
					URL    string `yaml:"url"`
				} `yaml:"request"`
				Files struct {
					RequestBody  string `yaml:"request_body"`
					ResponseBody string `yaml:"response_body"`
				} `yaml:"files"`
			} `yaml:"exchanges"`
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			t.Fatalf("decode %s: %v", file, err)
		}

		dir := filepath.Base(filepath.Dir(file))
		for _, x := range meta.Exchanges {
			if x.Request == nil || x.Request.URL == "" {
				continue
			}
			response := path.Join(dir, x.Files.ResponseBody)
			c, ok := cases[response]
			if !ok {
				t.Fatalf("%s: response body %s has no expected record", file, response)
			}
			e := exchange{method: x.Request.Method, url: x.Request.URL, want: c}
			if x.Files.RequestBody != "" {
				e.request = path.Join(dir, x.Files.RequestBody)
			}
			out = append(out, e)
		}
	}
	return out
}

// urlPath returns the path of a recorded URL, with its escapes as sent.
func urlPath(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse URL %q: %v", raw, err)
	}
	return u.EscapedPath()
}

func TestDetectAPIRecorded(t *testing.T) {
	for _, x := range recordedExchanges(t) {
		t.Run(x.want.File, func(t *testing.T) {
			wantAPI, wantOK := API(x.want.API), true
			switch wantAPI {
			case ChatCompletions, Responses, AnthropicMessages, GeminiGenerateContent, Embeddings:
			default:
				wantAPI, wantOK = "", false
			}

			p := urlPath(t, x.url)
			gotAPI, gotOK := DetectAPI(x.method, p)
			if gotAPI != wantAPI || gotOK != wantOK {
				t.Errorf("DetectAPI(%q, %q) = %q, %v, want %q, %v", x.method, p, gotAPI, gotOK, wantAPI, wantOK)
			}
		})
	}
}

func TestDetectAPI(t *testing.T) {
	tests := []struct {
		method, path string
		want         API
		ok           bool
	}{
		{"POST", "/v1/chat/completions", ChatCompletions, true},
		{"POST", "/chat/completions", ChatCompletions, true},
		{"POST", "/openai/v1/chat/completions/", ChatCompletions, true},
		{"POST", "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", ChatCompletions, true},
		{"POST", "/api/v1/chat/completions", ChatCompletions, true},
		{"POST", "/v1/responses", Responses, true},
		{"POST", "/openai/v1/responses", Responses, true},
		{"POST", "/v1/messages", AnthropicMessages, true},
		{"POST", "/anthropic/v1/messages?beta=true", AnthropicMessages, true},
		{"POST", "/v1beta/models/gemini-2.5-flash:generateContent", GeminiGenerateContent, true},
		{"POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", GeminiGenerateContent, true},
		{"POST", "/v1beta/models/gemini-2.5-pro%3AgenerateContent", GeminiGenerateContent, true},
		{"POST", "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent", GeminiGenerateContent, true},
		{"post", "/v1/chat/completions", ChatCompletions, true},
		{"POST", "/v1/embeddings", Embeddings, true},
		{"POST", "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21", Embeddings, true},
		{"POST", "/api/v1/embeddings/", Embeddings, true},

		{"GET", "/v1/chat/completions", "", false},
		{"GET", "/v1/responses/resp_123", "", false},
		{"POST", "/v1/responses/resp_123/cancel", "", false},
		{"POST", "/v1/threads/thread_1/messages", "", false},
		{"POST", "/v1/messages/count_tokens", "", false},
		{"POST", "/v1/files", "", false},
		{"POST", "/v1beta/models/gemini-2.5-flash:countTokens", "", false},
		{"GET", "/v1/embeddings", "", false},
		{"POST", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			got, ok := DetectAPI(tt.method, tt.path)
			if got != tt.want || ok != tt.ok {
				t.Errorf("DetectAPI(%q, %q) = %q, %v, want %q, %v", tt.method, tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestRequestRecorded checks the requested model and the stream flag of
// every recorded request against the expected record.
func TestRequestRecorded(t *testing.T) {
	for _, x := range recordedExchanges(t) {
		api, ok := DetectAPI(x.method, urlPath(t, x.url))
		if !ok || x.request == "" {
			continue
		}
		t.Run(x.want.File, func(t *testing.T) {
			body := fixtures.Read(t, x.request)
			p := urlPath(t, x.url)

			model := RequestModel(api, body)
			if api == GeminiGenerateContent {
				model = ModelFromPath(p)
			}
			if got, want := text(model), ptr(x.want.RequestModel); got != want {
				t.Errorf("requested model = %s, want %s", got, want)
			}

			stream := RequestStreams(api, body) || PathStreams(p)
			if stream != x.want.Stream {
				t.Errorf("RequestStreams || PathStreams = %v, want %v", stream, x.want.Stream)
			}
		})
	}
}

func TestModelFromPath(t *testing.T) {
	tests := []struct {
		path, want string
	}{
		{"/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash"},
		{"/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "gemini-2.5-pro"},
		{"models/gemini-2.0-flash:generateContent", "gemini-2.0-flash"},
		{"/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro"},
		{"/v1beta/tunedModels/my-model:generateContent", "tunedModels/my-model"},
		{"/v1beta/models/gemini-2.0-flash%3AgenerateContent", "gemini-2.0-flash"},
		{"/v1beta/models/:generateContent", ""},
		{"/v1/chat/completions", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ModelFromPath(tt.path); got != tt.want {
			t.Errorf("ModelFromPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestRequestStreams(t *testing.T) {
	tests := []struct {
		name string
		api  API
		body string
		want bool
	}{
		{"stream true", ChatCompletions, `{"model":"m","stream":true}`, true},
		{"stream spaced", AnthropicMessages, `{"stream" : true }`, true},
		{"stream false", Responses, `{"stream":false}`, false},
		{"stream string", ChatCompletions, `{"stream":"true"}`, false},
		{"no stream", ChatCompletions, `{"model":"m"}`, false},
		{"nested stream", ChatCompletions, `{"stream_options":{"stream":true}}`, false},
		{"not JSON", ChatCompletions, `stream: true`, false},
		{"gemini body", GeminiGenerateContent, `{"stream":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RequestStreams(tt.api, []byte(tt.body)); got != tt.want {
				t.Errorf("RequestStreams(%s, %s) = %v, want %v", tt.api, tt.body, got, tt.want)
			}
		})
	}
}

func TestRequestModel(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{`{"model":"gpt-4o","messages":[]}`, "gpt-4o"},
		{`{"messages":[{"model":"inner"}],"model":"claude-sonnet-4-5"}`, "claude-sonnet-4-5"},
		{`{"model":"a\u002fb"}`, "a/b"},
		{`{"model":42}`, ""},
		{`{"contents":[]}`, ""},
		{`not json`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := RequestModel(ChatCompletions, []byte(tt.body)); got != tt.want {
			t.Errorf("RequestModel(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
