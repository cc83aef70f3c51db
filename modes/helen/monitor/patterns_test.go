package monitor

import (
	"slices"
	"testing"
)

// The index finds exactly the patterns path.Match would, in order:
// exact names, globs (also with an escape and a class, and a star that
// does not cross a slash), "" for every name, and a bad pattern that
// matches nothing.
func TestPatternsMatching(t *testing.T) {
	list := []string{"web-1", "", "web-*", "db-1?", `web-\*`, "web-1", "[a-c]*-1", "db-[", "*", "w*", "web-*-x", "a/*"}
	var p patterns
	for i, pat := range list {
		p.add(i, pat)
	}
	for _, name := range []string{"web-1", "web-*", "db-12", "db-1", "cache-1", "dns-2", "", "db-[", "web-/1", "web-2-x", "a/b", "a/b/c", "w"} {
		var want []int
		for i, pat := range list {
			if match(pat, name) {
				want = append(want, i)
			}
		}
		if got := p.matching(name); !slices.Equal(got, want) {
			t.Errorf("matching(%q) = %v, want %v", name, got, want)
		}
	}
}
