package helen

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestOneLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"short", "load 0.42", "load 0.42"},
		{"two-lines", "first\nsecond", `first\nsecond`},
		{"controls", "\x1b[32mOK\r", `\x1b[32mOK\r`},
		{"long-ascii", strings.Repeat("a", 130), strings.Repeat("a", 117) + "..."},
		{"long-utf8", strings.Repeat("é", 70), strings.Repeat("é", 58) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oneLine(tt.in)
			if got != tt.want {
				t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("oneLine(%q) = %q: not valid UTF-8", tt.in, got)
			}
		})
	}
}
