package monitor

import (
	"path"
	"slices"
	"strings"
)

// patterns is a list of name patterns (path.Match's, "" for every name)
// indexed so that the ones a name matches are found without matching it
// against each: a pattern with no wildcard is looked up by the name, and
// a glob is tried only when the name starts with its literal prefix. An
// agent's silences are most often of that agent alone, and globs of
// groups (web-*) share few prefixes, so a name first seen costs a map
// lookup and a comparison of prefixes, not a path.Match each.
type patterns struct {
	all   []int            // the indices of "" patterns
	exact map[string][]int // of patterns without wildcards, by name
	globs []glob
}

// glob is a pattern with wildcards, and the literal prefix a name it
// matches starts with.
type glob struct {
	i               int
	prefix, pattern string
}

// add adds pattern, the list's ith: indices are added in order.
func (p *patterns) add(i int, pattern string) {
	switch at := strings.IndexAny(pattern, `*?[\`); {
	case pattern == "":
		p.all = append(p.all, i)
	case at < 0:
		if p.exact == nil {
			p.exact = map[string][]int{}
		}
		p.exact[pattern] = append(p.exact[pattern], i)
	default:
		p.globs = append(p.globs, glob{i: i, prefix: pattern[:at], pattern: pattern})
	}
}

// matching returns the indices of the patterns name matches, in order.
func (p *patterns) matching(name string) []int {
	out := slices.Concat(p.all, p.exact[name])
	for _, g := range p.globs {
		if !strings.HasPrefix(name, g.prefix) {
			continue
		}
		if ok, _ := path.Match(g.pattern, name); ok {
			out = append(out, g.i)
		}
	}
	slices.Sort(out)
	return out
}
