package wire

import (
	"strings"
	"testing"
)

func TestValidVersion(t *testing.T) {
	valid := []string{
		"1.4.2", "v1.4.2", "1.5.0-rc.1", "0.0.0-dev", "0.0.0", "10.20.30",
		"1.0.0-alpha.beta.1", "1.0.0-0.3.7", "1.0.0-x-y-z.--", "1.0.0+build.5",
		"1.0.0-rc.1+sha.0abc", "1.0.0+001", "99999999999999999999.0.0",
	}
	invalid := []string{
		"", "v", "1", "1.0", "1.0.0.0", "01.0.0", "1.00.0", "1.0.01", "V1.0.0",
		"vv1.0.0", " 1.0.0", "1.0.0 ", "1.0.0-", "1.0.0+", "1.0.0-01", "1.0.0-a..b",
		"1.0.0-a_b", "1.0.0+a+b", "-1.0.0", "1.-1.0", "a.b.c", "1.0.0-é", "1..0",
	}
	for _, v := range valid {
		if !ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = false", v)
		}
	}
	for _, v := range invalid {
		if ValidVersion(v) {
			t.Errorf("ValidVersion(%q) = true", v)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	// In increasing precedence, from semver.org and this project's forms.
	order := []string{
		"0.0.0-dev", "0.0.0", "0.9.9", "1.0.0-0", "1.0.0-9", "1.0.0-10", "1.0.0-alpha",
		"1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.4.2", "1.5.0-rc.1", "1.5.0",
		"1.10.0", "2.0.0", "18446744073709551616.0.0",
	}
	for i, a := range order {
		for j, b := range order {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			got, err := CompareVersions(a, b)
			if err != nil || got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, %v; want %d", a, b, got, err, want)
			}
		}
	}
	same := [][2]string{
		{"1.4.2", "v1.4.2"},
		{"1.0.0+build.1", "1.0.0+build.2"},
		{"v1.0.0-rc.1+x", "1.0.0-rc.1"},
	}
	for _, p := range same {
		if got, err := CompareVersions(p[0], p[1]); err != nil || got != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, %v; want 0", p[0], p[1], got, err)
		}
	}
	for _, p := range [][2]string{{"1.0", "1.0.0"}, {"1.0.0", "x"}} {
		if _, err := CompareVersions(p[0], p[1]); err == nil || !strings.Contains(err.Error(), "not a semantic version") {
			t.Errorf("CompareVersions(%q, %q) error = %v", p[0], p[1], err)
		}
	}
}

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
		CodeUnsupportedProtocolVersion, CodeNotAuthorized, CodeShuttingDown} {
		if !c.Known() || !ValidString(string(c)) {
			t.Errorf("code %q: Known %v, ValidString %v", c, c.Known(), ValidString(string(c)))
		}
	}
	if Code("too_slow").Known() {
		t.Error(`Code("too_slow").Known() = true`)
	}
}
