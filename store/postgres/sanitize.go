package postgres

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// storableText returns s with each run of invalid UTF-8 and each NUL byte
// replaced by U+FFFD, because PostgreSQL's text type rejects both. It
// returns s itself when s needs no change.
func storableText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// storableJSON returns the JSON text b as a string that jsonb accepts with
// the same meaning wherever jsonb can hold it:
//
//   - the escape \u0000, which jsonb rejects because its strings cannot
//     hold NUL, becomes \\u0000: the string then holds the six characters
//     \u0000 in place of the NUL;
//   - an escape of an unpaired UTF-16 surrogate, which jsonb rejects as
//     invalid, becomes \ufffd, the character encoding/json decodes it to;
//   - invalid UTF-8 and raw NUL bytes, which no valid JSON text holds but
//     which the text protocol cannot carry, become U+FFFD.
//
// Other text is returned unchanged. b need not be valid JSON: jsonb rejects
// what is not, and InsertEntries reports that row.
func storableJSON(b []byte) string {
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		b = []byte(storableText(string(b)))
	}
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}

	var out []byte // nil until the first rewrite
	last := 0      // b[:last] is in out already
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			break
		}
		j += i

		// Every backslash in valid JSON starts an escape inside a string, and
		// skipping whole escapes keeps an escaped backslash (\\) from being
		// read as the start of the next one.
		code, ok := unicodeEscape(b, j)
		if !ok {
			i = j + 2
			continue
		}
		var replacement string
		switch {
		case code == 0:
			replacement = `\\u0000`
		case code >= 0xD800 && code <= 0xDBFF:
			if low, ok := unicodeEscape(b, j+6); ok && low >= 0xDC00 && low <= 0xDFFF {
				i = j + 12 // a valid surrogate pair
				continue
			}
			replacement = `\ufffd`
		case code >= 0xDC00 && code <= 0xDFFF:
			replacement = `\ufffd` // a low surrogate with no high one before it
		default:
			i = j + 6
			continue
		}

		if out == nil {
			out = make([]byte, 0, len(b)+8)
		}
		out = append(out, b[last:j]...)
		out = append(out, replacement...)
		last = j + 6
		i = j + 6
	}
	if out == nil {
		return string(b)
	}
	out = append(out, b[last:]...)
	return string(out)
}

// unicodeEscape reads a \uXXXX escape at b[i:] and returns its code unit.
func unicodeEscape(b []byte, i int) (rune, bool) {
	if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
		return 0, false
	}
	var code rune
	for _, c := range b[i+2 : i+6] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		code = code<<4 | rune(d)
	}
	return code, true
}
