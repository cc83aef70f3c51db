package wire

import (
	"strings"
	"testing"
)

func TestValidString(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"a", true},
		{"equus.ping", true},
		{"d\u00e9j\u00e0", true},
		{"\u00a0", true}, // only the ASCII space is a separator
		{strings.Repeat("x", 250), true},
		{"", false},
		{strings.Repeat("x", 251), false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00", false},
		{"\x1f", false},
		{"\x7f", false},
		{"\xff", false},
		{"\xc3", false},
	}
	for _, tc := range tests {
		if got := ValidString(tc.s); got != tc.want {
			t.Errorf("ValidString(%q) = %v; want %v", tc.s, got, tc.want)
		}
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{KindHello: "hello", KindCheck: "check", KindResult: "result", KindError: "error", KindReload: "reload", 0: "Kind(0)", 6: "Kind(6)"}
	for k, w := range want {
		if got := k.String(); got != w {
			t.Errorf("Kind(%d).String() = %q; want %q", k, got, w)
		}
	}
}

func TestCodeKnown(t *testing.T) {
	for _, c := range []Code{CodeBadCommand, CodeUnknownCommand, CodeBadArgument, CodeLineTooLong,
		CodeBlobTooLarge, CodeBadBlobTerminator, CodeBadHello, CodeHelloTimeout,
		CodeUnsupportedProtocolVersion, CodeNotAuthorized, CodeShuttingDown, CodeTryElsewhere} {
		if !c.Known() || !ValidString(string(c)) {
			t.Errorf("code %q: Known %v, ValidString %v", c, c.Known(), ValidString(string(c)))
		}
	}
	if Code("too_slow").Known() {
		t.Error(`Code("too_slow").Known() = true`)
	}
}
