package semver

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
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
		if !Valid(v) {
			t.Errorf("Valid(%q) = false", v)
		}
	}
	for _, v := range invalid {
		if Valid(v) {
			t.Errorf("Valid(%q) = true", v)
		}
	}
}

func TestCompare(t *testing.T) {
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
			got, err := Compare(a, b)
			if err != nil || got != want {
				t.Errorf("Compare(%q, %q) = %d, %v; want %d", a, b, got, err, want)
			}
		}
	}
	same := [][2]string{
		{"1.4.2", "v1.4.2"},
		{"1.0.0+build.1", "1.0.0+build.2"},
		{"v1.0.0-rc.1+x", "1.0.0-rc.1"},
	}
	for _, p := range same {
		if got, err := Compare(p[0], p[1]); err != nil || got != 0 {
			t.Errorf("Compare(%q, %q) = %d, %v; want 0", p[0], p[1], got, err)
		}
	}
	for _, p := range [][2]string{{"1.0", "1.0.0"}, {"1.0.0", "x"}} {
		if _, err := Compare(p[0], p[1]); err == nil || !strings.Contains(err.Error(), "not a semantic version") {
			t.Errorf("Compare(%q, %q) error = %v", p[0], p[1], err)
		}
	}
}
