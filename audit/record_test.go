package audit

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCapError(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"short", "rate limited"},
		{"at the limit", strings.Repeat("x", MaxErrorBytes)},
		{"html page", "<html>" + strings.Repeat("<p>bad gateway</p>", 20000) + "</html>"},
		{"two-byte characters", strings.Repeat("é", MaxErrorBytes)},
		{"three-byte characters", strings.Repeat("日本", MaxErrorBytes)},
		{"four-byte characters", strings.Repeat("😀", MaxErrorBytes)},
		{"invalid UTF-8", strings.Repeat("\xff\xfe", MaxErrorBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := capError(tt.in)
			if len(tt.in) <= MaxErrorBytes {
				if got != tt.in {
					t.Errorf("capError(%d bytes) changed the text to %d bytes, want it unchanged", len(tt.in), len(got))
				}
				return
			}
			if len(got) > MaxErrorBytes {
				t.Errorf("capError(%d bytes) = %d bytes, want at most %d", len(tt.in), len(got), MaxErrorBytes)
			}
			marker := "… (truncated, " + strconv.Itoa(len(tt.in)) + " bytes)"
			if !strings.HasSuffix(got, marker) {
				t.Errorf("capError() ends %q, want the marker %q", got[max(0, len(got)-40):], marker)
			}
			kept := strings.TrimSuffix(got, marker)
			if !strings.HasPrefix(tt.in, kept) {
				t.Errorf("capError() kept %q..., want a prefix of the input", kept[:20])
			}
			if len(kept) < MaxErrorBytes-len(marker)-utf8.UTFMax {
				t.Errorf("capError() kept %d bytes, want about %d", len(kept), MaxErrorBytes-len(marker))
			}
			if utf8.ValidString(tt.in) && !utf8.ValidString(got) {
				t.Errorf("capError() of valid UTF-8 split a character")
			}
		})
	}
}

func TestLoggerCapsErrorText(t *testing.T) {
	store := newFakeStore()
	l := New(store)
	closeLogger(t, l)

	page := "<!DOCTYPE html><html><body>" + strings.Repeat("<div>502 Bad Gateway \u2028 \"quoted\"</div>", 6000) + "</body></html>"
	call := validLLMCall()
	call.Status, call.Error, call.HTTPStatus = StatusError, page, 502
	tool := validToolExecution()
	tool.Status, tool.Error = StatusError, page
	for _, m := range []Metadata{call, tool} {
		if err := l.Log(bg, m); err != nil {
			t.Fatalf("Log(%T) = %v, want nil", m, err)
		}
	}
	if err := l.Flush(bg); err != nil {
		t.Fatalf("Flush() = %v, want nil", err)
	}

	rows, _, _ := store.snapshot()
	if len(rows) != 2 {
		t.Fatalf("store has %d rows, want 2", len(rows))
	}
	for _, row := range rows {
		var meta struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(row.Metadata, &meta); err != nil {
			t.Fatalf("%s metadata: json.Unmarshal() = %v", row.Type, err)
		}
		if len(meta.Error) > MaxErrorBytes {
			t.Errorf("%s error is %d bytes, want at most %d", row.Type, len(meta.Error), MaxErrorBytes)
		}
		if want := "(truncated, " + strconv.Itoa(len(page)) + " bytes)"; !strings.HasSuffix(meta.Error, want) {
			t.Errorf("%s error ends %q, want %q", row.Type, meta.Error[len(meta.Error)-40:], want)
		}
		// D1 rejects statements over 100,000 bytes; one row must stay far
		// below that even with every character escaped.
		if len(row.Metadata) > 30_000 {
			t.Errorf("%s metadata is %d bytes, want at most 30,000", row.Type, len(row.Metadata))
		}
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || call.Error != page {
		t.Errorf("Log changed the caller's Error field")
	}
}
