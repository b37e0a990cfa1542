package wire

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// DetectAPI returns the wire API of a request from its method and URL path,
// and false when the request is not an LLM call the package reads. Only
// POST requests match. The path may carry any prefix, a query and a
// trailing slash:
//
//	/v1/chat/completions, /openai/v1/chat/completions,
//	/openai/deployments/{name}/chat/completions   ChatCompletions
//	/v1/responses                                  Responses
//	/v1/messages                                   AnthropicMessages
//	/v1beta/models/{model}:generateContent,
//	.../models/{model}:streamGenerateContent       GeminiGenerateContent
//	/v1/embeddings,
//	/openai/deployments/{name}/embeddings          Embeddings
func DetectAPI(method, urlPath string) (API, bool) {
	if !strings.EqualFold(method, "POST") {
		return "", false
	}
	path := cleanPath(urlPath)

	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		return ChatCompletions, true
	case strings.HasSuffix(path, "/responses"):
		return Responses, true
	case strings.HasSuffix(path, "/v1/messages"):
		// Not any path ending in /messages: the OpenAI Assistants API
		// creates a thread message with POST /v1/threads/{id}/messages.
		return AnthropicMessages, true
	case strings.HasSuffix(path, ":generateContent"),
		strings.HasSuffix(path, ":streamGenerateContent"):
		return GeminiGenerateContent, true
	case strings.HasSuffix(path, "/embeddings"):
		return Embeddings, true
	}
	return "", false
}

// PathStreams reports whether a request path requests a stream through its
// method, Gemini's :streamGenerateContent. The other APIs request a stream
// in the body; see RequestStreams.
func PathStreams(urlPath string) bool {
	return strings.HasSuffix(cleanPath(urlPath), ":streamGenerateContent")
}

// ModelFromPath returns the model named in a Gemini request path, such as
// "gemini-2.5-flash" in /v1beta/models/gemini-2.5-flash:generateContent or
// "tunedModels/my-model" in /v1beta/tunedModels/my-model:generateContent.
// It returns "" when the path names no model.
func ModelFromPath(urlPath string) string {
	path := cleanPath(urlPath)
	dir, model := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, model = path[:i], path[i+1:]
	}
	if i := strings.IndexByte(model, ':'); i >= 0 {
		model = model[:i]
	}
	if model == "" {
		return ""
	}
	switch {
	case dir == "tunedModels" || strings.HasSuffix(dir, "/tunedModels"):
		return "tunedModels/" + model
	case dir == "models" || strings.HasSuffix(dir, "/models"):
		return model
	}
	return ""
}

// cleanPath strips the query, the fragment and trailing slashes from a URL
// path and decodes percent escapes, so that "%3AgenerateContent" matches.
func cleanPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if strings.IndexByte(p, '%') >= 0 {
		if unescaped, err := url.PathUnescape(p); err == nil {
			p = unescaped
		}
	}
	return strings.TrimRight(p, "/")
}

// RequestModel returns the "model" member of a request body, or "" when the
// body has none. Gemini requests name the model in the path instead; see
// ModelFromPath.
func RequestModel(api API, body []byte) string {
	var req struct {
		Model firstString `json:"model"`
	}
	decode(body, &req)
	return req.Model.value
}

// RequestStreams reports whether a request body requests a stream with
// "stream": true. A Gemini request does so through its path, so for
// GeminiGenerateContent it reports false; see PathStreams.
func RequestStreams(api API, body []byte) bool {
	if api == GeminiGenerateContent {
		return false
	}
	var req struct {
		Stream json.RawMessage `json:"stream"`
	}
	decode(body, &req)
	return bytes.Equal(req.Stream, []byte("true"))
}
