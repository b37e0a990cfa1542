package wire

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// contentChunk is a chat chunk that carries only a content delta, as most
// chunks of a stream do.
const contentChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1782321905,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" sunny"},"logprobs":null,"finish_reason":null}],"usage":null}`

func TestHasMember(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		model string
		want  bool
	}{
		{"content chunk", contentChunk, "", false},
		{"content chunk with model unknown", contentChunk, "model", true},
		{"usage", `{"usage":{"prompt_tokens":1}}`, "", true},
		{"usage upper case", `{"USAGE":{"prompt_tokens":1}}`, "", true},
		{"usage mixed case", `{"Usage":{}}`, "", true},
		{"usage of wrong type", `{"usage":5}`, "", true},
		{"usage null", `{"usage":null}`, "", false},
		{"usage null spaced", "{\"usage\" :\n null}", "", false},
		{"usage spaced", "{\"usage\"\t: {}}", "", true},
		{"usage repeated", `{"usage":null,"usage":{}}`, "", true},
		{"name escaped", `{"us\u0061ge":null,"\u0061":1}`, "", true},
		{"name with long s", `{"uſage":{}}`, "", true},
		{"name with Kelvin sign", "{\"x_\u212a\":1}", "", true},
		{"nested finish reason", `{"choices":[{"finish_reason":"stop"}]}`, "", true},
		{"finish reason null", `{"choices":[{"finish_reason":null}]}`, "", false},
		{"error string", `{"error":"boom"}`, "", true},
		{"error null", `{"error":null}`, "", false},
		{"name in string value", `{"content":"\"usage\":{}"}`, "", false},
		{"colon after escaped quote", `{"content":"a\": {}"}`, "", false},
		{"longer name", `{"usages":{},"xusage":{}}`, "", false},
		{"name over the length limit", `{"` + strings.Repeat("u", maxNameBytes+1) + `":{}}`, "", false},
		{"empty", ``, "", false},
		{"colon only", `:`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasMember([]byte(tt.data), chatNames, tt.model); got != tt.want {
				t.Errorf("hasMember(%s, %q) = %v, want %v", tt.data, tt.model, got, tt.want)
			}
		})
	}
}

func TestHasKnownType(t *testing.T) {
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"output text delta", `{"type":"response.output_text.delta","item_id":"msg_1","delta":"hi"}`, false},
		{"content block delta", `{"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}`, false},
		{"completed", `{"type":"response.completed","response":{"usage":null}}`, true},
		{"error", `{"type":"error","message":"boom"}`, true},
		{"message stop spaced", `{"type" : "message_stop"}`, true},
		{"type upper case", `{"TYPE":"message_delta"}`, true},
		{"name escaped", `{"\u0074ype":"message_start"}`, true},
		{"value escaped", `{"type":"response.complet\u0065d"}`, false},
		{"type not a string", `{"type":null,"x":"error"}`, false},
		{"known value under another name", `{"status":"error"}`, false},
		{"nested type", `{"item":{"type":"response.failed"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasKnownType([]byte(tt.data)); got != tt.want {
				t.Errorf("hasKnownType(%s) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}

// checkPrefilter feeds body to a StreamParser with the prefilter and to
// one that decodes every payload, and fails t when their results differ.
// Skipping a payload also skips its JSON validation, so the prefiltered
// parser may count fewer skipped events, never more.
func checkPrefilter(t *testing.T, api API, body []byte) {
	t.Helper()
	fast := NewStreamParser(api)
	fast.Write(body)
	full := NewStreamParser(api)
	full.decodeAll = true
	full.Write(body)

	if got, want := fast.Result(), full.Result(); !reflect.DeepEqual(got, want) {
		t.Fatalf("api %s, body %q:\nResult() with the prefilter =\n%s\nwant, decoding every payload,\n%s",
			api, body, format(got), format(want))
	}
	if got, want := fast.Done(), full.Done(); got != want {
		t.Fatalf("api %s, body %q: Done() with the prefilter = %v, want %v", api, body, got, want)
	}
	if got, want := fast.Skipped(), full.Skipped(); got > want {
		t.Fatalf("api %s, body %q: Skipped() with the prefilter = %d, want at most %d", api, body, got, want)
	}
}

// frame turns each line of payloads into one SSE data event.
func frame(payloads []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(payloads) {
		b.WriteString("data: ")
		b.Write(bytes.TrimRight(line, "\n"))
		b.WriteString("\n\n")
	}
	return b.Bytes()
}

// prefilterSeeds are payloads, one per line, whose member names or values
// sit at the edge of what the prefilter must catch.
var prefilterSeeds = []string{
	`{"model":"m"}` + "\n" + `{"MODEL":"n","Usage":{"prompt_tokens":1}}`,
	`{"us\u0061ge":{"prompt_tokens":2},"finiſh_reaſon":"stop"}`,
	`{"choices":[{"FINISH_REASON":"length"}],"usage":null}`,
	`{"usage":null,"usage":{"completion_tokens":3}}` + "\n" + `{"usage":{"completion_tokens":4},"usage":null}`,
	`{"x_groq":{"usage":{"prompt_tokens":5}}}`,
	`{"Error":{"message":"boom"}}` + "\n" + `{"error" : "late"}`,
	`{"content":"\"usage\":{\"prompt_tokens\":9}"}`,
	`{"a\":":1,"usage":{"total_tokens":7}}`,
	`{"usage":5}` + "\n" + `{"usage":"x"}` + "\n" + `[{"usage":{}}]`,
	`{"usageMetadata":{"promptTokenCount":1},"modelVersion":"g"}` + "\n" + `{"USAGEMETADATA":{"promptTokenCount":2}}`,
	`{"candidates":[{"finishReason":"STOP"}]}` + "\n" + `{"candidates":[{"FinishReason":null}]}`,
	`{"type":"response.created","response":{"model":"gpt"}}` + "\n" + `{"TYPE":"response.completed","response":{"status":"completed","usage":{"input_tokens":1}}}`,
	`{"\u0074ype":"error","message":"boom"}` + "\n" + `{"type":"response.complet\u0065d"}`,
	`{"type":"message_start","message":{"model":"c","usage":{"input_tokens":3}}}` + "\n" + `{"Type":"message_delta","usage":{"output_tokens":4}}` + "\n" + `{"type":"message_stop"}`,
	`{"type":"error","type":"x"}` + "\n" + `{"type":"x","type":"error"}`,
	"{\"usage\"\n:\n{\"prompt_tokens\":1}}",
	`{"model":` + "\n" + `{"usage":{"prompt_tokens":1}`,
}

func FuzzStreamParserPrefilter(f *testing.F) {
	for _, c := range fixtures.Expected(f) {
		if c.Stream {
			f.Add(apiIndex(API(c.API)), streamBody(f, c.File), false)
		}
	}
	for i, seed := range prefilterSeeds {
		for api := range len(fuzzAPIs) {
			f.Add(uint8(api+i), []byte(seed), true)
		}
	}

	f.Fuzz(func(t *testing.T, index uint8, body []byte, framed bool) {
		if framed {
			body = frame(body)
		}
		checkPrefilter(t, fuzzAPI(index), body)
	})
}

// TestStreamParserPrefilterRandom compares the prefilter with decoding
// every payload on random streams built from member names and values that
// the audit record reads, in their plain and their altered spellings.
func TestStreamParserPrefilterRandom(t *testing.T) {
	for seed := range uint64(5000) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		api := fuzzAPI(uint8(rng.IntN(len(fuzzAPIs))))
		var b bytes.Buffer
		for range 1 + rng.IntN(4) {
			if rng.IntN(3) == 0 && (api == Responses || api == AnthropicMessages) {
				fmt.Fprintf(&b, "event: %s\n", pick(rng, eventNames))
			}
			b.WriteString("data: ")
			writeObject(&b, rng, 0)
			b.WriteString("\n\n")
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			checkPrefilter(t, api, b.Bytes())
		})
	}
}

var (
	// recordNames are the top-level names whose values the record reads.
	recordNames = []string{
		"model", "modelVersion", "usage", "usageMetadata", "x_groq", "error",
		"choices", "candidates", "type", "response", "message", "delta",
	}
	// memberNames are the names the record reads, with their nested
	// names, and names it does not read.
	memberNames = []string{
		"model", "modelVersion", "usage", "usageMetadata", "x_groq", "error",
		"choices", "candidates", "finish_reason", "finishReason", "stop_reason",
		"type", "response", "message", "delta", "status",
		"prompt_tokens", "completion_tokens", "total_tokens", "input_tokens",
		"output_tokens", "promptTokenCount", "candidatesTokenCount",
		"id", "content", "text", "index",
	}
	eventNames = []string{
		"error", "message_start", "message_delta", "message_stop",
		"response.created", "response.completed", "response.failed",
		"response.incomplete", "response.output_text.delta", "content_block_delta",
	}
)

func pick(rng *rand.Rand, values []string) string {
	return values[rng.IntN(len(values))]
}

// writeObject writes a random JSON object. Now and then it breaks the JSON
// or respells a name as encoding/json still matches it: another case, an
// escape, or a Unicode character that folds to an ASCII letter.
func writeObject(b *bytes.Buffer, rng *rand.Rand, depth int) {
	start := b.Len()
	b.WriteByte('{')
	if depth == 0 && rng.IntN(2) == 0 {
		b.WriteString(`"` + respell(rng, "type") + `":"` + pick(rng, eventNames) + `",`)
	}
	for i := range 1 + rng.IntN(5) {
		if i > 0 {
			b.WriteByte(',')
		}
		name := pick(rng, memberNames)
		if rng.IntN(2) == 0 {
			name = pick(rng, recordNames)
		}
		b.WriteString(`"` + respell(rng, name) + `"`)
		// A second data: line joins the payload with a newline.
		b.WriteString(pick(rng, []string{":", ":", ":", " :\t", "\ndata: :"}))
		if name == "type" && rng.IntN(2) == 0 {
			b.WriteString(`"` + pick(rng, eventNames) + `"`)
			continue
		}
		writeValue(b, rng, depth)
	}
	b.WriteByte('}')
	if rng.IntN(40) == 0 {
		b.Truncate(start + rng.IntN(b.Len()-start+1))
	}
}

func writeValue(b *bytes.Buffer, rng *rand.Rand, depth int) {
	switch n := rng.IntN(8); {
	case n == 0 && depth < 3:
		writeObject(b, rng, depth+1)
	case n == 1 && depth < 3:
		b.WriteByte('[')
		writeObject(b, rng, depth+1)
		b.WriteByte(']')
	case n == 2:
		b.WriteString("null")
	case n == 3:
		fmt.Fprint(b, rng.IntN(100))
	case n == 4:
		b.WriteString(`"` + pick(rng, eventNames) + `"`)
	case n == 5:
		b.WriteString(`"` + pick(rng, []string{"stop", "STOP", "end_turn", "gpt-5", ""}) + `"`)
	default:
		b.WriteString(`"` + pick(rng, []string{`a\": {`, `\"usage\":{}`, `x:y`, `\\`, `\u0041`}) + `"`)
	}
}

// respell returns name, or now and then a spelling of it that
// encoding/json matches to the same field.
func respell(rng *rand.Rand, name string) string {
	switch rng.IntN(10) {
	case 0:
		return strings.ToUpper(name)
	case 1:
		i := rng.IntN(len(name))
		return name[:i] + fmt.Sprintf(`\u%04x`, name[i]) + name[i+1:]
	case 2:
		return strings.NewReplacer("s", "ſ", "k", "\u212a").Replace(name)
	case 3:
		return name + "s"
	}
	return name
}
