package tools_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/llm"
	"github.com/agentaudit/agentaudit/tools"
	"github.com/agentaudit/agentaudit/tools/builtin"
)

// discardStore accepts every batch at once.
type discardStore struct{}

func (discardStore) InsertEntries(ctx context.Context, entries []audit.Entry) error { return nil }
func (discardStore) Close() error                                                   { return nil }

// flushEvery is how many iterations run between two flushes done outside
// the timer, below the Logger's default queue size so that no entry drops.
const flushEvery = 1024

// BenchmarkExecute compares calling a tool's Run directly with running the
// same call through Registry.Execute, bare and with an audit Logger, for a
// tool that returns at once and for read_file on a small sandbox file.
func BenchmarkExecute(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("- renew the TLS certificate\n- ship v0.2\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	box, err := builtin.NewSandbox(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	var readFile tools.Tool
	for _, t := range box.Tools() {
		if t.Name == "read_file" {
			readFile = t
		}
	}

	echo := tools.Tool{
		Name:        "echo",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}`),
		Run:         func(ctx context.Context, args json.RawMessage) (string, error) { return "ok", nil },
	}
	cases := []struct {
		tool tools.Tool
		args string
	}{
		{echo, `{"path":"notes.txt"}`},
		{readFile, `{"path":"notes.txt"}`},
	}

	for _, c := range cases {
		call := llm.ToolCall{ID: "call_1", Name: c.tool.Name, Arguments: c.args}
		ctx := audit.WithChatID(context.Background(), "chat-1")

		b.Run(c.tool.Name+"/direct", func(b *testing.B) {
			args := json.RawMessage(c.args)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.tool.Run(ctx, args); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.tool.Name+"/registry", func(b *testing.B) {
			r := tools.NewRegistry()
			r.Register(c.tool)
			b.ReportAllocs()
			for b.Loop() {
				if res := r.Execute(ctx, call); res.IsError {
					b.Fatal(res.Content)
				}
			}
		})
		b.Run(c.tool.Name+"/audited", func(b *testing.B) {
			logger := audit.New(discardStore{})
			defer logger.Close(context.Background())
			r := tools.NewRegistry(tools.WithAuditLogger(logger))
			r.Register(c.tool)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if res := r.Execute(ctx, call); res.IsError {
					b.Fatal(res.Content)
				}
				if n++; n%flushEvery == 0 {
					b.StopTimer()
					if err := logger.Flush(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
			b.StopTimer()
			logger.Flush(context.Background())
			b.ReportMetric(float64(logger.Stats().Dropped)/float64(n), "drops/op")
		})
	}
}
