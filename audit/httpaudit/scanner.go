package httpaudit

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Limits on what a memberScanner keeps of one member.
const (
	maxKeyBytes   = 16  // longer keys are neither "model" nor "stream"
	maxModelBytes = 512 // a longer model value is not recorded
)

// memberScanner finds the top-level "model" and "stream" members of a JSON
// object that arrives in pieces, keeping no more than one short key and one
// short value. It reads request bodies larger than the head that
// wire.RequestModel parses: SDKs encode "messages" before "model", so in a
// long conversation the model comes after megabytes of history.
//
// Write may be called from the transport's goroutine while the interceptor
// reads the result, so every method locks mu.
type memberScanner struct {
	mu sync.Mutex

	depth     int  // nesting depth; 1 inside the top-level object
	inString  bool // inside a string at any depth
	escaped   bool // the last string byte was a backslash
	expectKey bool // at depth 1, the next string is a member name
	inKey     bool // the string being read is a depth-1 member name
	key       []byte
	keyLong   bool
	member    string // "model" or "stream" while its value is read, else ""
	inValue   bool   // reading the depth-1 value of member
	value     []byte
	valueLong bool

	model     string
	haveModel bool
	stream    bool
}

// Write scans p. It never fails and does not retain p.
func (s *memberScanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(p); i++ {
		// Skip the contents of a string that is not kept in one step.
		if s.inString && !s.inKey && !s.inValue && !s.escaped {
			j := bytes.IndexAny(p[i:], `"\`)
			if j < 0 {
				return len(p), nil
			}
			i += j
		}
		s.step(p[i])
	}
	return len(p), nil
}

// result returns the model, when a string "model" member was seen, and
// whether the body had "stream": true.
func (s *memberScanner) result() (model string, stream bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model, s.stream
}

func (s *memberScanner) step(c byte) {
	if s.inString {
		s.stringByte(c)
		return
	}
	if s.inValue && s.depth == 1 && isLiteralByte(c) {
		s.keep(c)
		return
	}
	switch c {
	case '"':
		s.inString = true
		switch {
		case s.depth == 1 && s.expectKey:
			s.inKey, s.expectKey = true, false
			s.key, s.keyLong = s.key[:0], false
		case s.inValue && s.depth == 1:
			s.keep(c)
		}
	case ':':
		if s.depth == 1 && !s.inKey && len(s.key) > 0 || s.depth == 1 && s.keyLong {
			s.startValue()
		}
	case '{', '[':
		s.endValue()
		s.depth++
		if s.depth == 1 && c == '{' {
			s.expectKey = true
		}
	case '}', ']':
		s.endValue()
		s.depth--
	case ',':
		s.endValue()
		if s.depth == 1 {
			s.expectKey = true
		}
	default:
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			s.endValue()
		}
	}
}

// stringByte handles byte c inside a string.
func (s *memberScanner) stringByte(c byte) {
	if s.inValue {
		s.keep(c)
	}
	if s.escaped {
		s.escaped = false
		if s.inKey {
			// An escaped name is never one of the two plain names.
			s.keyLong = true
		}
		return
	}
	switch c {
	case '\\':
		s.escaped = true
	case '"':
		s.inString = false
		if s.inKey {
			s.inKey = false
			return
		}
		if s.inValue {
			s.endValue()
		}
	default:
		if s.inKey {
			if len(s.key) == maxKeyBytes {
				s.keyLong = true
				return
			}
			s.key = append(s.key, c)
		}
	}
}

// startValue begins the value of the member whose name was just read.
func (s *memberScanner) startValue() {
	s.member = ""
	if !s.keyLong {
		switch string(s.key) {
		case "model":
			if !s.haveModel {
				s.member = "model"
			}
		case "stream":
			s.member = "stream"
		}
	}
	s.key, s.keyLong = s.key[:0], false
	s.inValue = s.member != ""
	s.value, s.valueLong = s.value[:0], false
}

// keep appends c to the value being read.
func (s *memberScanner) keep(c byte) {
	if len(s.value) == maxModelBytes {
		s.valueLong = true
		return
	}
	s.value = append(s.value, c)
}

// endValue stores the value being read, if any, and stops reading it.
func (s *memberScanner) endValue() {
	if !s.inValue {
		return
	}
	s.inValue = false
	if s.valueLong {
		return
	}
	switch s.member {
	case "model":
		var model string
		if json.Unmarshal(s.value, &model) == nil {
			s.model, s.haveModel = model, true
		}
	case "stream":
		s.stream = string(s.value) == "true"
	}
	s.member = ""
}

// isLiteralByte reports whether c can be part of a JSON number or of true,
// false or null.
func isLiteralByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E'
}
