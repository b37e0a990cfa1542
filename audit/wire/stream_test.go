package wire

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/agentaudit/agentaudit/internal/fixtures"
)

// TestStreamParserExpected runs every recorded stream through a
// StreamParser in one write and compares the record with the expected one.
func TestStreamParserExpected(t *testing.T) {
	for _, c := range fixtures.Expected(t) {
		if !c.Stream {
			continue
		}
		t.Run(c.File, func(t *testing.T) {
			p := NewStreamParser(API(c.API))
			body := streamBody(t, c.File)

			n, err := p.Write(body)
			if n != len(body) || err != nil {
				t.Fatalf("Write(%d bytes) = %d, %v, want %d, nil", len(body), n, err, len(body))
			}
			checkCase(t, c, p.Result())

			if got := p.Skipped(); got != 0 {
				t.Errorf("Skipped() = %d, want 0", got)
			}
			// A verbatim SSE recording ends the way the provider ends a
			// stream; the .chunks.jsonl recorder dropped [DONE] lines.
			if strings.HasSuffix(c.File, ".sse") && !p.Done() {
				t.Error("Done() = false after the whole recorded stream, want true")
			}
		})
	}
}

// TestStreamParserSplits feeds every recorded stream in 1-byte writes and
// in random splits and expects the result of a single write.
func TestStreamParserSplits(t *testing.T) {
	for _, c := range fixtures.Expected(t) {
		if !c.Stream {
			continue
		}
		t.Run(c.File, func(t *testing.T) {
			body := streamBody(t, c.File)
			whole := NewStreamParser(API(c.API))
			whole.Write(body)
			want := whole.Result()

			splits := map[string][]int{"1-byte": split(len(body), nil)}
			for seed := range uint64(5) {
				rng := rand.New(rand.NewPCG(seed, 0x5eed))
				splits[fmt.Sprintf("seed %d", seed)] = split(len(body), rng)
			}
			for name, sizes := range splits {
				p := NewStreamParser(API(c.API))
				writeScrambled(p, body, sizes)
				if got := p.Result(); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: Result() = %+v, want %+v", name, got, want)
				}
				if p.Done() != whole.Done() {
					t.Errorf("%s: Done() = %v, want %v", name, p.Done(), whole.Done())
				}
				if p.Skipped() != whole.Skipped() {
					t.Errorf("%s: Skipped() = %d, want %d", name, p.Skipped(), whole.Skipped())
				}
			}
		})
	}
}

// split returns the sizes of writes that cut a body of n bytes: single
// bytes when rng is nil, else random sizes from 1 to 64 bytes.
func split(n int, rng *rand.Rand) []int {
	var sizes []int
	for n > 0 {
		size := 1
		if rng != nil {
			size = 1 + rng.IntN(64)
		}
		size = min(size, n)
		sizes = append(sizes, size)
		n -= size
	}
	return sizes
}

// writeScrambled writes body to p in writes of the given sizes through one
// scratch buffer, which it overwrites after each write, so that a parser
// that retained a written slice would read garbage.
func writeScrambled(p *StreamParser, body []byte, sizes []int) {
	scratch := make([]byte, 64)
	for _, size := range sizes {
		chunk := scratch[:size]
		copy(chunk, body)
		p.Write(chunk)
		for i := range chunk {
			chunk[i] = 0xff
		}
		body = body[size:]
	}
}
