package tools

import (
	"encoding/json"
	"testing"
)

func FuzzCheckArguments(f *testing.F) {
	schema, err := parseInputSchema(json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"n":{"type":["integer","null"]}},"required":["path"]}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{``, `{}`, `{"path":"a"}`, `{"path":1}`, `[`, `"x"`, `{"path":"a","n":null}`, `{"path":"a","n":1e400}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, args string) {
		got, err := schema.check(args)
		if err != nil {
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(got, &obj); err != nil {
			t.Fatalf("check(%q) accepted arguments that are not a JSON object: %v", args, err)
		}
		if _, ok := obj["path"]; !ok {
			t.Fatalf("check(%q) accepted arguments without the required path", args)
		}
	})
}
