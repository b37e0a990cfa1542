package httpaudit

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/agentaudit/agentaudit/audit/wire"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

func TestMemberScanner(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantModel  string
		wantStream bool
	}{
		{"model first", `{"model":"gpt-4o","stream":true}`, "gpt-4o", true},
		{"model after messages", `{"messages":[{"role":"user","content":"model: \"x\", {]"}],"model":"m1"}`, "m1", false},
		{"spaces", "{ \"model\" :\n \"m2\" , \"stream\" : true }", "m2", true},
		{"escaped model", `{"model":"a\"b\\c\u00e9"}`, "a\"b\\cé", false},
		{"nested model ignored", `{"metadata":{"model":"inner"},"model":"outer"}`, "outer", false},
		{"model in array ignored", `{"tools":["model","stream"],"stream":false}`, "", false},
		{"stream false", `{"stream":false,"model":"m"}`, "m", false},
		{"stream string", `{"stream":"true"}`, "", false},
		{"model not a string", `{"model":42,"stream":true}`, "", true},
		{"model object", `{"model":{"name":"x"},"stream":true}`, "", true},
		{"first model wins", `{"model":"one","model":"two"}`, "one", false},
		{"long key", `{"modelmodelmodelmodelmodel":"x"}`, "", false},
		{"not an object", `["model","m"]`, "", false},
		{"truncated", `{"messages":[{"content":"x"}],"mod`, "", false},
		{"empty", ``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{1, 2, 3, len(tt.body) + 1} {
				var s memberScanner
				for b := []byte(tt.body); len(b) > 0; {
					n := min(size, len(b))
					s.Write(b[:n])
					b = b[n:]
				}
				model, stream := s.result()
				if model != tt.wantModel || stream != tt.wantStream {
					t.Errorf("pieces of %d: result() = %q, %v; want %q, %v", size, model, stream, tt.wantModel, tt.wantStream)
				}
			}
		})
	}
}

// TestMemberScannerFixtures checks the scanner against the wire package on
// every recorded request body.
func TestMemberScannerFixtures(t *testing.T) {
	for _, c := range fixtures.Expected(t) {
		file := fixtures.RequestFile(t, c.File)
		if file == "" {
			continue
		}
		body := fixtures.Read(t, file)
		var s memberScanner
		s.Write(body)
		model, stream := s.result()
		api := wire.API(c.API)
		if want := wire.RequestModel(api, body); model != want {
			t.Errorf("%s: scanned model = %q, want %q", file, model, want)
		}
		if want := wire.RequestStreams(api, body); stream != want && api != wire.GeminiGenerateContent {
			t.Errorf("%s: scanned stream = %v, want %v", file, stream, want)
		}
	}
}

// FuzzMemberScanner checks that, for any JSON object with at most one
// "model" member, the scanner agrees with encoding/json whatever the
// pieces the body arrives in.
func FuzzMemberScanner(f *testing.F) {
	f.Add(`{"messages":[{"content":"{\"model\":\"x\"}"}],"model":"m","stream":true}`, 3)
	f.Add(`{"model":"\u00e9\"","stream":false,"n":[1,2,{"a":null}]}`, 1)
	f.Add(`{"stream":true,"model":"gpt","x":{"model":"no"}}`, 7)
	f.Fuzz(func(t *testing.T, body string, size int) {
		var want struct {
			Model  *string          `json:"model"`
			Stream *json.RawMessage `json:"stream"`
		}
		if json.Unmarshal([]byte(body), &want) != nil {
			return
		}
		// encoding/json also matches names in other cases ("Model") and
		// keeps the last duplicate; providers read exact names.
		lower := bytes.ToLower([]byte(body))
		for _, name := range []string{`"model"`, `"stream"`} {
			if bytes.Count(lower, []byte(name)) != bytes.Count([]byte(body), []byte(name)) {
				return
			}
		}
		if bytes.Count([]byte(body), []byte(`"model"`)) > 1 {
			return
		}
		if size < 1 {
			size = 1
		}
		var s memberScanner
		for b := []byte(body); len(b) > 0; {
			n := min(size, len(b))
			s.Write(b[:n])
			b = b[n:]
		}
		model, stream := s.result()
		if want.Model != nil && len(*want.Model) < maxModelBytes-2 && model != *want.Model {
			t.Errorf("result() model = %q, want %q", model, *want.Model)
		}
		wantStream := want.Stream != nil && string(*want.Stream) == "true"
		if stream != wantStream {
			t.Errorf("result() stream = %v, want %v", stream, wantStream)
		}
	})
}

func TestProviderFromHost(t *testing.T) {
	tests := []struct {
		url  string
		api  wire.API
		want string
	}{
		{"https://api.openai.com/v1/chat/completions", wire.ChatCompletions, "openai"},
		{"https://api.anthropic.com/v1/messages", wire.AnthropicMessages, "anthropic"},
		{"https://generativelanguage.googleapis.com/v1beta/models/x:generateContent", wire.GeminiGenerateContent, "gemini"},
		{"https://api.groq.com/openai/v1/chat/completions", wire.ChatCompletions, "groq"},
		{"https://api.deepseek.com/chat/completions", wire.ChatCompletions, "deepseek"},
		{"https://api.x.ai/v1/chat/completions", wire.ChatCompletions, "xai"},
		{"https://openrouter.ai/api/v1/chat/completions", wire.ChatCompletions, "openrouter"},
		{"https://my-res.openai.azure.com/openai/deployments/d/chat/completions", wire.ChatCompletions, "azure-openai"},
		{"https://API.OpenAI.com:443/v1/responses", wire.Responses, "openai"},
		{"http://127.0.0.1:8080/v1/chat/completions", wire.ChatCompletions, "openai-compatible"},
		{"http://127.0.0.1:36945/v1/chat/completions", wire.ChatCompletions, "openai-compatible"},
		{"http://localhost/v1/responses", wire.Responses, "openai-compatible"},
		{"http://[::1]:9000/v1/embeddings", wire.Embeddings, "openai-compatible"},
		{"https://llm.internal.example/v1/messages", wire.AnthropicMessages, "anthropic-compatible"},
		{"http://127.0.0.1:8080/v1beta/models/x:generateContent", wire.GeminiGenerateContent, "gemini-compatible"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatalf("parse %s: %v", tt.url, err)
		}
		if got := providerFromHost(u, tt.api); got != tt.want {
			t.Errorf("providerFromHost(%s, %s) = %q, want %q", tt.url, tt.api, got, tt.want)
		}
	}
}

func TestModelFromPath(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash"},
		{"/openai/deployments/gpt-4o-prod/chat/completions", "gpt-4o-prod"},
		{"/openai/deployments/my%20dep/chat/completions", "my dep"},
		{"/openai/deployments/text-embedding-3-small/embeddings", "text-embedding-3-small"},
		{"/v1/chat/completions", ""},
	}
	for _, tt := range tests {
		if got := modelFromPath(tt.path); got != tt.want {
			t.Errorf("modelFromPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
