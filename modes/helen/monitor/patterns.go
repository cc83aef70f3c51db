package monitor

import (
	"path"
	"slices"
	"strings"
)

// patterns is a list of name patterns (path.Match's, "" for every name)
// indexed so that the ones a name matches are found without matching it
// against each: a pattern with no wildcard is looked up by the name, and
// a glob is tried only when the name starts with its literal prefix (the
// globs kept by its first byte), a prefix and a star (web-*) by that
// prefix alone. An agent's silences are most often of that agent alone,
// and globs of groups (web-*) share few prefixes, so a name first seen
// costs a map lookup and a few comparisons of prefixes, not a path.Match
// each.
type patterns struct {
	all   []int            // the indices of "" patterns
	exact map[string][]int // of patterns without wildcards, by name
	globs map[byte][]glob  // of globs with a literal prefix, by its first byte
	wild  []glob           // of globs that start with a wildcard
}

// glob is a pattern with wildcards, and the literal prefix a name it
// matches starts with; star reports whether it is that prefix and "*".
type glob struct {
	i               int
	prefix, pattern string
	star            bool
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
	case at == 0:
		p.wild = append(p.wild, glob{i: i, pattern: pattern, star: pattern == "*"})
	default:
		if p.globs == nil {
			p.globs = map[byte][]glob{}
		}
		g := glob{i: i, prefix: pattern[:at], pattern: pattern, star: pattern[at:] == "*"}
		p.globs[pattern[0]] = append(p.globs[pattern[0]], g)
	}
}

// matching returns the indices of the patterns name matches, in order.
func (p *patterns) matching(name string) []int {
	out := slices.Concat(p.all, p.exact[name])
	out = p.matchGlobs(out, p.wild, name)
	if name != "" {
		out = p.matchGlobs(out, p.globs[name[0]], name)
	}
	slices.Sort(out)
	return out
}

// matchGlobs appends to out the indices of the globs name matches. A star
// matches any run of bytes but a slash, so a name with none matches a
// prefix and a star when it has the prefix.
func (p *patterns) matchGlobs(out []int, globs []glob, name string) []int {
	slash := strings.Contains(name, "/")
	for _, g := range globs {
		if !strings.HasPrefix(name, g.prefix) {
			continue
		}
		if g.star && !slash {
			out = append(out, g.i)
		} else if ok, _ := path.Match(g.pattern, name); ok {
			out = append(out, g.i)
		}
	}
	return out
}
