package audit

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// maxJSONDepth is the deepest nesting of arrays and objects that
// compactJSON accepts, the same limit encoding/json applies. Deeper text is
// treated as not JSON and summarised as a string.
const maxJSONDepth = 10000

// depthStack records, for each open array or object, which of the two it
// is, one bit a level. Nesting deeper than the inline words holds allocates
// one bitset for the whole maxJSONDepth, so memory stays constant.
type depthStack struct {
	inline [4]uint64
	deep   []uint64
	depth  int
}

// push opens an array or object. The caller checks the depth first.
func (s *depthStack) push(object bool) {
	if s.deep == nil && s.depth >= 64*len(s.inline) {
		s.deep = make([]uint64, (maxJSONDepth+63)/64)
		copy(s.deep, s.inline[:])
	}
	words := s.inline[:]
	if s.deep != nil {
		words = s.deep
	}
	word, bit := s.depth/64, uint(s.depth%64)
	if object {
		words[word] |= 1 << bit
	} else {
		words[word] &^= 1 << bit
	}
	s.depth++
}

func (s *depthStack) inObject() bool {
	words := s.inline[:]
	if s.deep != nil {
		words = s.deep
	}
	d := s.depth - 1
	return words[d/64]&(1<<uint(d%64)) != 0
}

// The states of compactJSON's scanner.
const (
	expectValue = iota
	expectKey
	afterValue
)

// compactJSON writes src to w as JSON.stringify(JSON.parse(src)) would
// encode it, in one pass: whitespace outside strings removed, strings
// re-escaped (see writeJSONString) and numbers formatted as JavaScript
// formats them. It reports false when src is not valid JSON text, in which
// case w holds a partial output that the caller must discard.
//
// NOTE: unlike JSON.parse, it keeps object keys in input order and keeps
// duplicate keys, because reordering integer-like keys first and dropping
// earlier duplicates would need the whole object in memory.
func compactJSON(src string, w *sink) bool {
	var stack depthStack
	state := expectValue
	i := 0
	for {
		i = skipSpace(src, i)
		switch state {
		case expectKey:
			if i >= len(src) || src[i] != '"' {
				return false
			}
			var ok bool
			if i, ok = writeJSONString(src, i, w); !ok {
				return false
			}
			i = skipSpace(src, i)
			if i >= len(src) || src[i] != ':' {
				return false
			}
			w.writeByte(':')
			i++
			state = expectValue

		case expectValue:
			if i >= len(src) {
				return false
			}
			switch c := src[i]; {
			case c == '{' || c == '[':
				// An empty container counts as a level, as in encoding/json.
				if stack.depth == maxJSONDepth {
					return false
				}
				w.writeByte(c)
				i = skipSpace(src, i+1)
				closing := byte(']')
				if c == '{' {
					closing = '}'
				}
				if i < len(src) && src[i] == closing {
					w.writeByte(closing)
					i++
					state = afterValue
					continue
				}
				stack.push(c == '{')
				if c == '{' {
					state = expectKey
				}
			case c == '"':
				var ok bool
				if i, ok = writeJSONString(src, i, w); !ok {
					return false
				}
				state = afterValue
			case c == '-' || ('0' <= c && c <= '9'):
				end, ok := scanNumber(src, i)
				if !ok {
					return false
				}
				writeJSNumber(src[i:end], w)
				i = end
				state = afterValue
			default:
				end, ok := scanLiteral(src, i)
				if !ok {
					return false
				}
				w.writeString(src[i:end])
				i = end
				state = afterValue
			}

		case afterValue:
			if stack.depth == 0 {
				return i == len(src)
			}
			if i >= len(src) {
				return false
			}
			c := src[i]
			i++
			switch {
			case c == ',':
				w.writeByte(',')
				state = expectValue
				if stack.inObject() {
					state = expectKey
				}
			case c == '}' && stack.inObject(), c == ']' && !stack.inObject():
				w.writeByte(c)
				stack.depth--
			default:
				return false
			}
		}
	}
}

func skipSpace(src string, i int) int {
	for i < len(src) {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func scanLiteral(src string, i int) (int, bool) {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(src)-i >= len(lit) && src[i:i+len(lit)] == lit {
			return i + len(lit), true
		}
	}
	return 0, false
}

// scanNumber returns the end of the JSON number starting at src[i].
func scanNumber(src string, i int) (int, bool) {
	if src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && '1' <= src[i] && src[i] <= '9':
		i = skipDigits(src, i)
	default:
		return 0, false
	}
	if i < len(src) && src[i] == '.' {
		end := skipDigits(src, i+1)
		if end == i+1 {
			return 0, false
		}
		i = end
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		end := skipDigits(src, i)
		if end == i {
			return 0, false
		}
		i = end
	}
	return i, true
}

func skipDigits(src string, i int) int {
	for i < len(src) && '0' <= src[i] && src[i] <= '9' {
		i++
	}
	return i
}

// writeJSNumber writes the valid JSON number tok as JavaScript's
// Number.prototype.toString formats the double it parses to. So "1.0"
// becomes "1", "1e2" becomes "100" and "-0" becomes "0". A number out of
// the double range becomes "null", as JSON.stringify writes Infinity.
func writeJSNumber(tok string, w *sink) {
	// Integers of up to 15 digits are exact doubles that JavaScript prints
	// unchanged, apart from negative zero.
	digits := len(tok)
	if tok[0] == '-' {
		digits--
	}
	if digits <= 15 && isPlainInteger(tok) {
		if tok == "-0" {
			tok = "0"
		}
		w.writeString(tok)
		return
	}

	// The only error a valid number can give is a range error, whose
	// result is ±Inf for an overflow and 0 for an underflow.
	f, _ := strconv.ParseFloat(tok, 64)
	var buf [32]byte
	w.writeBytes(appendJSNumber(buf[:0], f))
}

func isPlainInteger(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// appendJSNumber appends f as ECMAScript's Number::toString formats it:
// the shortest digits that round-trip, in plain notation when the decimal
// exponent is in [-7, 21) and in exponent notation ("1e+21", "1.5e-7")
// outside it. NaN and ±Inf become "null", as in JSON.stringify.
func appendJSNumber(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0')
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}

	// strconv gives the shortest round-trip digits as "d.ddde±xx".
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	mark := 0
	for e[mark] != 'e' {
		mark++
	}
	var digitBuf [24]byte
	digits := append(digitBuf[:0], e[0])
	if mark > 1 {
		digits = append(digits, e[2:mark]...)
	}
	exp, _ := strconv.Atoi(string(e[mark+1:]))

	// In ECMAScript's terms the value is 0.digits × 10^n with k digits.
	k, n := len(digits), exp+1
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}

// writeJSONString reads the JSON string that starts with the quote at
// src[i] and writes it to w as JSON.stringify writes the string it decodes
// to, returning the index after the closing quote. Escapes that
// JSON.stringify does not produce are decoded ("\u00e9" becomes "é", "\/"
// becomes "/"), lone surrogates stay escaped in lowercase hex, and bytes
// that are not UTF-8 become U+FFFD. It reports false for an unterminated
// string, a raw control character or a malformed escape.
func writeJSONString(src string, i int, w *sink) (int, bool) {
	w.writeByte('"')
	i++
	start := i
	for i < len(src) {
		c := src[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && size == 1 {
				w.writeString(src[start:i])
				w.writeString("\uFFFD")
				start = i + 1
			}
			i += size
			continue
		}
		switch {
		case c == '"':
			w.writeString(src[start:i])
			w.writeByte('"')
			return i + 1, true
		case c == '\\':
			w.writeString(src[start:i])
			end, ok := writeEscape(src, i, w)
			if !ok {
				return 0, false
			}
			i, start = end, end
		case c < 0x20:
			return 0, false
		default:
			i++
		}
	}
	return 0, false
}

// writeEscape decodes the escape sequence at src[i] and writes its
// JSON.stringify form, returning the index after it.
func writeEscape(src string, i int, w *sink) (int, bool) {
	if i+1 >= len(src) {
		return 0, false
	}
	switch src[i+1] {
	case '"', '\\', 'b', 'f', 'n', 'r', 't':
		w.writeString(src[i : i+2])
		return i + 2, true
	case '/':
		w.writeByte('/')
		return i + 2, true
	case 'u':
	default:
		return 0, false
	}

	r, ok := hex4(src, i+2)
	if !ok {
		return 0, false
	}
	i += 6
	if isHighSurrogate(r) {
		if low, ok := lowSurrogateAt(src, i); ok {
			w.writeRune(0x10000 + (r-0xD800)<<10 + (low - 0xDC00))
			return i + 6, true
		}
	}
	if isHighSurrogate(r) || isLowSurrogate(r) {
		writeUnicodeEscape(w, r)
		return i, true
	}
	writeStringifyRune(w, r)
	return i, true
}

func lowSurrogateAt(src string, i int) (rune, bool) {
	if len(src)-i < 6 || src[i] != '\\' || src[i+1] != 'u' {
		return 0, false
	}
	r, ok := hex4(src, i+2)
	if !ok || !isLowSurrogate(r) {
		return 0, false
	}
	return r, true
}

func isHighSurrogate(r rune) bool { return 0xD800 <= r && r <= 0xDBFF }
func isLowSurrogate(r rune) bool  { return 0xDC00 <= r && r <= 0xDFFF }

func hex4(src string, i int) (rune, bool) {
	if len(src)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(src[i : i+4]) {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// writeStringifyRune writes r, a character inside a JSON string, as
// JSON.stringify does: the quote, the backslash and control characters
// escaped, everything else (HTML characters, U+2028, U+2029 included)
// written as UTF-8.
func writeStringifyRune(w *sink, r rune) {
	switch r {
	case '"':
		w.writeString(`\"`)
	case '\\':
		w.writeString(`\\`)
	case '\b':
		w.writeString(`\b`)
	case '\f':
		w.writeString(`\f`)
	case '\n':
		w.writeString(`\n`)
	case '\r':
		w.writeString(`\r`)
	case '\t':
		w.writeString(`\t`)
	default:
		if r < 0x20 {
			writeUnicodeEscape(w, r)
			return
		}
		w.writeRune(r)
	}
}

func writeUnicodeEscape(w *sink, r rune) {
	const hexDigits = "0123456789abcdef"
	w.writeBytes([]byte{'\\', 'u',
		hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF]})
}

// writeTextAsJSONString writes text as the JSON string JSON.stringify
// produces for it. Bytes that are not UTF-8 become U+FFFD.
func writeTextAsJSONString(text string, w *sink) {
	w.writeByte('"')
	start := 0
	for i := 0; i < len(text); {
		c := text[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(text[i:])
			if r == utf8.RuneError && size == 1 {
				w.writeString(text[start:i])
				w.writeString("\uFFFD")
				start = i + 1
			}
			i += size
			continue
		}
		if c < 0x20 || c == '"' || c == '\\' {
			w.writeString(text[start:i])
			writeStringifyRune(w, rune(c))
			start = i + 1
		}
		i++
	}
	w.writeString(text[start:])
	w.writeByte('"')
}
