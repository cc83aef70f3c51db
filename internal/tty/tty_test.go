package tty

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "load 0.42, 0.31", "load 0.42, 0.31"},
		{"empty", "", ""},
		{"utf8", "température élevée ✓ 日本", "température élevée ✓ 日本"},
		{"emoji-zwj", "👩\u200d💻 and ne\u200cw", "👩\u200d💻 and ne\u200cw"},
		{"backslash", `C:\temp \x1b`, `C:\temp \x1b`},
		{"esc-color", "\x1b[32mOK\x1b[0m", `\x1b[32mOK\x1b[0m`},
		{"cr", "CRITICAL\rOK", `CRITICAL\rOK`},
		{"bel-bs", "a\ab\bc", `a\ab\bc`},
		{"lf-tab", "one\ntwo\tthree", `one\ntwo\tthree`},
		{"vt-ff-nul", "\v\f\x00\x01\x1f", `\v\f\x00\x01\x1f`},
		{"del", "a\x7fb", `a\x7fb`},
		{"c1", "a\u0085b\u009bc\u0080", `a\u0085b\u009bc\u0080`},
		{"bidi-override", "\u202eKO\u202c", `\u202eKO\u202c`},
		{"bidi-embed", "\u202a\u202b\u202d", `\u202a\u202b\u202d`},
		{"bidi-isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"invisible", "a\u200bb\u2060c\ufeffd\u00ade", `a\u200bb\u2060c\ufeffd\u00ade`},
		{"separators", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"tag", "x\U000e0041", `x\U000e0041`},
		{"not-utf8", "a\xffb\xc3", `a\xffb\xc3`},
		// A raw 8-bit CSI is not UTF-8: escaped as a byte.
		{"raw-csi", "a\x9b31mb", `a\x9b31mb`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Line(tt.in)
			if got != tt.want {
				t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !printable(got, false) {
				t.Errorf("Line(%q) = %q: something left to escape", tt.in, got)
			}
			if again := Line(got); again != got {
				t.Errorf("Line(Line(%q)) = %q, want %q", tt.in, again, got)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"lines", "one\ntwo\tthree", "one\ntwo\tthree"},
		{"cr", "line\r\nnext", `line\r` + "\nnext"},
		{"esc", "\x1b]0;title\a\n", `\x1b]0;title\a` + "\n"},
		{"bidi", "a\u202eb\n", `a\u202eb` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestShort(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"fits", "short", 10, "short"},
		{"exact", "0123456789", 10, "0123456789"},
		{"long", "0123456789a", 10, "0123456..."},
		{"utf8", strings.Repeat("é", 10), 10, "ééé..."},
		// An escape is whole or not at all.
		{"escape", "0123\x1b[31m", 10, `0123...`},
		{"escape-fits", "\x1b", 10, `\x1b`},
		{"escaped-fits-exactly", "ab\r", 4, `ab\r`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Short(tt.in, tt.max)
			if got != tt.want || len(got) > tt.max {
				t.Errorf("Short(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	for _, v := range []any{
		"plain",
		"\x1b[32mOK\r\a\u202eKO\u2066\u200f\u0085\u2028 <&>",
		map[string]any{"tag\U000e0041": []string{"\u00ad", "ok", "👩\u200d💻"}},
		"a\xffb",
	} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got := JSON(b)
		if !printable(string(got), true) {
			t.Errorf("JSON(%s) = %s: something left to escape", b, got)
		}
		var before, after any
		if err := json.Unmarshal(b, &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &after); err != nil || !reflect.DeepEqual(before, after) {
			t.Errorf("JSON(%s) = %s: decodes to %v (%v), want %v", b, got, after, err, before)
		}
	}
	if b := []byte(`{"a": "ok"}`); &JSON(b)[0] != &b[0] {
		t.Error("JSON copied a clean text")
	}
}

// printable reports whether s holds nothing that risky would escape and
// is valid UTF-8.
func printable(s string, keepLines bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if risky(r, keepLines) {
			return false
		}
	}
	return true
}

// FuzzLine: whatever the input, Line's output is valid UTF-8 with nothing
// risky in it, and Line leaves it as it is.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"ok", "\x1b[32mOK\r\a\u202e", "\xff\xfe", "a\u2028b", "👩\u200d💻"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		if !printable(got, false) {
			t.Fatalf("Line(%q) = %q: something left to escape", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("Line(%q) = %q: a control character", s, got)
			}
		}
		if Line(got) != got {
			t.Fatalf("Line(%q) = %q, and Line of that differs", s, got)
		}
	})
}
