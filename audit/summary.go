package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// MaxSummaryRunes is the number of characters (Unicode code points) that an
// input summary keeps.
const MaxSummaryRunes = 200

// Summarize returns the first MaxSummaryRunes characters of input's JSON
// encoding and the byte length of the whole encoding. The encoding is the
// one JavaScript's JSON.stringify produces: no HTML escaping, U+2028 and
// U+2029 written as they are, and the cut never splits a character.
//
// A json.RawMessage, []byte or string holding valid JSON text, such as the
// arguments a model sent for a tool call, is compacted as
// JSON.stringify(JSON.parse(text)) would be, in one pass whose allocations
// do not grow with the input. Text that is not valid JSON is encoded as a
// JSON string, with bytes that are not UTF-8 replaced by U+FFFD. An untyped
// nil is "null". Any other value is encoded with encoding/json. A value
// that encoding/json cannot encode (a channel, a function, a cycle, NaN) is
// summarised by its fmt %v rendering as a JSON string. Summarize never
// panics.
func Summarize(input any) (summary string, size int) {
	return summarize(input, MaxSummaryRunes)
}

// summarize is Summarize with a limit on the runes kept; a negative limit
// keeps the whole encoding.
func summarize(input any, limit int) (summary string, size int) {
	w := sink{limit: min(limit, MaxSummaryRunes)}
	defer func() {
		// A MarshalJSON or MarshalText method may panic inside encoding/json.
		if r := recover(); r != nil {
			w.reset()
			writeUnencodable(input, fmt.Errorf("panic: %v", r), &w)
			summary, size = w.String(), w.size
		}
	}()

	switch v := input.(type) {
	case nil:
		w.writeString("null")
	case json.RawMessage:
		writeText(bytesAsString(v), &w)
	case []byte:
		writeText(bytesAsString(v), &w)
	case string:
		writeText(v, &w)
	default:
		writeValue(v, &w)
	}
	return w.String(), w.size
}

// writeText writes text compacted when it is valid JSON and as a JSON
// string otherwise.
func writeText(text string, w *sink) {
	if compactJSON(text, w) {
		return
	}
	w.reset()
	writeTextAsJSONString(text, w)
}

var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps a large value's encoding from staying in the pool.
const maxPooledBuffer = 64 << 10

// writeValue encodes v with encoding/json and rewrites the result in
// JSON.stringify's form, which differs in the escapes encoding/json uses
// for U+2028, U+2029 and invalid UTF-8.
func writeValue(v any, w *sink) {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			encodeBuffers.Put(buf)
		}
	}()

	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeUnencodable(v, err, w)
		return
	}
	text := bytesAsString(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}))
	writeText(text, w)
}

// writeUnencodable writes a JSON string describing v, which encoding/json
// could not encode: its fmt %v rendering, or its type and err when %v
// could recurse without end on v.
func writeUnencodable(v any, err error, w *sink) {
	budget := maxFormatNodes
	var text string
	if formatTerminates(reflect.ValueOf(v), 0, &budget) {
		text = fmt.Sprintf("%v", v)
	} else {
		text = fmt.Sprintf("unencodable %T: %v", v, err)
	}
	writeTextAsJSONString(text, w)
}

// Limits on the walk formatTerminates makes before it gives up.
const (
	maxFormatNodes = 10000
	maxFormatDepth = 100
)

// formatTerminates reports whether fmt's %v can render v without endless
// recursion. fmt follows maps, slices, arrays, structs and interfaces, and a
// pointer only at the top level, so a map or slice that contains itself
// would overflow the stack, which no recover can catch.
func formatTerminates(v reflect.Value, depth int, budget *int) bool {
	*budget--
	if *budget < 0 || depth > maxFormatDepth {
		return false
	}
	switch v.Kind() {
	case reflect.Interface:
		return v.IsNil() || formatTerminates(v.Elem(), depth+1, budget)
	case reflect.Pointer:
		if depth > 0 || v.IsNil() {
			return true
		}
		return formatTerminates(v.Elem(), depth+1, budget)
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if !formatTerminates(iter.Key(), depth+1, budget) || !formatTerminates(iter.Value(), depth+1, budget) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !formatTerminates(v.Index(i), depth+1, budget) {
				return false
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if !formatTerminates(v.Field(i), depth+1, budget) {
				return false
			}
		}
	}
	return true
}

// bytesAsString returns b's bytes as a string without copying them. The
// result is only read while the caller runs and no part of it is kept.
func bytesAsString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// sink receives an encoding in pieces that each hold whole UTF-8
// characters. It keeps the first limit characters and counts the bytes of
// everything written.
type sink struct {
	// limit is the number of runes kept in head, at most MaxSummaryRunes.
	// A negative limit keeps every byte in all instead.
	limit int
	head  [utf8.UTFMax * MaxSummaryRunes]byte
	n     int
	all   []byte
	runes int
	size  int
}

// String returns the characters kept.
func (s *sink) String() string {
	if s.limit < 0 {
		return string(s.all)
	}
	return string(s.head[:s.n])
}

func (s *sink) reset() {
	s.n = 0
	s.all = s.all[:0]
	s.runes = 0
	s.size = 0
}

// writeByte writes c, which must be ASCII.
func (s *sink) writeByte(c byte) {
	s.size++
	switch {
	case s.limit < 0:
		s.all = append(s.all, c)
	case s.runes < s.limit:
		s.head[s.n] = c
		s.n++
		s.runes++
	}
}

// writeString writes p, which must be valid UTF-8.
func (s *sink) writeString(p string) {
	s.size += len(p)
	if s.limit < 0 {
		s.all = append(s.all, p...)
		return
	}
	if s.runes >= s.limit {
		return
	}
	n := 0
	for n < len(p) && s.runes < s.limit {
		if p[n] < utf8.RuneSelf {
			n++
		} else {
			_, size := utf8.DecodeRuneInString(p[n:])
			n += size
		}
		s.runes++
	}
	s.n += copy(s.head[s.n:], p[:n])
}

func (s *sink) writeBytes(p []byte) {
	s.writeString(string(p))
}

func (s *sink) writeRune(r rune) {
	var b [utf8.UTFMax]byte
	n := utf8.EncodeRune(b[:], r)
	s.writeBytes(b[:n])
}
