package httpaudit

import (
	"net/url"
	"strings"

	"github.com/agentaudit/agentaudit/audit/wire"
)

// providerHosts maps the API hosts of well-known providers to the provider
// names stored in entries.
var providerHosts = map[string]string{
	"api.openai.com":                    "openai",
	"api.anthropic.com":                 "anthropic",
	"generativelanguage.googleapis.com": "gemini",
	"api.groq.com":                      "groq",
	"api.deepseek.com":                  "deepseek",
	"api.x.ai":                          "xai",
	"openrouter.ai":                     "openrouter",
}

// compatibleProviders names the provider of a host that is not a known
// provider's, such as a gateway or a local server, by the API it serves.
// A name per API, rather than the host and port, keeps one server's calls
// in one group whatever port it listens on.
var compatibleProviders = map[wire.API]string{
	wire.ChatCompletions:       "openai-compatible",
	wire.Responses:             "openai-compatible",
	wire.Embeddings:            "openai-compatible",
	wire.AnthropicMessages:     "anthropic-compatible",
	wire.GeminiGenerateContent: "gemini-compatible",
}

// providerFromHost derives the provider name from a request URL's host and
// the API of the request. A host that is not a known provider's, loopback
// included, is named by its API, such as "openai-compatible".
func providerFromHost(u *url.URL, api wire.API) string {
	name := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if p, ok := providerHosts[name]; ok {
		return p
	}
	if strings.HasSuffix(name, ".openai.azure.com") {
		return "azure-openai"
	}
	if p, ok := compatibleProviders[api]; ok {
		return p
	}
	return "openai-compatible"
}

// modelFromPath returns the model named in a request path: the model of a
// Gemini path, or the deployment of an Azure OpenAI path
// (/openai/deployments/{deployment}/chat/completions), whose requests name
// no model in the body. It returns "" when the path names none.
func modelFromPath(urlPath string) string {
	if model := wire.ModelFromPath(urlPath); model != "" {
		return model
	}
	const marker = "/openai/deployments/"
	i := strings.Index(urlPath, marker)
	if i < 0 {
		return ""
	}
	deployment, _, _ := strings.Cut(urlPath[i+len(marker):], "/")
	if d, err := url.PathUnescape(deployment); err == nil {
		deployment = d
	}
	return deployment
}
