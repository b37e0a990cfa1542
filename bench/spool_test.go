package bench

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/audit/spool"
)

// failingStore is a Store that is down: every insert fails at once with a
// transient error, like a refused connection.
type failingStore struct{}

var errStoreDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (failingStore) InsertEntries(context.Context, []audit.Entry) error { return errStoreDown }
func (failingStore) Close() error                                       { return nil }

// spoolCase is one Logger set-up of BenchmarkSpoolLog.
type spoolCase struct {
	name    string
	failing bool
	spool   bool
	mode    spool.SyncMode
}

var spoolCases = []spoolCase{
	{name: "healthy/spool=off"},
	{name: "healthy/spool=on", spool: true, mode: spool.SyncInterval},
	{name: "failing/spool=off", failing: true},
	{name: "failing/spool=on", failing: true, spool: true, mode: spool.SyncInterval},
	{name: "failing/spool=always", failing: true, spool: true, mode: spool.SyncAlways},
}

// BenchmarkSpoolLog measures one agent step (Log of an LLMCall and of a
// ToolExecution) with the spool off and on, against a store that takes
// everything and one that is down, in one process.
//
// paced flushes the queue outside the timer every 512 steps, so the queue
// never fills: it measures what Log costs the caller. saturated logs
// without pause, faster than any store or disk takes entries: it measures
// what happens at the limit, where without a spool Log drops entries, and
// with one Log waits for the spool.
//
// Every Log is timed, to report the median (p50-ns), the 99th percentile
// (p99-ns) and the slowest (max-ns) call. drops/op counts the entries Log
// dropped. kept/s counts the entries written or spooled per second of wall
// time, the final flush included. Retries back off from 1 ms to 10 ms, so
// that the store-down cases without a spool finish.
func BenchmarkSpoolLog(b *testing.B) {
	for _, paced := range []bool{true, false} {
		pace := "saturated"
		if paced {
			pace = "paced"
		}
		for _, c := range spoolCases {
			b.Run(pace+"/"+c.name, func(b *testing.B) { runSpoolBench(b, c, paced) })
		}
	}
}

func runSpoolBench(b *testing.B, c spoolCase, paced bool) {
	const flushEvery = 512 // steps; their 1,024 entries fit the default queue

	var store audit.Store = discardStore{}
	if c.failing {
		store = failingStore{}
	}
	opts := []audit.Option{audit.WithRetryBackoff(time.Millisecond, 10*time.Millisecond)}
	if c.spool {
		sp, err := spool.Open(b.TempDir(), spool.WithSyncMode(c.mode))
		if err != nil {
			b.Fatal(err)
		}
		opts = append(opts, audit.WithSpool(sp))
	}
	logger := audit.New(store, opts...)
	ctx := audit.WithChatID(context.Background(), "chat_7f3a9c")
	step := []audit.Metadata{stepCall, stepTool}

	latencies := make([]time.Duration, 0, 2*b.N)
	drops := 0
	start := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for _, m := range step {
			t0 := time.Now()
			err := logger.Log(ctx, m)
			latencies = append(latencies, time.Since(t0))
			if err != nil {
				drops++
			}
		}
		if paced && i%flushEvery == flushEvery-1 {
			b.StopTimer()
			if err := logger.Flush(ctx); err != nil {
				b.Fatalf("Flush() = %v", err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()

	flushCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := logger.Flush(flushCtx); err != nil {
		b.Fatalf("Flush() = %v", err)
	}
	elapsed := time.Since(start)
	st := logger.Stats()
	closeCtx, cancelClose := context.WithTimeout(ctx, time.Second)
	defer cancelClose()
	_ = logger.Close(closeCtx) // a failing store leaves entries behind; the figures are taken

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Nanoseconds())
	}
	b.ReportMetric(float64(drops)/float64(b.N), "drops/op")
	b.ReportMetric(float64(st.Written+st.Spooled)/elapsed.Seconds(), "kept/s")
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(pct(1), "max-ns")
}
