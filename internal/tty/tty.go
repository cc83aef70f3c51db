// Package tty makes text that others wrote safe to print for people. A
// check's message is an agent's to choose; printed raw, an escape sequence,
// a carriage return or a bidi override in it can recolor a line, rewrite
// it or reorder it, and a CRITICAL row then reads as a green "OK". Every
// human-readable output of helen and equus check passes such text through
// Line (a field of a table or a line) or Text (a block of lines).
//
// What is escaped, as a visible escape in Go's syntax (\x1b, \r, \u202e):
//
//   - the C0 controls and DEL (\a \b \t \n \v \f \r, others as \xNN);
//   - the C1 controls, U+0080 to U+009F, which some terminals obey as the
//     8-bit forms of ESC sequences;
//   - the invisible format characters (Unicode category Cf): the bidi
//     embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069),
//     the marks U+200E, U+200F and U+061C, zero-width spaces, the soft
//     hyphen, the byte order mark, tag characters. Zero-width joiner and
//     non-joiner (U+200D, U+200C) are kept: scripts and emoji need them,
//     and they neither move nor hide text;
//   - the line and paragraph separators U+2028 and U+2029;
//   - bytes that are not UTF-8, as \xNN.
//
// A backslash is left as it is: escapes are for reading, not for parsing
// back, and paths such as C:\temp stay readable.
package tty

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Line returns s escaped for one line: line feeds and tabs are escaped too,
// so that s stays in its field.
func Line(s string) string { return escape(s, false) }

// Text returns s escaped for a block of lines: line feeds and tabs are
// kept, everything else Line escapes is escaped.
func Text(s string) string { return escape(s, true) }

// JSON returns b, JSON as Go's encoder writes it, with every risky
// character in its strings written as a JSON escape (\u202e; a surrogate
// pair past U+FFFF), so that it prints safely and still decodes to the
// same values. The encoder escapes the C0 controls itself, but not the C1
// controls or the format characters. Line feeds and tabs, in the encoder's
// output only white space between values, are kept.
func JSON(b []byte) []byte {
	s := string(b)
	if clean(s, true) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out.WriteString(`\ufffd`) // as the encoder writes a byte that is not UTF-8
		case risky(r, true):
			if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
				fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&out, `\u%04x`, r)
			}
		default:
			out.WriteString(s[i : i+size])
		}
		i += size
	}
	return out.Bytes()
}

// Short returns Line(s) cut to at most max bytes, "..." at its end, when
// it is longer: never inside a character or an escape.
func Short(s string, max int) string {
	e := Line(s)
	if len(e) <= max {
		return e
	}
	var b strings.Builder
	pieces(s, false, func(p string) bool {
		if b.Len()+len(p) > max-3 {
			return false
		}
		b.WriteString(p)
		return true
	})
	return b.String() + "..."
}

func escape(s string, keepLines bool) string {
	if clean(s, keepLines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	pieces(s, keepLines, func(p string) bool {
		b.WriteString(p)
		return true
	})
	return b.String()
}

// pieces calls yield with each character of s, escaped where it is risky,
// until yield returns false.
func pieces(s string, keepLines bool, yield func(string) bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		piece := s[i : i+size]
		switch {
		case r == utf8.RuneError && size == 1:
			piece = fmt.Sprintf(`\x%02x`, s[i])
		case risky(r, keepLines):
			piece = escapeRune(r)
		}
		if !yield(piece) {
			return
		}
		i += size
	}
}

// clean reports whether s has nothing to escape.
func clean(s string, keepLines bool) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return false
			}
		}
		if risky(r, keepLines) {
			return false
		}
	}
	return true
}

// risky reports whether r is to be escaped.
func risky(r rune, keepLines bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !keepLines
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == '\u200c' || r == '\u200d':
		return false
	case r == '\u2028' || r == '\u2029':
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// escapeRune is the visible escape of r, in Go's syntax.
func escapeRune(r rune) string {
	switch r {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\t':
		return `\t`
	case '\n':
		return `\n`
	case '\v':
		return `\v`
	case '\f':
		return `\f`
	case '\r':
		return `\r`
	}
	switch {
	case r < 0x80:
		return fmt.Sprintf(`\x%02x`, r)
	case r <= 0xffff:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
}

// Ago says how long ago t was, to the second, for people: "5m3s ago", or
// "never" for the zero time.
func Ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// OneLine is a message for a field of a table or a line: escaped (Line),
// and cut to 120 bytes (Short).
func OneLine(s string) string { return Short(s, 120) }
