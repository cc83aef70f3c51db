package semver

import "testing"

// FuzzCompare holds Valid and Compare to their rules: no panic, equal to
// itself and to its "v" form, and an order that turns around when the
// arguments do.
func FuzzCompare(f *testing.F) {
	for _, p := range [][2]string{
		{"1.4.2", "v1.4.2"}, {"1.5.0-rc.1", "1.5.0"}, {"0.0.0-dev", "1.0.0"},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta"}, {"1.0.0+b", "1.0.0-0+a"}, {"01.0.0", "1.0"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, errAB := Compare(a, b)
		ba, errBA := Compare(b, a)
		if (errAB == nil) != (Valid(a) && Valid(b)) || (errAB == nil) != (errBA == nil) {
			t.Fatalf("errors %v and %v do not match Valid", errAB, errBA)
		}
		if errAB == nil && ab != -ba {
			t.Fatalf("Compare(%q, %q) = %d, but the other way %d", a, b, ab, ba)
		}
		if !Valid(a) {
			return
		}
		if c, err := Compare(a, a); err != nil || c != 0 {
			t.Fatalf("Compare(%q, itself) = %d, %v", a, c, err)
		}
		if a[0] != 'v' {
			if c, err := Compare("v"+a, a); err != nil || c != 0 {
				t.Fatalf("Compare(v%q, %q) = %d, %v", a, a, c, err)
			}
		}
	})
}
