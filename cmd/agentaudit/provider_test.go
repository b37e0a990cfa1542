package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

func TestChatProviderNames(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "test-key")
	t.Setenv("ANTHROPIC_API_KEY", "test-key")
	tests := []struct {
		name     string
		provider string
		file     string
		replay   bool
		want     string
	}{
		{"openai base URL", "openai", "openai/chat-basic.response.json", false, "openai"},
		{"anthropic base URL", "anthropic", "anthropic/messages-basic.response.json", false, "anthropic"},
		{"openai replay", "openai", "openai/chat-basic.response.json", true, "openai-replay"},
		{"anthropic replay", "anthropic", "anthropic/messages-basic.response.json", true, "anthropic-replay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, path := tempDB(t)
			args := []string{"chat", "--db", dsn, "--provider", tt.provider, "--model", "m"}
			if tt.replay {
				args = append(args, "--replay", fixtures.Path(t, tt.file))
			} else {
				// A server on loopback at a port of its own, as a local
				// model server or gateway would be.
				srv, err := startReplay([]string{fixtures.Path(t, tt.file)})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				args = append(args, "--base-url", replayBaseURL(tt.provider, srv))
			}
			r := mustRun(t, append(args, "hi")...)

			calls, _ := splitEntries(t, readEntries(t, path, chatIDOf(t, r.stdout)))
			if len(calls) != 1 {
				t.Fatalf("llm_call rows = %d, want 1", len(calls))
			}
			if calls[0].Provider != tt.want {
				t.Errorf("provider = %q, want %q", calls[0].Provider, tt.want)
			}
		})
	}
}

func TestResumeAfterReplayUsesProvider(t *testing.T) {
	dsn, path := tempDB(t)
	sandbox := t.TempDir()
	chatID, approvalID := pendingApproval(t, dsn, sandbox)

	r := mustRun(t, "approvals", "approve", approvalID, "--db", dsn, "--sandbox", sandbox)
	if want := " --resume --provider openai --model gpt-4o-mini"; !strings.Contains(r.stdout, want) {
		t.Errorf("approve output lacks %q for a replayed chat:\n%s", want, r.stdout)
	}

	srv, err := startReplay(writeResponses(t, answerBody))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("OPENAI_API_KEY", "test-key")
	mustRun(t, "chat", "--db", dsn, "--chat", chatID, "--resume", "--model", "gpt-4o-mini",
		"--sandbox", sandbox, "--base-url", replayBaseURL(providerOpenAI, srv))

	calls, _ := splitEntries(t, readEntries(t, path, chatID))
	var providers []string
	for _, c := range calls {
		providers = append(providers, c.Provider)
	}
	if got, want := strings.Join(providers, ","), "openai-replay,openai"; got != want {
		t.Errorf("providers = %s, want %s", got, want)
	}
}

func TestProxyProviderOfLocalUpstream(t *testing.T) {
	body := fixtures.Read(t, "openai/chat-basic.response.json")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer upstream.Close()
	target, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	logger, store := newMemoryLogger(t)
	proxy := httptest.NewServer(newProxyHandler(target, logger, discardLog(), nil))
	defer proxy.Close()

	resp, err := http.Post(proxy.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-3.5-turbo"}`))
	if err != nil {
		t.Fatalf("Post() = %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	entries := waitStored(t, logger, store, 1)
	var call audit.LLMCall
	if err := json.Unmarshal(entries[0].Metadata, &call); err != nil {
		t.Fatalf("decode metadata: %v", err)
	}
	if call.Provider != "openai-compatible" {
		t.Errorf("provider = %q, want openai-compatible for an upstream on %s", call.Provider, target.Host)
	}
}
