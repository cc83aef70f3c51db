package wire

import (
	"testing"

	"github.com/equus-monitoring/equus/semver"
)

// FuzzVersionAgreesWithSemver holds wire's copy of the version grammar to
// package semver's: the same answer for every string. Its seeds, which go
// test runs every time, are the edges of the grammar.
func FuzzVersionAgreesWithSemver(f *testing.F) {
	for _, v := range []string{
		"1.4.2", "v1.4.2", "1.5.0-rc.1", "0.0.0-dev", "0.0.0", "10.20.30",
		"1.0.0-alpha.beta.1", "1.0.0-0.3.7", "1.0.0-x-y-z.--", "1.0.0+build.5",
		"1.0.0-rc.1+sha.0abc", "1.0.0+001", "99999999999999999999.0.0",
		"", "v", "1", "1.0", "1.0.0.0", "01.0.0", "1.00.0", "1.0.01", "V1.0.0",
		"vv1.0.0", " 1.0.0", "1.0.0 ", "1.0.0-", "1.0.0+", "1.0.0-01", "1.0.0-a..b",
		"1.0.0-a_b", "1.0.0+a+b", "-1.0.0", "1.-1.0", "a.b.c", "1.0.0-é", "1..0",
		"1.0.0-0", "1.0.0+01", "1.0.0-rc.1-2", "1.0.0-+", "v1.0.0-v", "0.0.0-0.0",
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := validVersion(v), semver.Valid(v); got != want {
			t.Fatalf("validVersion(%q) = %v, semver.Valid %v", v, got, want)
		}
	})
}
