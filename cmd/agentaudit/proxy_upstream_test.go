package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
)

func TestProxyUpstreamPath(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-basic.response.json")
	var (
		mu    sync.Mutex
		paths []string
	)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer upstream.Close()

	tests := []struct {
		name     string
		upstream string
		request  string
		want     string
	}{
		{"origin, client base with /v1", "", "/v1/chat/completions", "/v1/chat/completions"},
		{"/v1 prefix, client base with /v1", "/v1", "/v1/chat/completions", "/v1/chat/completions"},
		{"/v1 prefix, client base without it", "/v1", "/chat/completions", "/v1/chat/completions"},
		{"/v1/ prefix with a trailing slash", "/v1/", "/v1/chat/completions", "/v1/chat/completions"},
		{"longer prefix, client base with it", "/openai/v1", "/openai/v1/chat/completions", "/openai/v1/chat/completions"},
		{"longer prefix, client base without it", "/openai/v1", "/chat/completions", "/openai/v1/chat/completions"},
		{"prefix only at a segment boundary", "/v1", "/v10/chat/completions", "/v1/v10/chat/completions"},
		{"query kept", "/v1", "/v1/chat/completions?api-version=2024-10-21", "/v1/chat/completions?api-version=2024-10-21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := url.Parse(upstream.URL + tt.upstream)
			if err != nil {
				t.Fatal(err)
			}
			logger, _ := newMemoryLogger(t)
			proxy := httptest.NewServer(newProxyHandler(target, logger, discardLog(), nil))
			defer proxy.Close()
			mu.Lock()
			paths = nil
			mu.Unlock()

			resp, err := http.Post(proxy.URL+tt.request, "application/json", strings.NewReader(`{"model":"gpt-3.5-turbo"}`))
			if err != nil {
				t.Fatalf("Post() = %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()

			mu.Lock()
			defer mu.Unlock()
			if len(paths) != 1 || paths[0] != tt.want {
				t.Errorf("upstream received %q, want [%s]", paths, tt.want)
			}
		})
	}
}
