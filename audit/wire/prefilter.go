package wire

import "bytes"

// Most payloads of a stream carry a content delta and nothing the audit
// record reads, so a StreamParser checks a payload's member names before
// it decodes the payload, which costs far more. The check must never skip
// a payload whose decoding would change the record. encoding/json matches
// a member to a struct field when the unescaped name equals the field's
// name under Unicode case folding, so "USAGE" and "uſage" match "usage".
// The check therefore compares names ASCII case-insensitively, counts a
// name with an escape or a non-ASCII byte as a match, and looks at every
// member, nested and repeated ones included.

// Member names whose non-null value changes the record of a chat or Gemini
// payload, besides the model name while the model is unknown.
//
// NOTE: Gemini repeats its cumulative usageMetadata in every chunk, so the
// check skips few Gemini chunks and each is still decoded.
var (
	chatNames   = []string{"usage", "finish_reason", "error"}
	geminiNames = []string{"usageMetadata", "finishReason", "error"}
)

// maxNameBytes bounds the raw length of a name the checks compare. The
// longest name they look for has 13 characters, and one character takes
// at most 6 bytes, as a \uXXXX escape, so a name of more than 6 × 16
// bytes cannot match.
const maxNameBytes = 6 * 16

// hasMember reports whether the JSON payload data may contain a member
// named one of names, or model when model is not "", whose value is not
// null. It returns true for every such member of valid JSON. It may also
// return true when there is none, and its result for data that is not
// valid JSON does not matter, because decoding rejects such data.
func hasMember(data []byte, names []string, model string) bool {
	m := memberScan{data: data}
	for {
		name, value, plain, ok := m.next()
		if !ok {
			return false
		}
		if bytes.HasPrefix(value, []byte("null")) {
			continue
		}
		if !plain {
			return true
		}
		if model != "" && equalFoldASCII(name, model) {
			return true
		}
		for _, n := range names {
			if equalFoldASCII(name, n) {
				return true
			}
		}
	}
}

// hasKnownType reports whether the JSON payload data may contain a "type"
// member whose value names an event kind that carries audit data, such as
// "response.completed". A payload without one has no effect when its SSE
// event has no event: field. hasKnownType returns true for every such
// member of valid JSON, like hasMember.
func hasKnownType(data []byte) bool {
	m := memberScan{data: data}
	for {
		name, value, plain, ok := m.next()
		if !ok {
			return false
		}
		if plain && !equalFoldASCII(name, "type") {
			continue
		}
		// eventKind reads only a string without escapes; the first quote
		// after the opening one ends such a string.
		if len(value) == 0 || value[0] != '"' {
			continue
		}
		end := bytes.IndexByte(value[1:], '"')
		if end >= 0 && kindOf(value[1:1+end]) != kindUnknown {
			return true
		}
	}
}

// memberScan finds the members of a JSON payload by their colons, without
// parsing it. In valid JSON a colon preceded by an unescaped quote, after
// optional white space, can only end a member name, because an unescaped
// quote inside a string would end the string. So next returns every member
// of valid JSON, at every depth, and no other text.
type memberScan struct {
	data []byte
	pos  int
}

// next returns the raw bytes of the next member's name, without its
// quotes, and the payload from the start of the member's value to its end.
// plain reports a name free of escapes and non-ASCII bytes, which
// equalFoldASCII compares as encoding/json does. next skips a member whose
// name is longer than maxNameBytes.
func (m *memberScan) next() (name, value []byte, plain, ok bool) {
	data := m.data
	for m.pos < len(data) {
		i := bytes.IndexByte(data[m.pos:], ':')
		if i < 0 {
			break
		}
		colon := m.pos + i
		m.pos = colon + 1

		end := colon - 1
		for end >= 0 && isSpace(data[end]) {
			end--
		}
		if end < 1 || data[end] != '"' || escaped(data, end) {
			continue
		}

		// Walk back to the unescaped quote that opens the name. An escaped
		// quote inside the name follows a backslash, so it makes the name
		// not plain.
		start, plain := -1, true
		for j := end - 1; j >= 0 && end-j <= maxNameBytes+1; j-- {
			c := data[j]
			if c == '"' && !escaped(data, j) {
				start = j
				break
			}
			if c == '\\' || c >= 0x80 {
				plain = false
			}
		}
		if start < 0 {
			continue
		}

		v := colon + 1
		for v < len(data) && isSpace(data[v]) {
			v++
		}
		return data[start+1 : end], data[v:], plain, true
	}
	m.pos = len(data)
	return nil, nil, false, false
}

// escaped reports whether the byte at i follows an odd number of
// backslashes, so that it is escaped inside a JSON string.
func escaped(data []byte, i int) bool {
	n := 0
	for i--; i >= 0 && data[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// equalFoldASCII reports whether b equals s under ASCII case folding.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
