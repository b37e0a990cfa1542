package bench_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/postgres"
)

// BenchmarkPostgres measures sustained entries/s into PostgreSQL three ways
// in one run, so that their ratios compare like with like:
//
//   - logger: audit.Logger.Log for every entry, then Flush, with the
//     Logger's default batch size, so each entry pays validation, the
//     input summary, JSON encoding, the queue and InsertEntries;
//   - insert: postgres.Store.InsertEntries on ready-made batches of
//     audit.DefaultBatchSize, the store's share of the logger's cost;
//   - copy: one pgx CopyFrom of the same rows straight into audit_logs, the
//     floor that no idempotent insert can beat.
//
// Run against the server that scripts/postgres.sh starts:
//
//	eval "$(scripts/postgres.sh start >/dev/null; scripts/postgres.sh env)"
//	go test -run '^$' -bench Postgres -benchtime 100000x ./bench
func BenchmarkPostgres(b *testing.B) {
	base := os.Getenv("AGENTAUDIT_POSTGRES_URL")
	if base == "" {
		b.Skip("AGENTAUDIT_POSTGRES_URL is not set; run: eval \"$(scripts/postgres.sh start >/dev/null; scripts/postgres.sh env)\"")
	}
	ctx := context.Background()

	b.Run("logger", func(b *testing.B) {
		dsn := pgBenchSchema(b, base)
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			b.Fatalf("Open() = %v", err)
		}
		l := audit.New(s, audit.WithBlock(time.Minute))
		defer l.Close(ctx)
		logCtx := audit.WithChatID(ctx, "chat-bench")

		b.ResetTimer()
		for i := range b.N {
			if err := l.Log(logCtx, pgBenchMetadata(i)); err != nil {
				b.Fatalf("Log() = %v", err)
			}
		}
		if err := l.Flush(ctx); err != nil {
			b.Fatalf("Flush() = %v", err)
		}
		b.StopTimer()

		if st := l.Stats(); st.Written != uint64(b.N) {
			b.Fatalf("Stats() = %+v, want %d written", st, b.N)
		}
		pgReportRate(b)
	})

	b.Run("insert", func(b *testing.B) {
		dsn := pgBenchSchema(b, base)
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			b.Fatalf("Open() = %v", err)
		}
		defer s.Close()
		entries := pgBenchEntries(b.N)

		b.ResetTimer()
		for start := 0; start < len(entries); start += audit.DefaultBatchSize {
			end := min(start+audit.DefaultBatchSize, len(entries))
			if err := s.InsertEntries(ctx, entries[start:end]); err != nil {
				b.Fatalf("InsertEntries() = %v", err)
			}
		}
		b.StopTimer()
		pgReportRate(b)
	})

	b.Run("copy", func(b *testing.B) {
		dsn := pgBenchSchema(b, base)
		s, err := postgres.Open(ctx, dsn) // creates the tables
		if err != nil {
			b.Fatalf("Open() = %v", err)
		}
		s.Close()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatalf("connect: %v", err)
		}
		defer conn.Close(ctx)
		rows := make([][]any, 0, b.N)
		for _, e := range pgBenchEntries(b.N) {
			rows = append(rows, []any{e.ID, string(e.Type), e.ChatID, audit.FormatTime(e.CreatedAt), string(e.Metadata)})
		}

		b.ResetTimer()
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_logs"},
			[]string{"id", "type", "chat_id", "created_at", "metadata"}, pgx.CopyFromRows(rows))
		b.StopTimer()
		if err != nil || n != int64(b.N) {
			b.Fatalf("CopyFrom() = %d, %v; want %d rows", n, err, b.N)
		}
		pgReportRate(b)
	})
}

// pgBenchMetadata returns the tool execution that every benchmark stores,
// with a distinct input per entry.
func pgBenchMetadata(i int) *audit.ToolExecution {
	return &audit.ToolExecution{
		ToolName:   "search",
		ToolCallID: "call_" + strconv.Itoa(i),
		Status:     audit.StatusSuccess,
		DurationMs: 12,
		Risk:       "low",
		Input:      json.RawMessage(`{"query":"weather in Paris","units":"metric","page":` + strconv.Itoa(i) + `}`),
	}
}

// pgBenchEntries returns n entries as the Logger would build them from
// pgBenchMetadata.
func pgBenchEntries(n int) []audit.Entry {
	entries := make([]audit.Entry, n)
	now := time.Now().UTC()
	for i := range entries {
		m := pgBenchMetadata(i)
		m.InputSummary, m.InputBytes = audit.Summarize(m.Input)
		meta, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		entries[i] = audit.Entry{ID: audit.NewID(), Type: m.EntryType(), ChatID: "chat-bench", CreatedAt: now, Metadata: meta}
	}
	return entries
}

// pgBenchSchema creates a schema for one benchmark run, drops it when the
// run ends, and returns base with its search_path set to it.
func pgBenchSchema(b *testing.B, base string) string {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	schema := "bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatalf("create schema: %v", err)
	}
	b.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			b.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			b.Errorf("drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		b.Fatalf("AGENTAUDIT_POSTGRES_URL is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func pgReportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
