package wire

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// fuzzAPIs lists the APIs a fuzz input picks from by index; the last is
// one the package does not model.
var fuzzAPIs = []API{ChatCompletions, Responses, AnthropicMessages, GeminiGenerateContent, Embeddings, API("unknown")}

func fuzzAPI(i uint8) API {
	return fuzzAPIs[int(i)%len(fuzzAPIs)]
}

func apiIndex(api API) uint8 {
	for i, a := range fuzzAPIs {
		if a == api {
			return uint8(i)
		}
	}
	return uint8(len(fuzzAPIs) - 1)
}

// checkInvariants reports a Result that breaks the package's contract:
// counts without usage, or an error message without a failure.
func checkInvariants(t *testing.T, r Result) {
	t.Helper()
	u := r.Usage
	if !u.Available {
		for _, v := range []*int64{u.PromptTokens, u.CompletionTokens, u.TotalTokens,
			u.CachedInputTokens, u.CacheWriteInputTokens, u.ReasoningTokens, u.ProviderTotalTokens} {
			if v != nil {
				t.Fatalf("Result has a count without usage: %+v", u)
			}
		}
	}
	if r.ErrorMessage != "" && !r.Failed {
		t.Fatalf("Result has ErrorMessage %q with Failed = false", r.ErrorMessage)
	}
}

func FuzzStreamParser(f *testing.F) {
	for _, c := range fixtures.Expected(f) {
		if c.Stream {
			f.Add(apiIndex(API(c.API)), streamBody(f, c.File), uint64(1))
		}
	}
	f.Add(uint8(0), []byte("data: {\"usage\":{\"prompt_tokens\":1}}\r"), uint64(2))
	f.Add(uint8(2), []byte("event: error\ndata: {\"type\":\"error\"}\n\n"), uint64(3))

	const limit = 256
	f.Fuzz(func(t *testing.T, index uint8, body []byte, seed uint64) {
		api := fuzzAPI(index)
		whole := NewStreamParser(api, WithMaxEventBytes(limit))
		if n, err := whole.Write(body); n != len(body) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v, want %d, nil", len(body), n, err, len(body))
		}
		want := whole.Result()
		checkInvariants(t, want)

		rng := rand.New(rand.NewPCG(seed, seed>>1))
		p := NewStreamParser(api, WithMaxEventBytes(limit))
		writeScrambled(p, body, split(len(body), rng))
		if got := p.Result(); !reflect.DeepEqual(got, want) {
			t.Fatalf("Result() after split writes = %+v, want %+v", got, want)
		}
		if p.Done() != whole.Done() || p.Skipped() != whole.Skipped() {
			t.Fatalf("Done(), Skipped() after split writes = %v, %d, want %v, %d",
				p.Done(), p.Skipped(), whole.Done(), whole.Skipped())
		}
		for name, buf := range map[string][]byte{"line": p.line, "data": p.data, "event": p.event} {
			if cap(buf) > limit {
				t.Fatalf("cap(%s) = %d, want <= %d", name, cap(buf), limit)
			}
		}
	})
}

func FuzzParseBody(f *testing.F) {
	for _, c := range fixtures.Expected(f) {
		if !c.Stream {
			f.Add(apiIndex(API(c.API)), fixtures.Read(f, c.File))
		}
	}
	f.Add(uint8(3), []byte(`[{"error":{"code":1}},{"usageMetadata":{"promptTokenCount":1e400}}]`))
	f.Add(uint8(0), []byte(`{"error":{"message":7},"usage":{"prompt_tokens":-1}}`))

	f.Fuzz(func(t *testing.T, index uint8, body []byte) {
		checkInvariants(t, ParseBody(fuzzAPI(index), body))
	})
}
