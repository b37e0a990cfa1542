package httpaudit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/audittest"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// trail is a Logger over an audittest.Store.
type trail struct {
	logger *audit.Logger
	store  *audittest.Store
}

func newTrail(t testing.TB) *trail {
	t.Helper()
	logger, store := audittest.NewLogger(t)
	return &trail{logger: logger, store: store}
}

// entries flushes the logger and returns what the store holds.
func (tr *trail) entries(t testing.TB) []audit.Entry {
	t.Helper()
	return tr.store.Flushed(t, tr.logger)
}

// waitEntries polls until the store holds n entries, failing t after a
// deadline; entries logged by another goroutine arrive asynchronously.
func (tr *trail) waitEntries(t testing.TB, n int) []audit.Entry {
	t.Helper()
	return tr.store.Wait(t, tr.logger, n)
}

// one returns the only entry's llm_call metadata, failing t otherwise.
func (tr *trail) one(t testing.TB) map[string]any {
	t.Helper()
	got := tr.entries(t)
	if len(got) != 1 {
		t.Fatalf("store holds %d entries, want 1: %s", len(got), describe(got))
	}
	return metadata(t, got[0])
}

func metadata(t testing.TB, e audit.Entry) map[string]any {
	t.Helper()
	if e.Type != audit.TypeLLMCall {
		t.Fatalf("entry type = %q, want %q", e.Type, audit.TypeLLMCall)
	}
	var m map[string]any
	if err := audittest.DecodeMetadata(e, &m); err != nil {
		t.Fatalf("decode metadata %s: %v", e.Metadata, err)
	}
	return m
}

func describe(entries []audit.Entry) string {
	var parts []string
	for _, e := range entries {
		parts = append(parts, string(e.Metadata))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// wantMetadata returns the llm_call metadata that case c must produce when
// served with status httpStatus, as decoded JSON. The audit trail requires
// a model, so where the case records no requested model the entry carries
// the response model, or UnknownModel.
func wantMetadata(c fixtures.Case, httpStatus int) map[string]any {
	model := deref(c.RequestModel)
	if model == "" {
		model = deref(c.ResponseModel)
	}
	if model == "" {
		model = UnknownModel
	}
	m := map[string]any{
		"provider":              c.Provider,
		"api":                   c.API,
		"model":                 model,
		"status":                c.Status,
		"httpStatus":            float64(httpStatus),
		"stream":                c.Stream,
		"usageAvailable":        c.UsageAvailable,
		"promptTokens":          count(c.PromptTokens),
		"completionTokens":      count(c.CompletionTokens),
		"totalTokens":           count(c.TotalTokens),
		"cachedInputTokens":     count(c.CachedInputTokens),
		"cacheWriteInputTokens": count(c.CacheWriteInputTokens),
		"reasoningTokens":       count(c.ReasoningTokens),
	}
	if c.ResponseModel != nil {
		m["responseModel"] = *c.ResponseModel
	}
	if c.ErrorMessage != nil {
		m["error"] = *c.ErrorMessage
	}
	if c.FinishReason != nil {
		m["finishReason"] = *c.FinishReason
	}
	if c.ProviderTotalTokens != nil {
		m["providerTotalTokens"] = float64(*c.ProviderTotalTokens)
	}
	return m
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func count(v *int64) any {
	if v == nil {
		return nil
	}
	return float64(*v)
}

// diffMetadata lists the keys where got and want differ, ignoring
// durationMs, which depends on the clock.
func diffMetadata(got, want map[string]any) []string {
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	delete(keys, "durationMs")
	var diffs []string
	for k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		if gok != wok || fmt.Sprint(g) != fmt.Sprint(w) {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", k, show(g, gok), show(w, wok)))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func show(v any, present bool) string {
	if !present {
		return "(absent)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// fixtureCall is one recorded exchange, ready to serve and replay.
type fixtureCall struct {
	method       string
	target       string // path and query
	requestBody  []byte
	status       int
	contentType  string
	responseBody []byte
}

// metaFile is the part of a case's meta.yaml that the tests read.
type metaFile struct {
	Exchanges []struct {
		Request *struct {
			Method string `yaml:"method"`
			URL    string `yaml:"url"`
		} `yaml:"request"`
		Files struct {
			ResponseBody string `yaml:"response_body"`
		} `yaml:"files"`
	} `yaml:"exchanges"`
}

var caseName = regexp.MustCompile(`^(.*?)(\.\d+)?\.response\.`)

// loadCall returns the exchange of case c. The request is the recorded
// method, path and body when there are any, else a POST to the path of the
// case's API. The status is the recorded one, or 200 when none was
// recorded. The body is served as recorded, except that .chunks.jsonl
// payloads are framed as SSE events.
func loadCall(t testing.TB, c fixtures.Case) fixtureCall {
	t.Helper()
	dir, file := path.Split(c.File)
	m := caseName.FindStringSubmatch(file)
	if m == nil {
		t.Fatalf("fixture %s: name has no .response. part", c.File)
	}
	var meta metaFile
	if err := yaml.Unmarshal(fixtures.Read(t, dir+m[1]+".meta.yaml"), &meta); err != nil {
		t.Fatalf("fixture %s: decode meta.yaml: %v", c.File, err)
	}

	call := fixtureCall{method: http.MethodPost, status: http.StatusOK}
	if c.HTTPStatus != nil {
		call.status = *c.HTTPStatus
	}
	for _, ex := range meta.Exchanges {
		if ex.Files.ResponseBody != file || ex.Request == nil {
			continue
		}
		u, err := url.Parse(ex.Request.URL)
		if err != nil {
			t.Fatalf("fixture %s: request URL: %v", c.File, err)
		}
		call.method = ex.Request.Method
		call.target = u.RequestURI()
	}
	if call.target == "" {
		call.target = apiPath(c)
	}
	if req := fixtures.RequestFile(t, c.File); req != "" {
		call.requestBody = fixtures.Read(t, req)
	}

	body := fixtures.Read(t, c.File)
	switch {
	case strings.HasSuffix(file, ".chunks.jsonl"):
		call.contentType = "text/event-stream; charset=utf-8"
		call.responseBody = frameChunks(body)
	case strings.HasSuffix(file, ".sse"):
		call.contentType = "text/event-stream; charset=utf-8"
		call.responseBody = body
	default:
		call.contentType = "application/json"
		call.responseBody = body
	}
	return call
}

// apiPath returns a request path for a case recorded without its URL.
func apiPath(c fixtures.Case) string {
	switch c.API {
	case "chat_completions":
		return "/v1/chat/completions"
	case "responses":
		return "/v1/responses"
	case "anthropic_messages":
		return "/v1/messages"
	case "gemini_generate_content":
		if c.Stream {
			return "/v1beta/models/" + deref(c.RequestModel) + ":streamGenerateContent?alt=sse"
		}
		return "/v1beta/models/" + deref(c.RequestModel) + ":generateContent"
	}
	return "/v1/" + c.API
}

// frameChunks turns one JSON payload per line into SSE data events.
func frameChunks(jsonl []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.Split(jsonl, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		b.WriteString("data: ")
		b.Write(line)
		b.WriteString("\n\n")
	}
	return b.Bytes()
}

// serve writes the recorded response of call.
func (call fixtureCall) serve(w http.ResponseWriter) {
	w.Header().Set("Content-Type", call.contentType)
	w.WriteHeader(call.status)
	_, _ = w.Write(call.responseBody)
}

// newRequest builds the request of call against base.
func (call fixtureCall) newRequest(t testing.TB, ctx context.Context, base string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, call.method, base+call.target, bytes.NewReader(call.requestBody))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}
