package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// terminalText returns s safe to print on a terminal, keeping line breaks
// and tabs. Text from the audit trail, the chat history and the model may
// hold escape sequences that recolour, move the cursor, retitle the window
// or hide earlier output, so every other control character is shown as an
// escape instead (see escapeControl).
func terminalText(s string) string {
	return escapeControl(s, "\n\t")
}

// terminalCell returns s safe to print in one table cell or on one line:
// terminalText that escapes line breaks, carriage returns and tabs too,
// which would break the row or the tabwriter's columns.
func terminalCell(s string) string {
	return escapeControl(s, "")
}

// escapeControl returns s with unsafe characters not in keep replaced by
// Go-style escapes. Unsafe are the C0 control characters (U+0000-U+001F),
// DEL, the C1 control characters (U+0080-U+009F), the Unicode bidirectional
// overrides and isolates, and bytes that are not valid UTF-8. Line breaks,
// carriage returns and tabs become \n, \r and \t, other bytes below 0x80
// and invalid bytes \x1b, and C1 or bidi characters \u009b. Other text,
// backslashes included, is kept as it is.
func escapeControl(s, keep string) string {
	if !needsEscape(s, keep) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case isUnsafeRune(r) && !strings.ContainsRune(keep, r):
			switch {
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r < utf8.RuneSelf:
				fmt.Fprintf(&b, `\x%02x`, r)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s, keep string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return true
		}
		if isUnsafeRune(r) && !strings.ContainsRune(keep, r) {
			return true
		}
		i += size
	}
	return false
}

// isUnsafeRune reports whether a terminal may act on r instead of showing
// it: a C0 or C1 control character, DEL, or a bidirectional override or
// isolate that reorders the text around it.
func isUnsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
