package d1

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// withMaxRowBytes overrides the row size above which the store rejects an
// entry before sending it.
func withMaxRowBytes(n int) Option {
	return func(c *config) { c.maxRowBytes = n }
}
