//go:build unix

package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/sqlite"
)

// BenchmarkSQLite measures sustained entries/s into an SQLite file three
// ways in one run, at the Logger's default batch size and at 512, so that
// their ratios compare like with like:
//
//   - logger: audit.Logger.Log for every entry, then Flush, so each entry
//     pays validation, the input summary, JSON encoding, the queue and
//     InsertEntries;
//   - store: sqlite.Store.InsertEntries on ready-made batches, the store's
//     share of the logger's cost;
//   - plain: the same ready-made rows, already converted to bind values,
//     through one prepared multi-row INSERT per batch and one transaction
//     per batch, on a bare database/sql connection with the store's
//     pragmas.
//
// Besides entries/s it reports cpu-ns/entry, the process's user and system
// CPU time per entry over the timed loop, which varies less than wall time
// on a busy machine. Each run writes to a new file in a temporary
// directory:
//
//	go test -run '^$' -bench SQLite -benchtime 200000x -count 5 ./bench
func BenchmarkSQLite(b *testing.B) {
	for _, batch := range []int{audit.DefaultBatchSize, 512} {
		b.Run(fmt.Sprintf("batch=%d/logger", batch), func(b *testing.B) { sqliteBenchLogger(b, batch) })
		b.Run(fmt.Sprintf("batch=%d/store", batch), func(b *testing.B) { sqliteBenchStore(b, batch) })
		b.Run(fmt.Sprintf("batch=%d/plain", batch), func(b *testing.B) { sqliteBenchPlain(b, batch) })
	}
}

func sqliteBenchLogger(b *testing.B, batch int) {
	ctx := context.Background()
	s, path := sqliteBenchOpen(b)
	l := audit.New(s, audit.WithBlock(time.Minute), audit.WithBatchSize(batch))
	defer l.Close(ctx)
	logCtx := audit.WithChatID(ctx, "chat-bench")

	b.ResetTimer()
	cpu := sqliteBenchCPUTime()
	for i := range b.N {
		if err := l.Log(logCtx, sqliteBenchMetadata(i)); err != nil {
			b.Fatalf("Log() = %v", err)
		}
	}
	if err := l.Flush(ctx); err != nil {
		b.Fatalf("Flush() = %v", err)
	}
	cpu = sqliteBenchCPUTime() - cpu
	b.StopTimer()

	if st := l.Stats(); st.Written != uint64(b.N) {
		b.Fatalf("Stats() = %+v, want %d written", st, b.N)
	}
	sqliteBenchReport(b, path, cpu)
}

func sqliteBenchStore(b *testing.B, batch int) {
	ctx := context.Background()
	s, path := sqliteBenchOpen(b)
	defer s.Close()
	entries := sqliteBenchEntries(b.N)

	b.ResetTimer()
	cpu := sqliteBenchCPUTime()
	for start := 0; start < len(entries); start += batch {
		end := min(start+batch, len(entries))
		if err := s.InsertEntries(ctx, entries[start:end]); err != nil {
			b.Fatalf("InsertEntries() = %v", err)
		}
	}
	cpu = sqliteBenchCPUTime() - cpu
	b.StopTimer()

	sqliteBenchReport(b, path, cpu)
}

func sqliteBenchPlain(b *testing.B, batch int) {
	s, path := sqliteBenchOpen(b)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	db := sqliteBenchPlainDB(b, path)
	rows := make([][]any, b.N)
	for i, e := range sqliteBenchEntries(b.N) {
		rows[i] = []any{e.ID, string(e.Type), e.ChatID, audit.FormatTime(e.CreatedAt), string(e.Metadata)}
	}
	stmts := map[int]*sql.Stmt{}
	for _, n := range []int{batch, b.N % batch} {
		if n == 0 || stmts[n] != nil {
			continue
		}
		st, err := db.Prepare("INSERT INTO audit_logs (id, type, chat_id, created_at, metadata) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", n), ","))
		if err != nil {
			b.Fatalf("prepare: %v", err)
		}
		defer st.Close()
		stmts[n] = st
	}
	args := make([]any, 0, 5*batch)

	b.ResetTimer()
	cpu := sqliteBenchCPUTime()
	for start := 0; start < len(rows); start += batch {
		end := min(start+batch, len(rows))
		args = args[:0]
		for _, r := range rows[start:end] {
			args = append(args, r...)
		}
		tx, err := db.Begin()
		if err != nil {
			b.Fatalf("begin: %v", err)
		}
		if _, err := tx.Stmt(stmts[end-start]).Exec(args...); err != nil {
			b.Fatalf("insert: %v", err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatalf("commit: %v", err)
		}
	}
	cpu = sqliteBenchCPUTime() - cpu
	b.StopTimer()

	sqliteBenchReport(b, path, cpu)
}

// sqliteBenchMetadata returns an agent step's entries in turn: a model
// call for even i and a tool execution with a distinct input for odd i.
func sqliteBenchMetadata(i int) audit.Metadata {
	if i%2 == 0 {
		return &audit.LLMCall{
			Provider:      "openai",
			API:           "chat_completions",
			Model:         "gpt-4o-mini",
			ResponseModel: "gpt-4o-mini-2024-07-18",
			Usage: audit.Usage{
				Available:         true,
				PromptTokens:      audit.Int64(1200),
				CompletionTokens:  audit.Int64(85),
				TotalTokens:       audit.Int64(1285),
				CachedInputTokens: audit.Int64(1024),
				ReasoningTokens:   audit.Int64(0),
			},
			DurationMs:   812,
			Status:       audit.StatusSuccess,
			FinishReason: "tool_calls",
			Step:         1,
		}
	}
	return &audit.ToolExecution{
		ToolName:   "get_weather",
		ToolCallID: "call_" + strconv.Itoa(i),
		Status:     audit.StatusSuccess,
		DurationMs: 41,
		Risk:       "low",
		Input:      json.RawMessage(`{"city":"Paris","units":"metric","days":` + strconv.Itoa(i) + `}`),
	}
}

// sqliteBenchEntries returns n entries as the Logger builds them from
// sqliteBenchMetadata.
func sqliteBenchEntries(n int) []audit.Entry {
	entries := make([]audit.Entry, n)
	now := time.Now().UTC()
	for i := range entries {
		m := sqliteBenchMetadata(i)
		if t, ok := m.(*audit.ToolExecution); ok {
			t.InputSummary, t.InputBytes = audit.Summarize(t.Input)
		}
		meta, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		entries[i] = audit.Entry{ID: audit.NewID(), Type: m.EntryType(), ChatID: "chat-bench", CreatedAt: now, Metadata: meta}
	}
	return entries
}

// sqliteBenchOpen opens a new migrated store in a temporary directory.
func sqliteBenchOpen(b *testing.B) (*sqlite.Store, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "audit.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatalf("Open() = %v", err)
	}
	return s, path
}

// sqliteBenchPlainDB opens path on one connection with the pragmas of the
// store's writer.
func sqliteBenchPlainDB(b *testing.B, path string) *sql.DB {
	b.Helper()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	return db
}

// sqliteBenchReport fails b unless path holds b.N rows, and reports the
// rate and the CPU time per entry.
func sqliteBenchReport(b *testing.B, path string, cpu time.Duration) {
	b.Helper()
	db := sqliteBenchPlainDB(b, path)
	var n int
	if err := db.QueryRow("SELECT count(*) FROM audit_logs").Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n != b.N {
		b.Fatalf("audit_logs has %d rows, want %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/entry")
}

// sqliteBenchCPUTime returns the user and system CPU time this process has
// used.
func sqliteBenchCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
