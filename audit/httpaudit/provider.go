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

// providerFromHost derives the provider name from a request URL's host; an
// unknown host is returned as is, lower-cased, with its port when present.
func providerFromHost(u *url.URL) string {
	name := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if p, ok := providerHosts[name]; ok {
		return p
	}
	if strings.HasSuffix(name, ".openai.azure.com") {
		return "azure-openai"
	}
	return strings.ToLower(u.Host)
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
