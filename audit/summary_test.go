package audit

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

type panickyMarshaler struct{}

func (panickyMarshaler) MarshalJSON() ([]byte, error) { panic("marshal exploded") }

type cycleNode struct {
	Name string
	Next *cycleNode
}

func TestSummarize(t *testing.T) {
	emojiAt200 := strings.Repeat("a", 198) + "😀" + "tail"
	emojiAt201 := strings.Repeat("a", 199) + "😀" + "tail"

	selfMap := map[string]any{}
	selfMap["self"] = selfMap
	ring := &cycleNode{Name: "a"}
	ring.Next = ring

	tests := []struct {
		name     string
		input    any
		want     string
		wantSize int // 0 means len(want)
	}{
		{"nil", nil, `null`, 0},
		{"tool arguments", json.RawMessage(`{"city": "Paris", "units": "metric"}`), `{"city":"Paris","units":"metric"}`, 0},
		{"nested object", json.RawMessage("{\n  \"a\": {\"b\": [1, 2, {\"c\": null}]},\n  \"d\": true\n}"), `{"a":{"b":[1,2,{"c":null}]},"d":true}`, 0},
		{"empty containers", []byte(` { "a" : [ ] , "b" : { } } `), `{"a":[],"b":{}}`, 0},
		{"json text in a string", ` 42 `, `42`, 0},
		{"not json", "15 * 4", `"15 * 4"`, 0},
		{"empty text", "", `""`, 0},
		{"whitespace text", "  ", `"  "`, 0},
		{"truncated json", `{"a":`, `"{\"a\":"`, 0},
		{"nul in text", "a\x00b", `"a\u0000b"`, 0},
		{"control characters in text", "\b\t\n\f\r\x1f\x7f", `"\b\t\n\f\r\u001f` + "\x7f\"", 0},
		{"invalid utf-8 in text", "a\xffb", "\"a\uFFFDb\"", 0},
		{"invalid utf-8 in json string", []byte("[\"a\xffb\"]"), "[\"a\uFFFDb\"]", 0},
		{"raw control character makes text not json", []byte("[\"a\tb\"]"), `"[\"a\tb\"]"`, 0},
		{"escapes decoded as stringify", json.RawMessage(`"\u00e9\/\u0041\ud83d\ude00\u2028\u0000\u001F\"\\"`), "\"é/A😀\u2028\\u0000\\u001f\\\"\\\\\"", 0},
		{"lone surrogates stay escaped", json.RawMessage(`["\uD800", "\udc00x", "\ud800\u0041"]`), `["\ud800","\udc00x","\ud800A"]`, 0},
		{"numbers as javascript prints them", json.RawMessage(`[1.0, 1e2, -0, 1E400, -1e400, 1e-400, 0.0000001, 0.000001, 1e21, 1e20, 12345678901234567890, 123456789012345, 1.5e-7, -2.50]`),
			`[1,100,0,null,null,0,1e-7,0.000001,1e+21,100000000000000000000,12345678901234567000,123456789012345,1.5e-7,-2.5]`, 0},
		{"html characters kept", map[string]string{"q": "<b>&amp;</b>"}, `{"q":"<b>&amp;</b>"}`, 0},
		{"line separators kept", map[string]string{"q": "a\u2028b\u2029c"}, "{\"q\":\"a\u2028b\u2029c\"}", 0},
		{"invalid utf-8 in go string", map[string]string{"q": "a\xffb"}, "{\"q\":\"a\uFFFDb\"}", 0},
		{"go struct", struct {
			City  string  `json:"city"`
			Days  int     `json:"days"`
			Ratio float64 `json:"ratio"`
		}{"Paris", 3, 0.5}, `{"city":"Paris","days":3,"ratio":0.5}`, 0},
		{"emoji as 200th character", emojiAt200, `"` + strings.Repeat("a", 198) + "😀", len(emojiAt200) + 2},
		{"emoji as 201st character", emojiAt201, `"` + strings.Repeat("a", 199), len(emojiAt201) + 2},
		{"nan", math.NaN(), `"NaN"`, 0},
		{"nan in struct", struct{ X float64 }{math.NaN()}, `"{NaN}"`, 0},
		{"function", func() {}, "", -1},
		{"channel", make(chan int), "", -1},
		{"map containing itself", selfMap, `"unencodable map[string]interface {}: json: unsupported value: encountered a cycle via map[string]interface {}"`, 0},
		{"pointer cycle", ring, "", -1},
		{"panicking marshaler", panickyMarshaler{}, `"{}"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, size := Summarize(tt.input)
			if tt.wantSize < 0 {
				// The rendering holds an address; only its form is fixed.
				if !json.Valid([]byte(got)) || !strings.HasPrefix(got, `"`) {
					t.Errorf("Summarize() = %q, want a JSON string", got)
				}
				if size < len(got) {
					t.Errorf("Summarize() size = %d, want at least %d", size, len(got))
				}
				return
			}
			if got != tt.want {
				t.Errorf("Summarize() = %q, want %q", got, tt.want)
			}
			wantSize := tt.wantSize
			if wantSize == 0 {
				wantSize = len(tt.want)
			}
			if size != wantSize {
				t.Errorf("Summarize() size = %d, want %d", size, wantSize)
			}
		})
	}
}

func TestSummarizeLargeArgument(t *testing.T) {
	const payload = 10 << 20
	var b strings.Builder
	b.WriteString("{\n  \"data\": \"")
	for b.Len() < payload {
		b.WriteString("0123456789abcdef")
	}
	b.WriteString("\",\n  \"n\": 1\n}")
	text := b.String()
	compactSize := len(text) - strings.Count(text, " ") - strings.Count(text, "\n")

	inputs := map[string]any{
		"raw message": json.RawMessage(text),
		"bytes":       []byte(text),
		"string":      text,
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			got, size := Summarize(input)
			if n := utf8.RuneCountInString(got); n != MaxSummaryRunes {
				t.Errorf("Summarize() has %d characters, want %d", n, MaxSummaryRunes)
			}
			if !strings.HasPrefix(got, `{"data":"0123456789abcdef`) {
				t.Errorf("Summarize() = %.40q..., want the compact encoding", got)
			}
			if size != compactSize {
				t.Errorf("Summarize() size = %d, want %d", size, compactSize)
			}

			allocs := testing.AllocsPerRun(3, func() { Summarize(input) })
			if allocs > 2 {
				t.Errorf("Summarize() made %v allocations, want at most 2 whatever the input size", allocs)
			}
		})
	}
}

func TestSummarizeDeepNesting(t *testing.T) {
	tests := []struct {
		name     string
		depth    int
		wantJSON bool
	}{
		{"at the limit", maxJSONDepth, true},
		{"past the limit", maxJSONDepth + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Repeat("[", tt.depth) + strings.Repeat("]", tt.depth)
			got, size := Summarize(text)
			if isJSON := strings.HasPrefix(got, "[["); isJSON != tt.wantJSON {
				t.Errorf("Summarize() = %.20q..., compacted = %v, want %v", got, isJSON, tt.wantJSON)
			}
			if gotValid := json.Valid([]byte(text)); gotValid != tt.wantJSON {
				t.Errorf("json.Valid() = %v, want %v as the reference", gotValid, tt.wantJSON)
			}
			if tt.wantJSON && size != len(text) {
				t.Errorf("Summarize() size = %d, want %d", size, len(text))
			}
		})
	}
}

func TestAppendJSNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1.5, "-1.5"},
		{0.1, "0.1"},
		{123e-20, "1.23e-18"},
		{1e21, "1e+21"},
		{1.5e300, "1.5e+300"},
		{999999999999999900000, "999999999999999900000"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.Inf(1), "null"},
	}
	for _, tt := range tests {
		if got := string(appendJSNumber(nil, tt.in)); got != tt.want {
			t.Errorf("appendJSNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSummarize(f *testing.F) {
	seeds := []string{
		`{"city": "Paris"}`,
		`[1.0, -0, 1e400, "x\u2028"]`,
		"15 * 4",
		"a\x00b",
		"a\xffb\xed\xa0\x80",
		strings.Repeat("é", 199) + "😀",
		`"\ud83d\ude00\ud800"`,
		"<script>&</script>",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inputs := []any{data, string(data), map[string]string{"k": string(data)}}
		for _, input := range inputs {
			got, size := Summarize(input)
			full, fullSize := summarize(input, -1)

			if !utf8.ValidString(got) {
				t.Fatalf("Summarize(%T %q) = %q, not valid UTF-8", input, data, got)
			}
			if n := utf8.RuneCountInString(got); n > MaxSummaryRunes {
				t.Fatalf("Summarize(%T %q) has %d characters, want at most %d", input, data, n, MaxSummaryRunes)
			}
			if !strings.HasPrefix(full, got) {
				t.Fatalf("Summarize(%T %q) = %q, not a prefix of %q", input, data, got, full)
			}
			if utf8.RuneCountInString(full) > MaxSummaryRunes && utf8.RuneCountInString(got) != MaxSummaryRunes {
				t.Fatalf("Summarize(%T %q) = %q, cut short of %d characters", input, data, got, MaxSummaryRunes)
			}
			if size != len(full) || fullSize != len(full) {
				t.Fatalf("Summarize(%T %q) size = %d, want %d", input, data, size, len(full))
			}
			if !json.Valid([]byte(full)) {
				t.Fatalf("full encoding %q of %T %q is not valid JSON", full, input, data)
			}
		}

		// Valid JSON keeps its value; other text becomes a string of it.
		full, _ := summarize(data, -1)
		if json.Valid(data) {
			var want, got any
			if json.Unmarshal(data, &want) != nil {
				return // a number out of the double range
			}
			if err := json.Unmarshal([]byte(full), &got); err != nil {
				t.Fatalf("json.Unmarshal(%q) = %v", full, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("compacted %q decodes to %v, want %v", full, got, want)
			}
			return
		}
		var got string
		if err := json.Unmarshal([]byte(full), &got); err != nil {
			t.Fatalf("encoding %q of non-JSON %q is not a JSON string: %v", full, data, err)
		}
		if want := replaceInvalidBytes(data); got != want {
			t.Fatalf("encoding %q of %q decodes to %q, want %q", full, data, got, want)
		}
	})
}

// replaceInvalidBytes replaces each byte of b that is not part of a UTF-8
// character with U+FFFD, as encoding/json decodes it.
func replaceInvalidBytes(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		sb.WriteRune(r)
		b = b[size:]
	}
	return sb.String()
}

func TestSummarizeNeverPanics(t *testing.T) {
	type withFunc struct {
		F func()
		C chan int
	}
	inputs := []any{withFunc{}, &withFunc{}, []any{func() {}}, errors.New("x"), math.Inf(1)}
	for _, input := range inputs {
		got, size := Summarize(input)
		if !json.Valid([]byte(got)) && size <= MaxSummaryRunes {
			t.Errorf("Summarize(%T) = %q, want valid JSON", input, got)
		}
	}
}

func BenchmarkSummarize(b *testing.B) {
	large := json.RawMessage(`{"data":"` + strings.Repeat("0123456789abcdef", (10<<20)/16) + `"}`)
	inputs := []struct {
		name  string
		input any
	}{
		{"tool arguments", json.RawMessage(`{"city": "Paris", "units": "metric", "days": 3}`)},
		{"go map", map[string]any{"city": "Paris", "units": "metric", "days": 3}},
		{"10MB argument", large},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Summarize(in.input)
			}
		})
	}
}
