package main

import (
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// expectedCase returns the EXPECTED.json record of a fixture file.
func expectedCase(t *testing.T, file string) fixtures.Case {
	t.Helper()
	for _, c := range fixtures.Expected(t) {
		if c.File == file {
			return c
		}
	}
	t.Fatalf("EXPECTED.json has no case for %s", file)
	return fixtures.Case{}
}

// checkUsage compares the usage of a logged call with a fixture's record.
func checkUsage(t *testing.T, i int, got audit.LLMCall, want fixtures.Case) {
	t.Helper()
	checks := []struct {
		field     string
		got, want *int64
	}{
		{"promptTokens", got.PromptTokens, want.PromptTokens},
		{"completionTokens", got.CompletionTokens, want.CompletionTokens},
		{"totalTokens", got.TotalTokens, want.TotalTokens},
		{"cachedInputTokens", got.CachedInputTokens, want.CachedInputTokens},
		{"cacheWriteInputTokens", got.CacheWriteInputTokens, want.CacheWriteInputTokens},
		{"reasoningTokens", got.ReasoningTokens, want.ReasoningTokens},
	}
	if got.Available != want.UsageAvailable {
		t.Errorf("llm_call %d usageAvailable = %t, want %t", i, got.Available, want.UsageAvailable)
	}
	for _, c := range checks {
		if formatCount(c.got) != formatCount(c.want) {
			t.Errorf("llm_call %d %s = %s, want %s", i, c.field, formatCount(c.got), formatCount(c.want))
		}
	}
}

func TestChatReplayStream(t *testing.T) {
	tests := []struct {
		name       string
		provider   string
		model      string
		files      []string
		wantAnswer string
	}{
		{
			name:       "openai",
			provider:   "openai",
			model:      "gpt-4o-mini",
			files:      []string{"openai/chat-stream-tool-call-roundtrip.1.response.sse", "openai/chat-stream-tool-call-roundtrip.2.response.sse"},
			wantAnswer: "assistant: The current temperature in Florence, Italy is 40°C.",
		},
		{
			name:       "anthropic",
			provider:   "anthropic",
			model:      "claude-sonnet-4-20250514",
			files:      []string{"anthropic/messages-stream-tool-use-roundtrip.1.response.sse", "anthropic/messages-stream-tool-use-roundtrip.2.response.sse"},
			wantAnswer: "assistant: The current weather in Florence, Italy shows a temperature of 40°C",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, path := tempDB(t)
			args := []string{"chat", "--db", dsn, "--provider", tt.provider, "--model", tt.model}
			for _, f := range tt.files {
				args = append(args, "--replay", fixtures.Path(t, f))
			}
			r := mustRun(t, append(args, "What is the weather in Florence?")...)

			if !strings.Contains(r.stdout, tt.wantAnswer) {
				t.Errorf("chat output lacks %q:\n%s", tt.wantAnswer, r.stdout)
			}
			calls, execs := splitEntries(t, readEntries(t, path, chatIDOf(t, r.stdout)))
			if len(calls) != len(tt.files) {
				t.Fatalf("llm_call rows = %d, want %d", len(calls), len(tt.files))
			}
			for i, c := range calls {
				if !c.Stream {
					t.Errorf("llm_call %d stream = false, want true", i)
				}
				if c.Status != audit.StatusSuccess {
					t.Errorf("llm_call %d status = %s, want success", i, c.Status)
				}
				checkUsage(t, i, c, expectedCase(t, tt.files[i]))
			}
			// The recorded model calls a weather tool that the CLI does not
			// offer, so the call is an unknown-tool error and the loop goes on.
			if len(execs) != 1 || execs[0].ToolName != "weather" || execs[0].Status != audit.StatusError {
				t.Errorf("tool_execution rows = %+v, want one unknown-tool error for weather", execs)
			}
		})
	}
}

func TestChatReplayStreamNoUsage(t *testing.T) {
	dsn, path := tempDB(t)
	const file = "openai/chat-stream-no-usage.response.sse"

	r := mustRun(t, "chat", "--db", dsn, "--model", "gpt-3.5-turbo", "--replay", fixtures.Path(t, file), "Tell me a joke")

	calls, _ := splitEntries(t, readEntries(t, path, chatIDOf(t, r.stdout)))
	if len(calls) != 1 {
		t.Fatalf("llm_call rows = %d, want 1", len(calls))
	}
	if !calls[0].Stream {
		t.Error("llm_call stream = false, want true")
	}
	if calls[0].PromptTokens != nil {
		t.Errorf("llm_call promptTokens = %d, want null for a stream without usage", *calls[0].PromptTokens)
	}
	checkUsage(t, 0, calls[0], expectedCase(t, file))
}

func TestChatReplayKinds(t *testing.T) {
	dsn, _ := tempDB(t)
	jsonFile := fixtures.Path(t, "openai/chat-tool-call-roundtrip.1.response.json")
	sseFile := fixtures.Path(t, "openai/chat-stream-tool-call-roundtrip.2.response.sse")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"mixed files", []string{"--replay", jsonFile, "--replay", sseFile}, "--replay mixes a JSON body (" + jsonFile + ") with an event stream (" + sseFile + ")"},
		{"stream with JSON", []string{"--stream", "--replay", jsonFile}, "--stream=true does not fit the --replay files, which are JSON bodies"},
		{"no stream with SSE", []string{"--stream=false", "--replay", sseFile}, "--stream=false does not fit the --replay files, which are event streams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"chat", "--db", dsn, "--model", "gpt-4o"}, tt.args...)
			r := runCLI(t, append(args, "hi")...)
			if r.code != 2 {
				t.Errorf("exit code = %d, want 2; stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
		})
	}
}

func TestChatWrongProviderBody(t *testing.T) {
	dsn, path := tempDB(t)

	r := runCLI(t, "chat", "--db", dsn, "--provider", "anthropic", "--model", "claude-sonnet-4-5",
		"--replay", writeResponses(t, answerBody)[0], "hi")

	if r.code != 1 {
		t.Errorf("exit code = %d, want 1; stdout %q", r.code, r.stdout)
	}
	if want := "is not an Anthropic Messages response"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", r.stderr, want)
	}
	if strings.Contains(r.stdout, "assistant:") {
		t.Errorf("stdout = %q, want no empty answer", r.stdout)
	}
	calls, _ := splitEntries(t, readEntries(t, path, chatIDOf(t, r.stdout)))
	if len(calls) != 1 || calls[0].Status != audit.StatusError {
		t.Errorf("llm_call rows = %+v, want one error", calls)
	}
}
