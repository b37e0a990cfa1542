package wire

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// TestParseBodyExpected runs every non-streaming recorded body through
// ParseBody and compares the record with the expected one.
func TestParseBodyExpected(t *testing.T) {
	for _, c := range fixtures.Expected(t) {
		if c.Stream {
			continue
		}
		t.Run(c.File, func(t *testing.T) {
			got := ParseBody(API(c.API), fixtures.Read(t, c.File))
			checkCase(t, c, got)
		})
	}
}

// streamBody returns the SSE body of a stream fixture. A .chunks.jsonl file
// holds one data payload per line without framing, so each line becomes
// "data: <line>\n\n".
func streamBody(t testing.TB, file string) []byte {
	t.Helper()
	raw := fixtures.Read(t, file)
	if !strings.HasSuffix(file, ".chunks.jsonl") {
		return raw
	}
	var b bytes.Buffer
	for line := range bytes.Lines(raw) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			continue
		}
		b.WriteString("data: ")
		b.Write(line)
		b.WriteString("\n\n")
	}
	return b.Bytes()
}

// checkCase compares a Result with the record EXPECTED.json gives for it.
func checkCase(t *testing.T, c fixtures.Case, got Result) {
	t.Helper()

	if g, w := text(got.ResponseModel), ptr(c.ResponseModel); g != w {
		t.Errorf("ResponseModel = %s, want %s", g, w)
	}
	status := "success"
	if got.Failed || (c.HTTPStatus != nil && *c.HTTPStatus >= 400) {
		status = "error"
	}
	if status != c.Status {
		t.Errorf("status = %s (Failed = %v, httpStatus %s), want %s",
			status, got.Failed, ptr(c.HTTPStatus), c.Status)
	}
	if g, w := text(got.ErrorMessage), ptr(c.ErrorMessage); g != w {
		t.Errorf("ErrorMessage = %s, want %s", g, w)
	}
	if g, w := text(got.FinishReason), ptr(c.FinishReason); g != w {
		t.Errorf("FinishReason = %s, want %s", g, w)
	}

	u := got.Usage
	if u.Available != c.UsageAvailable {
		t.Errorf("Usage.Available = %v, want %v", u.Available, c.UsageAvailable)
	}
	counts := []struct {
		name      string
		got, want *int64
	}{
		{"PromptTokens", u.PromptTokens, c.PromptTokens},
		{"CompletionTokens", u.CompletionTokens, c.CompletionTokens},
		{"TotalTokens", u.TotalTokens, c.TotalTokens},
		{"CachedInputTokens", u.CachedInputTokens, c.CachedInputTokens},
		{"CacheWriteInputTokens", u.CacheWriteInputTokens, c.CacheWriteInputTokens},
		{"ReasoningTokens", u.ReasoningTokens, c.ReasoningTokens},
		{"ProviderTotalTokens", u.ProviderTotalTokens, c.ProviderTotalTokens},
	}
	for _, n := range counts {
		if g, w := ptr(n.got), ptr(n.want); g != w {
			t.Errorf("Usage.%s = %s, want %s", n.name, g, w)
		}
	}
}

// text formats a string field that is empty when unknown, like ptr formats
// the expected value: null or the quoted string.
func text(s string) string {
	if s == "" {
		return "null"
	}
	return fmt.Sprintf("%q", s)
}

// ptr formats a pointer as null or its value, quoting strings.
func ptr[T any](v *T) string {
	if v == nil {
		return "null"
	}
	if s, ok := any(*v).(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(*v)
}
