package tools_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/tools"
)

func okRun(ctx context.Context, args json.RawMessage) (string, error) { return "ok", nil }

func TestRegisterPanics(t *testing.T) {
	tests := []struct {
		name string
		tool tools.Tool
		want string
	}{
		{"empty name", tools.Tool{Run: okRun}, "tool name is empty"},
		{"nil run", tools.Tool{Name: "t"}, `Register "t": Run is nil`},
		{"invalid schema", tools.Tool{Name: "t", Run: okRun, InputSchema: json.RawMessage(`{"type":`)}, `Register "t": input schema is not valid JSON`},
		{"array schema", tools.Tool{Name: "t", Run: okRun, InputSchema: json.RawMessage(`[]`)}, `Register "t": input schema must be a JSON object`},
		{"string type", tools.Tool{Name: "t", Run: okRun, InputSchema: json.RawMessage(`{"type":"string"}`)}, `want "object"`},
		{"unknown risk", tools.Tool{Name: "t", Run: okRun, Risk: "medium"}, `unknown risk "medium"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tools.NewRegistry()
			got := catchPanic(func() { r.Register(tt.tool) })
			if !strings.Contains(got, tt.want) {
				t.Errorf("Register() panic = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	r := tools.NewRegistry()
	r.Register(tools.Tool{Name: "echo", Run: okRun})
	got := catchPanic(func() { r.Register(tools.Tool{Name: "echo", Run: okRun}) })
	if want := `Register "echo": a tool with this name is already registered`; !strings.Contains(got, want) {
		t.Errorf("second Register() panic = %q, want it to contain %q", got, want)
	}
}

func TestSpecsInRegistrationOrder(t *testing.T) {
	r := tools.NewRegistry()
	schema := json.RawMessage(`{"type":"object","properties":{"x":{"type":"string"}}}`)
	r.Register(tools.Tool{Name: "b", Description: "second letter", InputSchema: schema, Run: okRun})
	r.Register(tools.Tool{Name: "a", Description: "first letter", Run: okRun})

	specs := r.Specs()
	if len(specs) != 2 {
		t.Fatalf("len(Specs()) = %d, want 2", len(specs))
	}
	if got, want := specs[0].Name+","+specs[1].Name, "b,a"; got != want {
		t.Errorf("Specs() names = %s, want %s", got, want)
	}
	if got, want := string(specs[0].InputSchema), string(schema); got != want {
		t.Errorf("Specs()[0].InputSchema = %s, want %s", got, want)
	}
	if got, want := string(specs[1].InputSchema), `{"type":"object","properties":{}}`; got != want {
		t.Errorf("Specs()[1].InputSchema = %s, want %s", got, want)
	}
	if got, want := specs[1].Description, "first letter"; got != want {
		t.Errorf("Specs()[1].Description = %q, want %q", got, want)
	}
}

func TestRegisterCopiesSchema(t *testing.T) {
	r := tools.NewRegistry()
	schema := []byte(`{"type":"object"}`)
	r.Register(tools.Tool{Name: "t", InputSchema: schema, Run: okRun})
	copy(schema, `{"type":"string"}`)

	if got, want := string(r.Specs()[0].InputSchema), `{"type":"object"}`; got != want {
		t.Errorf("Specs()[0].InputSchema after caller change = %s, want %s", got, want)
	}
}

func catchPanic(f func()) (msg string) {
	defer func() {
		if v := recover(); v != nil {
			msg, _ = v.(string)
			if msg == "" {
				msg = "non-string panic"
			}
		}
	}()
	f()
	return "no panic"
}
