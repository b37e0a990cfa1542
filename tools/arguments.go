package tools

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// emptyObjectSchema is the schema of a tool registered without one.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// inputSchema is the part of a tool's JSON Schema that the Registry checks
// arguments against: the required properties and the top-level property
// types. Nested schemas are left to the tool.
type inputSchema struct {
	required []string
	types    map[string][]string
}

// parseInputSchema reads a tool's schema, returning an error that names what
// is wrong with it.
func parseInputSchema(raw json.RawMessage) (inputSchema, error) {
	var doc struct {
		Type       any                        `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if !json.Valid(raw) {
		return inputSchema{}, fmt.Errorf("input schema is not valid JSON")
	}
	if !isJSONObject(raw) {
		return inputSchema{}, fmt.Errorf("input schema must be a JSON object")
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return inputSchema{}, fmt.Errorf("input schema: %v", err)
	}
	if doc.Type != nil && doc.Type != "object" {
		return inputSchema{}, fmt.Errorf(`input schema has type %v, want "object"`, doc.Type)
	}

	s := inputSchema{required: doc.Required, types: map[string][]string{}}
	for name, prop := range doc.Properties {
		var p struct {
			Type any `json:"type"`
		}
		if err := json.Unmarshal(prop, &p); err != nil {
			return inputSchema{}, fmt.Errorf("input schema: property %q: %v", name, err)
		}
		switch t := p.Type.(type) {
		case string:
			s.types[name] = []string{t}
		case []any:
			for _, v := range t {
				if str, ok := v.(string); ok {
					s.types[name] = append(s.types[name], str)
				}
			}
		}
	}
	return s, nil
}

// check validates args against s and returns them as a JSON object. Empty
// arguments stand for an empty object, because some models send "" for a
// tool without parameters. The error text is written for the model.
func (s inputSchema) check(args string) (json.RawMessage, error) {
	trimmed := strings.TrimSpace(args)
	if trimmed == "" {
		trimmed = "{}"
	}
	// One decoding pass validates the text too; the cause of a failure is
	// worked out only on the error path.
	var obj map[string]json.RawMessage
	err := json.Unmarshal([]byte(trimmed), &obj)
	switch {
	case err != nil && !json.Valid([]byte(trimmed)):
		return nil, fmt.Errorf("arguments are not valid JSON: %s; send a JSON object", quoteShort(trimmed))
	case err != nil || obj == nil:
		return nil, fmt.Errorf("arguments must be a JSON object, got %s", quoteShort(trimmed))
	}
	var missing []string
	for _, name := range s.required {
		if _, ok := obj[name]; !ok {
			missing = append(missing, fmt.Sprintf("%q", name))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing required properties: %s", strings.Join(missing, ", "))
	}

	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := s.types[name]
		if len(want) == 0 {
			continue
		}
		got := jsonType(obj[name])
		if !typeMatches(got, want) {
			return nil, fmt.Errorf("property %q is %s, want %s", name, got, strings.Join(want, " or "))
		}
	}
	return json.RawMessage(trimmed), nil
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// jsonType returns the JSON Schema type name of a valid JSON value.
func jsonType(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "null"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	// JSON Schema counts a number with a zero fractional part, such as 2.0,
	// as an integer.
	f, err := strconv.ParseFloat(string(v), 64)
	if err == nil && f == math.Trunc(f) {
		return "integer"
	}
	return "number"
}

func typeMatches(got string, want []string) bool {
	for _, w := range want {
		if got == w || (got == "integer" && w == "number") {
			return true
		}
	}
	return false
}

// quoteShort quotes s for an error message, cut to 80 bytes on a rune
// boundary.
func quoteShort(s string) string {
	const max = 80
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
