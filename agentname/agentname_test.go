package agentname

import (
	"errors"
	"strings"
	"testing"
)

// TestCheck is the rule, case by case: what it accepts, and for what it
// refuses, the reason its error gives.
func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   string
		why  string // "" for a valid name
	}{
		{"short", "a", ""},
		{"dashed", "web-1", ""},
		{"fqdn", "db_2.example.com", ""},
		{"digit-first", "9lives", ""},
		{"underscore-first", "_x", ""},
		{"mixed", "X.Y-z_0", ""},
		{"longest", strings.Repeat("a", 64), ""},
		{"empty", "", "empty"},
		{"too-long", strings.Repeat("a", 65), "65 bytes, more than 64"},
		{"70-bytes", strings.Repeat("b", 70), "70 bytes, more than 64"},
		{"dot-first", ".hidden", `starts with '.'`},
		{"dash-first", "-flag", `starts with '-'`},
		{"space", "a b", `' ' at byte 1 is not allowed`},
		{"slash", "a/b", `'/' at byte 1 is not allowed`},
		{"parent", "../x", `starts with '.'`},
		{"colon", "web:1", `':' at byte 3 is not allowed`},
		{"accent", "héllo", `'é' at byte 1 is not allowed`},
		{"newline", "a\n", `'\n' at byte 1 is not allowed`},
		{"nul", "a\x00", `'\x00' at byte 1 is not allowed`},
		{"escape", "a\x1b[31m", `'\x1b' at byte 1 is not allowed`},
		{"not-utf8", "a\xff", "byte 1 is 0xff, not UTF-8"},
		{"bidi", "a\u202eb", `'\u202e' at byte 1 is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.in)
			if got := Valid(tt.in); got != (tt.why == "") {
				t.Errorf("Valid(%q) = %v", tt.in, got)
			}
			if tt.why == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check(%q) = %v, want ErrInvalid", tt.in, err)
			}
			if !strings.Contains(err.Error(), ": "+tt.why+" (") || !strings.HasSuffix(err.Error(), "("+Rule+")") {
				t.Errorf("Check(%q) = %q, want the reason %q and the rule", tt.in, err, tt.why)
			}
			// The name is quoted escaped: the error is safe on a terminal.
			for _, c := range err.Error() {
				if c < ' ' || c == 0x7f || c == '\u202e' {
					t.Errorf("Check(%q) = %q holds %q unescaped", tt.in, err, c)
				}
			}
		})
	}
}

// FuzzCheck: Check and Valid agree, and a valid name is within the bounds
// every user of it relies on.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"web-1", "", ".x", "héllo", "a:1", strings.Repeat("z", 65), "a\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := Check(s)
		if Valid(s) != (err == nil) {
			t.Fatalf("Valid(%q) = %v but Check = %v", s, Valid(s), err)
		}
		if err == nil && (len(s) > MaxLen || strings.ContainsAny(s, " /:\\\x00\n'\"$")) {
			t.Fatalf("accepted %q", s)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Check(%q) = %v, not ErrInvalid", s, err)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !Valid("web-0001.example.com") {
			b.Fatal("refused")
		}
	}
}
