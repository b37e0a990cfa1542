package replay

import (
	"bytes"
	"testing"
)

// FuzzSplitEvents checks that splitting an event stream keeps every byte
// and cuts only right after a blank line.
func FuzzSplitEvents(f *testing.F) {
	f.Add([]byte("event: a\ndata: {}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: 1\r\n\r\ndata: 2\n\ntrailing"))
	f.Add([]byte("\n\n\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		events := splitEvents(body)
		if got := bytes.Join(events, nil); !bytes.Equal(got, body) {
			t.Fatalf("joined events = %q, want the body %q", got, body)
		}
		for i, e := range events {
			if len(e) == 0 {
				t.Fatalf("event %d is empty", i)
			}
			last := i == len(events)-1
			ends := bytes.HasSuffix(e, []byte("\n\n")) || bytes.HasSuffix(e, []byte("\r\n\r\n"))
			if !last && !ends {
				t.Errorf("event %d = %q does not end with a blank line", i, e)
			}
			// A separator may appear only at the very end of an event.
			inner := e[:len(e)-1]
			if bytes.Contains(inner, []byte("\n\n")) || bytes.Contains(inner, []byte("\r\n\r\n")) {
				t.Errorf("event %d = %q contains a blank line before its end", i, e)
			}
		}
	})
}
