package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/d1"
)

// d1Rate and d1Duration are the producer's load: 1,000 entries per second
// for a few seconds.
const (
	d1Rate     = 1000
	d1Duration = 8 * time.Second
	d1Account  = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"
	d1Database = "11111111-1111-4111-8111-111111111111"
)

// BenchmarkD1RequestRate measures how many HTTP requests the D1 store sends
// when a Logger receives 1,000 entries per second, against a loopback
// server that speaks the REST API's shape and counts what it receives. The
// Client keeps its default rate limit of 4 requests per second. Two Logger
// configurations run one after the other in the same process:
//
//   - recommended: d1.LoggerOptions, which sets RecommendedBatchSize,
//     RecommendedFlushInterval and RecommendedQueueSize;
//   - logger-defaults: the audit.Logger's defaults, tuned for SQLite.
//
// Run it once per configuration; each iteration produces for d1Duration:
//
//	go test -run '^$' -bench D1RequestRate -benchtime 1x ./bench
func BenchmarkD1RequestRate(b *testing.B) {
	configs := []struct {
		name string
		opts []audit.Option
	}{
		{"recommended", d1.LoggerOptions()},
		{"logger-defaults", nil},
	}
	for _, cfg := range configs {
		b.Run(cfg.name, func(b *testing.B) {
			for b.Loop() {
				runD1Load(b, cfg.opts)
			}
		})
	}
}

func runD1Load(b *testing.B, opts []audit.Option) {
	srv := newCountingD1Server()
	defer srv.Close()

	store, err := d1.Open(context.Background(), "d1://"+d1Account+"/"+d1Database,
		d1.WithBaseURL(srv.URL+"/client/v4"), d1.WithToken("bench-token"), d1.WithAutoMigrate(false))
	if err != nil {
		b.Fatalf("d1.Open() = %v", err)
	}
	logger := audit.New(store, opts...)
	ctx := audit.WithChatID(context.Background(), "bench-chat")

	// The producer logs d1Rate entries per second in ticks of 10 ms.
	const tick = 10 * time.Millisecond
	perTick := d1Rate * int(tick) / int(time.Second)
	ticker := time.NewTicker(tick)
	start := time.Now()
	logged := 0
	for time.Since(start) < d1Duration {
		<-ticker.C
		for range perTick {
			call := *d1BenchCall
			call.DurationMs = int64(logged)
			logger.Log(ctx, &call)
			logged++
		}
	}
	ticker.Stop()
	produced := time.Since(start)

	flushCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := logger.Flush(flushCtx); err != nil {
		b.Fatalf("Flush() = %v", err)
	}
	elapsed := time.Since(start)
	stats := logger.Stats()
	if err := logger.Close(flushCtx); err != nil {
		b.Fatalf("Close() = %v", err)
	}

	requests, rows, peak := srv.summary()
	if requests == 0 {
		b.Fatal("the server received no request")
	}
	b.ReportMetric(float64(logged)/produced.Seconds(), "logged/s")
	b.ReportMetric(float64(rows)/float64(requests), "entries/request")
	b.ReportMetric(float64(requests)/elapsed.Minutes(), "requests/min")
	b.ReportMetric(float64(peak), "peak-requests/s")
	b.ReportMetric(float64(stats.Dropped), "dropped")
	b.ReportMetric(float64(stats.Written), "written")
}

// d1BenchCall is a typical llm_call entry, about 350 bytes of metadata.
var d1BenchCall = &audit.LLMCall{
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
	},
	Status:       audit.StatusSuccess,
	FinishReason: "stop",
}

// countingD1Server replies success to every D1 query request and records
// when each arrived and how many rows its INSERT statements carried.
type countingD1Server struct {
	*httptest.Server
	mu    sync.Mutex
	times []time.Time
	rows  int
}

func newCountingD1Server() *countingD1Server {
	s := &countingD1Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

func (s *countingD1Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req struct {
		Batch []struct {
			SQL    string `json:"sql"`
			Params []any  `json:"params"`
		} `json:"batch"`
		SQL    string `json:"sql"`
		Params []any  `json:"params"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	stmts := req.Batch
	if stmts == nil {
		stmts = append(stmts, struct {
			SQL    string `json:"sql"`
			Params []any  `json:"params"`
		}{req.SQL, req.Params})
	}

	rows := 0
	results := make([]string, len(stmts))
	for i, st := range stmts {
		if strings.HasPrefix(st.SQL, "INSERT INTO audit_logs") {
			rows += len(st.Params) / 5
		}
		results[i] = fmt.Sprintf(`{"results":[],"success":true,"meta":{"changes":%d}}`, len(st.Params)/5)
	}
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.rows += rows
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"success":true,"errors":[],"messages":[],"result":[%s]}`, strings.Join(results, ","))
}

// summary returns the requests received, the rows inserted and the most
// requests received within any one second.
func (s *countingD1Server) summary() (requests, rows, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.times {
		n := 0
		for j := i; j < len(s.times) && s.times[j].Sub(s.times[i]) < time.Second; j++ {
			n++
		}
		peak = max(peak, n)
	}
	return len(s.times), s.rows, peak
}
