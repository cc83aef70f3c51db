package lua

import (
	"context"
	"errors"
	"strings"
)

// checkEvery is how many steps of a match go by between two looks at the
// run's context: a step takes nanoseconds, so the match ends within
// microseconds of the deadline.
const checkEvery = 1 << 10

// maxMatchDepth bounds the nesting of repetitions a match is inside at
// once (one per quantified item of the pattern): each is a Go call, and a
// pattern of millions of "a?" would otherwise overflow the goroutine's
// stack, which ends the process.
const maxMatchDepth = 5000

// span is the text of a capture, src[start:end]; for a position capture
// start is the position (from 0) and end is start.
type span struct{ start, end int }

// matcher matches one pattern against one subject under a context.
type matcher struct {
	src   string
	p     *pattern
	caps  []span // by capture number; 0 is the whole match
	done  <-chan struct{}
	ctx   context.Context
	steps int
	depth int
	// budget, when not 0, ends a match after that many steps with
	// errBudget: for tests, which must know a match finishes quickly.
	budget int
}

// errBudget ends a match that used up its step budget.
var errBudget = errors.New("pattern: step budget used up")

// stopMatch carries an error out of a match in progress, by panic: the
// match may be thousands of calls deep.
type stopMatch struct{ err error }

func newMatcher(ctx context.Context, src string, p *pattern) *matcher {
	m := &matcher{src: src, p: p, caps: make([]span, len(p.position))}
	m.setContext(ctx)
	return m
}

// setContext makes ctx, which may be nil, the context m looks at.
func (m *matcher) setContext(ctx context.Context) {
	m.ctx, m.done = ctx, nil
	if ctx != nil {
		m.done = ctx.Done()
	}
}

// tick counts a step, and every checkEvery steps stops the match if its
// context has ended.
func (m *matcher) tick() {
	m.steps++
	if m.steps%checkEvery != 0 {
		return
	}
	select {
	case <-m.done:
		panic(stopMatch{m.ctx.Err()})
	default:
	}
	if m.budget > 0 && m.steps >= m.budget {
		panic(stopMatch{errBudget})
	}
}

// find returns the first match that starts at from or after (only at
// from for an anchored pattern), its captures in m.caps, and whether
// there was one. The error is the context's, errPatternComplex, or
// errCaptureIndex.
func (m *matcher) find(from int) (found bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			stop, ok := r.(stopMatch)
			if !ok {
				panic(r)
			}
			found, err = false, stop.err
		}
	}()
	for s := from; s <= len(m.src); s++ {
		m.tick()
		if s = m.skip(s); s < 0 {
			return false, nil
		}
		m.depth = 0
		if e := m.match(s, 0); e >= 0 {
			m.caps[0] = span{s, e}
			return true, nil
		}
		if m.p.anchored {
			break
		}
	}
	return false, nil
}

// skip returns the first start position from s on whose byte can begin
// a match, or -1 for none.
func (m *matcher) skip(s int) int {
	p := m.p
	switch {
	case p.first == nil:
		return s
	case p.hasOne:
		if i := strings.IndexByte(m.src[s:], p.one); i >= 0 {
			return s + i
		}
		return -1
	}
	for ; s < len(m.src); s++ {
		if p.first.has(m.src[s]) {
			return s
		}
		m.tick()
	}
	return -1
}

// matchRest is match one repetition deeper.
func (m *matcher) matchRest(s, pi int) int {
	if m.depth++; m.depth > maxMatchDepth {
		panic(stopMatch{errPatternComplex})
	}
	e := m.match(s, pi)
	m.depth--
	return e
}

// match matches the items from pi on at s, and returns where the match
// ends, or -1. Captures need no undoing when a branch fails: the items
// form a line, so the branch tried next sets again every capture after
// the point it starts from before anything reads it.
func (m *matcher) match(s, pi int) int {
	src, items := m.src, m.p.items
	for ; pi < len(items); pi++ {
		m.tick()
		it := &items[pi]
		switch it.kind {
		case itemSingle:
			switch it.rep {
			case 0:
				if s >= len(src) || !it.set.has(src[s]) {
					return -1
				}
				s++
			case '?':
				if s < len(src) && it.set.has(src[s]) {
					if e := m.matchRest(s+1, pi+1); e >= 0 {
						return e
					}
				}
			case '*', '+':
				least := s
				if it.rep == '+' {
					if s >= len(src) || !it.set.has(src[s]) {
						return -1
					}
					least = s + 1
				}
				end := least
				for end < len(src) && it.set.has(src[end]) {
					end++
					m.tick()
				}
				for ; end >= least; end-- {
					if e := m.matchRest(end, pi+1); e >= 0 {
						return e
					}
				}
				return -1
			case '-':
				for {
					if e := m.matchRest(s, pi+1); e >= 0 {
						return e
					}
					if s >= len(src) || !it.set.has(src[s]) {
						return -1
					}
					s++
				}
			}
		case itemOpen:
			m.caps[it.n].start = s
		case itemClose:
			m.caps[it.n].end = s
		case itemPosition:
			m.caps[it.n] = span{s, s}
		case itemBackref:
			if !it.valid {
				panic(stopMatch{errCaptureIndex})
			}
			c := m.caps[it.n]
			n := c.end - c.start
			if len(src)-s < n || src[s:s+n] != src[c.start:c.end] {
				return -1
			}
			s += n
		case itemBalance:
			if s >= len(src) || int(src[s]) != it.open {
				return -1
			}
			depth, j := 1, s+1
			for ; j < len(src); j++ {
				m.tick()
				if c := int(src[j]); c == it.close {
					if depth--; depth == 0 {
						break
					}
				} else if c == it.open {
					depth++
				}
			}
			if j >= len(src) {
				return -1
			}
			s = j + 1
		case itemFrontier:
			var prev, cur byte
			if s > 0 {
				prev = src[s-1]
			}
			if s < len(src) {
				cur = src[s]
			}
			if it.set.has(prev) || !it.set.has(cur) {
				return -1
			}
		}
	}
	if m.p.tail && s != len(src) {
		return -1
	}
	return s
}
