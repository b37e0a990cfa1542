package postgres_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/agentaudit/agentaudit/audit"
	"github.com/agentaudit/agentaudit/store/postgres"
)

// BenchmarkInsertEntries compares the two insert paths by batch size; it
// sets the copy threshold, DefaultCopyThreshold.
//
//	go test -run XXX -bench InsertEntries ./store/postgres
func BenchmarkInsertEntries(b *testing.B) {
	dsn := testSchema(b)
	meta := `{"toolName":"search","toolCallId":"call_8f2a","status":"success","inputSummary":"{\"query\":\"weather in Paris\",\"units\":\"metric\"}","inputBytes":44,"durationMs":12,"risk":"low"}`
	paths := []struct {
		name      string
		threshold int
	}{
		{"unnest", math.MaxInt},
		{"copy", 1},
	}
	for _, size := range []int{16, 64, 128, 256, 512, 1024, 4096, 16384} {
		for _, p := range paths {
			b.Run(fmt.Sprintf("batch=%d/%s", size, p.name), func(b *testing.B) {
				s := openStore(b, dsn, postgres.WithCopyThreshold(p.threshold))
				ctx := testContext(b, 10*time.Minute)
				batch := make([]audit.Entry, size)
				n := 0
				b.ResetTimer()
				for b.Loop() {
					for i := range batch {
						n++
						batch[i] = toolEntry(fmt.Sprintf("%s-%d-%012d", p.name, size, n), "chat-bench", baseTime, meta)
					}
					if err := s.InsertEntries(ctx, batch); err != nil {
						b.Fatalf("InsertEntries() = %v", err)
					}
				}
				b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}
