package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"

	"github.com/agentaudit/agentaudit/audit"
)

// decode unmarshals data into v leniently and reports whether data was
// read. A type mismatch in one field leaves that field unset and keeps the
// rest, because encoding/json completes the decoding before it reports an
// *json.UnmarshalTypeError. A syntax error rejects the whole payload.
func decode(data []byte, v any) bool {
	return readable(json.Unmarshal(data, v))
}

// readable reports whether a decoding error left the value read: no error,
// or only a type mismatch, which encoding/json returns unwrapped.
func readable(err error) bool {
	if err == nil {
		return true
	}
	_, ok := err.(*json.UnmarshalTypeError)
	return ok
}

// payloadDecoder decodes the payloads of one stream like decode, through one
// json.Decoder that it keeps between payloads. json.Unmarshal allocates its
// decoding and error-context state on every call, about seven allocations
// for a chat chunk; a Decoder allocates them once and reuses them.
type payloadDecoder struct {
	src bytes.Reader
	dec *json.Decoder
	fed int64 // bytes given to dec since it was created
}

// decode decodes data, which must be one JSON value without surrounding
// white space, into v. After a syntax error, the Decoder's error is sticky,
// so it is dropped and the next payload gets a new one.
func (d *payloadDecoder) decode(data []byte, v any) bool {
	if d.dec == nil {
		d.src.Reset(nil)
		d.dec = json.NewDecoder(&d.src)
		d.fed = 0
	}
	d.src.Reset(data)
	d.fed += int64(len(data))

	err := d.dec.Decode(v)
	// A value that ends before the payload does, as in `{} x`, is invalid,
	// as it is for json.Unmarshal.
	ok := readable(err) && d.dec.InputOffset() == d.fed
	if !ok || len(data) > releaseBytes {
		d.dec = nil // also frees the buffer a large payload grew
	}
	return ok
}

// unquote returns the Go string of a JSON string literal, or "" and false
// when b is not a string.
func unquote(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", false
	}
	return s, true
}

// firstString is a string field that a collector reads only until it has a
// value. While skip is set, UnmarshalJSON ignores the value, so a model
// name repeated in every stream chunk costs no allocation.
type firstString struct {
	skip  bool
	value string
}

// UnmarshalJSON stores a JSON string; null and other kinds are ignored.
func (f *firstString) UnmarshalJSON(b []byte) error {
	if f.skip {
		return nil
	}
	if s, ok := unquote(b); ok {
		f.value = s
	}
	return nil
}

// errorField is a provider's "error" member. Providers send an object with a
// message (OpenAI, Anthropic, Gemini, OpenRouter with a numeric code), and
// some OpenAI-compatible servers send a bare string. Null, false and an
// empty string mean no error.
type errorField struct {
	present bool
	message string
}

// UnmarshalJSON reads an error object or string. It returns nil for any
// input, so that a malformed error member does not hide the rest of the
// payload.
func (e *errorField) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		if s, ok := unquote(b); ok && s != "" {
			e.present, e.message = true, s
		}
	case '{':
		var obj struct {
			Message json.RawMessage `json:"message"`
			Type    json.RawMessage `json:"type"`
			Status  json.RawMessage `json:"status"`
			Code    json.RawMessage `json:"code"`
		}
		decode(b, &obj)
		e.present = true
		e.message = firstText(obj.Message, obj.Type, obj.Status, obj.Code)
	}
	return nil
}

// firstText returns the first of values that is a non-empty JSON string or a
// number, as text. The error message comes first; the error's type, status
// or code stand in for it only when a provider sends no message.
func firstText(values ...json.RawMessage) string {
	for _, v := range values {
		if s, ok := unquote(v); ok && s != "" {
			return s
		}
		if n, err := strconv.ParseFloat(string(v), 64); err == nil {
			return strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return ""
}

// tokenCount is a token count as a provider reports it. A count that is
// missing, null, negative, fractional or not a number is unknown (ok is
// false), so that a malformed count never reads as 0.
type tokenCount struct {
	value int64
	ok    bool
}

// UnmarshalJSON reads a JSON number with an integral, non-negative value,
// such as 12 or 12.0. It returns nil for any input.
func (c *tokenCount) UnmarshalJSON(b []byte) error {
	*c = tokenCount{}
	if v, ok := parseCount(b); ok {
		*c = tokenCount{value: v, ok: true}
	}
	return nil
}

// known returns a new *int64 holding the count, or nil when it is unknown.
func (c tokenCount) known() *int64 {
	if !c.ok {
		return nil
	}
	return audit.Int64(c.value)
}

// parseCount parses a JSON number that is a non-negative integral value.
// Plain digits, the form every provider sends, are parsed without
// allocating.
func parseCount(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return parseCountFloat(b)
	}
	var v int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return parseCountFloat(b)
		}
		v = v*10 + int64(ch-'0')
	}
	return v, true
}

// parseCountFloat parses a count written with a fraction, an exponent or
// more than 18 digits.
func parseCountFloat(b []byte) (int64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f != math.Trunc(f) || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}
