package postgres

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestStorableJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", `{"a":"b"}`, `{"a":"b"}`},
		{"nul escape", `{"a":"x\u0000y"}`, `{"a":"x\\u0000y"}`},
		{"nul escape in key", `{"\u0000":1}`, `{"\\u0000":1}`},
		{"two nul escapes", `["\u0000\u0000"]`, `["\\u0000\\u0000"]`},
		{"escaped backslash", `["\\u0000"]`, `["\\u0000"]`},
		{"escaped backslash then nul", `["\\\u0000"]`, `["\\\\u0000"]`},
		{"other escapes", `["\n\"\u00e9\/"]`, `["\n\"\u00e9\/"]`},
		{"surrogate pair", `["\ud83d\ude00"]`, `["\ud83d\ude00"]`},
		{"upper-case surrogate pair", `["\uD83D\uDE00"]`, `["\uD83D\uDE00"]`},
		{"lone high surrogate", `["\ud83dx"]`, `["\ufffdx"]`},
		{"high surrogate at end", `["\ud83d"]`, `["\ufffd"]`},
		{"two high surrogates", `["\ud83d\ud83d\ude00"]`, `["\ufffd\ud83d\ude00"]`},
		{"lone low surrogate", `["\ude00"]`, `["\ufffd"]`},
		{"truncated escape", `["\u00`, `["\u00`},
		{"raw nul byte", "[\"a\x00\"]", "[\"a\uFFFD\"]"},
		{"invalid utf-8", "[\"a\xff\"]", "[\"a\uFFFD\"]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := storableJSON([]byte(tt.in)); got != tt.want {
				t.Errorf("storableJSON(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestStorableText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"chat-1", "chat-1"},
		{"", ""},
		{"a\x00b", "a\uFFFDb"},
		{"a\xff\xfeb", "a\uFFFDb"},
		{"é😀", "é😀"},
	}
	for _, tt := range tests {
		if got := storableText(tt.in); got != tt.want {
			t.Errorf("storableText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzStorableJSON checks that storableJSON keeps valid JSON valid and
// changes its decoded value only where a NUL becomes the text \u0000.
// encoding/json decodes a lone surrogate escape to U+FFFD, so rewriting one
// as \ufffd leaves the decoded value as it was.
func FuzzStorableJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":"x\u0000y"}`, `["\\u0000"]`, `["\ud83d\ude00"]`, `["\ud83d"]`, `["\ude00\ud83d"]`,
		`{"k\u0000":[1,2,{"n":null}]}`, `"\\\\\u0000"`, `[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := storableJSON([]byte(in))
		if !utf8.ValidString(out) || strings.IndexByte(out, 0) >= 0 {
			t.Fatalf("storableJSON(%q) = %q, which text columns cannot hold", in, out)
		}
		if !json.Valid([]byte(in)) || !utf8.ValidString(in) {
			return
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("storableJSON(%q) = %q, not valid JSON", in, out)
		}

		var before, after any
		if err := json.Unmarshal([]byte(in), &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(out), &after); err != nil {
			t.Fatal(err)
		}
		if got, want := canonical(after), canonical(replaceNUL(before)); got != want {
			t.Fatalf("storableJSON(%q) = %q decodes to %s, want %s", in, out, got, want)
		}
	})
}

// replaceNUL replaces each NUL in the strings and keys of v with the text
// \u0000, as storableJSON does.
func replaceNUL(v any) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "\x00", `\u0000`)
	case []any:
		for i := range v {
			v[i] = replaceNUL(v[i])
		}
		return v
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[strings.ReplaceAll(k, "\x00", `\u0000`)] = replaceNUL(x)
		}
		return m
	}
	return v
}

func canonical(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		want errorKind
	}{
		{"22P02", kindRow},       // invalid_text_representation: invalid JSON
		{"22P05", kindRow},       // untranslatable_character
		{"23514", kindRow},       // check_violation
		{"23502", kindRow},       // not_null_violation
		{"54000", kindRow},       // program_limit_exceeded: index row too large
		{"08006", kindTransient}, // connection_failure
		{"57P01", kindTransient}, // admin_shutdown
		{"57P03", kindTransient}, // cannot_connect_now
		{"40001", kindTransient}, // serialization_failure
		{"53300", kindTransient}, // too_many_connections
		{"42P01", kindPermanent}, // undefined_table
		{"42501", kindPermanent}, // insufficient_privilege
		{"28P01", kindPermanent}, // invalid_password
		{"3D000", kindPermanent}, // invalid_catalog_name
	}
	for _, tt := range tests {
		if got := classify(&pgconn.PgError{Code: tt.code}); got != tt.want {
			t.Errorf("classify(SQLSTATE %s) = %d, want %d", tt.code, got, tt.want)
		}
	}
	if got := classify(&pgconn.ConnectError{}); got != kindTransient {
		t.Errorf("classify(connect error without code) = %d, want transient", got)
	}
}
